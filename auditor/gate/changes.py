"""The declared-changes manifest (``changes.yaml`` in the rules folder) and its verdicts.

A pull request that means to move a number says so:

    version: 1
    changes:
      - metric: ebvs_rate
        slice: all                      # or {device: firetv, player_version: "4.0"}
        direction: down                 # up | down | any
        bound: {absolute: 0.01}         # optional: the largest movement allowed (absolute
                                        # and/or relative to base); beyond it fails
        reason: exits shorter than 2 s are no longer exits before video start

Only the entries this change adds (those not already in the base's manifest)
are its declarations; entries inherited from earlier changes are listed and
otherwise ignored. For each metric the leaves inside some declared slice may
move; any movement outside them beyond tolerance is *undeclared* (exit 1). A
declaration whose slice did not move is *stale* (exit 1), as is one that moved
the other way or beyond its bound.
"""
from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from auditor.findings import FAIL, Comparison
from auditor.gate.diff import Leaves, MetricDiff, comparison_dict, comparisons, direction, sides
from auditor.golden.metrics import Metric
from auditor.golden.sqlfiles import RulesFolder
from auditor.tolerances import Tolerance
from auditor.yamldoc import YamlDoc, load_yaml

MANIFEST = "changes.yaml"
DIRECTIONS = ("up", "down", "any")
ENTRY_KEYS = ("metric", "slice", "direction", "bound", "reason")


@dataclass(frozen=True)
class Declaration:
    metric: str
    slice: Mapping[str, str | None]   # {} = all
    direction: str
    reason: str
    absolute: float | None = None
    relative: float | None = None
    where: str = ""                   # file:line
    inherited: bool = False           # already in the base's manifest

    def identity(self) -> tuple:
        return (self.metric, tuple(sorted(self.slice.items())), self.direction, self.absolute,
                self.relative, self.reason)

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "slice": dict(self.slice), "direction": self.direction,
                "bound": {"absolute": self.absolute, "relative": self.relative},
                "reason": self.reason, "where": self.where, "inherited": self.inherited}


def load_manifest(rules: RulesFolder, dims: Sequence[str], metrics: Sequence[str]) -> list[Declaration]:
    """The declarations of ``rules``'s changes.yaml (none when it has no such file)."""
    if not rules.exists(MANIFEST):
        return []
    doc = load_yaml(rules.path(MANIFEST), what="declared-changes manifest")
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, Mapping):
        raise doc.error((), "changes.yaml is a mapping with a `changes:` list",
                        "e.g. changes: [{metric: ebvs_rate, slice: all, direction: down, reason: ...}]")
    doc.check_keys((), data, ("version", "changes"))
    entries = data.get("changes") or []
    if not isinstance(entries, list):
        raise doc.error(("changes",), "changes takes a list of declarations")
    return [_entry(doc, i, e, dims, metrics) for i, e in enumerate(entries)]


def _number(doc: YamlDoc, path, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise doc.error(path, f"expected a number >= 0, got {value!r}")
    return float(value)


def _entry(doc: YamlDoc, i: int, entry: Any, dims: Sequence[str], metrics: Sequence[str]) -> Declaration:
    path = ("changes", i)
    if not isinstance(entry, Mapping):
        raise doc.error(path, "a declaration is a mapping", "keys: " + ", ".join(ENTRY_KEYS))
    doc.check_keys(path, entry, ENTRY_KEYS, required=("metric", "direction", "reason"))
    metric = entry["metric"]
    if metric not in metrics:
        close = difflib.get_close_matches(str(metric), list(metrics), n=1)
        raise doc.error((*path, "metric"), f"unknown metric {metric!r}",
                        f"did you mean {close[0]!r}?" if close else "metrics: " + ", ".join(metrics))
    slice_ = entry.get("slice", "all")
    if slice_ in ("all", None):
        slice_ = {}
    elif isinstance(slice_, Mapping):
        doc.check_keys((*path, "slice"), slice_, dims)
        slice_ = {str(k): None if v is None else str(v) for k, v in slice_.items()}
    else:
        raise doc.error((*path, "slice"), f"slice is `all` or a mapping of dimension -> value, not {slice_!r}",
                        'e.g. slice: {device: firetv, player_version: "4.0"} (quote versions)')
    if entry["direction"] not in DIRECTIONS:
        raise doc.error((*path, "direction"), f"direction is one of {', '.join(DIRECTIONS)}, "
                        f"not {entry['direction']!r}")
    reason = entry["reason"]
    if not isinstance(reason, str) or not reason.strip():
        raise doc.error((*path, "reason"), "give the reason for the change (a sentence for reviewers)")
    bound = entry.get("bound") or {}
    if not isinstance(bound, Mapping):
        raise doc.error((*path, "bound"), "bound takes {absolute: N, relative: F}")
    doc.check_keys((*path, "bound"), bound, ("absolute", "relative"))
    return Declaration(metric=metric, slice=slice_, direction=entry["direction"], reason=reason.strip(),
                       absolute=_number(doc, (*path, "bound", "absolute"), bound["absolute"])
                       if "absolute" in bound else None,
                       relative=_number(doc, (*path, "bound", "relative"), bound["relative"])
                       if "relative" in bound else None,
                       where=doc.where(path))


def mark_inherited(head: list[Declaration], base: list[Declaration]) -> list[Declaration]:
    known = {d.identity() for d in base}
    return [Declaration(**{**d.__dict__, "inherited": d.identity() in known}) for d in head]


@dataclass(frozen=True)
class DeclarationResult:
    declaration: Declaration
    status: str                   # observed | stale | wrong_direction | beyond_bound
    observed: Comparison | None   # base vs head inside the declared slice
    message: str

    @property
    def failed(self) -> bool:
        return self.status != "observed"

    def to_dict(self) -> dict[str, Any]:
        return {**self.declaration.to_dict(), "status": self.status, "message": self.message,
                "observed": comparison_dict(self.observed) if self.observed else None}


@dataclass(frozen=True)
class Verdict:
    """Per metric: what moved outside every declared slice, and each declaration's outcome."""

    metric: str
    undeclared: Comparison | None    # the movement outside the declared slices, when beyond tolerance
    declarations: tuple[DeclarationResult, ...] = field(default_factory=tuple)

    @property
    def failed(self) -> bool:
        return self.undeclared is not None or any(d.failed for d in self.declarations)


def judge(diff: MetricDiff, base: Metric | None, head: Metric | None, leaves: Leaves,
          declarations: Sequence[Declaration], tolerance: Tolerance) -> Verdict:
    """Declared vs observed movement of one metric."""
    own = [d for d in declarations if d.metric == diff.metric and not d.inherited]
    leaf = sides(base, head, leaves)
    covered = np.zeros(len(leaves.frame), dtype=bool)
    results = []
    for d in own:
        mask = leaves.mask(d.slice)
        covered |= mask
        observed = comparisons(base, head, leaf.take(mask).summed(), Tolerance(origin="gate"),
                               slices=[d.slice])[0]
        results.append(_check(d, observed, bool(leaf.differs[mask].any())))
    undeclared = None
    outside = leaf.differs & ~covered
    if outside.any():
        rest = comparisons(base, head, leaf.take(~covered).summed(), tolerance)[0]
        if tolerance.exact or rest.status == FAIL:
            undeclared = rest
    return Verdict(metric=diff.metric, undeclared=undeclared, declarations=tuple(results))


def _check(d: Declaration, observed: Comparison, moved: bool) -> DeclarationResult:
    where = "all" if not d.slice else ", ".join(f"{k}={v}" for k, v in d.slice.items())
    if not moved:
        return DeclarationResult(d, "stale", observed,
                                 f"declared {d.metric} {d.direction} in {where}, but it did not move "
                                 f"({d.where})")
    went = direction(observed)
    if d.direction != "any" and went != d.direction:
        return DeclarationResult(d, "wrong_direction", observed,
                                 f"declared {d.metric} {d.direction} in {where}, but it went "
                                 f"{went or 'nowhere overall'} ({d.where})")
    gap = observed.abs_diff
    rel = observed.rel_diff
    beyond = []
    if d.absolute is not None and (gap is None or gap > d.absolute):
        beyond.append(f"absolute {d.absolute:g}")
    if d.relative is not None and (rel is None or rel > d.relative):
        beyond.append(f"relative {d.relative:g}")
    if beyond:
        return DeclarationResult(d, "beyond_bound", observed,
                                 f"{d.metric} in {where} moved beyond its declared bound "
                                 f"({' and '.join(beyond)}) ({d.where})")
    return DeclarationResult(d, "observed", observed, f"{d.metric} {went or 'moved'} in {where}, as declared")
