"""Benchmark the golden calculator: events/s and peak memory.

    python benchmarks/golden.py --events 10M [--events 50M] [--threads 2] [--repeat 3]

Generates the events once with the project's generator (cached under
benchmarks/data/, about 31 events per session), then runs `auditor golden`
in a fresh process per size so peak memory (max RSS of that process) is the
calculator's own. Prints one line per run and, with --repeat, the median per
size (wall times on a shared 2-core VM swing by 10-20% from run to run).
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
EVENTS_PER_SESSION = 31.3  # measured on the generator's default traffic


def parse_count(text: str) -> int:
    text = text.strip().upper()
    mult = {"K": 1_000, "M": 1_000_000}.get(text[-1], 1)
    return int(float(text.rstrip("KM")) * mult)


def ensure_events(n_events: int, seed: int) -> Path:
    from auditor.synth.generate import write_events

    sessions = max(1, round(n_events / EVENTS_PER_SESSION))
    path = HERE / "data" / f"events_{sessions}s_seed{seed}.parquet"
    if not path.exists():
        t = time.perf_counter()
        rows = write_events(path, sessions, seed)
        print(f"generated {rows:,} events ({sessions:,} sessions) in "
              f"{time.perf_counter() - t:.1f} s -> {path}", file=sys.stderr)
    return path


def run_once(events: Path, threads: int, memory_limit: str | None) -> tuple[float, float, str]:
    code = (
        "import sys, time, json\n"
        "from auditor.golden.calculator import compute_golden, connect\n"
        f"con = connect(threads={threads}, memory_limit={memory_limit!r})\n"
        "t = time.perf_counter()\n"
        f"r = compute_golden({str(events)!r}, con=con)\n"
        "print(json.dumps({'seconds': time.perf_counter() - t, **r.stats, "
        "'rows': r.aggregates.num_rows}))\n"
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    import json
    stats = json.loads(out.stdout.strip().splitlines()[-1])
    # ru_maxrss of children is the max over all children so far: run sizes in increasing order
    return stats["seconds"], max(peak_kb, before) / 1024, (
        f"{stats['events']:,} events, {stats['sessions']:,} sessions, {stats['rows']:,} rows")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", action="append", default=None,
                    help="number of events, e.g. 1M, 10M, 50M (repeatable; default 1M and 10M)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--memory-limit", default=None, help="DuckDB memory_limit, e.g. 1.5GB")
    ap.add_argument("--repeat", type=int, default=1, help="runs per size (median printed)")
    args = ap.parse_args()
    sizes = sorted(parse_count(s) for s in (args.events or ["1M", "10M"]))
    print(f"machine: {os.cpu_count()} cores; threads={args.threads}; memory_limit={args.memory_limit}")
    for n in sizes:
        path = ensure_events(n, args.seed)
        runs = []
        for _ in range(args.repeat):
            seconds, peak_mb, what = run_once(path, args.threads, args.memory_limit)
            events = int(what.split(" events")[0].replace(",", ""))
            runs.append(seconds)
            print(f"{n / 1e6:>5.0f}M target: {what}: {seconds:6.2f} s, "
                  f"{events / seconds / 1e6:5.2f} M events/s, peak RSS {peak_mb:,.0f} MB", flush=True)
        if args.repeat > 1:
            print(f"{n / 1e6:>5.0f}M median of {args.repeat}: {statistics.median(runs):6.2f} s "
                  f"(min {min(runs):.2f}, max {max(runs):.2f})")


if __name__ == "__main__":
    main()
