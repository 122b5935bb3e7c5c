"""Benchmark the golden calculator: events/s and peak memory.

    python benchmarks/golden.py --events 1M --events 10M [--mode cli|library|both] [--threads 2] [--repeat 3]

Generates the events once with the project's generator (cached under
benchmarks/data/, about 31 events per session), then times each run in a
fresh process, so peak memory (max RSS of that process) is its own:

- ``--mode cli`` (default): ``auditor golden --events F --out
  TMP/golden.parquet -q`` as a user runs it (``python -m auditor``, with a
  two-line prelude that reports the process's peak memory at exit), timed
  from process start to exit:
  interpreter start-up, imports, the recompute with the command's defaults
  (every window, the eight default dimensions) and the Parquet write.
  AUDITOR_THREADS / AUDITOR_MEMORY_LIMIT carry --threads / --memory-limit.
- ``--mode library``: ``compute_golden(F)`` alone inside a process, timed
  around that call only: no start-up, no import, no output write (what the
  figures before 2026-12-03 measured).
- ``--mode both``: the two interleaved, with the ratio cli / library.

Prints one line per run (wall, CPU = user + sys of the process, peak RSS)
and, with --repeat, the median per size and mode (wall times on a shared
2-core VM swing by 10-20% from run to run, up to 2x under load: compare
modes within one invocation).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
EVENTS_PER_SESSION = 31.3  # measured on the generator's default traffic


def parse_count(text: str) -> int:
    text = text.strip().upper()
    mult = {"K": 1_000, "M": 1_000_000}.get(text[-1], 1)
    return int(float(text.rstrip("KM")) * mult)


def ensure_events(n_events: int, seed: int) -> Path:
    """The cached events file, generated in a child process (so this process stays small)."""
    sessions = max(1, round(n_events / EVENTS_PER_SESSION))
    path = HERE / "data" / f"events_{sessions}s_seed{seed}.parquet"
    if not path.exists():
        t = time.perf_counter()
        code = ("import sys\nfrom auditor.synth.generate import write_events\n"
                f"print(write_events({str(path)!r}, {sessions}, {seed}))")
        rows = int(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                  text=True).stdout.split()[-1])
        print(f"generated {rows:,} events ({sessions:,} sessions) in "
              f"{time.perf_counter() - t:.1f} s -> {path}", file=sys.stderr)
    return path


# Peak memory of the process itself: VmHWM of its own address space, printed at exit.
# (ru_maxrss from wait4 would also count the parent's memory at fork time.)
PEAK = ("import atexit, sys\n"
        "atexit.register(lambda: print('peak_kb', next(l.split()[1] for l in open('/proc/self/status') "
        "if l.startswith('VmHWM')), file=sys.stderr))\n")
# `python -m auditor ARGS`, with PEAK registered first
AS_CLI = PEAK + "import runpy\nsys.argv = ['auditor', *sys.argv[1:]]\nrunpy.run_module('auditor', run_name='__main__', alter_sys=True)\n"


def run_once(mode: str, events: Path, threads: int, memory_limit: str | None) -> dict:
    env = {**os.environ, "AUDITOR_THREADS": str(threads)}
    if memory_limit:
        env["AUDITOR_MEMORY_LIMIT"] = memory_limit
    with tempfile.TemporaryDirectory(prefix="bench-golden-") as tmp:
        if mode == "cli":
            out_file = Path(tmp) / "golden.parquet"
            argv = [sys.executable, "-c", AS_CLI, "golden", "--events", str(events), "--out", str(out_file), "-q"]
        else:
            code = (PEAK + "import json, time\n"
                    "from auditor.golden.calculator import compute_golden\n"
                    "t = time.perf_counter()\n"
                    f"r = compute_golden({str(events)!r})\n"
                    "print(json.dumps({'seconds': time.perf_counter() - t, 'rows': r.aggregates.num_rows}))\n")
            argv = [sys.executable, "-c", code]
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        out, err = proc.stdout.read().decode(), proc.stderr.read().decode()
        proc.stdout.close(), proc.stderr.close()
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{' '.join(argv)} failed:\n{err}")
        peak_kb = [int(line.split()[1]) for line in err.splitlines() if line.startswith("peak_kb ")]
        result = {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "peak_mb": peak_kb[-1] / 1024}
        if mode == "cli":
            import pyarrow.parquet as pq
            result["rows"] = pq.read_metadata(out_file).num_rows
            result["timed"] = wall                      # the whole command
        else:
            stats = json.loads(out.strip().splitlines()[-1])
            result["rows"] = stats["rows"]
            result["timed"] = stats["seconds"]          # compute_golden alone
        return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", action="append", default=None,
                    help="number of events, e.g. 1M, 10M, 50M (repeatable; default 1M and 10M)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--memory-limit", default=None, help="DuckDB memory limit, e.g. 1.5GB (default: auditor's 3GB)")
    ap.add_argument("--mode", choices=("cli", "library", "both"), default="cli",
                    help="time `auditor golden` as a user runs it (cli), compute_golden alone "
                         "(library), or both interleaved")
    ap.add_argument("--repeat", type=int, default=1, help="runs per size and mode (median printed)")
    args = ap.parse_args()
    sizes = sorted(parse_count(s) for s in (args.events or ["1M", "10M"]))
    modes = ("cli", "library") if args.mode == "both" else (args.mode,)
    print(f"machine: {os.cpu_count()} cores; threads={args.threads}; memory_limit={args.memory_limit or '3GB'}")
    for n in sizes:
        path = ensure_events(n, args.seed)
        label = f"{n / 1e6:g}M" if n >= 1_000_000 else f"{n / 1e3:g}K"
        import pyarrow.parquet as pq
        events = pq.read_metadata(path).num_rows
        runs: dict[str, list[dict]] = {m: [] for m in modes}
        for _ in range(args.repeat):
            for mode in modes:
                r = run_once(mode, path, args.threads, args.memory_limit)
                runs[mode].append(r)
                what = "auditor golden (whole command)" if mode == "cli" else "compute_golden() alone"
                print(f"{label:>5} {mode:<7} {events:,} events, {r['rows']:,} rows: {what} "
                      f"{r['timed']:6.2f} s ({events / r['timed'] / 1e6:4.2f} M events/s); process wall "
                      f"{r['wall']:6.2f} s, CPU {r['cpu']:6.2f} s, peak RSS {r['peak_mb']:,.0f} MB", flush=True)
        medians = {}
        for mode in modes:
            timed = [r["timed"] for r in runs[mode]]
            medians[mode] = statistics.median(timed)
            print(f"{label:>5} {mode:<7} median of {len(timed)}: {medians[mode]:6.2f} s "
                  f"(min {min(timed):.2f}, max {max(timed):.2f}); CPU median "
                  f"{statistics.median(r['cpu'] for r in runs[mode]):.2f} s; peak RSS max "
                  f"{max(r['peak_mb'] for r in runs[mode]):,.0f} MB")
        if len(modes) == 2:
            print(f"{label:>5} cli / library (medians): {medians['cli'] / medians['library']:.2f}")


if __name__ == "__main__":
    main()
