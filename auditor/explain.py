"""``explain_metric``: the drill-down of one pipeline's gap on one metric (`auditor explain`).

It runs the same golden recompute and the same reconciliation as
``auditor run`` (auditor.audit, auditor.reconcile), for the one pipeline,
then:

1. the metric over the audited span: golden vs the pipeline, numerator and
   denominator separately, and the tolerance verdict `run` would draw;
2. the slices that explain the gap at the pipeline's published dimensions
   (auditor.localize.search on reconcile's leaf table, to ``depth`` dimensions),
   each with its share of the gap, numerator/denominator parts, rate and mix
   effects, support and confidence;
3. when the pipeline publishes session rows (``sessions:``), the same search
   over *every* audit dimension from golden's per-session facts joined on
   ``session_id``, and the sessions that disagree inside the slices found
   (auditor.session_rows).

The exit code follows ``auditor run``: 1 when the metric is beyond its
tolerance, else 0.
"""
from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from auditor.audit import _load_golden, check_empty_windows, pipeline_grains, resolve_windows
from auditor.config import AuditConfig, PipelineConfig
from auditor.errors import ConfigError
from auditor.findings import FAIL, Comparison, MetricResult
from auditor.golden.calculator import COMPONENTS, connect
from auditor.localize.search import Localization
from auditor.golden.metrics import catalogue
from auditor.reconcile import joined_leaves, localize_metric, reconcile_pipeline
from auditor.windows import Window, iso

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Drilldown:
    """Everything `auditor explain` shows for one (pipeline, metric)."""

    pipeline: str
    metric: str
    unit: str
    kind: str                                # count | ratio
    numerator: str
    denominator: tuple[str, ...]
    published_as: str                        # components | value
    status: str                              # pass | fail, as `auditor run` judges it
    tolerance: str
    windows: tuple[Window, ...]
    dimensions: tuple[str, ...]              # the pipeline's published dimensions
    total: Comparison                        # the audited span
    slices_compared: int
    slices_differing: int
    localization: Localization | None        # at the published dimensions
    sessions: Any = None                     # auditor.session_rows.SessionDrilldown when configured
    notes: tuple[str, ...] = ()
    # the mechanism search on the top slice (docs/mechanisms.md#the-search): MechanismFinding.to_dict()
    mechanism: Mapping[str, Any] | None = None

    @property
    def has_gap(self) -> bool:
        """Any difference at all (within tolerance or not), in the span or in a slice."""
        t = self.total
        return bool(self.slices_differing) or t.golden != t.candidate or bool(t.num_diff) or bool(t.den_diff)

    @property
    def exit_code(self) -> int:
        return 1 if self.status == FAIL else 0

    def to_dict(self) -> dict[str, Any]:
        total = self.total.to_dict()
        for key in ("window", "slice", "presence"):
            total.pop(key)
        return {"schema_version": SCHEMA_VERSION, "pipeline": self.pipeline, "metric": self.metric,
                "unit": self.unit, "kind": self.kind, "numerator": self.numerator,
                "denominator": list(self.denominator), "published_as": self.published_as,
                "status": self.status, "has_gap": self.has_gap, "tolerance": self.tolerance,
                "window": {"start": iso(self.windows[0].start), "end": iso(self.windows[-1].end)},
                "windows": [{"start": iso(w.start), "end": iso(w.end)} for w in self.windows],
                "dimensions": list(self.dimensions), "total": total,
                "slice_counts": {"compared": self.slices_compared, "differing": self.slices_differing},
                "localization": self.localization.to_dict() if self.localization else None,
                "sessions": self.sessions.to_dict() if self.sessions is not None else None,
                "mechanism": None if self.mechanism is None else dict(self.mechanism),
                "notes": list(self.notes)}


def explain_schema() -> dict[str, Any]:
    """The JSON Schema of `auditor explain --json` shipped in the package."""
    import json
    from importlib.resources import files
    return json.loads(files("auditor").joinpath("schemas", "explain.schema.json").read_text(encoding="utf-8"))


def _did_you_mean(name: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return (f"did you mean {close[0]!r}? " if close else "") + "choices: " + ", ".join(choices)


def _pick(config: AuditConfig, pipeline: str, metric: str) -> PipelineConfig:
    names = [p.name for p in config.pipelines]
    if pipeline not in names:
        raise ConfigError(f"no pipeline named {pipeline!r}", file=config.file, key="pipelines",
                          hint=_did_you_mean(pipeline, names))
    if metric not in catalogue():
        raise ConfigError(f"unknown metric {metric!r}", key="--metric",
                          hint=_did_you_mean(metric, list(catalogue())))
    return config.pipeline(pipeline)


def explain_metric(config: AuditConfig, pipeline: str, metric: str, windows: Sequence[Window | str] = (),
                   depth: int = 3, max_sessions: int = 50, *, progress=None) -> Drilldown:
    """Drill into ``pipeline``'s gap on ``metric`` over ``windows`` (default: audit.yaml's)."""
    if depth < 1:
        raise ConfigError(f"depth must be at least 1, got {depth}", key="--depth", hint="e.g. --depth 2")
    if max_sessions < 0:
        raise ConfigError(f"the number of sessions to list must be >= 0, got {max_sessions}", key="--sessions",
                          hint="e.g. --sessions 20")
    say = progress or (lambda _msg: None)
    spec = _pick(config, pipeline, metric)
    audited = resolve_windows(config, windows)
    grain = pipeline_grains(config)[spec.name]
    dims = spec.dimensions if spec.dimensions is not None else config.dimensions
    con = connect()
    try:
        golden_sessions: list | None = [] if spec.sessions else None
        _load_golden(con, config, audited, math.gcd(config.window_minutes, grain), say, golden_sessions)
        check_empty_windows(con, config, audited, allow_empty=False, key="--window" if windows else "window.start")
        say(f"reconciling {spec.name} ({spec.source.describe()})")
        result = reconcile_pipeline(
            con, spec, index=1, dims=dims, grain_minutes=grain, windows=audited,
            window_minutes=config.window_minutes, explain=False,
            tolerance_for=lambda m: config.tolerance_rules.resolve(spec.name, m, spec.tolerances))
        found = result.metric(metric)
        if found is None:
            raise ConfigError(f"pipeline {spec.name!r} does not publish {metric}", file=config.file,
                              key=f"pipelines.{spec.name}",
                              hint=_did_you_mean(metric, [m.metric for m in result.metrics]))
        notes: list[str] = []
        localization = _localize_published(con, found, dims, depth, notes)
        mechanism = None
        if config.mechanisms and localization is not None and found.published_as == "components":
            say("naming the mechanism of the gap")
            mechanism = _name_mechanism(con, config, localization, dims, grain,
                                        math.gcd(config.window_minutes, grain))
        sessions = None
        if golden_sessions is not None:
            from auditor.session_rows import drill_sessions, join_sessions
            say(f"joining {spec.name}'s session rows ({spec.sessions}) with golden's sessions")
            frame = join_sessions(con, spec, pa.concat_tables(golden_sessions), config.dimensions,
                                  config.window_minutes)
            sessions = drill_sessions(frame, catalogue()[metric], config.dimensions, where=spec.sessions,
                                      depth=depth, max_sessions=max_sessions)
        else:
            notes.append(f"pipeline {spec.name} has no session rows (`sessions:` in audit.yaml): "
                         "no session-level drill-down")
    finally:
        con.close()
    m = catalogue()[metric]
    return Drilldown(
        pipeline=spec.name, metric=metric, unit=found.unit, kind=found.kind, numerator=m.numerator,
        denominator=m.denominator, published_as=found.published_as, status=found.status,
        tolerance=found.tolerance.describe(), windows=audited, dimensions=tuple(dims), total=found.total,
        slices_compared=found.slices_compared, slices_differing=found.slices_differing,
        localization=localization, sessions=sessions, notes=tuple(notes), mechanism=mechanism)


def _name_mechanism(con, config: AuditConfig, localization: Localization, dims: Sequence[str], grain: int,
                    golden_grain: int) -> dict[str, Any] | None:
    """The mechanism search on the top explanation's slice (every session when none), on the
    reconciliation just made (``r_joined``)."""
    from auditor.mechanisms.search import search_slice
    columns = {r[0] for r in con.execute("SELECT column_name FROM duckdb_columns() "
                                         "WHERE table_name = 'r_joined'").fetchall()}
    published = [c for c in COMPONENTS if f"c_{c}" in columns and f"g_{c}" in columns]
    top = dict(localization.explanations[0].slice) if localization.explanations else {}
    finding = search_slice(con, top, dims=dims, grain_minutes=grain, golden_grain_minutes=golden_grain,
                           components=published, options=config.golden_options, rules=config.rules_in_use())
    return None if finding is None else finding.to_dict()


def _localize_published(con, found: MetricResult, dims: Sequence[str], depth: int,
                        notes: list[str]) -> Localization | None:
    if not found.slices_differing and not found.total.num_diff and not found.total.den_diff:
        return None
    if found.published_as != "components":
        notes.append("published as final values only: the slices cannot be weighed without the "
                     "numerator and denominator (see the session drill-down if configured)")
        return None
    if not dims:
        notes.append("the pipeline publishes window totals only (no dimensions) to localize within")
        return None
    metric = catalogue()[found.metric]
    leaves = joined_leaves(con, dims, metric)
    return localize_metric(leaves, dims, metric, max_depth=depth)
