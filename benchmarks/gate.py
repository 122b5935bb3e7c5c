"""Benchmark `auditor gate`: on the shipped fixture corpus, and on a large corpus against
one golden run on the same events.

    python benchmarks/gate.py [--events 1M] [--repeat 3]

The change gated is a real definition change: head is a copy of the shipped rules
with the default `ebvs_min_wait_ms` raised from 0 to 2000 (EBVS moves, sessions are
reclassified ebvs -> short_exit), base the shipped rules folder. Runs are in this
process, interleaved (golden, gate, golden, gate, ...) after one warm-up each, so a
slow phase of the shared VM hits both; the medians and their ratio are printed.
Targets (issue 11): the fixture corpus <= 30 s; the large corpus <= 2.5x one golden run.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from golden import ensure_events, parse_count  # noqa: E402  (benchmarks/golden.py)


def changed_rules(folder: Path) -> Path:
    from auditor.golden.sqlfiles import packaged_rules_dir
    head = folder / "rules"
    shutil.copytree(packaged_rules_dir(), head, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    options = head / "options.yaml"
    options.write_text(options.read_text().replace("ebvs_min_wait_ms: 0", "ebvs_min_wait_ms: 2000"))
    return head


def timed(fn) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", default="1M", help="size of the large corpus (default 1M)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of each (median printed)")
    args = ap.parse_args()

    from auditor.gate import run_gate
    from auditor.gate.corpus import FIXTURE_DIMS
    from auditor.golden import compute_golden
    from auditor.golden.sqlfiles import packaged_rules_dir

    base = packaged_rules_dir()
    with tempfile.TemporaryDirectory() as tmp:
        head = str(changed_rules(Path(tmp)))
        fixture_times = []
        for i in range(args.repeat):
            seconds, result = timed(lambda: run_gate(base, head=head, fixtures="all"))
            fixture_times.append(seconds)
            print(f"gate, fixture corpus: {seconds:.2f} s (exit {result.exit_code}, "
                  f"{result.golden_stats['events']:,} events, {len(result.faults)} faults checked)")
        print(f"gate, fixture corpus: median {statistics.median(fixture_times):.2f} s "
              f"over {args.repeat} (target <= 30 s)")

        events = ensure_events(parse_count(args.events), args.seed)
        golden = lambda: compute_golden(str(events), dims=FIXTURE_DIMS)  # noqa: E731
        gate = lambda: run_gate(base, head=head, fixtures="none", corpus=[str(events)])  # noqa: E731
        golden(), gate()   # warm-up: imports, file cache
        g_times, q_times = [], []
        for i in range(args.repeat):
            g, result = timed(golden)
            q, outcome = timed(gate)
            g_times.append(g)
            q_times.append(q)
            print(f"{result.stats['events']:,} events: golden {g:.2f} s, gate {q:.2f} s "
                  f"({q / g:.2f}x; exit {outcome.exit_code}, "
                  f"{outcome.reclassification.reclassified:,} sessions reclassified)")
        g_med, q_med = statistics.median(g_times), statistics.median(q_times)
        print(f"large corpus: golden median {g_med:.2f} s, gate median {q_med:.2f} s, "
              f"ratio of medians {q_med / g_med:.2f}x (target <= 2.5x)")


if __name__ == "__main__":
    main()
