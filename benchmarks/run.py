"""Benchmark `auditor run` against `auditor golden` on the same events.

    python benchmarks/run.py --events 10M [--repeat 3]

Generates the events once with the project's generator (cached under
benchmarks/data/, shared with benchmarks/golden.py), derives two correct
pipeline outputs from golden (not timed): `streaming` at a 5-minute grain
over every dimension, `batch` hourly over four. Then times, each in a fresh
process and interleaved, `auditor golden` for the window and `auditor run`
with both pipelines and all reports (report.json, summary.md, report.html,
junit.xml). Prints the median wall and CPU (user+sys) time of each and their
ratios (target <= 1.3); on a shared machine the CPU figure is the steadier one.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
EVENTS_PER_SESSION = 31.3      # the generator's default traffic (see benchmarks/golden.py)
WINDOW_START = "2025-03-20T14:00:00Z"
DIMS = ["cdn", "device", "os", "player_version", "country", "isp", "asset_id", "content_type"]
BATCH_DIMS = ["cdn", "device", "player_version", "country"]


def parse_count(text: str) -> int:
    text = text.strip().upper()
    return int(float(text.rstrip("KM")) * {"K": 1_000, "M": 1_000_000}.get(text[-1], 1))


def ensure_events(n_events: int, seed: int) -> Path:
    sessions = max(1, round(n_events / EVENTS_PER_SESSION))
    path = HERE / "data" / f"events_{sessions}s_seed{seed}.parquet"
    if not path.exists():
        from auditor.synth.generate import write_events
        rows = write_events(path, sessions, seed)
        print(f"generated {rows:,} events -> {path}", file=sys.stderr)
    return path


def make_pipelines(events: Path, folder: Path, quality: bool = True) -> Path:
    from auditor.golden.calculator import compute_golden
    from auditor.tables import write_table
    stream = compute_golden(str(events), dims=DIMS, window_minutes=5, window_start=WINDOW_START,
                            window_end="2025-03-20T15:00:00Z")
    write_table(stream.aggregates, folder / "streaming.parquet")
    batch = compute_golden(str(events), dims=BATCH_DIMS, window_minutes=60, window_start=WINDOW_START)
    write_table(batch.aggregates, folder / "batch.parquet")
    config = {"events": str(events.resolve()), "window": {"start": WINDOW_START, "minutes": 60}, "dimensions": DIMS,
              "pipelines": {"streaming": {"path": "streaming.parquet", "grain": "5m"},
                            "batch": {"path": "batch.parquet", "dimensions": BATCH_DIMS}},
              "quality": quality}
    (folder / "audit.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    print(f"pipelines: streaming {stream.aggregates.num_rows:,} rows, batch {batch.aggregates.num_rows:,} rows",
          file=sys.stderr)
    return folder / "audit.yaml"


def timed(args: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds user+sys) of ``auditor ARGS`` in a fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "auditor", *args], capture_output=True, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"auditor {args[0]} exited {done.returncode}:\n{done.stderr}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", default="10M")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-quality", action="store_true",
                    help="audit.yaml `quality: false`: reconciliation alone, without the data-quality stage")
    a = ap.parse_args()
    events = ensure_events(parse_count(a.events), a.seed)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = make_pipelines(events, folder, quality=not a.no_quality)
        golden_s, run_s = [], []
        for _ in range(a.repeat):
            golden_s.append(timed(["golden", "--events", str(events), "--out", str(folder / "g.parquet"),
                                   "--window-start", WINDOW_START, "--window-minutes", "60",
                                   "--dims", ",".join(DIMS)]))
            run_s.append(timed(["run", "--config", str(config), "--out", str(folder / "r"), "--junit", "-q"]))
            print(f"golden {golden_s[-1][0]:.2f} s wall / {golden_s[-1][1]:.2f} s CPU, "
                  f"run {run_s[-1][0]:.2f} s wall / {run_s[-1][1]:.2f} s CPU", file=sys.stderr)
    for k, what in ((0, "wall"), (1, "CPU")):
        g = statistics.median(x[k] for x in golden_s)
        r = statistics.median(x[k] for x in run_s)
        print(f"{events.name} ({what}, median of {a.repeat}): auditor golden {g:.2f} s, "
              f"auditor run (2 pipelines, all reports{'' if a.no_quality else ', data quality'}) "
              f"{r:.2f} s, ratio {r / g:.3f}")


if __name__ == "__main__":
    main()
