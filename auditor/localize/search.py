"""Root-cause localization: the few slices that explain a metric's gap.

The model (docs/localization.md): every leaf's candidate value is its golden
value, except inside a small set of disjoint slices where the candidate
numerator (and denominator) is golden's times one factor per slice.  We grow
that set greedily.  A slice's *gain* is how much it lowers the residual loss

    loss(leaf) = sum over channels of  w_c * max(|cand - fit| - tol, 0)

(channels: the numerator, plus the denominator for ratios; ``w_c`` puts both
on a relative scale; ``tol = noise * |golden|`` is a dead zone for noisy
expectations, 0 for an exact golden).  Each round picks the slice of 1 to
``max_depth`` dimensions with the largest gain, the shallower one on ties,
and removes its leaves; rounds stop when no slice gains ``min_gain`` of the
initial loss.

The search is pruned exactly: a slice can never gain more than the residual
loss of its own leaves, and that residual only shrinks from parent to child,
so a slice is visited only if all of its parents (one dimension fewer)
carry at least the best gain found so far.  Real faults concentrate residual
in few slices, so with 8-12 dimensions of hundreds of values most of the
cube is never enumerated.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any, Literal

import numpy as np
import pandas as pd

from auditor.localize.attribution import (Kind, Totals, check_leaves, contribution, joint_share,
                                          slice_mask, totals)
from auditor.errors import InputError
from auditor.localize.cover import DEFAULT_ALPHA, CoverSearch
from auditor.localize.parents import prefer_parents
from auditor.localize.risk import RiskSearch, slice_keys as _keys

_AUTO_NOISE_SCALE = 1.0


@dataclass(frozen=True)
class Explanation:
    """One slice that explains part of a metric's gap (JSON via ``to_dict``)."""

    slice: dict[str, str | None]
    share_of_gap: float
    golden_value: float | None
    candidate_value: float | None
    golden_num: float
    cand_num: float
    golden_den: float | None
    cand_den: float | None
    num_delta: float
    den_delta: float | None
    num_share: float
    den_share: float
    mix_effect: float | None
    rate_effect: float | None
    support: float
    confidence: float

    def key(self) -> str:
        """The slice as sorted ``dim=value`` pairs joined by ``&`` (null as ``dim=null``)."""
        return "&".join(f"{d}={'null' if v is None else v}" for d, v in sorted(self.slice.items()))

    def to_dict(self) -> dict[str, Any]:
        return {name: (dict(self.slice) if name == "slice" else _json_number(getattr(self, name)))
                for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class Localization:
    """Ranked explanations of one metric's gap and the part they leave unexplained."""

    explanations: tuple[Explanation, ...]
    unexplained_share: float
    golden_value: float | None
    candidate_value: float | None
    kind: Kind

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "golden": _json_number(self.golden_value),
                "candidate": _json_number(self.candidate_value),
                "unexplained_share": _json_number(self.unexplained_share),
                "explanations": [e.to_dict() for e in self.explanations]}


def localize(leaves: pd.DataFrame, dims: list[str], *, kind: Kind = "additive", max_depth: int = 3,
             max_results: int = 10, noise: float | Literal["auto"] = 0.0,
             min_gain: float = 0.02, min_z: float = 4.0, dead_zone: float = 1.0,
             method: Literal["auto", "cover", "greedy", "risk"] = "auto", risk_threshold: float = 0.4,
             alpha: float = DEFAULT_ALPHA, parent_rule: bool | None = None) -> Localization:
    """Find the few slices over ``dims`` that explain the gap between golden and candidate.

    ``leaves`` holds the dimension columns and ``golden_num``, ``cand_num``
    (plus ``golden_den``, ``cand_den`` for ``kind='ratio'``) at any grain
    (session rows are summed per dimension combination).  ``noise`` is the
    relative uncertainty of the golden values (0 for an exact golden;
    ``'auto'`` estimates it from the leaves' spread, for forecasts).
    ``min_gain`` is the smallest share of the initial residual a slice must
    remove to be listed.  A pipeline that publishes only some dimensions is
    localized within those: pass only them as ``dims``.

    ``method='auto'`` (default) is 'cover' for an exact golden (``noise=0``)
    and 'greedy' otherwise. ``method='cover'`` (auditor/localize/cover.py)
    takes the few slices that contain the deviation with the least traffic, so
    a fault that hits only part of its slice's sessions is named by that
    slice, not by the children where it happens to concentrate; ``alpha`` is
    the price of one more slice. ``method='greedy'`` fits slices by gain as
    described above (noisy expectations with ``noise``). ``method='risk'``
    (auditor/localize/risk.py, for forecast expectations)
    splits leaves into normal and abnormal by their relative deviation and
    picks the shallowest pure slices; ``min_gain`` is then the share of the
    abnormal deviation a slice must carry, ``risk_threshold`` the purity it
    needs, and ``noise``/``min_z``/``dead_zone`` are not used.

    ``parent_rule`` then replaces listed slices by the most general slice that
    explains the gap as well as they do together, unless the deviation is
    confined to one of its children (auditor/localize/parents.py). By default
    (None) it applies when golden is exact (``noise=0``, methods 'cover' and
    'greedy'), where every deviating leaf is real; on a noisy forecast noise
    spreads deviation over every child and the rule would widen past the cause.
    """
    check_leaves(leaves, dims, kind)
    if max_depth < 1 or max_results < 0 or not (0 < min_gain <= 1):
        raise InputError("localize needs max_depth >= 1, max_results >= 0 and 0 < min_gain <= 1",
                         hint=f"got max_depth={max_depth}, max_results={max_results}, min_gain={min_gain}")
    if method not in ("auto", "cover", "greedy", "risk"):
        raise InputError(f"unknown localization method {method!r}",
                         hint="use 'auto', 'cover', 'greedy' or 'risk'")
    if method == "auto":
        method = "cover" if isinstance(noise, (int, float)) and noise == 0 else "greedy"
    cube = _Cube.build(leaves, dims, kind, 0.0 if method == "risk" else noise, dead_zone, min_z)
    depth = min(max_depth, len(dims))
    if method == "cover":
        found = CoverSearch(cube.codes, cube.golden, cube.cand, cube.dims, cube.values,
                            alpha=alpha).run(depth, max_results, min_gain)
    elif method == "risk":
        found = RiskSearch.from_channels(cube.codes, cube.golden, cube.cand, dims=cube.dims,
                                         values=cube.values, risk_threshold=risk_threshold
                                         ).run(depth, max_results, min_gain)
    else:
        found = cube.search(depth, max_results, min_gain)
    table = cube.table
    overall = totals(table)
    if method == "greedy":
        found = _merge_fragments(table, found, min_gain)
    if parent_rule is None:
        parent_rule = method != "risk" and isinstance(noise, (int, float)) and noise == 0
    if parent_rule:
        found = prefer_parents(table, found, min_gain)
    explanations = [_explain(table, overall, s, conf) for s, conf in found]
    explanations.sort(key=lambda e: -abs(e.share_of_gap))
    explained = joint_share(table, [e.slice for e in explanations])
    gap_exists = overall.golden_value() != overall.candidate_value()
    return Localization(tuple(explanations), (1.0 - explained) if gap_exists else 0.0,
                        overall.golden_value(), overall.candidate_value(), kind)


class _Cube:
    """Leaves as integer codes per dimension plus per-channel golden/candidate arrays."""

    def __init__(self, table: pd.DataFrame, dims: list[str], codes: np.ndarray,
                 values: list[list[Any]], golden: np.ndarray, cand: np.ndarray, sd: np.ndarray,
                 dead_zone: float, min_z: float) -> None:
        self.table, self.dims, self.codes, self.values = table, dims, codes, values
        self.golden, self.cand, self.sd = golden, cand, sd
        self.var, self.tol, self.min_z = sd ** 2, dead_zone * sd, min_z
        scale = np.maximum(np.abs(golden).sum(axis=1), np.abs(cand).sum(axis=1))
        self.weight = np.where(scale > 0, 1.0 / np.where(scale > 0, scale, 1.0), 0.0)[:, None]

    @classmethod
    def build(cls, leaves: pd.DataFrame, dims: list[str], kind: Kind,
              noise: float | Literal["auto"], dead_zone: float, min_z: float) -> _Cube:
        value_cols = ["golden_num", "cand_num"] + (["golden_den", "cand_den"] if kind == "ratio" else [])
        frame = leaves[list(dims) + value_cols].copy()
        try:
            frame[value_cols] = frame[value_cols].astype("float64").fillna(0.0)
        except (TypeError, ValueError) as exc:
            raise InputError(f"leaf table has non-numeric values in {value_cols}: {exc}",
                             hint="numerators and denominators must be numbers") from None
        codes, values = [], []
        for d in dims:
            try:
                code, uniques = pd.factorize(frame[d], use_na_sentinel=True, sort=True)
            except TypeError:  # mixed types do not sort; keep first-seen order
                code, uniques = pd.factorize(frame[d], use_na_sentinel=True)
            values.append([None if pd.isna(u) else getattr(u, "item", lambda: u)() for u in uniques]
                          + [None])
            codes.append(np.where(code < 0, len(uniques), code))
        code_cols = [f"__code{i}" for i in range(len(dims))]
        coded = pd.DataFrame(dict(zip(code_cols, codes)) if dims else {}, index=frame.index)
        coded[value_cols] = frame[value_cols]
        grouped = coded.groupby(code_cols, sort=True).sum().reset_index() if dims else \
            coded[value_cols].sum().to_frame().T
        code_matrix = grouped[code_cols].to_numpy(dtype=np.int64) if dims else np.zeros((1, 0), np.int64)
        table = pd.DataFrame({d: [values[i][c] for c in code_matrix[:, i]] for i, d in enumerate(dims)})
        for c in value_cols:
            table[c] = grouped[c].to_numpy(dtype=float)
        golden = table[value_cols[0::2]].to_numpy(dtype=float).T
        cand = table[value_cols[1::2]].to_numpy(dtype=float).T
        rel = _estimate_noise(golden, cand) if noise == "auto" else np.full(len(golden), float(noise))
        if np.any(rel < 0):
            raise InputError(f"noise must be >= 0 or 'auto', got {noise!r}", hint="e.g. noise=0.01 or noise='auto'")
        sd = rel[:, None] * np.abs(golden)
        return cls(table, list(dims), code_matrix, values, golden, cand, sd, dead_zone, min_z)

    def _loss(self, fit: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Per-leaf residual loss of the leaves ``idx`` under ``fit`` (channels x len(idx))."""
        dev = np.maximum(np.abs(self.cand[:, idx] - fit) - self.tol[:, idx], 0.0)
        return (self.weight * dev).sum(axis=0)

    def search(self, max_depth: int, max_results: int, min_gain: float) -> list[tuple[dict, float]]:
        n = self.codes.shape[0]
        alive = np.ones(n, dtype=bool)
        all_idx = np.arange(n)
        resid = self._loss(self.golden, all_idx)
        floor = min_gain * resid.sum()
        found: list[tuple[dict, float]] = []
        while len(found) < max_results and floor > 0 and resid[alive].sum() >= floor:
            best = self._best_slice(alive, resid, max_depth, floor)
            if best is None:
                break
            cuboid, element, gain, members = best
            noise_mass = float((self.weight * self.tol[:, members]).sum())
            confidence = gain / (gain + noise_mass) if gain + noise_mass > 0 else 0.0
            found.append(({self.dims[d]: self.values[d][v] for d, v in zip(cuboid, element)}, confidence))
            alive[members] = False
        return found

    def _best_slice(self, alive: np.ndarray, resid: np.ndarray, max_depth: int, floor: float):
        idx = np.flatnonzero(alive)
        alive_codes = self.codes[idx]
        best: tuple | None = None
        bar = floor
        # per visited cuboid: which alive leaves lie in an element heavy enough to descend into
        heavy: dict[tuple[int, ...], np.ndarray] = {}
        for depth in range(1, max_depth + 1):
            for cuboid in combinations(range(self.codes.shape[1]), depth):
                if depth == 1:
                    ok = np.ones(len(idx), dtype=bool)
                else:
                    parents = [tuple(d for d in cuboid if d != drop) for drop in cuboid]
                    if any(p not in heavy for p in parents):
                        continue
                    ok = np.logical_and.reduce([heavy[p] for p in parents])
                    if not ok.any():
                        continue
                # every candidate element lies inside heavy parents, so only those leaves matter
                sub = np.flatnonzero(ok)
                keys = _keys(alive_codes[sub][:, list(cuboid)])
                uniq, inv = np.unique(keys, return_inverse=True)
                mass = np.bincount(inv, weights=resid[idx[sub]], minlength=len(uniq))
                candidates = uniq[mass >= bar]
                if len(candidates) == 0:
                    continue
                inside = mass[inv] >= bar
                heavy[cuboid] = np.zeros(len(idx), dtype=bool)
                heavy[cuboid][sub[inside]] = True
                gain, members = self._score(idx[sub[inside]], keys[inside], resid)
                if gain > bar * (1 + 1e-12):
                    member_codes = self.codes[members[0], list(cuboid)]
                    best = (cuboid, tuple(int(c) for c in member_codes), gain, members)
                    bar = gain
        return best

    def _score(self, sel: np.ndarray, keys: np.ndarray, resid: np.ndarray) -> tuple[float, np.ndarray]:
        """Best element among the leaves ``sel`` grouped by ``keys``: its gain and its leaves."""
        uniq, inv = np.unique(keys, return_inverse=True)
        m = len(uniq)
        fit = np.empty((self.golden.shape[0], len(sel)))
        for c in range(self.golden.shape[0]):
            g_sum = np.bincount(inv, weights=self.golden[c, sel], minlength=m)
            c_sum = np.bincount(inv, weights=self.cand[c, sel], minlength=m)
            factor = np.divide(c_sum, g_sum, out=np.ones(m), where=g_sum != 0)
            # a slice golden never saw (all zero) is fitted by its own candidate values
            fit[c] = np.where(g_sum[inv] != 0, self.golden[c, sel] * factor[inv], self.cand[c, sel])
        gain = np.bincount(inv, weights=resid[sel] - self._loss(fit, sel), minlength=m)
        # significance: the slice's total deviation against the noise of its golden values
        chi2 = np.zeros(m)
        for c in range(self.golden.shape[0]):
            dev = np.bincount(inv, weights=self.cand[c, sel] - self.golden[c, sel], minlength=m)
            var = np.bincount(inv, weights=self.var[c, sel], minlength=m)
            chi2 += np.where(var > 0, dev ** 2 / np.where(var > 0, var, 1.0), np.where(dev != 0, np.inf, 0.0))
        gain = np.where(chi2 >= self.min_z ** 2, gain, -np.inf)
        top = int(np.argmax(gain))
        return float(gain[top]), sel[inv == top]


def _merge_fragments(table: pd.DataFrame, found: list[tuple[dict, float]],
                     min_gain: float) -> list[tuple[dict, float]]:
    """Replace fragments of one fault by the slice they share.

    A fault that hits only a share of a slice's sessions leaves scattered
    deviating leaves; the per-leaf fit then prefers several narrow slices
    (each a handful of leaves) to the slice itself.  When two or more listed
    slices share a sub-conjunction that, in their place, closes at least
    ``min_gain`` more of the gap (all listed slices fixed together), it replaces
    them, and listed slices that then add less than ``min_gain`` are dropped.
    Of the sub-conjunctions within ``min_gain`` of the largest improvement the
    one with the least golden traffic wins (the narrowest that explains as
    much); repeated until nothing changes.
    """
    slices = [dict(s) for s, _ in found]
    conf = {_frozen(s): c for s, c in found}
    while len(slices) >= 2:
        now = joint_share(table, slices)
        options = []
        for common in {_frozen(dict(sub)) for s in slices for d in range(1, len(s))
                       for sub in combinations(s.items(), d)}:
            covered = [s for s in slices if common <= _frozen(s)]
            if len(covered) < 2:
                continue
            rest = [s for s in slices if s not in covered]
            gain = joint_share(table, [dict(common), *rest]) - now
            if gain >= min_gain:
                options.append((gain, common, covered))
        best = None
        if options:
            # the narrowest slice (least traffic) among those that close about the most
            top = max(o[0] for o in options)
            near = [o for o in options if o[0] >= top - min_gain]
            best = min(near, key=lambda o: (_traffic(table, dict(o[1])), len(o[1]),
                                            sorted(map(str, o[1]))))
        if best is None:
            break
        _, common, covered = best
        conf[common] = min(conf[_frozen(s)] for s in covered)
        slices = [dict(common)] + [s for s in slices if s not in covered]
        kept = [slices[0]]
        for s in slices[1:]:
            if joint_share(table, kept + [s]) - joint_share(table, kept) >= min_gain:
                kept.append(s)
        slices = kept
    return [(s, conf[_frozen(s)]) for s in slices]


def _traffic(table: pd.DataFrame, slice_: dict) -> float:
    part = totals(table, slice_mask(table, slice_))
    return part.golden_den if part.golden_den is not None else abs(part.golden_num)


def _frozen(slice_: dict) -> frozenset:
    return frozenset(slice_.items())


def _estimate_noise(golden: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """Robust relative spread of candidate around golden, per channel.

    The median absolute relative delta over the leaves that differ at all
    (leaves that agree exactly carry no information about the spread of the
    others), scaled to a normal standard deviation.
    """
    out = np.zeros(len(golden))
    for c in range(len(golden)):
        ok = (golden[c] > 0) & (cand[c] != golden[c])
        if ok.sum() < 5:
            continue
        rel = (cand[c, ok] - golden[c, ok]) / golden[c, ok]
        out[c] = _AUTO_NOISE_SCALE * 1.4826 * float(np.median(np.abs(rel)))
    return out


def _explain(table: pd.DataFrame, overall: Totals, slice_: dict, confidence: float) -> Explanation:
    part = totals(table, slice_mask(table, slice_))
    contrib = contribution(overall, part)
    is_ratio = part.golden_den is not None
    support = max(part.golden_den, part.cand_den) if is_ratio else max(abs(part.golden_num), abs(part.cand_num))
    return Explanation(
        slice=dict(slice_), share_of_gap=contrib.share_of_gap,
        golden_value=part.golden_value(), candidate_value=part.candidate_value(),
        golden_num=part.golden_num, cand_num=part.cand_num,
        golden_den=part.golden_den, cand_den=part.cand_den,
        num_delta=part.cand_num - part.golden_num,
        den_delta=(part.cand_den - part.golden_den) if is_ratio else None,
        num_share=contrib.num_share, den_share=contrib.den_share,
        mix_effect=contrib.mix_effect, rate_effect=contrib.rate_effect,
        support=support, confidence=confidence)


def _json_number(x: Any) -> Any:
    if isinstance(x, (np.floating, np.integer)):
        x = x.item()
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x
