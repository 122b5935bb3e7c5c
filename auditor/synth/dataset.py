"""A complete synthetic audit input in one folder: what ``auditor generate`` writes.

``events.parquet`` (raw events), ``streaming.parquet`` and ``batch.parquet``
(the simulated pipelines' aggregates in the canonical shape), optionally
``batch_sessions.parquet`` (the batch pipeline's session rows), ``truth.json``
(every injected fault with its measured effect) and an ``audit.yaml`` that
points at all of them, so ``auditor run --config DIR/audit.yaml`` audits the
folder as it is.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pyarrow as pa

from auditor.synth.faults import PIPELINES, Fault
from auditor.synth.generate import DEFAULT_START, DirtRates, write_events, write_parquet
from auditor.tables import write_text

TRUTH_SCHEMA_VERSION = 1

@dataclass(frozen=True)
class Dataset:
    """What was written where, and the truth about it."""
    out_dir: Path
    events_rows: int
    files: dict[str, str]
    truth: dict


def metric_value(totals: dict[str, int], metric: str) -> float | None:
    """A metric (rules/metrics.yaml) from summed aggregate components."""
    from auditor.golden.metrics import catalogue

    m = catalogue()[metric]
    return m.value(m.numerator_value(totals), m.denominator_value(totals))


def _totals(sessions: pa.Table, mask: np.ndarray | None = None) -> dict[str, int]:
    """Session facts summed into aggregate components (attempt -> attempts, ...)."""
    from auditor.golden.calculator import FACT_TO_COMPONENT

    out = {}
    for fact, component in FACT_TO_COMPONENT.items():
        v = sessions[fact].to_numpy(zero_copy_only=False).astype(np.int64)
        out[component] = int(v[mask].sum() if mask is not None else v.sum())
    return out


def _in_windows(sessions: pa.Table, start: datetime, end: datetime) -> pa.Table:
    ws = sessions["window_start"].cast(pa.timestamp("ms", tz="UTC")).cast(pa.int64()).to_numpy()
    lo, hi = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    return sessions.filter((ws >= lo) & (ws < hi))


def measure_effect(fault: Fault, golden_sessions: pa.Table, pipeline_sessions: pa.Table,
                   start: datetime, end: datetime) -> list[dict]:
    """Golden vs. pipeline value of every metric the fault claims, overall and in its slice."""
    from auditor.synth.simulate import slice_mask

    g = _in_windows(golden_sessions, start, end)
    p = _in_windows(pipeline_sessions, start, end)
    gt, pt = _totals(g), _totals(p)
    gs, ps = _totals(g, slice_mask(g, fault.slice)), _totals(p, slice_mask(p, fault.slice))
    effects = []
    for metric in fault.spec.metrics:
        gv, pv = metric_value(gt, metric), metric_value(pt, metric)
        gsv, psv = metric_value(gs, metric), metric_value(ps, metric)
        diff = None if gv is None or pv is None else pv - gv
        effects.append({
            "metric": metric, "golden": gv, "candidate": pv,
            "abs_diff": diff,
            "rel_diff": None if diff is None or not gv else diff / gv,
            "direction": None if diff is None else ("up" if diff > 0 else "down" if diff < 0 else "none"),
            "slice_golden": gsv, "slice_candidate": psv,
        })
    return effects


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def write_dataset(out_dir: str | Path, *, sessions: int, seed: int, faults: Sequence[Fault] = (),
                  start: datetime = DEFAULT_START, windows: int = 1, window_minutes: int = 60,
                  dirt: DirtRates = DirtRates(), batch_sessions: bool = True,
                  events_only: bool = False, progress: Callable[[str], None] | None = None) -> Dataset:
    """Generate events, simulate both pipelines with ``faults`` and write everything to ``out_dir``.

    Every file is written atomically: an interrupted run leaves no truncated file."""
    import pyarrow.parquet as pq
    import yaml

    from auditor.synth.simulate import PUBLISHED_DIMS, simulate

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if start.tzinfo is None:
        start = start.replace(tzinfo=timezone.utc)
    end = start + timedelta(minutes=windows * window_minutes)
    say = progress or (lambda _msg: None)
    say(f"generating {sessions:,} sessions into {out / 'events.parquet'}")
    rows = write_events(out / "events.parquet", sessions, seed, start=start, windows=windows,
                        window_minutes=window_minutes, dirt=dirt)
    files = {"events": "events.parquet"}
    truth: dict = {
        "schema_version": TRUTH_SCHEMA_VERSION,
        "generator": {"sessions": sessions, "seed": seed, "start": _iso(start), "windows": windows,
                      "window_minutes": window_minutes, "events": rows, "dirt": asdict(dirt)},
        "window": {"start": _iso(start), "end": _iso(end)},
        "dimensions": list(PUBLISHED_DIMS),
        "faults": [],
    }
    if not events_only:
        events = pq.read_table(out / "events.parquet")
        say(f"simulating the pipelines on {rows:,} events" + (f" with {len(faults)} fault(s)" if faults else ""))
        base, published = simulate(events, faults, window_minutes=window_minutes)
        for name, pub in published.items():
            files[name] = f"{name}.parquet"
            _write(pub.aggregates, out / files[name])
        if batch_sessions:
            files["batch_sessions"] = "batch_sessions.parquet"
            _write(published["batch"].sessions, out / files["batch_sessions"])
        for f in faults:
            entry = f.to_json()
            entry["effect"] = measure_effect(f, base.sessions, published[f.pipeline].sessions, start, end)
            truth["faults"].append(entry)
        _write_audit_yaml(out / "audit.yaml", files, start, window_minutes, yaml)
    truth["files"] = files
    write_text(out / "truth.json", json.dumps(truth, indent=2, sort_keys=False) + "\n")
    return Dataset(out, rows, files, truth)


def _write(table: pa.Table, path: Path) -> None:
    with write_parquet(path, table.schema) as w:
        w.write_table(table, row_group_size=1 << 20)


def _write_audit_yaml(path: Path, files: dict[str, str], start: datetime, window_minutes: int, yaml) -> None:
    from auditor.synth.simulate import PUBLISHED_DIMS

    pipelines = {}
    for name in PIPELINES:
        entry = {"path": files[name]}
        if f"{name}_sessions" in files:
            entry["sessions"] = files[f"{name}_sessions"]
        pipelines[name] = entry
    config = {
        "events": files["events"],
        "window": {"start": _iso(start), "minutes": window_minutes},
        "dimensions": list(PUBLISHED_DIMS),
        "pipelines": pipelines,
    }
    write_text(path, "# Generated by auditor generate; paths are relative to this file.\n"
               + yaml.safe_dump(config, sort_keys=False, default_flow_style=None))
