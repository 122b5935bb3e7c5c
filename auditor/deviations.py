"""Declared deviations: known ways a pipeline differs from golden on purpose (docs/deviations.md).

A streaming job that drops events arriving more than 120 s late, or a batch
job that anchors startup at the first ad frame, differs from golden by
design. audit.yaml declares such deviations per pipeline, each a mechanism of
the catalogue (rules/mechanisms.yaml) with its parameter and an optional
slice::

    pipelines:
      streaming:
        path: out/streaming.parquet
        deviations:
          - mechanism: late_events_dropped
            params: {watermark_s: 120}
            reason: the job's watermark is 120 s by design

Golden for that pipeline is then also computed under its declarations
(:func:`golden_under_each`, through :func:`auditor.mechanisms.golden_under` on
the connection golden ran on, then :func:`create_expected`), the pipeline is
judged against that *expected* golden, and :func:`split_gap` splits each
metric's gap into the expected part (expected - golden) and the unexplained
remainder (candidate - expected). Only the remainder can fail.
"""
from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from auditor.findings import GapSplit, PipelineResult
from auditor.golden.calculator import COMPONENTS, GoldenOptions
from auditor.golden.sqlfiles import RulesFolder, quote_ident
from auditor.mechanisms import golden_under, load_catalogue
from auditor.yamldoc import Path, YamlDoc

DEVIATION_KEYS = ("mechanism", "params", "slice", "reason")


@dataclass(frozen=True)
class Deviation:
    """One declared deviation: a catalogued mechanism, its parameter, where it acts."""

    mechanism: str
    params: Mapping[str, float] = field(default_factory=dict)
    slice: Mapping[str, str | None] = field(default_factory=dict)   # {} = every session
    reason: str | None = None

    def label(self) -> str:
        """``late_events_dropped(watermark_s=120)``, ``preroll_exit_not_ebvs on device=smart_tv``."""
        params = ", ".join(f"{k}={v:g}" for k, v in self.params.items())
        where = " & ".join(f"{d}={'null' if v is None else v}" for d, v in self.slice.items())
        return self.mechanism + (f"({params})" if params else "") + (f" on {where}" if where else "")

    def to_dict(self) -> dict[str, Any]:
        return {"mechanism": self.mechanism, "params": dict(self.params), "slice": dict(self.slice),
                "reason": self.reason, "label": self.label()}


def parse_deviations(doc: YamlDoc, path: Path, value: Any, dims: Sequence[str],
                     rules: RulesFolder | None = None) -> tuple[Deviation, ...]:
    """``deviations:`` of one pipeline in audit.yaml; every problem names its key."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise doc.error(path, "deviations is a list of {mechanism, params, slice, reason}",
                        "e.g. deviations: [{mechanism: late_events_dropped, params: {watermark_s: 120}}]")
    catalogue = load_catalogue(rules)
    names = list(catalogue.names())
    out = []
    for i, entry in enumerate(value):
        at: Path = (*path, i)
        if isinstance(entry, str):
            entry = {"mechanism": entry}
        if not isinstance(entry, Mapping):
            raise doc.error(at, "a deviation is a mapping with a mechanism",
                            "e.g. {mechanism: late_events_dropped, params: {watermark_s: 120}}")
        doc.check_keys(at, entry, DEVIATION_KEYS, required=("mechanism",))
        name = entry["mechanism"]
        if not isinstance(name, str) or name not in names:
            close = difflib.get_close_matches(str(name), names, n=1)
            raise doc.error((*at, "mechanism"), f"unknown mechanism {name!r}",
                            f"did you mean {close[0]!r}?" if close
                            else "catalogued mechanisms (rules/mechanisms.yaml): " + ", ".join(names))
        mechanism = catalogue.get(name)
        params = _params(doc, (*at, "params"), entry.get("params"), mechanism)
        slice_ = _slice(doc, (*at, "slice"), entry.get("slice"), dims)
        reason = entry.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise doc.error((*at, "reason"), "reason is a line of text", "quote it if it is not text")
        out.append(Deviation(name, params, slice_, reason))
    return tuple(out)


def _params(doc: YamlDoc, path: Path, value: Any, mechanism) -> dict[str, float]:
    param = mechanism.param
    allowed = [] if param is None else [param.name]
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise doc.error(path, "params maps the mechanism's parameter to its value",
                        f"e.g. params: {{{allowed[0]}: ...}}" if allowed
                        else f"{mechanism.name} takes no parameter: drop params")
    if param is None and value:
        raise doc.error((*path, next(iter(value))), f"mechanism {mechanism.name!r} takes no parameter",
                        "drop params")
    doc.check_keys(path, value, allowed)
    if param is None:
        return {}
    if param.name not in value:
        if param.fit == "share":     # at full strength: every session of the slice
            return {param.name: 1.0}
        raise doc.error(path, f"mechanism {mechanism.name!r} needs its parameter {param.name!r}"
                        + (f" ({param.unit})" if param.unit else ""),
                        f"e.g. params: {{{param.name}: {param.grid[0]:g}}}" if param.grid
                        else f"e.g. params: {{{param.name}: 1}}")
    number = value[param.name]
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        raise doc.error((*path, param.name), f"{param.name} must be a number, got {number!r}",
                        f"e.g. {param.name}: {param.grid[0]:g}" if param.grid else "e.g. 0.5")
    if param.fit == "share" and not 0 < number <= 1:
        raise doc.error((*path, param.name), f"{param.name} is a share of sessions in (0, 1], got {number}",
                        "e.g. share: 0.15")
    return {param.name: float(number)}


def _slice(doc: YamlDoc, path: Path, value: Any, dims: Sequence[str]) -> dict[str, str | None]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not value:
        raise doc.error(path, "slice maps audit dimensions to values (leave it out for every session)",
                        "e.g. slice: {device: android}")
    doc.check_keys(path, value, list(dims))
    out = {}
    for dim, v in value.items():
        if isinstance(v, bool) or (v is not None and not isinstance(v, (str, int, float))):
            raise doc.error((*path, dim), f"a slice value is text or null, got {v!r}",
                            "e.g. slice: {device: android}")
        out[str(dim)] = None if v is None else str(v)
    return out


def golden_under_each(con: duckdb.DuckDBPyConnection, deviations: Sequence[Deviation], *,
                      dims: Sequence[str], grain_minutes: int, window_ms_from: int, window_ms_to: int,
                      options: GoldenOptions | None = None, rules: RulesFolder | None = None
                      ) -> list[pa.Table]:
    """Golden under each declared deviation on its own, in ``r_golden``'s shape (``window_ms``
    on ``grain_minutes``, ``dims``, the nine components) for the windows in
    [``window_ms_from``, ``window_ms_to``).

    Needs golden's tables of that span on ``con`` (the ``compute_golden`` run of
    :func:`auditor.audit.run_audit`, at ``grain_minutes``)."""
    return [golden_under(con, dev.mechanism, dict(dev.params), slice=dict(dev.slice) or None,
                         dims=list(dims), grain_minutes=grain_minutes,
                         golden_grain_minutes=grain_minutes, window_ms_from=window_ms_from,
                         window_ms_to=window_ms_to, options=options, rules=rules)
            for dev in deviations]


def create_expected(con: duckdb.DuckDBPyConnection, name: str, parts: Sequence[pa.Table],
                    dims: Sequence[str]) -> None:
    """Table ``name``: the expected golden, ``r_golden`` + the sum over deviations of (golden
    under it - golden), from ``parts`` (one table per deviation, all audited windows).

    Adding the deltas is exact when the deviations touch different sessions; where
    they overlap a session's change is counted once per deviation
    (docs/deviations.md#several-deviations)."""
    cols = ", ".join(quote_ident(c) for c in ("window_ms", *dims, *COMPONENTS))
    keys = ", ".join(quote_ident(c) for c in ("window_ms", *dims))
    sums = ", ".join(f"sum({quote_ident(c)})::BIGINT AS {quote_ident(c)}" for c in COMPONENTS)
    neg = ", ".join(f"-{quote_ident(c)}" for c in COMPONENTS)
    views = [f"{name}_part_{k}" for k in range(len(parts))]
    try:
        for view, part in zip(views, parts):
            con.register(view, part)
        selects = ["SELECT " + cols + " FROM r_golden"]
        for view in views:
            selects.append(f"SELECT {cols} FROM {view}")
            selects.append(f"SELECT {keys}, {neg} FROM r_golden")
        con.execute(f"CREATE OR REPLACE TEMP TABLE {quote_ident(name)} AS SELECT {keys}, {sums} "
                    f"FROM ({' UNION ALL '.join(selects)}) GROUP BY ALL HAVING "
                    + " OR ".join(f"sum({quote_ident(c)}) <> 0" for c in COMPONENTS))
    finally:
        for view in views:
            con.unregister(view)


def split_gap(judged: PipelineResult, whole: PipelineResult,
              deviations: Sequence[Deviation]) -> PipelineResult:
    """``judged`` (the pipeline against golden under its declarations) with, per metric, the
    split of the whole gap (``whole``: against golden) into its expected part and the
    unexplained remainder (:class:`auditor.findings.GapSplit`)."""
    metrics = []
    for m in judged.metrics:
        w = whole.metric(m.metric)
        split = None if w is None else GapSplit(
            golden=w.total.golden, expected=m.total.golden, candidate=m.total.candidate,
            golden_num=w.total.golden_num, golden_den=w.total.golden_den,
            expected_num=m.total.golden_num, expected_den=m.total.golden_den,
            status_without=w.status)
        metrics.append(dataclasses.replace(m, deviation=split))
    return dataclasses.replace(judged, metrics=tuple(metrics),
                               deviations=tuple(d.to_dict() for d in deviations))
