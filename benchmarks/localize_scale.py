"""Localization speed with many dimensions of many values.

    python benchmarks/localize_scale.py [--dims 12] [--values 300] [--rows 200000]

Builds a sparse leaf table (``--rows`` random dimension combinations of
``--dims`` dimensions with up to ``--values`` values each; the full cube
would have values**dims leaves), injects a fault in one 2-dimension slice and
one 3-dimension slice, and times ``localize`` (depth 3, exact golden and a 5%
noisy golden with noise='auto').  Prints the seconds, the method the
library's default (``method='auto'``) picked for each (cover for an exact
golden, greedy for a noisy one) and whether both faults came out on top.
``--method`` forces one method for both (e.g. ``risk``).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auditor.localize.search import localize  # noqa: E402


def build(dims: int, values: int, rows: int, seed: int = 0) -> tuple[pd.DataFrame, list[str], list[dict]]:
    rng = np.random.default_rng(seed)
    names = [f"dim{i}" for i in range(dims)]
    # skewed value popularity, like real traffic (few big CDNs, long tail of devices)
    cols = {n: np.minimum(rng.zipf(1.3, rows), values) - 1 for n in names}
    leaves = pd.DataFrame({n: pd.Series(c).map(lambda v, n=n: f"{n}_{v}") for n, c in cols.items()})
    leaves["golden_num"] = rng.integers(1, 50, rows).astype(float)
    leaves["cand_num"] = leaves["golden_num"].copy()
    faults = [{"dim1": "dim1_0", "dim4": "dim4_1"}, {"dim2": "dim2_2", "dim6": "dim6_0", "dim9": "dim9_0"}]
    for fault, factor in zip(faults, (0.5, 3.0)):
        mask = np.logical_and.reduce([leaves[d] == v for d, v in fault.items()])
        leaves.loc[mask, "cand_num"] = np.floor(leaves.loc[mask, "cand_num"] * factor)
    return leaves, names, faults


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dims", type=int, default=12)
    parser.add_argument("--values", type=int, default=300)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--method", choices=("auto", "cover", "greedy", "risk"), default="auto",
                        help="localize()'s method (default: the library default, auto)")
    args = parser.parse_args()
    leaves, names, faults = build(args.dims, args.values, args.rows)
    cards = [leaves[n].nunique() for n in names]
    print(f"{args.rows} rows, {args.dims} dims, distinct values per dim {min(cards)}-{max(cards)}")
    rng = np.random.default_rng(1)
    noisy = leaves.assign(golden_num=leaves["golden_num"] * rng.normal(1, 0.05, len(leaves)))
    for label, table, noise in (("exact golden", leaves, 0.0), ("5% noisy golden", noisy, "auto")):
        start = time.perf_counter()
        result = localize(table, names, kind="additive", max_depth=3, noise=noise, method=args.method)
        seconds = time.perf_counter() - start
        method = args.method if args.method != "auto" else "cover" if noise == 0.0 else "greedy"
        top = [e.slice for e in result.explanations[:2]]
        ok = all(f in top for f in faults)
        print(f"{label:<16} {method:<6} {seconds:6.2f} s  explanations={len(result.explanations)}  "
              f"both faults on top: {ok}  unexplained={result.unexplained_share:.3f}")


if __name__ == "__main__":
    main()
