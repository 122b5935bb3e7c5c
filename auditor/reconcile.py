"""Reconciliation: golden vs one pipeline, metric by metric, slice by slice.

Golden (computed at a grain that divides every pipeline's) is rolled up to the
pipeline's grain and dimensions and joined to its rows for the audited
windows (rules/reconcile/join.sql). Each metric is then compared, vectorised:

- per (grain bucket, slice): golden vs candidate value, and for metrics
  published as components the numerator and denominator separately;
- per audited window and over the whole span (exact integer sums);
- a missing row is a gap (its components count as 0 on that side), a zero
  denominator gives a null value, never 0.

A metric fails when the span, any window or any slice is beyond its
tolerance, so a bug that moves sessions between slices while leaving totals
intact still fails.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime, timezone

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from auditor.config import PipelineConfig
from auditor.findings import FAIL, PASS, Comparison, MetricResult, PipelineResult
from auditor.golden.metrics import Metric, catalogue
from auditor.sources import CandidateLayout, load_candidate, plan_layout, register_source
from auditor.golden.sqlfiles import quote_ident, run_rule
from auditor.tolerances import Tolerance
from auditor.windows import Window

FLOAT_RTOL = 1e-12   # float representation of published final values, not a tolerance
MAX_SLICES = 25      # differing slices listed per metric (all are counted)


def reconcile_pipeline(con: duckdb.DuckDBPyConnection, pipeline: PipelineConfig, *, index: int,
                       dims: Sequence[str], grain_minutes: int, windows: Sequence[Window],
                       window_minutes: int, tolerance_for: Callable[[str], Tolerance],
                       explain: bool = True, max_slices: int = MAX_SLICES,
                       per_window: bool = False, golden_table: str = "r_golden") -> PipelineResult:
    """Compare ``pipeline`` with golden (table ``r_golden``, or ``golden_table`` of the same
    shape: golden under the pipeline's declared deviations) over ``windows``.

    With ``per_window`` a failing metric's gap is also explained window by window
    (``MetricResult.window_explanations``: what the run history keys its findings on)."""
    where = pipeline.source.describe()
    raw, cand = f"r_raw_{index}", f"r_cand_{index}"
    register_source(con, pipeline.source, raw)
    layout = plan_layout(con, raw, pipeline, dims, where)
    grain_ms, window_ms = grain_minutes * 60_000, window_minutes * 60_000
    rows_read = load_candidate(con, raw, cand, layout, dims, grain_ms, where,
                               grain_key=f"pipelines.{pipeline.name}.grain")
    value_cols = [m for m, how in layout.metrics.items() if how == "value"]
    golden_components = sorted({c for m in layout.metrics for c in catalogue()[m].components})
    run_rule(con, "reconcile/join.sql", {"grain_ms": grain_ms, "window_ms": window_ms},
             dims=list(dims), golden_components=golden_components, candidate=cand, golden=golden_table,
             candidate_columns=[*layout.components, *value_cols])
    order = ", ".join(["window_ms", *map(quote_ident, dims)])
    joined = con.sql(f"SELECT * FROM r_joined ORDER BY {order} NULLS LAST").to_arrow_table()
    in_windows = _count(joined, "in_candidate")
    sums = ", ".join(f"sum({quote_ident(p + c)})::HUGEINT" for c in golden_components for p in ("g_", "c_")
                     if p == "g_" or c in layout.components)
    totals = con.execute(f"SELECT (window_ms // {window_ms}) * {window_ms} AS w, {sums} "
                         "FROM r_joined GROUP BY 1").fetchall()
    window_sums = _window_sums(totals, golden_components, layout, windows)
    published = dict(con.execute(f"SELECT (window_ms // {window_ms}) * {window_ms} AS w, count(*) "
                                 "FROM r_joined WHERE in_candidate GROUP BY 1").fetchall())

    rows = _Rows(joined, dims)
    metrics = []
    for name, how in layout.metrics.items():
        metric = catalogue()[name]
        metrics.append(_compare_metric(metric, how, rows, window_sums, windows, tolerance_for(name),
                                       dims, explain, max_slices, per_window, window_ms))
    return PipelineResult(
        name=pipeline.name, source=where, grain_minutes=grain_minutes, dimensions=tuple(dims),
        status=FAIL if any(m.failed for m in metrics) else PASS, metrics=tuple(metrics),
        rows_read=rows_read, rows_outside_windows=rows_read - in_windows,
        rows_golden_only=_count(joined, "in_golden", unless="in_candidate"),
        rows_candidate_only=_count(joined, "in_candidate", unless="in_golden"),
        window_rows=tuple(int(published.get(w.start_ms, 0)) for w in windows))


def _count(table: pa.Table, column: str, *, unless: str | None = None) -> int:
    """Rows with ``column`` true (and ``unless`` false when given)."""
    mask = table.column(column)
    if unless is not None:
        mask = pc.and_(mask, pc.invert(table.column(unless)))
    return int(pc.sum(pc.cast(mask, pa.int64())).as_py() or 0)


class _Rows:
    """The joined rows as numpy arrays (missing side -> 0 for components, NaN for values)."""

    def __init__(self, joined: pa.Table, dims: Sequence[str]) -> None:
        self.table, self.dims, self.n = joined, list(dims), joined.num_rows
        self.in_golden = joined.column("in_golden").to_numpy(zero_copy_only=False).astype(bool)
        self.in_candidate = joined.column("in_candidate").to_numpy(zero_copy_only=False).astype(bool)
        self._ints: dict[str, np.ndarray] = {}

    def ints(self, column: str) -> np.ndarray:
        if column not in self._ints:
            self._ints[column] = pc.fill_null(self.table.column(column), 0).to_numpy(
                zero_copy_only=False).astype("int64")
        return self._ints[column]

    def floats(self, column: str) -> np.ndarray:
        return pc.cast(self.table.column(column), pa.float64()).to_numpy(zero_copy_only=False)

    def key(self, i: int) -> tuple[datetime, dict[str, str | None]]:
        ms = self.table.column("window_ms")[i].as_py()
        return (datetime.fromtimestamp(ms / 1000, tz=timezone.utc),
                {d: self.table.column(d)[i].as_py() for d in self.dims})

    def presence(self, i: int) -> str:
        if self.in_golden[i] and self.in_candidate[i]:
            return "both"
        return "golden_only" if self.in_golden[i] else "candidate_only"


def _window_sums(totals, components, layout: CandidateLayout, windows: Sequence[Window]) -> dict:
    """{window start ms: {"g_x": int, "c_x": int}} for every audited window (0 when empty)."""
    names = [p + c for c in components for p in ("g_", "c_") if p == "g_" or c in layout.components]
    out = {w.start_ms: {n: 0 for n in names} for w in windows}
    for row in totals:
        if row[0] in out:
            out[row[0]] = {n: int(v or 0) for n, v in zip(names, row[1:])}
    return out


def metric_values(metric: Metric, num: np.ndarray, den: np.ndarray | None) -> np.ndarray:
    """The metric's values from exact integer sums (NaN where the denominator is 0)."""
    num = num.astype("float64")
    if den is None:
        return num / metric.divisor
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / (np.where(den > 0, den, 1) * metric.divisor), np.nan)


def _sides(metric: Metric, get: Callable[[str], np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
    num = get(metric.numerator)
    den = sum(get(c) for c in metric.denominator) if metric.is_ratio else None
    return num, den


def _judge(metric: Metric, tolerance: Tolerance, g_num, g_den, c_num, c_den, c_value=None):
    """Values, differences and verdicts for arrays of comparisons."""
    g_val = metric_values(metric, g_num, g_den)
    if c_value is None:   # published as components: exact integer comparison
        c_val = metric_values(metric, c_num, c_den)
        differs = g_num != c_num
        if g_den is not None:
            differs = differs | (g_den != c_den)
        support = (np.where(c_den > 0, c_den, g_den) if g_den is not None else c_num).astype("float64")
    else:                 # published as final values only
        c_val = c_value
        both_null = np.isnan(g_val) & np.isnan(c_val)
        close = np.isclose(g_val, c_val, rtol=FLOAT_RTOL, atol=0.0)
        differs = ~(both_null | close)
        support = (g_den if g_den is not None else g_num).astype("float64")
    passes, passed_by = tolerance.judge(g_val, c_val, differs, support)
    return g_val, c_val, differs, passes, passed_by, support


def _comparison(metric: Metric, how: str, i: int, arrays, *, window=None, slice_=None,
                presence: str = "both") -> Comparison:
    g_num, g_den, c_num, c_den, g_val, c_val, passes, passed_by, support = arrays
    def opt(a):
        return None if a is None else int(a[i])
    integral = not metric.is_ratio and metric.divisor == 1
    def val(a):
        return None if np.isnan(a[i]) else int(a[i]) if integral else float(a[i])
    components = how == "components"
    return Comparison(
        golden=val(g_val), candidate=val(c_val),
        golden_num=opt(g_num), cand_num=opt(c_num) if components else None,
        golden_den=opt(g_den), cand_den=opt(c_den) if components else None,
        window=window, slice=slice_ or {}, presence=presence,
        status=PASS if passes[i] else FAIL, passed_by=passed_by[i],
        support=None if np.isnan(support[i]) else int(support[i]))


def gap_contributions(metric: Metric, g_num, g_den, c_num, c_den) -> tuple[np.ndarray, np.ndarray]:
    """Each row's contribution to the gap over all rows, in metric units, and its share of that gap.

    A row's contribution is how much of ``candidate - golden`` over all rows disappears when
    that row alone is corrected (its candidate sums replaced by golden's): for a count its own
    difference, for a ratio ``C - C'`` where ``C'`` is the ratio with the row reverted. Slices
    are listed by it, so a 1-session slice that went from 0% to 100% comes after the slice that
    carries the gap. The share is NaN when the whole has no gap (rows moved between slices)."""
    g_num, c_num = g_num.astype("float64"), c_num.astype("float64")
    if g_den is None:
        contribution = (c_num - g_num) / metric.divisor
        gap = contribution.sum()
    else:
        g_den, c_den = g_den.astype("float64"), c_den.astype("float64")
        gn, cn, gd, cd = g_num.sum(), c_num.sum(), g_den.sum(), c_den.sum()
        whole = cn / cd if cd else np.nan
        with np.errstate(divide="ignore", invalid="ignore"):
            den = cd - c_den + g_den
            reverted = np.where(den > 0, (cn - c_num + g_num) / np.where(den > 0, den, 1), np.nan)
        contribution = np.nan_to_num((whole - reverted) / metric.divisor, nan=0.0)
        gap = (whole - (gn / gd if gd else np.nan)) / metric.divisor
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = contribution / gap if gap and np.isfinite(gap) else np.full(len(contribution), np.nan)
    return contribution, shares


def _compare_metric(metric: Metric, how: str, rows: _Rows, window_sums: dict, windows: Sequence[Window],
                    tolerance: Tolerance, dims: Sequence[str], explain: bool,
                    max_slices: int, per_window: bool = False, window_ms: int = 0) -> MetricResult:
    # per slice at the published grain
    g_num, g_den = _sides(metric, lambda c: rows.ints("g_" + c))
    if how == "components":
        c_num, c_den = _sides(metric, lambda c: rows.ints("c_" + c))
        c_value = None
    else:
        c_num, c_den = np.zeros(rows.n, "int64"), None
        c_value = rows.floats("c_" + metric.name)
    g_val, c_val, differs, passes, passed_by, support = _judge(metric, tolerance, g_num, g_den,
                                                               c_num, c_den, c_value)
    arrays = (g_num, g_den, c_num, c_den, g_val, c_val, passes, passed_by, support)
    idx = np.flatnonzero(differs)
    if how == "components":
        contribution, shares = gap_contributions(metric, g_num, g_den, c_num, c_den)
    else:   # final values only: a slice cannot be weighed, its own difference orders it
        contribution, shares = np.nan_to_num(c_val - g_val, nan=np.inf), None
    idx = idx[np.lexsort((-np.abs(contribution[idx]), passes[idx]))][:max_slices]
    slices = []
    for i in idx:
        window, slice_ = rows.key(int(i))
        share = None if shares is None or np.isnan(shares[i]) else float(shares[i])
        slices.append(dataclasses.replace(
            _comparison(metric, how, int(i), arrays, window=window, slice_=slice_,
                        presence=rows.presence(int(i))), share_of_gap=share))

    # per audited window and over the span: exact sums (candidate only when published as components)
    starts = [w.start_ms for w in windows]
    span = {k: sum(window_sums[s][k] for s in starts) for k in next(iter(window_sums.values()))}
    totals = [window_sums[s] for s in starts] + [span]
    def col(prefix: str, comp: str) -> np.ndarray:
        return np.array([t.get(prefix + comp, 0) for t in totals], dtype="int64")
    tg_num, tg_den = _sides(metric, lambda c: col("g_", c))
    if how == "components":
        tc_num, tc_den = _sides(metric, lambda c: col("c_", c))
        t_value = None
    else:
        tc_num, tc_den = np.zeros(len(totals), "int64"), None
        t_value = np.full(len(totals), np.nan)
    tg_val, tc_val, t_differs, t_passes, t_passed_by, t_support = _judge(
        metric, tolerance, tg_num, tg_den, tc_num, tc_den, t_value)
    if how == "value":   # the window's value cannot be rebuilt from published ratios
        t_passes = np.ones(len(totals), bool)
        t_passed_by = np.full(len(totals), None, dtype=object)
    t_arrays = (tg_num, tg_den, tc_num, tc_den, tg_val, tc_val, t_passes, t_passed_by, t_support)
    window_results = tuple(_comparison(metric, how, k, t_arrays, window=w.start)
                           for k, w in enumerate(windows))
    total = _comparison(metric, how, len(totals) - 1, t_arrays)

    failed = (~passes).any() or (~t_passes).any()
    explanations, by_window = (), ()
    if failed and explain and how == "components" and len(dims):
        explanations = explain_gap(rows, dims, metric, g_num, g_den, c_num, c_den)
        if per_window:
            by_window = _explain_windows(rows, dims, metric, windows, window_ms, passes,
                                         t_passes[:len(windows)], g_num, g_den, c_num, c_den)
    note = None
    if how == "value":
        note = ("published as final values only: compared slice by slice; the window's value "
                "cannot be rebuilt without the components")
    return MetricResult(
        metric=metric.name, unit=metric.unit, kind="ratio" if metric.is_ratio else "count",
        published_as=how, status=FAIL if failed else PASS, tolerance=tolerance, total=total,
        windows=window_results, slices=tuple(slices), slices_compared=rows.n,
        slices_differing=int(differs.sum()), slices_failed=int((~passes).sum()),
        slices_golden_only=int((differs & rows.in_golden & ~rows.in_candidate).sum()),
        slices_candidate_only=int((differs & rows.in_candidate & ~rows.in_golden).sum()),
        explanations=explanations, note=note, window_explanations=by_window)


def _explain_windows(rows: _Rows, dims: Sequence[str], metric: Metric, windows: Sequence[Window],
                     window_ms: int, passes, window_passes, g_num, g_den, c_num, c_den
                     ) -> tuple[tuple[int, tuple[dict, ...]], ...]:
    """(window start ms, explanations) for every audited window in which the metric fails
    (the window's sums or one of its slices): the gap localized on that window's rows alone."""
    starts = rows.table.column("window_ms").to_numpy(zero_copy_only=False) // window_ms * window_ms
    out = []
    for k, w in enumerate(windows):
        mask = starts == w.start_ms
        if not mask.any() or (window_passes[k] and passes[mask].all()):
            continue
        sub = _Rows(rows.table.filter(pa.array(mask)), dims)
        pick = (lambda a: None if a is None else a[mask])
        out.append((w.start_ms, explain_gap(sub, dims, metric, pick(g_num), pick(g_den), pick(c_num),
                                            pick(c_den))))
    return tuple(out)


def leaf_table(rows: _Rows, dims: Sequence[str], g_num, g_den, c_num, c_den):
    """Golden vs candidate numerator/denominator per (window, slice) row, as a pandas frame."""
    import pandas as pd
    frame = pd.DataFrame({d: rows.table.column(d).to_pylist() for d in dims})
    frame["golden_num"], frame["cand_num"] = g_num, c_num
    if g_den is not None:
        frame["golden_den"], frame["cand_den"] = g_den, c_den
    return frame


def explain_gap(rows: _Rows, dims: Sequence[str], metric: Metric, g_num, g_den, c_num, c_den
                ) -> tuple[dict, ...]:
    """The slices that explain a failing metric's gap, most explanatory first (report.json
    ``explanations``): auditor.localize.search on the golden vs candidate leaves at the pipeline's
    published grain and dimensions (golden is exact, so no noise allowance)."""
    leaves = leaf_table(rows, dims, g_num, g_den, c_num, c_den)
    result = localize_metric(leaves, dims, metric)
    return tuple(e.to_dict() for e in result.explanations)


def localize_metric(leaves, dims: Sequence[str], metric: Metric, *, max_depth: int = 3):
    """auditor.localize.search.localize on a metric's leaf table, its answer in the metric's
    unit: the catalogue's ``divisor`` applied to golden and candidate values, rate and mix
    effects and a count's support (play_minutes in minutes, not play_ms). Numerators and
    denominators stay the components' exact sums."""
    import dataclasses

    from auditor.localize.search import localize  # pandas-heavy: only when a metric fails
    result = localize(leaves, list(dims), kind="ratio" if metric.is_ratio else "additive",
                      max_depth=max_depth)
    k = metric.divisor
    if k == 1:
        return result

    def scaled(x):
        return None if x is None else x / k
    return dataclasses.replace(
        result, golden_value=scaled(result.golden_value), candidate_value=scaled(result.candidate_value),
        explanations=tuple(dataclasses.replace(
            e, golden_value=scaled(e.golden_value), candidate_value=scaled(e.candidate_value),
            rate_effect=scaled(e.rate_effect), mix_effect=scaled(e.mix_effect),
            support=e.support if metric.is_ratio else scaled(e.support))
            for e in result.explanations))


def joined_leaves(con: duckdb.DuckDBPyConnection, dims: Sequence[str], metric: Metric):
    """The leaf table of a metric published as components, from the join the last
    :func:`reconcile_pipeline` on ``con`` left behind (table ``r_joined``): what
    `auditor explain` localizes, so it never reconciles a second way."""
    rows = _Rows(con.sql("SELECT * FROM r_joined").to_arrow_table(), dims)
    g_num, g_den = _sides(metric, lambda c: rows.ints("g_" + c))
    c_num, c_den = _sides(metric, lambda c: rows.ints("c_" + c))
    return leaf_table(rows, dims, g_num, g_den, c_num, c_den)
