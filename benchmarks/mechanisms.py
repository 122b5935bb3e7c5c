"""Mechanism search benchmark over the generator's fault kinds (docs/mechanisms.md).

    python benchmarks/mechanisms.py [--sessions N] [--seeds S ...] [--cases-per-kind K]
    python benchmarks/mechanisms.py --timing [--events 10000000]
    python benchmarks/mechanisms.py --sample-sessions 300   # the sample screen on every slice over 600

Accuracy (default): for every fault kind of auditor/synth/faults.py, K cases
per seed, each one kind injected into its usual pipeline on a slice drawn at
random among slices of 1-2 dimensions with enough sessions, with a parameter
drawn from the kind's range. The pipeline is reconciled against golden and
localized exactly as ``auditor run`` does; the search then runs on the slice
the audit would search first, twice:

- with the whole catalogue: top-1 correct when the named mechanism is the
  injected kind;
- leave-one-out (the injected kind removed from the catalogue): correct when
  nothing is named ("no catalogued mechanism", or ambiguous); a name is a
  *confident wrong name*.

Cases whose fault moves no published metric in the audited windows are
counted and left out. Seeds are never used by the tests (7101 and up).

Timing (``--timing``): golden once on ``--events`` events, then the search on
the three slices the audit would search for a pipeline with three faults;
prints both times and their ratio. Progress goes to stderr.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from auditor.audit import _load_golden, mechanism_slices  # noqa: E402
from auditor.config import PipelineConfig, SourceSpec, load_config  # noqa: E402
from auditor.golden.calculator import COMPONENTS, compute_golden, connect  # noqa: E402
from auditor.mechanisms import load_catalogue  # noqa: E402
from auditor.mechanisms.search import search_slice  # noqa: E402
from auditor.mechanisms.variant import SlicesRows  # noqa: E402
import auditor.mechanisms.search as search_module  # noqa: E402
from auditor.reconcile import reconcile_pipeline  # noqa: E402
from auditor.synth.faults import KINDS, Fault  # noqa: E402
from auditor.synth.generate import DEFAULT_START, generate_events, write_events  # noqa: E402
from auditor.synth.simulate import PUBLISHED_DIMS, simulate_pipeline  # noqa: E402
from auditor.tolerances import Tolerance  # noqa: E402
from auditor.windows import Window  # noqa: E402

WINDOWS = 2
PARAMS = {"share": (0.15, 0.3, 0.6, 1.0), "watermark_s": (30, 60, 120, 300), "min_wait_s": (1, 2, 3, 5)}
MIN_SESSIONS = 150


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _audit_yaml(folder: Path, events: Path, pipeline: Path | None = None) -> Path:
    """audit.yaml for the benchmark (each case's pipeline is configured in code; the one
    named here only has to exist)."""
    text = (f"events: {events}\nwindow: {{start: '{DEFAULT_START:%Y-%m-%dT%H:%M:%SZ}', minutes: 60}}\n"
            f"dimensions: [{', '.join(PUBLISHED_DIMS)}]\npipelines:\n  p: {{path: {pipeline or events}}}\n"
            "quality: false\n")
    (folder / "audit.yaml").write_text(text, encoding="utf-8")
    return folder / "audit.yaml"


def _slices(sessions, rng, n: int) -> list[tuple[tuple[str, str], ...]]:
    """n random slices of 1-2 dimensions with at least MIN_SESSIONS sessions."""
    frame = sessions.select(list(PUBLISHED_DIMS)).to_pandas()
    pool = []
    for dims in [(d,) for d in PUBLISHED_DIMS] + [("device", "player_version"), ("cdn", "device"),
                                                    ("country", "isp"), ("device", "content_type")]:
        counts = frame.groupby(list(dims)).size()
        pool += [tuple(zip(dims, k if isinstance(k, tuple) else (k,))) for k, c in counts.items()
                 if MIN_SESSIONS <= c <= 0.5 * len(frame)]
    picks = rng.choice(len(pool), size=min(n, len(pool)), replace=False)
    return [tuple(sorted(pool[i])) for i in picks]


class Bench:
    """One seed: events, golden (once), and a reconciliation + search per case."""

    def __init__(self, sessions: int, seed: int, folder: Path) -> None:
        self.seed, self.folder = seed, folder
        self.events = generate_events(sessions, seed, windows=WINDOWS)
        path = folder / "events.parquet"
        pq.write_table(self.events, path)
        self.config = load_config(_audit_yaml(folder, path))
        self.base = compute_golden(self.events, window_minutes=60, with_sessions=True)
        self.con = connect()
        self.windows = tuple(Window(DEFAULT_START.replace(hour=DEFAULT_START.hour + i),
                                    DEFAULT_START.replace(hour=DEFAULT_START.hour + i + 1))
                             for i in range(WINDOWS))
        _load_golden(self.con, self.config, self.windows, 60, lambda _m: None)
        self.catalogue = load_catalogue()
        self.n = 0

    def run_case(self, fault: Fault) -> dict:
        self.n += 1
        pub = simulate_pipeline(fault.pipeline, self.events, [fault], self.base)
        out = self.folder / f"p{self.n}.parquet"
        pq.write_table(pub.aggregates, out)
        spec = PipelineConfig(name=fault.pipeline, source=SourceSpec(kind="file", path=str(out)))
        result = reconcile_pipeline(self.con, spec, index=1, dims=PUBLISHED_DIMS, grain_minutes=60,
                                    windows=self.windows, window_minutes=60,
                                    tolerance_for=lambda m: Tolerance())
        slices = mechanism_slices(result, 1)
        case = {"seed": self.seed, "fault": fault.label(), "kind": fault.kind}
        if not slices:
            return {**case, "gap": False}
        cols = {r[0] for r in self.con.execute("SELECT column_name FROM duckdb_columns() "
                                                "WHERE table_name = 'r_joined'").fetchall()}
        comps = [c for c in COMPONENTS if f"c_{c}" in cols]
        kw = dict(dims=PUBLISHED_DIMS, grain_minutes=60, golden_grain_minutes=60, components=comps)
        t = time.perf_counter()
        full = search_slice(self.con, slices[0], catalogue=self.catalogue, **kw)
        t_full = time.perf_counter() - t
        loo = search_slice(self.con, slices[0], catalogue=self.catalogue.without(fault.kind), **kw)
        if full is None:
            return {**case, "gap": False}
        best = full.best
        return {**case, "gap": True, "searched": slices[0], "named": full.named, "status": full.status,
                "best": best.mechanism if best else None, "params": dict(best.params) if best else {},
                "closure": round(best.closure, 4) if best else None, "seconds": round(t_full, 2),
                "sampled": full.sessions > 2 * search_module.SAMPLE_SESSIONS,
                "loo_named": loo.named if loo else None, "loo_status": loo.status if loo else None,
                "loo_best": loo.best.mechanism if loo and loo.best else None,
                "loo_closure": round(loo.best.closure, 4) if loo and loo.best else None}


def accuracy(args) -> None:
    cases = []
    with tempfile.TemporaryDirectory(prefix="mech-bench-") as tmp:
        for seed in args.seeds:
            folder = Path(tmp) / str(seed)
            folder.mkdir()
            say(f"seed {seed}: {args.sessions} sessions x {WINDOWS} windows")
            bench = Bench(args.sessions, seed, folder)
            rng = np.random.default_rng(seed)
            for kind, spec in KINDS.items():
                for slice_ in _slices(bench.base.sessions, rng, args.cases_per_kind):
                    values = PARAMS.get(spec.param_name or "", (None,))
                    param = values[int(rng.integers(len(values)))]
                    fault = Fault(spec.pipeline, kind, slice_, None if param is None else float(param))
                    case = bench.run_case(fault)
                    cases.append(case)
                    say(f"  {case['fault']}: " + (
                        "no gap" if not case["gap"] else
                        f"{case['status']} {case['named'] or '-'} (best {case['best']} {case['closure']}), "
                        f"loo {case['loo_status']} {case['loo_named'] or '-'} ({case['loo_best']} "
                        f"{case['loo_closure']}), {case['seconds']} s"))
            bench.con.close()
    if args.out:
        Path(args.out).write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
    report(cases)


def report(cases: list[dict]) -> None:
    gap = [c for c in cases if c["gap"]]
    per = defaultdict(list)
    for c in gap:
        per[c["kind"]].append(c)
    print(f"cases: {len(cases)} ({len(cases) - len(gap)} without a gap in the published metrics, left out)")
    print()
    print("| kind | cases | top-1 | leave-one-out: nothing named | confident wrong name (loo) | wrong name (full) |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind in KINDS:
        cs = per.get(kind, [])
        if not cs:
            print(f"| {kind} | 0 | | | | |")
            continue
        top1 = sum(c["named"] == kind for c in cs)
        loo_ok = sum(c["loo_named"] is None for c in cs)
        wrong_loo = sum(c["loo_named"] is not None for c in cs)
        wrong_full = sum(c["named"] is not None and c["named"] != kind for c in cs)
        print(f"| {kind} | {len(cs)} | {top1}/{len(cs)} | {loo_ok}/{len(cs)} | {wrong_loo} | {wrong_full} |")
    n = len(gap)
    top1 = sum(c["named"] == c["kind"] for c in gap)
    loo_ok = sum(c["loo_named"] is None for c in gap)
    wrong_loo = sum(c["loo_named"] is not None for c in gap)
    wrong_full = sum(c["named"] is not None and c["named"] != c["kind"] for c in gap)
    print(f"| **all** | {n} | {top1}/{n} = {top1 / max(n, 1):.1%} | {loo_ok}/{n} = {loo_ok / max(n, 1):.1%} "
          f"| {wrong_loo} | {wrong_full} |")
    statuses = Counter(c["status"] for c in gap)
    secs = [c["seconds"] for c in gap]
    print()
    print(f"full-catalogue statuses: {dict(statuses)}; search seconds per slice: median "
          f"{np.median(secs) if secs else 0:.2f}, max {max(secs) if secs else 0:.2f}; screened on a sample "
          f"first (slice over {2 * search_module.SAMPLE_SESSIONS:,} sessions): "
          f"{sum(c.get('sampled', False) for c in gap)} of {n}")


def timing(args) -> None:
    with tempfile.TemporaryDirectory(prefix="mech-timing-") as tmp:
        folder = Path(tmp)
        sessions = int(args.events / 32)
        say(f"writing about {args.events:,} events ({sessions:,} sessions)")
        rows = write_events(folder / "events.parquet", sessions, 7201, windows=1)
        events = pq.read_table(folder / "events.parquet")
        base = compute_golden(events, window_minutes=60, with_sessions=True)
        rng = np.random.default_rng(7201)
        picks = _slices(base.sessions, rng, 40)
        faults = [Fault("batch", "missing_first_frame", picks[0], 0.3),
                  Fault("batch", "duplicates_not_removed", picks[1]),
                  Fault("batch", "short_exits_not_ebvs", picks[2], 2.0)]
        say("simulating the pipeline: " + ", ".join(f.label() for f in faults))
        pub = simulate_pipeline("batch", events, faults, base)
        del events, base
        pq.write_table(pub.aggregates, folder / "p.parquet")
        config = load_config(_audit_yaml(folder, folder / "events.parquet", folder / "p.parquet"))
        windows = (Window(DEFAULT_START, DEFAULT_START.replace(hour=DEFAULT_START.hour + 1)),)
        con = connect()
        say("golden")
        t, c = time.perf_counter(), time.process_time()
        _load_golden(con, config, windows, 60, lambda _m: None)
        t_golden, c_golden = time.perf_counter() - t, time.process_time() - c
        spec = config.pipelines[0]
        result = reconcile_pipeline(con, spec, index=1, dims=PUBLISHED_DIMS, grain_minutes=60, windows=windows,
                                    window_minutes=60, tolerance_for=lambda m: Tolerance())
        slices = mechanism_slices(result, 3)
        cols = {r[0] for r in con.execute("SELECT column_name FROM duckdb_columns() "
                                           "WHERE table_name = 'r_joined'").fetchall()}
        comps = [c for c in COMPONENTS if f"c_{c}" in cols]
        say(f"searching {len(slices)} slices: {slices}")
        t, c = time.perf_counter(), time.process_time()
        with SlicesRows(con, slices) as raw:   # as auditor run does (auditor.audit.name_mechanisms)
            found = [search_slice(con, s, dims=PUBLISHED_DIMS, grain_minutes=60, golden_grain_minutes=60,
                                  components=comps, rows=raw) for s in slices]
        t_search, c_search = time.perf_counter() - t, time.process_time() - c
        sizes = [f.sessions if f else 0 for f in found]
        con.close()
    print(f"events: {rows:,}; golden: {t_golden:.1f} s ({c_golden:.1f} CPU-s); search of {len(slices)} slices "
          f"({', '.join(f'{n:,}' for n in sizes)} sessions): {t_search:.1f} s ({c_search:.1f} CPU-s); "
          f"ratio {t_search / t_golden:.2f}x wall, {c_search / c_golden:.2f}x CPU")
    for s, f in zip(slices, found):
        print(f"  {s}: {f.summary if f else 'no gap'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=20_000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[7101, 7102])
    ap.add_argument("--cases-per-kind", type=int, default=3)
    ap.add_argument("--out", help="write one JSON line per case here")
    ap.add_argument("--timing", action="store_true")
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--sample-sessions", type=int,
                    help="screen slices over twice this many sessions on a sample of this size "
                         f"(default: the search's own, {search_module.SAMPLE_SESSIONS}); a small value "
                         "puts the sample screen to the test on small data")
    args = ap.parse_args()
    if args.sample_sessions:
        search_module.SAMPLE_SESSIONS = args.sample_sessions
    timing(args) if args.timing else accuracy(args)


if __name__ == "__main__":
    main()
