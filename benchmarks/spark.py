"""Golden on a local Spark vs DuckDB, same events, same numbers: where Spark's time goes.

    python benchmarks/spark.py --events 1M --events 10M [--master local[2]] [--partitions 8]
    python benchmarks/spark.py --events 10M --spark-runs 1     # the cold run only

Uses the events of benchmarks/golden.py (generated once, cached under benchmarks/data/).
Per size, in this order and each engine in a fresh process:

- DuckDB: `compute_golden` on one connection (wall seconds, peak RSS of the process);
- Spark: the session start (JVM, Spark context), then golden twice on that session
  (``--spark-runs``, default 2): the first run pays the one-off costs (class loading,
  code generation of each stage's plan, reading the Parquet footers), the second is
  the steady state (at 1M the two were equal, so at 10M one run says it). Each
  stage's seconds (each cached table materialized, so the time lands on its stage)
  and the executors' cached bytes (memory + disk) per million sessions. The driver
  process's and the JVM's peak RSS are printed too.

The machine's load average (1 minute) is printed before and after each engine's
process. The two engines' aggregates are compared (equal, or the script exits 1). These are
figures, not targets: the VM has 2 cores shared with other work, so compare the two
engines within one run and read ratios, not seconds.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from golden import ensure_events, parse_count  # noqa: E402

DUCKDB = """
import json, resource, sys, time
from auditor.golden.calculator import compute_golden, connect
con = connect(threads={threads})
t = time.perf_counter()
r = compute_golden({path!r}, con=con)
seconds = time.perf_counter() - t
r.aggregates.to_pandas().to_parquet({out!r})
print(json.dumps({{"seconds": seconds, **r.stats,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

SPARK = """
import json, resource, time
t0 = time.perf_counter()
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master({master!r}).config("spark.ui.enabled", "false")
         .config("spark.ui.showConsoleProgress", "false")
         .config("spark.sql.shuffle.partitions", {partitions!r})
         .config("spark.driver.memory", {driver_memory!r}).getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
from auditor.golden import spark as S
from auditor.golden.calculator import compute_golden
S.get_session()
start = time.perf_counter() - t0
runs = []
for i in range({spark_runs}):
    t = time.perf_counter()
    r = compute_golden({path!r}, engine="spark")
    runs.append(time.perf_counter() - t)
r.aggregates.to_pandas().to_parquet({out!r})

# stage by stage, each cached table materialized, and what the cache holds
from auditor.golden.calculator import GoldenOptions
stages, tmp = {{}}, []
tables = S._Tables(spark)
keep = tables.keep
def timed_keep(name, df, materialize=False):
    t = time.perf_counter(); keep(name, df, True); stages[name] = round(time.perf_counter() - t, 2)
tables.keep = timed_keep
from auditor.golden.events import DEFAULT_DIMS
S.register_events(spark, {path!r}, dims=DEFAULT_DIMS, tmp=tmp)
params = dict(salt=0, any_frame=False, session_end=False, inactivity_timeout_ms=None,
              ebvs_min_wait_ms=0, window_ms=3600000, window_from_ms=None, window_to_ms=None)
t = time.perf_counter()
S.run_stages(spark, tables, DEFAULT_DIMS, params, None)
staged = time.perf_counter() - t
cached = {{}}
for info in spark.sparkContext._jsc.sc().getRDDStorageInfo():
    cached[info.name()] = (info.memSize() + info.diskSize())
tables.release()
jvm_peak = None
try:
    pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
    with open(f"/proc/{{pid}}/status") as fh:
        jvm_peak = next(int(l.split()[1]) for l in fh if l.startswith("VmHWM")) / 1024
except Exception:
    pass
print(json.dumps({{"start": start, "runs": runs, **r.stats, "stages": stages, "staged": staged,
                  "cached_bytes": sum(cached.values()), "cached": len(cached),
                  "driver_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "jvm_peak_mb": jvm_peak}}))
"""


def run(code: str) -> dict:
    load = os.getloadavg()[0]
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return {**result, "load": (load, os.getloadavg()[0]), "process_s": time.perf_counter() - t}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", action="append", default=None, help="1M, 10M, ... (repeatable)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--partitions", default="8", help="spark.sql.shuffle.partitions")
    ap.add_argument("--driver-memory", default="4g")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--spark-runs", type=int, choices=(1, 2), default=2,
                    help="golden runs on the Spark session before the stage-by-stage one")
    args = ap.parse_args()
    import pyarrow.parquet as pq

    print(f"machine: {os.cpu_count()} cores; DuckDB threads={args.threads}; Spark {args.master}, "
          f"{args.partitions} shuffle partitions, driver memory {args.driver_memory}")
    for n in sorted(parse_count(s) for s in (args.events or ["1M", "10M"])):
        path = str(ensure_events(n, args.seed))
        d_out, s_out = f"/tmp/bench-duckdb-{n}.parquet", f"/tmp/bench-spark-{n}.parquet"
        duck = run(DUCKDB.format(path=path, threads=args.threads, out=d_out))
        spark = run(SPARK.format(path=path, master=args.master, partitions=args.partitions,
                                 driver_memory=args.driver_memory, out=s_out, spark_runs=args.spark_runs))
        same = pq.read_table(d_out).equals(pq.read_table(s_out))
        sessions = spark["sessions"]
        print(f"\n{duck['events']:,} events, {sessions:,} sessions: aggregates equal: {same}")
        print(f"  DuckDB        {duck['seconds']:7.2f} s   peak RSS {duck['peak_mb']:,.0f} MB")
        first, *second = spark["runs"]
        print(f"  load average  DuckDB {duck['load'][0]:.1f} -> {duck['load'][1]:.1f}, "
              f"Spark {spark['load'][0]:.1f} -> {spark['load'][1]:.1f} (1 min, before -> after)")
        print(f"  Spark session {spark['start']:7.2f} s   (JVM and context start, once per process)")
        print(f"  Spark run 1   {first:7.2f} s   ({first / duck['seconds']:.1f}x DuckDB)")
        for warm in second:
            print(f"  Spark run 2   {warm:7.2f} s   ({warm / duck['seconds']:.1f}x DuckDB; warm session)")
        print(f"  Spark stages  {spark['staged']:7.2f} s   materialized one by one: "
              + ", ".join(f"{k} {v}" for k, v in spark["stages"].items()))
        per_m = spark["cached_bytes"] / max(sessions, 1) * 1e6 / 2**30
        print(f"  Spark cache   {spark['cached_bytes'] / 2**20:,.0f} MB in {spark['cached']} cached tables "
              f"= {per_m:.2f} GiB per million sessions (executors, memory+disk)")
        print(f"  peak RSS      driver (Python) {spark['driver_peak_mb']:,.0f} MB, JVM "
              f"{spark['jvm_peak_mb'] or 0:,.0f} MB; Spark process {spark['process_s']:.0f} s in all")
        if not same:
            sys.exit(1)


if __name__ == "__main__":
    main()
