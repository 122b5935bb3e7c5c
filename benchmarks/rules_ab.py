"""Golden on DuckDB under two rules folders, alternating in one process: a git revision's
rules (before) and the working tree's (after). Prints each run's seconds and whether the
aggregates are equal.

    python benchmarks/rules_ab.py --base 8134532 --events benchmarks/data/events_319489s_seed7.parquet
"""
from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time

from auditor.golden.calculator import compute_golden, connect
from auditor.golden.sqlfiles import RulesFolder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="git revision whose rules/ is 'before'")
    ap.add_argument("--events", required=True)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    folder = tempfile.mkdtemp(prefix="rules-ab-")
    archive = subprocess.run(["git", "archive", args.base, "rules"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
    sides = {"before": RulesFolder(root=os.path.join(folder, "rules")), "after": RulesFolder()}
    seconds: dict[str, list[float]] = {name: [] for name in sides}
    last = {}
    for _ in range(args.repeat):
        for name, rules in sides.items():
            con = connect(threads=args.threads)
            t = time.perf_counter()
            last[name] = compute_golden(args.events, con=con, rules=rules).aggregates
            seconds[name].append(time.perf_counter() - t)
            con.close()
            print(f"{name:6} {seconds[name][-1]:7.2f} s", flush=True)
    print("aggregates equal:", last["before"].equals(last["after"]))
    for b, a in zip(seconds["before"], seconds["after"]):
        print(f"after / before: {a / b:.2f}")


if __name__ == "__main__":
    main()
