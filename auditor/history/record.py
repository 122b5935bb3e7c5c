"""What one ``auditor run`` appends to the history, and how a finding is named.

A finding is (pipeline, metric, slice as sorted ``dim=value`` pairs, direction):
never the window, never the gap's size, so the same fault seen in two windows
is one finding. Its slice is the one the audit's localization names for that
window (``MetricResult.window_explanations``); a failing window the
localization cannot cut (a pipeline that publishes final values only, or
none of its dimensions) is a finding on the whole window, slice ``*``; a
window the pipeline did not publish at all is the finding
``pipeline/metric/*/missing``.

:func:`record_run` writes, in one transaction: the run (version, time,
golden options, the definitions' fingerprint, where its reports were
written), per pipeline x metric x audited window golden vs the pipeline with
status and tolerance, the findings of each window with their explanation, and
the data-quality counts. A window recorded before for the same pipeline is
superseded: its earlier rows stay, marked with the run that replaced them.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from auditor.findings import FAIL, AuditResult, MetricResult, PipelineResult
from auditor.history.store import Store
from auditor.windows import Window, iso

WHOLE = "*"
# Test hook: a file path; inside the write transaction the run creates it and sleeps
# (tests/test_history_safety.py kills the process there, or lets a second writer wait).
PAUSE_ENV = "AUDITOR_TEST_HISTORY_PAUSE"


@dataclass(frozen=True)
class FindingKey:
    pipeline: str
    metric: str
    slice: tuple[tuple[str, str], ...]     # sorted (dim, value) pairs; () is the whole window
    direction: str                          # higher | lower | missing | extra | differs

    @property
    def slice_text(self) -> str:
        return "&".join(f"{d}={v}" for d, v in self.slice) or WHOLE

    @property
    def identity(self) -> str:
        """``pipeline/metric/dim=value&dim=value/direction``, as `auditor ack` accepts it."""
        return f"{self.pipeline}/{self.metric}/{self.slice_text}/{self.direction}"

    @property
    def id(self) -> str:
        """A short stable id: the first 10 hex digits of the identity's SHA-256."""
        return hashlib.sha256(self.identity.encode("utf-8")).hexdigest()[:10]

    @classmethod
    def of(cls, pipeline: str, metric: str, slice_: Mapping[str, Any], direction: str) -> FindingKey:
        pairs = tuple(sorted((str(d), "null" if v is None else str(v)) for d, v in slice_.items()))
        return cls(pipeline, metric, pairs, direction)


@dataclass(frozen=True)
class WindowFinding:
    key: FindingKey
    window_ms: int
    golden: float | None
    candidate: float | None
    share_of_gap: float | None
    moved: str | None
    detail: Mapping[str, Any]


def _direction(golden: float | None, candidate: float | None, num_delta: float | None = None) -> str:
    if golden is None and candidate is None:
        return "differs"
    if candidate is None:
        return "missing"
    if golden is None:
        return "extra"
    if candidate != golden:
        return "higher" if candidate > golden else "lower"
    if num_delta:
        return "higher" if num_delta > 0 else "lower"
    return "differs"


def _moved(e: Mapping[str, Any]) -> str | None:
    num, den = e.get("num_share") or 0, e.get("den_share") or 0
    if num and den:
        return "both" if min(num, den) >= 0.1 else ("numerator" if num > den else "denominator")
    return "numerator" if num else "denominator" if den else None


def window_findings(p: PipelineResult, m: MetricResult, windows: Sequence[Window]) -> list[WindowFinding]:
    """The findings of one pipeline x metric, window by window."""
    per_window = {ms: ex for ms, ex in m.window_explanations}
    out: list[WindowFinding] = []
    for k, w in enumerate(windows):
        total = m.windows[k] if k < len(m.windows) else None
        published = p.window_rows[k] if k < len(p.window_rows) else None
        if published == 0:
            if m.status == FAIL and total is not None and total.golden_num:
                out.append(WindowFinding(FindingKey.of(p.name, m.metric, {}, "missing"), w.start_ms,
                                         total.golden, None, 1.0, None, {}))
            continue
        explanations = per_window.get(w.start_ms)
        if explanations is None and len(windows) == 1 and m.status == FAIL:
            explanations = m.explanations
        failing = (total is not None and total.status == FAIL) or w.start_ms in per_window or \
            any(s.status == FAIL and s.window is not None and w.start <= s.window < w.end for s in m.slices)
        if not failing:
            continue
        if explanations:
            for e in explanations:
                key = FindingKey.of(p.name, m.metric, e.get("slice") or {},
                                    _direction(e.get("golden_value"), e.get("candidate_value"),
                                               e.get("num_delta")))
                detail = {k: v for k, v in e.items() if k != "slice"}
                out.append(WindowFinding(key, w.start_ms, e.get("golden_value"), e.get("candidate_value"),
                                         e.get("share_of_gap"), _moved(e), detail))
        else:
            direction = total.direction if total is not None and total.direction else "differs"
            out.append(WindowFinding(FindingKey.of(p.name, m.metric, {}, direction), w.start_ms,
                                     total.golden if total else None, total.candidate if total else None,
                                     1.0, total.moved if total else None, {}))
    # one row per finding and window (two explanations never share a slice, but be safe)
    seen: dict[tuple[str, int], WindowFinding] = {}
    for f in out:
        seen.setdefault((f.key.id, f.window_ms), f)
    return list(seen.values())


def new_run_id(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]


def record_run(store: Store, result: AuditResult, *, late_arrival_ms: Mapping[str, int] | None = None,
               report_dir: str | None = None, now: datetime | None = None,
               run_id: str | None = None) -> str:
    """Append ``result`` to the history in one transaction; returns the run id."""
    now = now or datetime.now(timezone.utc)
    run_id = run_id or new_run_id(now)
    now_ms = int(now.timestamp() * 1000)
    late = late_arrival_ms or {}
    wm = result.window_minutes
    results, found = [], []
    for p in result.pipelines:
        for m in p.metrics:
            fs = window_findings(p, m, result.windows)
            failing = {f.window_ms for f in fs}
            found += fs
            for k, w in enumerate(result.windows):
                c = m.windows[k] if k < len(m.windows) else None
                results.append({
                    "run_id": run_id, "pipeline": p.name, "metric": m.metric, "window_ms": w.start_ms,
                    "window_minutes": wm, "unit": m.unit, "kind": m.kind,
                    "status": FAIL if w.start_ms in failing else (c.status if c else m.status),
                    "published_rows": p.window_rows[k] if k < len(p.window_rows) else None,
                    "golden": _float(c.golden if c else None), "candidate": _float(c.candidate if c else None),
                    "golden_num": c.golden_num if c else None, "cand_num": c.cand_num if c else None,
                    "golden_den": c.golden_den if c else None, "cand_den": c.cand_den if c else None,
                    "rel_diff": _float(c.rel_diff if c else None), "tolerance": m.tolerance.describe(),
                    "superseded_by": None, "late_arrival_ms": int(late.get(p.name, 0))})
    finding_rows = [{
        "run_id": run_id, "finding_id": f.key.id, "pipeline": f.key.pipeline, "metric": f.key.metric,
        "slice": f.key.slice_text, "direction": f.key.direction, "window_ms": f.window_ms,
        "golden": _float(f.golden), "candidate": _float(f.candidate), "share_of_gap": _float(f.share_of_gap),
        "moved": f.moved, "detail": json.dumps(f.detail, sort_keys=True, default=str),
        "superseded_by": None} for f in found]
    quality = []
    first_ms = min(w.start_ms for w in result.windows) if result.windows else None
    for check in (result.quality or {}).get("checks", []):
        quality.append({"run_id": run_id, "check_name": check.get("name"), "status": check.get("status"),
                        "unexpected_count": check.get("unexpected_count"),
                        "denominator": check.get("denominator"),
                        "rate": _float(check.get("unexpected_rate")), "first_window_ms": first_ms})
    with store.transaction():
        store.insert("runs", [{
            "run_id": run_id, "recorded_at": iso(now), "recorded_ms": now_ms,
            "auditor_version": result.auditor_version, "config_file": result.config_file,
            "events": result.events, "window_minutes": wm, "status": result.status,
            "golden_options": json.dumps(dict(result.golden_options), sort_keys=True, default=str),
            "report_dir": report_dir, "definitions_fingerprint": result.definitions_fingerprint}])
        starts = [w.start_ms for w in result.windows]
        for p in result.pipelines:
            for table in ("window_results", "findings"):
                store.supersede(table, run_id, p.name, starts)
        store.insert("window_results", results)
        store.insert("findings", finding_rows)
        store.insert("quality_counts", quality)
        _test_pause()
    return run_id


def _test_pause() -> None:
    flag = os.environ.get(PAUSE_ENV)
    if flag:
        with open(flag, "w", encoding="utf-8") as fh:
            fh.write(str(os.getpid()))
        time.sleep(float(os.environ.get(PAUSE_ENV + "_SECONDS", "30")))


def _float(value: Any) -> float | None:
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if v == v and v not in (float("inf"), float("-inf")) else None
