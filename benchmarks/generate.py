"""Generator throughput: events per second written to Parquet.

    .venv/bin/python benchmarks/generate.py [--events 10000000] [--repeat 1]

Prints one line per run; the file goes to benchmarks/data/ (git-ignored).
"""
from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

from auditor.synth.generate import generate_events, write_events

EVENTS_PER_SESSION = 31    # measured mean with default dirt rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    sessions = max(1, args.events // EVENTS_PER_SESSION)
    out = Path(__file__).parent / "data" / f"events_{args.events}.parquet"
    generate_events(100, 0)    # warm-up: imports, first allocations
    for _ in range(args.repeat):
        t, cpu = time.perf_counter(), time.process_time()
        rows = write_events(out, sessions, args.seed)
        secs, cpu = time.perf_counter() - t, time.process_time() - cpu
        # CPU time is the fairer figure on a shared machine (the generator is single-threaded
        # numpy; wall time grows with the machine's load)
        print(f"generate+write: {sessions:,} sessions, {rows:,} events, {secs:.1f} s wall, "
              f"{cpu:.1f} s CPU, {rows / secs / 1e6:.2f} M events/s wall, "
              f"{os.path.getsize(out) / 1e6:.0f} MB, "
              f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB")


if __name__ == "__main__":
    main()
