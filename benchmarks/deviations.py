"""What declared deviations cost an `auditor run` (docs/deviations.md).

    python benchmarks/deviations.py [--sessions 30000] [--repeat 3]

Generates one dataset with the project's generator (a streaming pipeline whose
watermark drops events more than 120 s late, `streaming/late_events_dropped:*:120`;
cached under benchmarks/data/), then times `auditor run` on it, each in a fresh
process and interleaved, three ways:

- plain: no declarations; streaming fails and every failing metric is localized;
- correct: no declarations, streaming replaced by a fault-free pipeline (the
  generator's batch output, same shape): it passes, nothing is localized;
- declared: `late_events_dropped(watermark_s=120)` declared for the faulty
  streaming pipeline: it passes, reproduced exactly.

declared / correct is the cost of a declaration (golden under it, the expected
table, a second reconciliation) on an audit that passes either way. Prints the
median wall and CPU (user+sys) time of each and the ratios; on a shared machine
the CPU figure is the steadier one. Progress goes to stderr.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
FAULT = "streaming/late_events_dropped:*:120"
DECLARED = [{"mechanism": "late_events_dropped", "params": {"watermark_s": 120}}]


def ensure_dataset(sessions: int, seed: int) -> Path:
    folder = HERE / "data" / f"deviations_{sessions}s_seed{seed}"
    if not (folder / "audit.yaml").exists():
        from auditor.synth.dataset import write_dataset
        from auditor.synth.faults import parse_fault
        print(f"generating {sessions:,} sessions into {folder}", file=sys.stderr)
        write_dataset(folder, sessions=sessions, seed=seed, faults=[parse_fault(FAULT)],
                      batch_sessions=False)
    return folder


VARIANTS = ("plain", "correct", "declared")


def config_for(folder: Path, out: Path, variant: str) -> Path:
    config = yaml.safe_load((folder / "audit.yaml").read_text())
    config["events"] = str(folder / config["events"])
    for spec in config["pipelines"].values():
        spec["path"] = str(folder / spec["path"])
    config["quality"] = False
    if variant == "correct":
        config["pipelines"]["streaming"]["path"] = config["pipelines"]["batch"]["path"]
    if variant == "declared":
        config["pipelines"]["streaming"]["deviations"] = DECLARED
    path = out / f"{variant}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def timed(config: Path, out: Path) -> tuple[float, float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "auditor", "run", "-q", "--config", str(config),
                           "--out", str(out)], capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"auditor run failed ({proc.returncode}): {proc.stderr}")
    status = json.loads((out / "report.json").read_text())["status"]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=30_000)
    parser.add_argument("--seed", type=int, default=41)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    folder = ensure_dataset(args.sessions, args.seed)
    runs: dict[str, list[tuple[float, float]]] = {v: [] for v in VARIANTS}
    statuses: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        configs = {v: config_for(folder, tmp_path, v) for v in VARIANTS}
        for i in range(args.repeat):
            for v in VARIANTS:
                wall, cpu, statuses[v] = timed(configs[v], tmp_path / f"r{i}{v}")
                runs[v].append((wall, cpu))
                print(f"run {i + 1}/{args.repeat} {v}: {wall:.1f} s wall, {cpu:.1f} s CPU", file=sys.stderr)
    med = {v: (statistics.median(w for w, _ in r), statistics.median(c for _, c in r)) for v, r in runs.items()}
    print(f"dataset: {args.sessions:,} sessions, seed {args.seed}, fault {FAULT}; median of {args.repeat}")
    print(f"{'run':<10} {'status':>6} {'wall s':>8} {'CPU s':>8}")
    for v in VARIANTS:
        print(f"{v:<10} {statuses[v]:>6} {med[v][0]:>8.2f} {med[v][1]:>8.2f}")
    for a, b in (("declared", "correct"), ("declared", "plain")):
        print(f"{a} / {b}: wall {med[a][0] / med[b][0]:.2f}x, CPU {med[a][1] / med[b][1]:.2f}x")


if __name__ == "__main__":
    main()
