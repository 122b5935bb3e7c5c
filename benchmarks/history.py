"""Benchmark the run history: the scheduled report at scale, and what appending costs `auditor run`.

    python benchmarks/history.py --days 90 --repeat 3                 # the report only
    python benchmarks/history.py --days 90 --events 10M --repeat 5    # and the append overhead

1. **Report.** A store holding ``--days`` of hourly windows for 2 pipelines x
   every metric (one run per hour, a fault that comes and goes in three
   slices, the definitions changing once, data-quality counts per run) is
   written straight through the store's API (not timed). Then, each in a
   fresh process, `auditor report --since {days}d` is timed: wall and CPU
   seconds (median and range) and the size of the HTML (targets: <= 5 s,
   <= 5 MB).
2. **Append overhead.** On ``--events`` raw events (benchmarks/run.py's data
   and pipelines), `auditor run` without and with `--history STORE` (the store
   already holding the ``--days`` above, the same window rerun each time, so
   every append also supersedes), A and B interleaved, each in a fresh
   process. Prints the median and range of both and the ratio B/A per pair
   (target <= 1.02). On this shared machine the CPU figures are the steadier.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import WINDOW_START, ensure_events, make_pipelines, parse_count, timed  # noqa: E402

HOUR = 3_600_000


def fill_store(path: str, days: int, seed: int = 5) -> int:
    """A store of ``days`` x 24 hourly windows for streaming and batch; returns the rows written."""
    from auditor.golden.metrics import catalogue
    from auditor.history import open_store
    from auditor.history.record import FindingKey
    rng = random.Random(seed)
    end = datetime.fromisoformat(WINDOW_START.replace("Z", "+00:00"))
    start_ms = int((end - timedelta(days=days)).timestamp() * 1000)
    metrics = list(catalogue().values())
    slices = [{"device": "roku"}, {"cdn": "fastly", "isp": "comcast"}, {"country": "br"}]
    runs, results, findings, quality = [], [], [], []
    for h in range(days * 24):
        w = start_ms + h * HOUR
        run_id = f"bench-{h:05d}"
        fp = "sha256:" + ("a" if h < days * 12 else "b") * 64
        runs.append({"run_id": run_id, "recorded_at": datetime.fromtimestamp(w / 1000 + 4500, timezone.utc)
                     .isoformat(), "recorded_ms": w + 4_500_000, "auditor_version": "bench", "config_file": None,
                     "events": "bench", "window_minutes": 60, "status": "pass", "golden_options": "{}",
                     "report_dir": None, "definitions_fingerprint": fp})
        faulty = {k for k in range(3) if (h // (24 * (k + 2))) % 3 == 0}
        for pipeline in ("streaming", "batch"):
            for m in metrics:
                golden = rng.uniform(0.05, 0.2) if m.is_ratio else rng.uniform(1e3, 1e5)
                off = pipeline == "batch" and faulty and m.name in ("ebvs_rate", "plays", "play_minutes")
                cand = golden * (1.03 if off else 1.0)
                results.append({"run_id": run_id, "pipeline": pipeline, "metric": m.name, "window_ms": w,
                                "window_minutes": 60, "unit": m.unit, "kind": "ratio" if m.is_ratio else "count",
                                "status": "fail" if off else "pass", "published_rows": 800, "golden": golden,
                                "candidate": cand, "golden_num": int(golden * 1000), "cand_num": int(cand * 1000),
                                "golden_den": 1000 if m.is_ratio else None,
                                "cand_den": 1000 if m.is_ratio else None, "rel_diff": abs(cand - golden) / golden,
                                "tolerance": "exact", "superseded_by": None, "late_arrival_ms": 0})
                if off:
                    for k in faulty:
                        key = FindingKey.of(pipeline, m.name, slices[k], "higher")
                        findings.append({"run_id": run_id, "finding_id": key.id, "pipeline": pipeline,
                                         "metric": m.name, "slice": key.slice_text, "direction": "higher",
                                         "window_ms": w, "golden": golden, "candidate": cand,
                                         "share_of_gap": 1 / len(faulty), "moved": "numerator",
                                         "detail": json.dumps({"share_of_gap": 1 / len(faulty)}),
                                         "superseded_by": None})
        for check in ("duplicate_events", "late_events", "orphan_sessions", "events_after_end"):
            quality.append({"run_id": run_id, "check_name": check, "status": "pass",
                            "unexpected_count": rng.randrange(100), "denominator": 10_000,
                            "rate": rng.randrange(100) / 10_000, "first_window_ms": w})
    with open_store(path, write=True) as store, store.transaction():
        for table, rows in (("runs", runs), ("window_results", results), ("findings", findings),
                            ("quality_counts", quality)):
            store.insert(table, rows)
    return len(results) + len(findings) + len(quality) + len(runs)


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s (range {min(values):.2f}-{max(values):.2f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--events", default=None, help="also measure the append overhead on this many events (10M)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        store = str(folder / "history.duckdb")
        rows = fill_store(store, a.days)
        print(f"store: {a.days} days x 24 hourly windows x 2 pipelines, {rows:,} rows, "
              f"{Path(store).stat().st_size / 1e6:.1f} MB", file=sys.stderr)
        until = datetime.fromisoformat(WINDOW_START.replace("Z", "+00:00"))
        walls, cpus, size = [], [], 0
        for _ in range(a.repeat):
            wall, cpu = timed(["report", "--history", store, "--since", f"{a.days}d", "--until",
                               until.strftime("%Y-%m-%dT%H:%M:%SZ"), "--out", str(folder / "r.html"), "-q"])
            walls.append(wall)
            cpus.append(cpu)
            size = (folder / "r.html").stat().st_size
        print(f"report of {a.days} days hourly, 2 pipelines: wall {spread(walls)}, CPU {spread(cpus)}, "
              f"HTML {size / 1e6:.2f} MB (targets <= 5 s, <= 5 MB)")
        if not a.events:
            return
        events = ensure_events(parse_count(a.events), a.seed)
        config = make_pipelines(events, folder)
        base = ["run", "--config", str(config), "--window", f"{WINDOW_START}/PT1H", "-q"]
        plain, hist = [], []
        for k in range(a.repeat):
            order = [("A", base), ("B", base + ["--history", store])]
            for label, args in (order if k % 2 == 0 else order[::-1]):
                (plain if label == "A" else hist).append(timed(args))
            print(f"pair {k + 1}: run {plain[-1][0]:.2f} s wall / {plain[-1][1]:.2f} s CPU, "
                  f"run --history {hist[-1][0]:.2f} s / {hist[-1][1]:.2f} s CPU", file=sys.stderr)
        for i, what in ((0, "wall"), (1, "CPU")):
            ratios = [h[i] / p[i] for p, h in zip(plain, hist)]
            print(f"{events.name} ({what}, {a.repeat} interleaved pairs): auditor run "
                  f"{spread([p[i] for p in plain])}, with --history {spread([h[i] for h in hist])}, "
                  f"ratio per pair median {statistics.median(ratios):.3f} "
                  f"(range {min(ratios):.3f}-{max(ratios):.3f}; target <= 1.02)")
        shutil.rmtree(folder / "r", ignore_errors=True)


if __name__ == "__main__":
    main()
