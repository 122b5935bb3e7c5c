"""Benchmark the data-quality stage: its cost on top of the golden run.

    python benchmarks/quality.py --events 10M [--threads 2] [--engine builtin|great_expectations]

Generates N raw events once (a vectorised generator in this file, about 31
events per session, with 1% redelivered rows, 0.5% orphan sessions, 2% late
rows, 0.5% events after the end; cached under benchmarks/data/), then in a
fresh process per mode:

- golden+quality:  compute_golden(), then run_quality() on the same connection
                   (what `auditor run` does), judged by --engine (default
                   builtin, as in `auditor run`; with great_expectations the
                   GX import is timed as a phase of its own before it), each
                   phase timed on its own (wall and CPU seconds);
- quality-alone:   check_events(), i.e. `auditor quality` (golden stages +
                   checks; GX imported in the background meanwhile).

Prints seconds per phase and each process's peak RSS. The machine may be
shared: compare the phases of one process rather than runs.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
T0 = 1_742_479_200_000
TYPES = ("heartbeat", "stall_start", "stall_end", "bitrate_change", "pause", "resume", "ad_start", "ad_end")


def parse_count(text: str) -> int:
    text = text.strip().upper()
    mult = {"K": 1_000, "M": 1_000_000}.get(text[-1], 1)
    return int(float(text.rstrip("KM")) * mult)


def generate(path: Path, n_events: int, seed: int = 7) -> int:
    """Write about n_events raw events with seeded defects to Parquet (vectorised numpy)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    sessions = max(1, n_events // 31)
    length = rng.integers(4, 59, sessions)                 # events per session, mean 31
    sid = np.repeat(np.arange(sessions), length)
    first = np.cumsum(length) - length
    seq = np.arange(len(sid)) - np.repeat(first, length)
    last = seq == np.repeat(length - 1, length)
    start = T0 + rng.integers(0, 3_600_000, sessions)
    ts = np.repeat(start, length) + seq * 20_000 + rng.integers(0, 500, len(sid))
    etype = np.array(TYPES, dtype=object)[rng.integers(0, len(TYPES), len(sid))]
    etype[seq == 0] = "attempt"
    etype[seq == 1] = "first_frame"
    fatal_end = np.repeat(rng.random(sessions) < 0.05, length) & last
    etype[last] = "end"
    etype[fatal_end] = "error"
    # defects: events after the end (0.5% of sessions get their end moved earlier)
    early = np.repeat(rng.random(sessions) < 0.005, length) & (seq == 2) & ~last
    etype[early] = "end"
    keep = np.ones(len(sid), bool)
    keep[(seq == 0) & np.repeat(rng.random(sessions) < 0.005, length)] = False   # orphans
    late = rng.random(len(sid)) < 0.02
    received = ts + 200 + np.where(late, 600_000, 0)
    idx = np.flatnonzero(keep)
    dup = idx[rng.random(len(idx)) < 0.01]                                        # redeliveries
    rows = np.concatenate([idx, dup])
    recv = np.concatenate([received[idx], received[dup] + 1_000])

    sid_s = pc.cast(pa.array(sid[rows]), pa.string())
    session_id = pc.binary_join_element_wise("s", sid_s, "")
    event_id = pc.binary_join_element_wise(session_id, pc.cast(pa.array(seq[rows]), pa.string()), "-")
    s_rows = sid[rows]

    def dim(prefix: str, k: int, salt: int):
        vals = np.array([f"{prefix}{i}" for i in range(k)], dtype=object)
        per_session = np.random.default_rng(seed + salt).integers(0, k, sessions)
        return pa.array(vals[per_session[s_rows]], pa.string())

    is_err = etype[rows] == "error"
    is_end = etype[rows] == "end"
    table = pa.table({
        "event_id": event_id, "session_id": session_id, "viewer_id": session_id,
        "seq": pa.array(seq[rows]), "ts": pa.array(ts[rows]), "received_at": pa.array(recv),
        "event_type": pa.array(etype[rows], pa.string()),
        "bitrate_kbps": pa.array(np.where(etype[rows] == "first_frame", 3000, 0)),
        "error_code": pa.array(np.where(is_err, "E1", None), pa.string()),
        "fatal": pa.array(np.where(is_err, True, None), pa.bool_()),
        "end_reason": pa.array(np.where(is_end, "exit", None), pa.string()),
        "cdn": dim("cdn", 3, 1), "device": dim("dev", 8, 2), "os": dim("os", 4, 3),
        "player_version": dim("pv", 12, 4), "country": dim("c", 30, 5), "isp": dim("isp", 60, 6),
        "asset_id": dim("a", 2000, 7), "content_type": dim("ct", 2, 8),
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd", row_group_size=1_000_000)
    return table.num_rows


CHILD = """
import json, resource, sys, time
from auditor.quality import expectations
from auditor.golden.calculator import compute_golden, connect
from auditor.quality.checks import check_events, run_quality
mode, path, threads, engine = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
con = connect(threads=threads)
out = {}

def phase(name, fn):
    t, c = time.perf_counter(), time.process_time()
    value = fn()
    out[name + "_s"] = round(time.perf_counter() - t, 2)
    out[name + "_cpu_s"] = round(time.process_time() - c, 2)
    return value

if mode == "quality-alone":
    r = phase("quality_alone", lambda: check_events(path, con=con))
else:
    g = phase("golden", lambda: compute_golden(path, con=con))
    out["events"] = g.stats["events"]
    if engine == "great_expectations":
        phase("gx_import", expectations._gx)
    r = phase("quality", lambda: run_quality(con, engine=engine))
out["engine"] = r.engine
out["failed"] = [c.name for c in r.checks if not c.success]
out["counts"] = {c.name: c.unexpected_count for c in r.checks if c.unexpected_count}
out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
print(json.dumps(out))
"""


def child(mode: str, path: Path, threads: int, engine: str) -> dict:
    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", CHILD, mode, str(path), str(threads), engine],
                         check=True, capture_output=True, text=True)
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out["process_s"] = time.perf_counter() - t
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", default="1M", help="number of events, e.g. 10M")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--engine", choices=("builtin", "great_expectations"), default="builtin",
                    help="who judges the counts in golden+quality (quality-alone always uses GX)")
    args = ap.parse_args()
    n = parse_count(args.events)
    path = HERE / "data" / f"quality_events_{n}.parquet"
    if not path.exists():
        t = time.perf_counter()
        rows = generate(path, n)
        print(f"generated {rows:,} events in {time.perf_counter() - t:.1f} s -> {path}", file=sys.stderr)
    for _ in range(args.repeat):
        for mode in ("golden+quality", "quality-alone"):
            print(mode, json.dumps(child(mode, path, args.threads, args.engine)), flush=True)


if __name__ == "__main__":
    main()
