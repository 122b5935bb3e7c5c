"""Base vs head on one corpus: every metric, window and slice, numerator and denominator apart.

The two golden aggregates are joined by the reconcile join (rules/reconcile/
join.sql), base in the reference seat and head in the candidate one. Each
side's metric is built from its own catalogue (a pull request may change a
numerator or a denominator in metrics.yaml), and every comparison is a
:class:`~auditor.findings.Comparison`, as in an audit. A metric *moved* when
any leaf (window x combination of every dimension) differs in its numerator
or denominator, so a change that moves sessions between slices while leaving
the totals alone still shows. Slices are rolled up to ``depth`` dimensions;
the few that explain a movement come from :func:`auditor.localize.localize`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import combinations
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from auditor.findings import FAIL, PASS, Comparison
from auditor.golden import COMPONENTS
from auditor.golden.metrics import Metric
from auditor.golden.sqlfiles import quote_ident, run_rule
from auditor.reconcile import metric_values
from auditor.tolerances import Tolerance

MAX_SLICES = 10   # moved slices listed per metric (all are counted)
# An explanation is shown only when its slice carries this many times its share of the
# traffic in the change: a definition change that moves every slice alike is "spread".
CONCENTRATION = 1.5
UNCHANGED, MOVED, WITHIN = "unchanged", "moved", "within_tolerance"


@dataclass(frozen=True)
class Leaves:
    """The joined aggregates: one row per window x combination of every dimension."""

    frame: pd.DataFrame           # window_ms, dims, b_<component>, h_<component>
    dims: tuple[str, ...]
    components: tuple[str, ...]

    def side(self, prefix: str, metric: Metric, rows: pd.DataFrame | None = None
             ) -> tuple[np.ndarray, np.ndarray | None]:
        """(numerator, denominator) arrays of ``metric`` on side ``prefix`` ('b_' or 'h_')."""
        frame = self.frame if rows is None else rows
        def col(name: str) -> np.ndarray:
            key = prefix + name
            return frame[key].to_numpy(dtype="int64") if key in frame else np.zeros(len(frame), "int64")
        num = col(metric.numerator)
        den = sum((col(c) for c in metric.denominator), np.zeros(len(frame), "int64")) \
            if metric.is_ratio else None
        return num, den

    def mask(self, slice_: Mapping[str, Any]) -> np.ndarray:
        """Leaves inside ``slice_`` (values compared as text; None matches a null)."""
        mask = np.ones(len(self.frame), dtype=bool)
        for dim, value in slice_.items():
            column = self.frame[dim]
            mask &= column.isna().to_numpy() if value is None else \
                (column.astype("string") == str(value)).fillna(False).to_numpy(dtype=bool)
        return mask


def join_aggregates(con: duckdb.DuckDBPyConnection, base: pa.Table, head: pa.Table,
                    dims: Sequence[str], window_minutes: int) -> Leaves:
    """Full outer join of the two aggregates on window and every dimension (reconcile's join)."""
    dims = tuple(dims)
    components = tuple(c for c in (*COMPONENTS[:3], "ebvs_short", *COMPONENTS[3:])
                       if c in base.column_names or c in head.column_names)
    def register(table: pa.Table, name: str) -> None:
        present = [c for c in components if c in table.column_names]
        con.register(name + "_src", table)
        cols = ", ".join([*map(quote_ident, dims), *map(quote_ident, present)]
                         + [f"0::BIGINT AS {quote_ident(c)}" for c in components if c not in present])
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT epoch_ms(window_start) AS window_ms, "
                    f"{cols} FROM {name}_src")
        con.unregister(name + "_src")
    register(base, "r_golden")
    register(head, "gate_head")
    window_ms = window_minutes * 60_000
    con.execute("CREATE OR REPLACE TEMP TABLE r_windows AS "
                "SELECT DISTINCT (window_ms // $w) * $w AS start_ms FROM "
                "(SELECT window_ms FROM r_golden UNION ALL SELECT window_ms FROM gate_head)",
                {"w": window_ms})
    run_rule(con, "reconcile/join.sql", {"grain_ms": window_ms, "window_ms": window_ms},
             dims=list(dims), golden_components=list(components), candidate="gate_head",
             candidate_columns=list(components))
    order = ", ".join(["window_ms", *map(quote_ident, dims)])
    frame = con.sql(f"SELECT * FROM r_joined ORDER BY {order} NULLS LAST").df()
    renamed = {}
    for c in components:
        renamed["g_" + c], renamed["c_" + c] = "b_" + c, "h_" + c
        for old in ("g_" + c, "c_" + c):
            frame[old] = frame[old].fillna(0).astype("int64")
    frame = frame.rename(columns=renamed).drop(columns=["in_golden", "in_candidate"])
    return Leaves(frame=frame, dims=dims, components=components)


def rollups(con: duckdb.DuckDBPyConnection, leaves: Leaves, depth: int) -> pd.DataFrame:
    """Component sums per slice of 0 to ``depth`` dimensions over the whole corpus, in one
    GROUPING SETS pass; the whole corpus first. Column ``slice`` holds the slice as a dict."""
    values = [c for c in leaves.frame.columns if c.startswith(("b_", "h_"))]
    sets = [group for k in range(0, min(depth, len(leaves.dims)) + 1)
            for group in combinations(leaves.dims, k)]
    dims = sorted({d for g in sets for d in g}, key=leaves.dims.index)
    grouped = ", ".join(f"grouping({quote_ident(d)}) AS {quote_ident('grouped:' + d)}" for d in dims)
    con.register("gate_leaves", leaves.frame)
    try:
        out = con.execute(
            "SELECT " + ", ".join([*map(quote_ident, dims), *(
                f"sum({quote_ident(v)})::BIGINT AS {quote_ident(v)}" for v in values)])
            + (", " + grouped if dims else "") + " FROM gate_leaves GROUP BY GROUPING SETS ("
            + ", ".join("(" + ", ".join(map(quote_ident, g)) + ")" for g in sets) + ")").df()
    finally:
        con.unregister("gate_leaves")
    keys = out[dims].astype(object).where(out[dims].notna(), None).itertuples(index=False, name=None)
    flags = out[[f"grouped:{d}" for d in dims]].to_numpy()
    out["slice"] = [{d: v for d, v, g in zip(dims, row, flag) if g == 0} for row, flag in zip(keys, flags)]
    out["_order"] = [(len(sl), [dims.index(d) for d in sl], [str(v) for v in sl.values()])
                     for sl in out["slice"]]
    out = out.iloc[sorted(range(len(out)), key=lambda i: out["_order"].iat[i])]
    return out[["slice", *values]].reset_index(drop=True)


def direction(c: Comparison) -> str | None:
    """up / down (head vs base), or appeared / vanished when one side has no value."""
    return {"higher": "up", "lower": "down", "missing": "vanished", "extra": "appeared"}.get(
        c.direction or "", None)


def comparison_dict(c: Comparison) -> dict[str, Any]:
    """A Comparison as gate.json writes it: report.json's fields, direction as up/down."""
    return {**c.to_dict(), "direction": direction(c)}


@dataclass(frozen=True)
class Sides:
    """One metric's numerator and denominator on both sides, over some rows."""

    b_num: np.ndarray
    b_den: np.ndarray | None
    h_num: np.ndarray
    h_den: np.ndarray | None

    def take(self, idx) -> "Sides":
        """The rows ``idx`` (indices, a slice or a mask)."""
        return Sides(*(None if a is None else a[idx]
                       for a in (self.b_num, self.b_den, self.h_num, self.h_den)))

    def summed(self) -> "Sides":
        """One row: the sums."""
        return Sides(*(None if a is None else np.array([int(a.sum())], dtype="int64")
                       for a in (self.b_num, self.b_den, self.h_num, self.h_den)))

    @property
    def differs(self) -> np.ndarray:
        out = self.b_num != self.h_num
        if self.b_den is not None or self.h_den is not None:
            zeros = np.zeros(len(self.b_num), "int64")
            out = out | ((self.b_den if self.b_den is not None else zeros)
                         != (self.h_den if self.h_den is not None else zeros))
        return out


def sides(base: Metric | None, head: Metric | None, leaves: Leaves,
          rows: pd.DataFrame | None = None) -> Sides:
    """Base's metric on the base columns, head's on the head columns (a side without the
    metric counts zero)."""
    n = len(leaves.frame if rows is None else rows)
    zero = np.zeros(n, "int64")
    b_num, b_den = leaves.side("b_", base, rows) if base else (zero, None)
    h_num, h_den = leaves.side("h_", head, rows) if head else (zero, None)
    return Sides(b_num, b_den, h_num, h_den)


def judge_rows(base: Metric | None, head: Metric | None, s: Sides, tolerance: Tolerance):
    """Per row: base and head values, whether the row passes ``tolerance``, the allowance
    that let a difference pass, and the support (base's denominator, or numerator)."""
    b_val = metric_values(base, s.b_num, s.b_den) if base else np.full(len(s.b_num), np.nan)
    h_val = metric_values(head, s.h_num, s.h_den) if head else np.full(len(s.h_num), np.nan)
    support = (s.b_den if s.b_den is not None else s.b_num).astype("float64")
    passes, passed_by = tolerance.judge(b_val, h_val, s.differs, support)
    return b_val, h_val, passes, passed_by, support


def comparisons(base: Metric | None, head: Metric | None, s: Sides, tolerance: Tolerance, *,
                windows: Sequence[datetime | None] | None = None,
                slices: Sequence[Mapping[str, Any]] | None = None) -> list[Comparison]:
    """One Comparison per row of ``s`` (base as golden, head as candidate), judged by ``tolerance``."""
    ref = base or head
    b_val, h_val, passes, passed_by, support = judge_rows(base, head, s, tolerance)
    integral = not ref.is_ratio and ref.divisor == 1
    def val(a: np.ndarray, i: int) -> float | int | None:
        return None if np.isnan(a[i]) else int(a[i]) if integral else float(a[i])
    def opt(a: np.ndarray | None, i: int) -> int | None:
        return None if a is None else int(a[i])
    return [Comparison(golden=val(b_val, i), candidate=val(h_val, i),
                       golden_num=opt(s.b_num, i), cand_num=opt(s.h_num, i),
                       golden_den=opt(s.b_den, i), cand_den=opt(s.h_den, i),
                       window=windows[i] if windows else None,
                       slice=dict(slices[i]) if slices else {},
                       status=PASS if passes[i] else FAIL, passed_by=passed_by[i],
                       support=int(support[i]))
            for i in range(len(s.b_num))]


@dataclass(frozen=True)
class MetricDiff:
    """One metric, base vs head, over the corpus."""

    metric: str
    unit: str
    kind: str                       # count | ratio
    status: str                     # unchanged | moved | within_tolerance
    formula: Mapping[str, Any]      # {"base": ..., "head": ...} numerator/denominator/divisor per side
    tolerance: Tolerance
    total: Comparison
    windows: tuple[Comparison, ...]
    slices: tuple[Comparison, ...]  # moved slices (depth <= gate depth), largest first
    leaves_compared: int
    leaves_moved: int
    slices_moved: int
    explanations: tuple[Mapping[str, Any], ...] = ()

    @property
    def moved(self) -> bool:
        return self.status == MOVED

    @property
    def changed(self) -> bool:
        """Anything differs, even within tolerance."""
        return self.status != UNCHANGED


def formula(metric: Metric | None) -> dict[str, Any] | None:
    if metric is None:
        return None
    return {"numerator": metric.numerator, "denominator": list(metric.denominator),
            "divisor": metric.divisor, "unit": metric.unit}


def _impact(rolled: Sides) -> np.ndarray:
    """How much of the total's movement (row 0) each slice carries: its numerator and
    denominator changes relative to the total's."""
    zero = np.zeros(len(rolled.b_num), "int64")
    dn = rolled.h_num - rolled.b_num
    dd = ((rolled.h_den if rolled.h_den is not None else zero)
          - (rolled.b_den if rolled.b_den is not None else zero))
    return np.abs(dn) / max(1, abs(int(dn[0]))) + np.abs(dd) / max(1, abs(int(dd[0])))


def diff_metric(name: str, base: Metric | None, head: Metric | None, leaves: Leaves,
                slices: pd.DataFrame, tolerance: Tolerance, *, depth: int,
                explain: bool = True, max_slices: int = MAX_SLICES,
                concentrated_only: bool = True) -> MetricDiff:
    """One metric base vs head: over the corpus (``slices`` row 0), per window, the moved
    slices of ``slices`` (largest first), and what explains the movement."""
    ref = head or base
    leaf = sides(base, head, leaves)
    rolled = sides(base, head, leaves, slices)
    total = comparisons(base, head, rolled.take(slice(0, 1)), tolerance)[0]
    win_rows = leaves.frame.groupby("window_ms", sort=True)[
        [c for c in leaves.frame.columns if c.startswith(("b_", "h_"))]].sum().reset_index()
    win_starts = [datetime.fromtimestamp(ms / 1000, tz=timezone.utc) for ms in win_rows["window_ms"]]
    windows = comparisons(base, head, sides(base, head, leaves, win_rows), tolerance, windows=win_starts)
    moved_rows = np.flatnonzero(rolled.differs[1:]) + 1
    order = moved_rows[np.argsort(-_impact(rolled)[moved_rows], kind="stable")][:max_slices]
    all_slices = list(slices["slice"])
    slice_cmps = comparisons(base, head, rolled.take(order), tolerance, slices=[all_slices[i] for i in order])
    # beyond tolerance over the corpus, in a window, or in any leaf (a change that moves
    # sessions between slices and leaves the totals alone still counts)
    moved_leaves = leaf.differs
    failed = total.status == FAIL or any(w.status == FAIL for w in windows) or \
        bool(moved_leaves.any() and not judge_rows(base, head, leaf.take(moved_leaves), tolerance)[2].all())
    status = MOVED if failed else WITHIN if moved_leaves.any() else UNCHANGED
    explanations: tuple = ()
    if status == MOVED and explain and leaves.dims and base is not None and head is not None:
        explanations = explain_movement(leaves, leaf, depth, concentrated_only)
    return MetricDiff(metric=name, unit=ref.unit, kind="ratio" if ref.is_ratio else "count",
                      status=status, formula={"base": formula(base), "head": formula(head)},
                      tolerance=tolerance, total=total, windows=tuple(windows),
                      slices=tuple(slice_cmps), leaves_compared=len(leaves.frame),
                      leaves_moved=int(moved_leaves.sum()), slices_moved=len(moved_rows),
                      explanations=explanations)


def explain_movement(leaves: Leaves, leaf: Sides, depth: int, concentrated_only: bool = True
                     ) -> tuple[dict, ...]:
    """The slices that explain the movement: auditor.localize on the leaves, base as golden.
    With ``concentrated_only``, only slices whose share of the change is at least
    :data:`CONCENTRATION` times their share of the traffic (base's denominator, or
    numerator for a count)."""
    from auditor.localize import localize  # pandas-heavy: only when a metric moved
    frame = leaves.frame[list(leaves.dims)].copy()
    frame["golden_num"], frame["cand_num"] = leaf.b_num, leaf.h_num
    kind = "ratio" if leaf.b_den is not None and leaf.h_den is not None else "additive"
    if kind == "ratio":
        frame["golden_den"], frame["cand_den"] = leaf.b_den, leaf.h_den
    result = localize(frame, list(leaves.dims), kind=kind, max_depth=depth, max_results=5)
    found = [e.to_dict() for e in result.explanations]
    if concentrated_only:
        key, total = ("golden_den", leaf.b_den.sum()) if kind == "ratio" else ("golden_num", leaf.b_num.sum())
        found = [e for e in found if not total or abs(e["share_of_gap"] or 0)
                 >= CONCENTRATION * abs(e[key] or 0) / abs(total)]
    return tuple(found)
