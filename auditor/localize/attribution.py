"""Exact attribution of a metric's gap (candidate - golden) to dimension slices.

A *leaf table* has one row per combination of dimension values (or any finer
grain: rows are simply summed) with the columns ``golden_num`` and
``cand_num`` and, for ratio metrics (``sum(num) / sum(den)``), ``golden_den``
and ``cand_den``.  A *slice* is a conjunction ``{dim: value}``; a ``None``
value (or NaN) matches null cells only, so "unknown device" is a slice of its
own.  The formulas are documented in docs/localization.md:

* additive metrics: a slice's contribution is its own delta
  ``cand - golden``; contributions over a partition add up exactly to the gap.
* ratio metrics: ``share_of_gap`` is the counterfactual "fraction of the
  global gap that closes if this slice's candidate numerator and denominator
  are replaced by golden's"; its numerator and denominator parts are the
  two-player Shapley split (they add up exactly to the share).  Rate and mix
  effects decompose ``C - G`` exactly over any partition.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Mapping

import numpy as np
import pandas as pd

from auditor.errors import InputError

Kind = Literal["additive", "ratio"]
SliceKey = Mapping[str, "str | None"]

NUM_COLUMNS = ("golden_num", "cand_num")
DEN_COLUMNS = ("golden_den", "cand_den")


@dataclass(frozen=True)
class Totals:
    """Sums of the numerator (and denominator) on both sides over some leaves."""

    golden_num: float
    cand_num: float
    golden_den: float | None = None
    cand_den: float | None = None

    def golden_value(self) -> float | None:
        return self.golden_num if self.golden_den is None else ratio(self.golden_num, self.golden_den)

    def candidate_value(self) -> float | None:
        return self.cand_num if self.cand_den is None else ratio(self.cand_num, self.cand_den)


@dataclass(frozen=True)
class Contribution:
    """How one slice (or a union of slices) accounts for the global gap.

    ``share_of_gap`` is in units of the gap (1.0 = the whole gap);
    ``num_share + den_share == share_of_gap``.  ``rate_effect`` and
    ``mix_effect`` are in metric units and add up, over a partition of the
    leaves, to ``candidate - golden`` exactly (None for additive metrics).
    """

    share_of_gap: float
    num_share: float
    den_share: float
    rate_effect: float | None
    mix_effect: float | None


def ratio(num: float, den: float) -> float | None:
    """``num / den``; None when the denominator is zero (the value is undefined)."""
    return None if den == 0 else num / den


def kind_of(leaves: pd.DataFrame) -> Kind:
    """'ratio' when the table carries denominators, else 'additive'."""
    has_den = [c in leaves.columns for c in DEN_COLUMNS]
    if all(has_den):
        return "ratio"
    if any(has_den):
        missing = DEN_COLUMNS[has_den.index(False)]
        raise InputError(f"leaf table has one denominator column but not {missing!r}",
                         hint="give both golden_den and cand_den, or neither for an additive metric")
    return "additive"


def check_leaves(leaves: pd.DataFrame, dims: list[str], kind: Kind) -> None:
    """Raise InputError naming the missing column when the leaf table does not fit."""
    needed = list(dims) + list(NUM_COLUMNS) + (list(DEN_COLUMNS) if kind == "ratio" else [])
    missing = [c for c in needed if c not in leaves.columns]
    if missing:
        raise InputError(f"leaf table is missing column(s) {', '.join(map(repr, missing))}",
                         hint=f"columns present: {', '.join(map(str, leaves.columns))}")
    if kind not in ("additive", "ratio"):
        raise InputError(f"unknown metric kind {kind!r}", hint="use 'additive' or 'ratio'")


def slice_mask(leaves: pd.DataFrame, slice_: SliceKey) -> np.ndarray:
    """Boolean mask of the leaves inside ``slice_``; None/NaN matches null cells only."""
    mask = np.ones(len(leaves), dtype=bool)
    for dim, value in slice_.items():
        if dim not in leaves.columns:
            raise InputError(f"slice names dimension {dim!r} that the leaf table does not have",
                             hint=f"columns present: {', '.join(map(str, leaves.columns))}")
        col = leaves[dim]
        if _is_null(value):
            mask &= col.isna().to_numpy()
        else:
            mask &= (col == value).fillna(False).to_numpy(dtype=bool)
    return mask


def totals(leaves: pd.DataFrame, mask: np.ndarray | None = None) -> Totals:
    """Sum the leaves (optionally under ``mask``) on both sides."""
    sub = leaves if mask is None else leaves[mask]
    if "golden_den" in leaves.columns:
        return Totals(float(sub["golden_num"].sum()), float(sub["cand_num"].sum()),
                      float(sub["golden_den"].sum()), float(sub["cand_den"].sum()))
    return Totals(float(sub["golden_num"].sum()), float(sub["cand_num"].sum()))


def contribution(total: Totals, part: Totals) -> Contribution:
    """Attribution of the gap between ``total``'s golden and candidate to ``part``.

    ``part`` must be the sums over a subset of the leaves summed in ``total``.
    """
    if total.golden_den is None:
        gap = total.cand_num - total.golden_num
        share = _safe_div(part.cand_num - part.golden_num, gap)
        return Contribution(share, share, 0.0, None, None)
    G = ratio(total.golden_num, total.golden_den)
    C = ratio(total.cand_num, total.cand_den)
    gap = (C or 0.0) - (G or 0.0)

    def value(fix_num: bool, fix_den: bool) -> float:
        num = total.cand_num - (part.cand_num - part.golden_num) * fix_num
        den = total.cand_den - (part.cand_den - part.golden_den) * fix_den
        return ratio(num, den) or 0.0

    base, both = value(False, False), value(True, True)
    only_num, only_den = value(True, False), value(False, True)
    num_part = 0.5 * ((base - only_num) + (only_den - both))
    den_part = 0.5 * ((base - only_den) + (only_num - both))
    rate_effect, mix_effect = _rate_mix(total, part, G, C)
    return Contribution(_safe_div(num_part + den_part, gap), _safe_div(num_part, gap),
                        _safe_div(den_part, gap), rate_effect, mix_effect)


def slice_contribution(leaves: pd.DataFrame, slice_: SliceKey, *, kind: Kind | None = None) -> Contribution:
    """Counterfactual attribution of the global gap to one slice (see module doc)."""
    kind = kind or kind_of(leaves)
    check_leaves(leaves, list(slice_), kind)
    return contribution(totals(leaves), totals(leaves, slice_mask(leaves, slice_)))


def joint_share(leaves: pd.DataFrame, slices: list[SliceKey]) -> float:
    """Share of the gap that closes when every listed slice is fixed at once.

    Overlaps count once (the union of the slices is replaced by golden), so
    ``1 - joint_share`` is the exact unexplained remainder.
    """
    if not slices:
        return 0.0
    union = np.zeros(len(leaves), dtype=bool)
    for s in slices:
        union |= slice_mask(leaves, s)
    return contribution(totals(leaves), totals(leaves, union)).share_of_gap


def _rate_mix(total: Totals, part: Totals, G: float | None, C: float | None) -> tuple[float, float]:
    """Symmetric rate/mix split of this slice's term in ``C - G``.

    With traffic weights ``w = den_slice / den_total`` and in-slice rates
    ``r``: ``w_c r_c - w_g r_g = rate + mix`` where
    ``rate = (w_c + w_g)/2 * (r_c - r_g)`` and
    ``mix = ((r_c + r_g)/2 - (C + G)/2) * (w_c - w_g)``; the centring
    constant cancels over a partition because the weight changes sum to 0.
    """
    w_g = _safe_div(part.golden_den, total.golden_den)
    w_c = _safe_div(part.cand_den, total.cand_den)
    r_g, r_c = ratio(part.golden_num, part.golden_den), ratio(part.cand_num, part.cand_den)
    if r_g is None and r_c is None:
        r_g = r_c = 0.0
    elif r_g is None:  # slice absent in golden: its weight there is 0, any rate works
        r_g = r_c
    elif r_c is None:
        r_c = r_g
    centre = 0.5 * ((C or 0.0) + (G or 0.0))
    rate = 0.5 * (w_c + w_g) * (r_c - r_g)
    mix = (0.5 * (r_c + r_g) - centre) * (w_c - w_g)
    return rate, mix


def _safe_div(a: float, b: float | None) -> float:
    return 0.0 if not b else a / b


def _is_null(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA
