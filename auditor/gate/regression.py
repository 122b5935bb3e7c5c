"""Fault regression: under head's definitions the audit must still see the curated faults.

For every injected fault of the curated fixtures (their truth.json), the
faulty pipeline is simulated again on the fixture events *under head's
definitions* (auditor.synth: the same events, faults and mechanism, with
head's SQL and options), and head's golden is compared with it the way an
audit compares a pipeline. The fault counts as seen when its main metric
moves in the recorded direction and the top explanation names its slice (or
a slice inside it that carries nearly all of the gap). A rules change that
makes golden compute what the faulty pipeline computes (e.g. counting the
first pre-roll ad as the video start) blinds the audit to that fault: the
gate fails and names it.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from auditor.findings import Comparison
from auditor.gate.corpus import FIXTURE_DIMS, Fixture
from auditor.gate.diff import comparison_dict, diff_metric, direction, join_aggregates, rollups
from auditor.golden import GoldenResult
from auditor.golden.metrics import Metric
from auditor.golden.sqlfiles import RulesFolder
from auditor.synth.faults import parse_fault
from auditor.synth.simulate import simulate_pipeline
from auditor.tolerances import Tolerance

MIN_SHARE = 0.9   # a slice inside the injected one must carry this share of the gap


@dataclass(frozen=True)
class FaultCheck:
    fixture: str
    fault: str                         # the fault's spec, e.g. batch/preroll_exit_not_ebvs:device=smart_tv
    metric: str
    expected_direction: str
    expected_slice: Mapping[str, str] | None
    status: str                        # seen | blind | misplaced
    observed: Comparison | None
    top_slice: Mapping[str, Any] | None
    message: str

    @property
    def failed(self) -> bool:
        return self.status != "seen"

    def to_dict(self) -> dict[str, Any]:
        return {"fixture": self.fixture, "fault": self.fault, "metric": self.metric,
                "expected_direction": self.expected_direction,
                "expected_slice": None if self.expected_slice is None else dict(self.expected_slice),
                "status": self.status, "top_slice": None if self.top_slice is None else dict(self.top_slice),
                "observed": comparison_dict(self.observed) if self.observed else None,
                "message": self.message}


def _inside(sessions: pa.Table, found: Mapping[str, Any], injected: Mapping[str, Any]) -> bool:
    """Every session of slice ``found`` is also in slice ``injected`` (and there is one)."""
    mask = pa.array([True] * sessions.num_rows)
    for d, v in found.items():
        mask = pc.and_(mask, pc.fill_null(pc.equal(sessions[d], v), False))
    inside = sessions.filter(mask)
    if inside.num_rows == 0:
        return False
    ok = pa.array([True] * inside.num_rows)
    for d, v in injected.items():
        ok = pc.and_(ok, pc.fill_null(pc.equal(inside[d], v), False))
    return bool(pc.all(ok).as_py())


def check_faults(con: duckdb.DuckDBPyConnection, fixtures: Sequence[Fixture], head: RulesFolder,
                 head_golden: GoldenResult, metrics: Mapping[str, Metric], *, window_minutes: int = 60,
                 depth: int = 2) -> list[FaultCheck]:
    """Each fixture's main findings, re-derived under head (``head_golden``: head's golden on the
    fixture events with session facts, dimensions :data:`FIXTURE_DIMS`)."""
    events: pa.Table | None = None
    out = []
    for fixture in fixtures:
        expected = json.loads((fixture.folder / "expected.json").read_text(encoding="utf-8"))
        findings = [f for f in expected.get("findings", []) if f["primary"]]
        if not findings:
            continue
        if events is None:
            events = pq.read_table(fixture.events)
        faults = [parse_fault(f["spec"]) for f in fixture.truth()["faults"]]
        published = {}
        for finding in findings:
            pipeline = finding["pipeline"]
            if pipeline not in published:
                published[pipeline] = simulate_pipeline(pipeline, events, faults, head_golden,
                                                        dims=FIXTURE_DIMS, window_minutes=window_minutes,
                                                        rules=head).aggregates
            out.append(_check(con, fixture, finding, head_golden, published[pipeline], metrics,
                              window_minutes, depth))
    return out


def _check(con, fixture: Fixture, finding: dict, head_golden: GoldenResult, published: pa.Table,
           metrics: Mapping[str, Metric], window_minutes: int, depth: int) -> FaultCheck:
    name = finding["metric"]
    injected = finding["top_slice"]
    common = dict(fixture=fixture.name, fault=finding["fault"], metric=name,
                  expected_direction=finding["direction"], expected_slice=injected)
    metric = metrics.get(name)
    if metric is None:
        return FaultCheck(**common, status="blind", observed=None, top_slice=None,
                          message=f"{finding['fault']}: head has no metric {name!r} to see it by")
    leaves = join_aggregates(con, head_golden.aggregates, published, FIXTURE_DIMS, window_minutes)
    diff = diff_metric(name, metric, metric, leaves, rollups(con, leaves, 0), Tolerance(origin="exact"),
                       depth=max(depth, len(injected or {})), max_slices=0,
                       concentrated_only=False)
    went = direction(diff.total)
    if not diff.moved or went != finding["direction"]:
        return FaultCheck(**common, status="blind", observed=diff.total, top_slice=None,
                          message=f"{fixture.name}: the audit no longer sees {finding['fault']} "
                                  f"({name} {'did not move' if not diff.moved else 'went ' + str(went)}, "
                                  f"expected {finding['direction']})")
    top = dict(diff.explanations[0]["slice"]) if diff.explanations else None
    if injected and (top is None or not (top == injected or (
            (diff.explanations[0].get("share_of_gap") or 0) >= MIN_SHARE
            and _inside(head_golden.sessions, top, injected)))):
        return FaultCheck(**common, status="misplaced", observed=diff.total, top_slice=top,
                          message=f"{fixture.name}: {finding['fault']} is seen but no longer localized "
                                  f"(top slice {top}, injected {injected})")
    return FaultCheck(**common, status="seen", observed=diff.total, top_slice=top,
                      message=f"{fixture.name}: {finding['fault']} seen ({name} {went})")
