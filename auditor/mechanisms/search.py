"""The search: fit every catalogued mechanism to a slice's gap and name the one that reproduces it.

The gap is what the pipeline published minus golden, per cell (grain bucket x
the pipeline's dimension values) of the slice and per component the pipeline
publishes (table ``r_joined`` of rules/reconcile/join.sql). A mechanism's
prediction is golden under it minus golden (:class:`SliceVariants.delta`).

Scores (docs/mechanisms.md#the-search):

- **closure**: 1 - sum|gap - prediction| / sum|gap|, per window of the slice and
  over every published component together, each component measured in units of
  its own gap (never finer than its sampling noise over the slice's sessions), so
  play milliseconds do not drown attempts: a mechanism must reproduce attempts,
  plays and EBVS together, not one ratio;
- **collateral**: the share of the predicted change that falls in cells
  without a gap (already counted against closure; reported as evidence);
- **parsimony**: at equal closure the mechanism with fewer parameters wins.

A mechanism is named when it closes at least :data:`MIN_CLOSURE` of the gap and
no other one comes within :data:`AMBIGUITY` of it; when two do, both are
reported as ambiguous and neither is named; when none does, the finding says
no catalogued mechanism reproduces the gap and shows the closest.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from auditor.golden.calculator import COMPONENTS, GoldenOptions
from auditor.golden.sqlfiles import RulesFolder, quote_ident
from auditor.mechanisms.catalogue import Catalogue, Mechanism, load_catalogue
from auditor.mechanisms.variant import SlicesRows, SliceVariants, Variant, slice_predicate

MIN_CLOSURE = 0.9     # a mechanism must close this share of the gap to be named
AMBIGUITY = 0.05      # a runner-up this close to the best (both named-worthy) makes it ambiguous
REPRODUCED = 0.9      # a component counts as reproduced from this closure on
REFINE_ROUNDS = 2     # rounds narrowing a grid fit's bracket
REFINE_POINTS = 7     # values tried in the bracket per round
PLAUSIBLE = 0.5       # a closest fit this good is checked against session rows too
SAMPLE_SESSIONS = 5000   # a slice over twice this is screened on a sample of this many sessions first
SCREEN_KEEP = 3          # the sample's best this many are fitted on the whole slice whatever they close
SCREEN_MIN_TOUCHED = 200  # a mechanism touching fewer of the sample's sessions is fitted on the whole slice
MIN_Z = 5.0           # a share fit needs a gap this many sd beyond the noise of a random draw
NOISE_Z = 2.0         # a share fit's misses within this many standard deviations of sampling are noise

EXACT, REPRODUCED_STATUS, AMBIGUOUS, NONE = "exact", "reproduced", "ambiguous", "none"
NO_MECHANISM = "no catalogued mechanism reproduces this gap"


@dataclass(frozen=True)
class Fit:
    """One mechanism fitted to one gap."""

    mechanism: str
    params: Mapping[str, float]
    closure: float
    exact: bool
    collateral: float
    n_params: int
    headline: str
    components: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    touched: int = 0                # sessions the fit's variants touched (at most, of one variant)

    def to_dict(self) -> dict[str, Any]:
        return {"mechanism": self.mechanism, "params": dict(self.params), "closure": _round(self.closure),
                "exact": self.exact, "collateral": _round(self.collateral), "headline": self.headline,
                "components": {k: dict(v) for k, v in self.components.items()}}


@dataclass(frozen=True)
class MechanismFinding:
    """What the search concluded for one slice's gap."""

    slice: Mapping[str, str | None]
    status: str                     # exact | reproduced | ambiguous | none (exact: every cell, or
                                    # with session rows every differing session, reproduced)
    best: Fit | None                # the named mechanism, or the closest one
    runners_up: tuple[Fit, ...] = ()
    evaluated: int = 0              # mechanisms tried
    sessions: int = 0               # sessions in the slice
    # from the pipeline's session rows, when it publishes them (SliceVariants.session_evidence)
    session_evidence: Mapping[str, Any] | None = None
    # measured on the whole gap (against golden), not on the remainder a pipeline's declared
    # deviations leave (docs/deviations.md#mechanisms)
    whole_gap: bool = False

    @property
    def named(self) -> str | None:
        return self.best.mechanism if self.status in (EXACT, REPRODUCED_STATUS) and self.best else None

    @property
    def summary(self) -> str:
        """The headline's clause: 'reproduced exactly by first_frame lost for 15% of ...'."""
        if self.whole_gap:
            return "the whole gap, declared part included: " + replace(self, whole_gap=False).summary
        if self.best is None:
            return NO_MECHANISM
        if self.status == EXACT:
            return f"reproduced exactly by {self.best.headline}"
        if self.status == REPRODUCED_STATUS:
            return f"reproduced ({self.best.closure:.0%} of the gap) by {self.best.headline}"
        if self.status == AMBIGUOUS:
            other = self.runners_up[0]
            return (f"ambiguous: {self.best.mechanism} ({self.best.closure:.0%}) or "
                    f"{other.mechanism} ({other.closure:.0%}) reproduce it")
        return f"{NO_MECHANISM} (closest: {self.best.mechanism}, {max(self.best.closure, 0):.0%})"

    def to_dict(self) -> dict[str, Any]:
        return {"slice": dict(self.slice), "status": self.status, "mechanism": self.named,
                "summary": self.summary,
                "best": None if self.best is None else self.best.to_dict(),
                "runners_up": [f.to_dict() for f in self.runners_up],
                "evaluated": self.evaluated, "sessions": self.sessions,
                "session_evidence": None if self.session_evidence is None else dict(self.session_evidence),
                "whole_gap": self.whole_gap}


def _round(x: float) -> float:
    return float(round(x, 6)) if math.isfinite(x) else 0.0


class _Gap:
    """The slice's observed gap as arrays over cells x components, and the scorer."""

    def __init__(self, con: duckdb.DuckDBPyConnection, slice_: Mapping[str, str | None],
                 dims: Sequence[str], components: Sequence[str]) -> None:
        where, params = slice_predicate(slice_)
        cols = ", ".join(["window_ms", *map(quote_ident, dims),
                          *(f"coalesce({quote_ident('g_' + c)}, 0)::BIGINT AS {quote_ident('g_' + c)}" for c in components),
                          *(f"coalesce({quote_ident('c_' + c)}, 0)::BIGINT AS {quote_ident('c_' + c)}" for c in components)])
        table = con.sql(f"SELECT {cols} FROM r_joined WHERE {where}", params=params).to_arrow_table()
        self.dims, self.components = list(dims), list(components)
        self.index: dict[tuple, int] = {}
        for i, key in enumerate(zip(*(table.column(c).to_pylist() for c in ["window_ms", *dims]))):
            self.index[key] = i
        windows = table.column("window_ms").to_pylist()
        self.window_list = sorted(set(windows))
        self.window_pos = {w: i for i, w in enumerate(self.window_list)}
        self.cell_window = np.array([self.window_pos[w] for w in windows], dtype=np.int64)
        g = np.array([table.column("g_" + c).to_numpy() for c in components], dtype="float64").T
        c = np.array([table.column("c_" + c).to_numpy() for c in components], dtype="float64").T
        self.golden = g.reshape(len(self.index), len(components))
        self.gap = (c - g).reshape(len(self.index), len(components))
        # until units() is called: golden's total per component
        self.scale = np.maximum(np.abs(self.golden).sum(axis=0), 1.0)
        self.base = float((np.abs(self.gap) / self.scale).sum())

    def units(self, noise: np.ndarray) -> None:
        """Measure each component in units of its own gap (each component with a gap weighs
        the same), never finer than ``noise``: the sampling noise of that component over
        the slice's sessions (sqrt of the sum of squared per-session facts), so a share of
        sessions hit at random is not held to the luck of the draw on a rare outcome."""
        self.scale = np.maximum(np.maximum(np.abs(self.gap).sum(axis=0), noise), 1.0)
        self.base = float((np.abs(self.gap) / self.scale).sum())

    @property
    def empty(self) -> bool:
        return self.base == 0

    def prediction(self, delta: pa.Table) -> tuple[np.ndarray, np.ndarray, list]:
        """(prediction on the gap's cells, on cells of the slice's windows the gap does not
        have, those cells' windows)."""
        pred = np.zeros_like(self.gap)
        extra, extra_windows = [], []
        if delta.num_rows:
            keys = zip(*(delta.column(c).to_pylist() for c in ["window_ms", *self.dims]))
            values = np.array([delta.column(c).to_numpy(zero_copy_only=False) for c in self.components],
                              dtype="float64").T
            for key, row in zip(keys, values):
                i = self.index.get(key)
                if i is not None:
                    pred[i] += row
                elif key[0] in self.window_pos:
                    extra.append(row)
                    extra_windows.append(key[0])
        return pred, (np.array(extra) if extra else np.zeros((0, len(self.components)))), extra_windows

    def by_window(self, cells: np.ndarray, extra: np.ndarray, extra_windows: list) -> np.ndarray:
        """Cells summed per window of the slice (windows x components)."""
        out = np.zeros((len(self.window_list), len(self.components)))
        np.add.at(out, self.cell_window, cells)
        for w, row in zip(extra_windows, extra):
            out[self.window_pos[w]] += row
        return out

    def score(self, pred: np.ndarray, extra: np.ndarray, extra_windows: list,
              sigma: np.ndarray | None = None) -> tuple[float, bool, float, dict]:
        """(closure, exact, collateral, per-component evidence) of a prediction. ``sigma``
        (windows x components): the sampling noise of a prediction for a random share of
        sessions; misses within :data:`NOISE_Z` of it do not count."""
        gap_w, pred_w = self.by_window(self.gap, np.zeros((0, len(self.components))), []), \
            self.by_window(pred, extra, extra_windows)
        miss_w = np.abs(gap_w - pred_w)
        if sigma is not None:
            miss_w = np.maximum(miss_w - NOISE_Z * sigma, 0.0)
        err = float((miss_w / self.scale).sum())
        base = float((np.abs(gap_w) / self.scale).sum())
        closure = 1.0 - err / base if base else -math.inf
        if sigma is not None and base:
            # a gap the noise of the draw could make up is no proof: the parts of the gap beyond
            # 2 sd of it must add up to strong evidence (a combined z of MIN_Z), else nothing
            # counts as closed
            signal = np.abs(gap_w) > NOISE_Z * sigma
            z = np.abs(gap_w[signal]) / np.maximum(sigma[signal], 1e-9)
            if float(np.sqrt((z ** 2).sum())) < MIN_Z:
                closure = min(closure, 0.0)
        exact = bool((self.gap == pred).all() and not np.any(extra))
        quiet = ~(self.gap != 0).any(axis=1)
        moved = (np.abs(pred) / self.scale).sum() + (np.abs(extra) / self.scale).sum()
        collateral = float(((np.abs(pred[quiet]) / self.scale).sum() + (np.abs(extra) / self.scale).sum())
                           / moved) if moved else 0.0
        comps = {}
        for k, c in enumerate(self.components):
            abs_gap = float(np.abs(gap_w[:, k]).sum())
            miss = float(miss_w[:, k].sum())
            if abs_gap == 0 and miss == 0:
                continue
            comps[c] = {"gap": _int(float(gap_w[:, k].sum())), "predicted": _num(float(pred_w[:, k].sum())),
                        "reproduced": bool(abs_gap and 1.0 - miss / abs_gap >= REPRODUCED)}
        return closure, exact, collateral, comps


def _int(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)


def _num(x: float) -> int | float:
    return _int(x) if float(x).is_integer() else round(x, 1)


def search_slice(con: duckdb.DuckDBPyConnection, slice_: Mapping[str, str | None], *,
                 dims: Sequence[str], grain_minutes: int, golden_grain_minutes: int,
                 components: Sequence[str], options: GoldenOptions | None = None,
                 rules: RulesFolder | None = None, catalogue: Catalogue | None = None,
                 session_rows: str | None = None, session_facts: Sequence[str] = (),
                 rows: SlicesRows | None = None) -> MechanismFinding | None:
    """Fit every mechanism of ``catalogue`` to the gap of ``slice_`` in ``r_joined`` (the last
    reconciliation on ``con``: ``dims`` and ``grain_minutes`` are that pipeline's,
    ``components`` the ones it publishes). None when the slice shows no gap.

    ``session_rows``: a table on ``con`` with the pipeline's session rows (``session_id``,
    ``pipeline_rows``, the ``session_facts`` it publishes, summed per session); a named
    mechanism then gets its session evidence. ``rows``: the raw rows of this and the other
    slices searched, read once (:class:`SlicesRows`)."""
    cat = catalogue if catalogue is not None else load_catalogue(rules)
    gap = _Gap(con, slice_, dims, components)
    if gap.empty:
        return None
    grain_ms = grain_minutes * 60_000
    with SliceVariants(con, slice_, grain_ms=golden_grain_minutes * 60_000, options=options, rules=rules,
                       dims=dims, rows=rows) as sv:
        sessions = sv.sessions
        gap.units(sv.noise(components))
        mechanisms = list(cat)
        sample = sv.sampled(SAMPLE_SESSIONS)
        if sample is not None:
            with sample:
                screened = _fit_all(sample, mechanisms, gap, dims, grain_ms, refine=False)
            mechanisms = _contenders(mechanisms, screened)
        fits = [f for f in _fit_all(sv, mechanisms, gap, dims, grain_ms) if f is not None]
        finding = decide(slice_, fits, evaluated=len(cat), sessions=sessions)
        if session_rows and session_facts and finding.best is not None and (
                finding.named or finding.status == NONE and finding.best.closure >= PLAUSIBLE):
            mech = cat.get(finding.best.mechanism)
            evidence = sv.session_evidence(mech, finding.best.params, session_rows, session_facts)
            finding = replace(finding, session_evidence=evidence)
            if evidence["differing"] and evidence["reproduced"] == evidence["differing"]:
                # every session that differs is the mechanism's doing, to the fact
                best = finding.best
                if mech.param is not None and mech.param.fit == "share" and evidence["variant_changes"]:
                    # the share it hit, counted instead of fitted
                    share = round(evidence["reproduced"] / evidence["variant_changes"], 2)
                    params = {mech.param.name: share}
                    best = replace(best, params=params, headline=mech.headline(params))
                finding = replace(finding, status=EXACT, best=replace(best, exact=True))
    return finding


def decide(slice_: Mapping[str, str | None], fits: Sequence[Fit], *, evaluated: int = 0,
           sessions: int = 0) -> MechanismFinding:
    """Rank the fits (closure, then fewer parameters) and draw the conclusion."""
    ranked = sorted(fits, key=lambda f: (-round(f.closure, 9), f.n_params, not f.exact))
    if not ranked:
        return MechanismFinding(slice_, NONE, None, (), evaluated, sessions)
    best, rest = ranked[0], tuple(ranked[1:3])
    if best.closure < MIN_CLOSURE:
        return MechanismFinding(slice_, NONE, best, rest, evaluated, sessions)
    rivals = [f for f in ranked[1:] if f.closure >= MIN_CLOSURE and f.closure >= best.closure - AMBIGUITY
              and not (best.exact and not f.exact)]
    if rivals:
        return MechanismFinding(slice_, AMBIGUOUS, best, (rivals[0], *[f for f in rest if f is not rivals[0]]),
                                evaluated, sessions)
    return MechanismFinding(slice_, EXACT if best.exact else REPRODUCED_STATUS, best, rest, evaluated, sessions)


def _fit_all(sv: SliceVariants, mechanisms: Sequence[Mechanism], gap: _Gap, dims: Sequence[str],
             grain_ms: int, *, refine: bool = True) -> list[Fit | None]:
    """Fit each mechanism (None: it changes nothing), evaluating them side by side
    (:meth:`SliceVariants.deltas`): first each at its starting points (no parameter: as
    is; a share: at full strength; a grid: every grid value), then, when ``refine``, the
    grid fits' brackets narrowed in :data:`REFINE_ROUNDS` rounds of
    :data:`REFINE_POINTS` points each, then the round values tried. On a sample
    (``sv.scale`` > 1) the predictions are scaled up to the slice, and each fit's
    ``touched`` records the most sessions one of its variants touched in the sample."""
    fits: dict[str, Fit | None] = {}
    grids: dict[str, _Grid] = {}
    touched: dict[str, int] = {}

    def run(requests: list[tuple[Mechanism, dict, float | None]]) -> list[tuple]:
        tables = sv.deltas([Variant(m, p, s) for m, p, s in requests], dims=dims, grain_ms=grain_ms)
        for k, (m, _, _) in enumerate(requests):
            touched[m.name] = max(touched.get(m.name, 0), sv.touched.get(k, 0))
        out = []
        for t in tables:
            pred, extra, extra_w = gap.prediction(t)
            out.append((pred * sv.scale, extra * sv.scale, extra_w))
        return out

    requests: list[tuple[Mechanism, dict, float | None]] = []
    for mech in mechanisms:
        if mech.param is None:
            requests.append((mech, {}, None))
        elif mech.param.fit == "share":
            requests.append((mech, {mech.param.name: 1.0}, 1.0))
        else:
            grids[mech.name] = _Grid(mech, gap)
            requests += [(mech, {mech.param.name: float(v)}, None) for v in sorted(mech.param.grid)]
    for k, ((mech, params, share), predicted) in enumerate(zip(requests, run(requests))):
        if mech.param is None:
            fits[mech.name] = _make(mech, gap, {}, predicted) if _moves(predicted) else None
        elif share is not None:
            fits[mech.name] = _fit_share(sv, mech, gap, predicted, grain_ms, k)
        else:
            grids[mech.name].record(params[mech.param.name], predicted)
    for grid in grids.values():
        grid.bracket()
    for _ in range(REFINE_ROUNDS + 1 if refine else 0):
        requests = [(g.mech, {g.mech.param.name: v}, None) for g in grids.values() for v in g.wanted()]
        if not requests:
            break
        for (mech, params, _), predicted in zip(requests, run(requests)):
            grids[mech.name].record(params[mech.param.name], predicted)
        for grid in grids.values():
            grid.narrow()
    fits.update({name: grid.best() for name, grid in grids.items()})
    return [None if fits[m.name] is None else replace(fits[m.name], touched=touched.get(m.name, 0))
            for m in mechanisms]


def _contenders(mechanisms: Sequence[Mechanism], screened: Sequence[Fit | None]) -> list[Mechanism]:
    """The mechanisms a sample cannot rule out, to be fitted on the whole slice: those
    that close at least :data:`PLAUSIBLE` of the gap on the sample, the
    :data:`SCREEN_KEEP` best, and those the sample says too little about (fewer than
    :data:`SCREEN_MIN_TOUCHED` of its sessions touched, or none)."""
    ranked = sorted((f.closure for f in screened if f is not None), reverse=True)
    bar = min(PLAUSIBLE, ranked[SCREEN_KEEP - 1] if len(ranked) >= SCREEN_KEEP else -math.inf)
    return [m for m, f in zip(mechanisms, screened)
            if f is None or f.closure >= bar or f.touched < SCREEN_MIN_TOUCHED]


def _make(mech: Mechanism, gap: _Gap, params: Mapping[str, float], predicted: tuple,
          sigma: np.ndarray | None = None) -> Fit:
    closure, exact, collateral, comps = gap.score(*predicted, sigma=sigma)
    return Fit(mech.name, dict(params), closure, exact, collateral, mech.n_params, mech.headline(params), comps)


def _fit_share(sv: SliceVariants, mech: Mechanism, gap: _Gap, predicted: tuple, grain_ms: int,
               index: int) -> Fit | None:
    """A share mechanism from its full-strength prediction (variant ``index`` of the last
    evaluation): which sessions were hit is unknown, so a share s of them hit at random
    moves the components by s x the full change, give or take the noise of the draw."""
    if not _moves(predicted):
        return None
    pred, extra, extra_w = predicted
    sq = sv.delta_squares(grain_ms=grain_ms, index=index)
    var = np.zeros((len(gap.window_list), len(gap.components)))
    for w, row in zip(sq.column("window_ms").to_pylist(),
                      np.array([sq.column(c).to_numpy(zero_copy_only=False) for c in gap.components],
                               dtype="float64").T):
        if w in gap.window_pos:
            var[gap.window_pos[w]] = np.nan_to_num(row) * sv.scale
    # the share by least squares per window and component, each weighted by the inverse of
    # its sampling variance (the variance's s(1-s) is common to all and cancels)
    gap_w = gap.by_window(gap.gap, np.zeros((0, len(gap.components))), [])
    pred_w = gap.by_window(pred, extra, extra_w)
    w = 1.0 / np.maximum(var, 1.0)
    denom = float((pred_w ** 2 * w).sum())
    share = float((gap_w * pred_w * w).sum()) / denom if denom else 0.0
    share = min(max(round(share, 2), 0.01), 1.0)
    sigma = None if share >= 1 else np.sqrt(var * share * (1 - share))
    return _make(mech, gap, {mech.param.name: share}, (pred * share, extra * share, extra_w), sigma)


def _moves(predicted) -> bool:
    pred, extra, _ = predicted
    return bool(pred.any() or extra.any())


class _Grid:
    """A grid parameter's fit: the grid values first; when the best one closes part of the
    gap but does not reproduce it, the bracket between its neighbours is narrowed
    (:data:`REFINE_POINTS` evenly spaced values a round, the bracket then the neighbours
    of the best); last, a round value that fits as well as the best is the one reported.
    Of equally good values the smallest in size wins (docs/mechanisms.md#the-search)."""

    def __init__(self, mech: Mechanism, gap: _Gap) -> None:
        self.mech, self.gap = mech, gap
        self.fits: dict[float, Fit | None] = {}
        self.lo = self.hi = None
        self.rounds = 0
        self.rounding = False

    def record(self, value: float, predicted: tuple) -> None:
        self.fits[float(value)] = (_make(self.mech, self.gap, {self.mech.param.name: float(value)}, predicted)
                                   if _moves(predicted) else None)

    def closure(self, value: float) -> float:
        f = self.fits.get(float(value))
        return -math.inf if f is None else f.closure

    def _best_value(self) -> float:
        return max(self.fits, key=lambda v: (self.closure(v), -abs(v)))

    def bracket(self) -> None:
        grid = sorted(self.fits)
        scores = [self.closure(v) for v in grid]
        if all(s == -math.inf for s in scores):
            return
        i = int(np.argmax(scores))
        lo = grid[i - 1] if i > 0 else grid[i]
        hi = grid[i + 1] if i + 1 < len(grid) else grid[i]
        if lo != hi and 0.0 < scores[i] < 1.0 and (lo >= 0) == (hi >= 0):
            self.lo, self.hi = lo, hi

    def wanted(self) -> list[float]:
        if self.lo is not None and self.rounds < REFINE_ROUNDS:
            step = (self.hi - self.lo) / (REFINE_POINTS + 1)
            return [v for v in (self.lo + step * j for j in range(1, REFINE_POINTS + 1)) if v not in self.fits]
        if self.rounding or all(f is None for f in self.fits.values()):
            return []
        self.rounding = True
        best = self._best_value()
        return [r for r in dict.fromkeys(float(f"{best:.{d}g}") for d in (1, 2))
                if r != best and (r > 0) == (best > 0) and r not in self.fits]

    def narrow(self) -> None:
        """After a refining round: the bracket becomes the neighbours of the best value in it."""
        if self.lo is None or self.rounds >= REFINE_ROUNDS:
            return
        self.rounds += 1
        inside = sorted(v for v in self.fits if self.lo <= v <= self.hi)
        i = max(range(len(inside)), key=lambda j: (self.closure(inside[j]), -abs(inside[j])))
        self.lo, self.hi = inside[max(i - 1, 0)], inside[min(i + 1, len(inside) - 1)]

    def best(self) -> Fit | None:
        if all(f is None for f in self.fits.values()):
            return None
        best_value = self._best_value()
        best = self.closure(best_value)
        for digits in (1, 2):   # a round value that fits as well is the one to report
            rounded = float(f"{best_value:.{digits}g}")
            if rounded != best_value and rounded in self.fits and self.closure(rounded) >= best - 1e-12:
                best_value = rounded
                break
        return self.fits[best_value]
