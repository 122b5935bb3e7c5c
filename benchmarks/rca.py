"""Root-cause localization benchmark on the public labelled cases (RiskLoc data).

    python benchmarks/rca.py [--split heldout|tune|all] [--data DIR] [--predictions FILE.jsonl] [--limit N]
    python benchmarks/rca.py --score-only [--split ...] --predictions FILE.jsonl [--data DIR]

Runs ``auditor.localize.localize`` on the cases of ``DIR/synthetic/*/``,
``DIR/ratio/*/`` and ``DIR/rs/`` (layout and scoring: DIR/README.md), writes
one JSON line per case ``{"setting", "case", "split", "pred", "seconds"}``
and prints per-setting and pooled precision / recall / F1 and seconds per
case (algorithm only, after loading).  Progress goes to stderr.

Every case belongs to one split (:func:`split_of`):

- ``tune``: the cases the library's constants were chosen on (the first 15
  cases of each synthetic setting, 120 in all; ``q5_qoe`` has only 15, so all
  of it) and ``rs/``, whose ``min_gain`` was chosen on ``rs/`` itself.  Their
  figures are **in-sample** and printed under that heading.
- ``heldout``: every other synthetic case (245) and ``ratio/`` (40, run with
  the synthetic values untouched): never looked at while tuning.  The
  held-out figures are the headline.

``--split`` picks which cases run (default ``all``: both, held-out first,
then a third table pooling them, comparable with figures reported before
the split existed).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from auditor.localize.search import localize  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "rca"
DEFAULT_PREDICTIONS = REPO / "benchmarks" / "rca_predictions.jsonl"

# One parameter set per data family, the same for every case of the family.
# All families use the risk search (method='risk': the expectations are
# forecasts, not an exact golden) at full depth (causes of any depth exist).
# The families differ in one knob, the share of the abnormal deviation a
# slice must carry: 0.5% on synthetic/ and ratio/ (chosen on the first 15
# cases of each synthetic setting), 20% on the real rs/ data (chosen on rs/
# itself, see RESULTS.md), whose 4-minute-mean expectation is so noisy that
# only slices carrying a large part of the deviation are credible.
PARAMS = {
    "synthetic": dict(kind="additive", method="risk", min_gain=0.005),
    "ratio": dict(kind="ratio", method="risk", min_gain=0.005),
    "rs": dict(kind="ratio", method="risk", min_gain=0.2),
}


# The first TUNING_CASES cases (file order of injection_info.csv) of every synthetic
# setting are the ones the constants of auditor/localize/risk.py and min_gain were
# chosen on (benchmarks/RESULTS.md, "What was tuned, and how").
TUNING_CASES = 15
SPLITS = ("heldout", "tune")
SPLIT_TITLES = {"heldout": "held-out: cases never used for tuning (the headline)",
                "tune": "IN-SAMPLE: the tuning cases (first 15 per synthetic setting) and rs/ "
                        "(its min_gain was chosen on it); optimistic",
                "pooled": "both splits pooled, tuning and held-out cases together (as figures before "
                          "2026-12-03 were reported; not a held-out figure)"}


def split_of(family: str, index: int) -> str:
    """``tune`` or ``heldout`` for the ``index``-th case (0-based, file order) of a family's setting."""
    if family == "rs":
        return "tune"
    if family == "synthetic" and index < TUNING_CASES:
        return "tune"
    return "heldout"


@dataclass(frozen=True)
class Case:
    family: str
    setting: str
    case: str
    leaves: pd.DataFrame
    dims: list[str]
    truth: list[str]
    split: str | None   # "tune" or "heldout" (split_of); None when loaded on its own


def normalise(element: str) -> str:
    return "&".join(sorted(p.strip() for p in element.split("&") if p.strip()))


def load_cases(data: Path, limit: int | None, splits: tuple[str, ...] = SPLITS) -> Iterator[Case]:
    """The cases of ``splits``, at most ``limit`` per setting (after the split is applied)."""
    for family in ("synthetic", "ratio"):
        for folder in sorted(p for p in (data / family).glob("*") if p.is_dir()):
            info = pd.read_csv(folder / "injection_info.csv", dtype={"timestamp": str})
            rows = [(i, r) for i, r in enumerate(info.itertuples()) if split_of(family, i) in splits]
            for i, row in rows[:limit] if limit else rows:
                truth = [normalise(e) for e in str(row.set).split(";") if e]
                yield _load_cube(family, folder, str(row.timestamp), truth, split_of(family, i))
    rs = data / "rs"
    if (rs / "anomaly.yaml").exists() and split_of("rs", 0) in splits:
        anomalies = yaml.safe_load((rs / "anomaly.yaml").read_text(encoding="utf-8"))
        for anomaly in anomalies[:limit] if limit else anomalies:
            yield _load_rs(rs, anomaly)


def _load_cube(family: str, folder: Path, case: str, truth: list[str], split: str | None = None) -> Case:
    if family == "ratio":
        a = pd.read_csv(folder / f"{case}.a.csv.gz")
        b = pd.read_csv(folder / f"{case}.b.csv.gz")
        dims = [c for c in a.columns if c not in ("real", "predict")]
        leaves = a[dims].copy()
        leaves["golden_num"], leaves["cand_num"] = a["predict"], a["real"]
        leaves["golden_den"], leaves["cand_den"] = b["predict"].to_numpy(), b["real"].to_numpy()
    else:
        df = pd.read_csv(folder / f"{case}.csv.gz")
        dims = [c for c in df.columns if c not in ("real", "predict")]
        leaves = df[dims].copy()
        leaves["golden_num"], leaves["cand_num"] = df["predict"], df["real"]
    return Case(family, folder.name, case, leaves, dims, truth, split)


def _load_rs(folder: Path, anomaly: dict) -> Case:
    """The published construction: observed = the anomalous minute, expected = 4-minute means."""
    raw = pd.read_csv(folder / f"{anomaly['data']}.csv")
    dims = [c for c in raw.columns if c not in ("min", "value", "cnt")]
    raw[dims] = raw[dims].astype(str)
    raw["fail"] = raw["cnt"] - raw["value"]
    t = int(anomaly["timestamp"])
    now = raw[raw["min"] == t]
    history = raw[raw["min"].isin([t - 60 * i for i in range(1, 5)])]
    expected = history.groupby(dims, as_index=False)[["fail", "cnt"]].mean()
    expected = expected.rename(columns={"fail": "golden_num", "cnt": "golden_den"})
    leaves = now[dims + ["fail", "cnt"]].rename(columns={"fail": "cand_num", "cnt": "cand_den"})
    leaves = leaves.merge(expected, on=dims, how="left").fillna({"golden_num": 0.0, "golden_den": 0.0})
    causes = anomaly["cause"] if isinstance(anomaly["cause"], list) else [anomaly["cause"]]
    truth = [normalise("&".join(f"{k}={v}" for k, v in c.items())) for c in causes]
    return Case("rs", "rs", str(anomaly["data"]), leaves, dims, truth, split_of("rs", 0))


def run(data: Path, predictions: Path, limit: int | None, overrides: dict, splits: tuple[str, ...]) -> None:
    predictions.parent.mkdir(parents=True, exist_ok=True)
    with predictions.open("w", encoding="utf-8") as out:
        for i, case in enumerate(load_cases(data, limit, splits)):
            start = time.perf_counter()
            params = {**PARAMS[case.family], **overrides}
            result = localize(case.leaves, case.dims, max_depth=len(case.dims), **params)
            seconds = time.perf_counter() - start
            pred = [e.key() for e in result.explanations]
            out.write(json.dumps({"setting": case.setting, "case": case.case, "split": case.split, "pred": pred,
                                  "seconds": round(seconds, 4)}, ensure_ascii=False) + "\n")
            print(f"\r{i + 1} cases", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)


def load_truth(data: Path) -> dict[tuple[str, str], tuple[str, str, list[str]]]:
    """(setting, case) -> (family, split, true elements), read from the labels only."""
    truth = {}
    for family in ("synthetic", "ratio"):
        for folder in sorted(p for p in (data / family).glob("*") if p.is_dir()):
            info = pd.read_csv(folder / "injection_info.csv", dtype={"timestamp": str})
            for i, row in enumerate(info.itertuples()):
                truth[(folder.name, str(row.timestamp))] = (
                    family, split_of(family, i), [normalise(e) for e in str(row.set).split(";") if e])
    anomalies = data / "rs" / "anomaly.yaml"
    if anomalies.exists():
        for a in yaml.safe_load(anomalies.read_text(encoding="utf-8")):
            causes = a["cause"] if isinstance(a["cause"], list) else [a["cause"]]
            truth[("rs", str(a["data"]))] = (
                "rs", split_of("rs", 0), [normalise("&".join(f"{k}={v}" for k, v in c.items())) for c in causes])
    return truth


def score(data: Path, predictions: Path, splits: tuple[str, ...] = SPLITS) -> str:
    """One table per split (held-out first), each with per-setting and pooled rows. The
    split of a case comes from the labels, so an older predictions file scores the same."""
    truth = load_truth(data)
    # with both splits, a third table pools them, as the figures before 2026-12-03 were
    tables = (*splits, "pooled") if len(splits) > 1 else splits
    groups: dict[str, dict[str, list[float]]] = {t: {} for t in tables}
    for line in predictions.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        family, split, true = truth[(rec["setting"], str(rec["case"]))]
        if split not in groups:
            continue
        pred = {normalise(p) for p in rec["pred"]}
        tp = sum(t in pred for t in true)
        counts = [tp, max(len(pred) - tp, 0), len(true) - tp, float(rec["seconds"]), 1]
        for table in (split, "pooled") if "pooled" in groups else (split,):
            for key in (f"{family}/{rec['setting']}", f"{family} (pooled)", "all (pooled)"):
                acc = groups[table].setdefault(key, [0, 0, 0, 0.0, 0])
                for j, v in enumerate(counts):
                    acc[j] += v
    blocks = []
    for split in tables:
        lines = [f"== {SPLIT_TITLES[split]}",
                 f"{'setting':<26} {'cases':>5} {'P':>6} {'R':>6} {'F1':>6} {'s/case':>7}"]
        found = groups[split]
        order = sorted(found, key=lambda k: (k.startswith("all"), k.split("/")[0].split(" ")[0], "pooled" in k, k))
        for key in order:
            tp, fp, fn, secs, n = found[key]
            p = tp / (tp + fp) if tp + fp else 0.0
            r = tp / (tp + fn) if tp + fn else 0.0
            f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
            lines.append(f"{key:<26} {n:>5} {p:>6.3f} {r:>6.3f} {f1:>6.3f} {secs / n:>7.3f}")
        if not found:
            lines.append("(no cases of this split in the predictions file)")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _number(text: str) -> float | str | bool:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return float(text)
    except ValueError:
        return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with synthetic/, ratio/, rs/")
    parser.add_argument("--predictions", type=Path, default=DEFAULT_PREDICTIONS, help="JSONL to write or score")
    parser.add_argument("--limit", type=int, default=None, help="at most N cases per setting")
    parser.add_argument("--split", choices=("heldout", "tune", "all"), default="all",
                        help="which cases: held-out (never used for tuning; the headline), the tuning "
                             "cases and rs/ (in-sample), or all (both tables, held-out first)")
    parser.add_argument("--score-only", action="store_true", help="score an existing predictions file")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a localize() parameter for every family (experiments)")
    args = parser.parse_args()
    overrides = {k: _number(v) for k, v in (item.split("=", 1) for item in args.set)}
    if not (args.data / "README.md").exists() and not (args.data / "rs").exists():
        parser.error(f"{args.data} does not look like the rca data folder (see --data)")
    splits = SPLITS if args.split == "all" else (args.split,)
    if not args.score_only:
        run(args.data, args.predictions, args.limit, overrides, splits)
    print(score(args.data, args.predictions, splits))


if __name__ == "__main__":
    main()
