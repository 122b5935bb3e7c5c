"""The parent-slice rule: the most general slice that explains a gap as well as its children.

A fault in one CDN rarely hits every kind of session alike: it may show up
strongly in on-demand sessions and weakly in live ones. A search that
prefers dense slices then lists ``cdn=X & content_type=vod`` (96%) and
perhaps a second slice for the rest, where the fault is simply ``cdn=X``
(100%). After any search, :func:`prefer_parents` replaces listed slices by
a slice that contains them (a *parent*: a sub-conjunction of a listed
slice, or a listed slice that contains others) when

1. the parent explains the gap **as well as** the slices it replaces
   together: with the other listed slices kept, the unexplained remainder
   ``|1 - joint share|`` grows by less than ``min_gain``; and
2. the deviation inside the parent is **not confined to one child**: for
   every dimension the parent drops, no single value holds ``1 - min_gain``
   or more of the parent's deviation while holding at least ``min_gain``
   less of its traffic. This is what keeps a fault of
   ``device=firetv & player_version=4.0`` from being called ``device=firetv``
   (which explains the gap just as well, since the other Fire TV sessions do
   not deviate): all of ``device=firetv``'s deviation sits in one child.

Deviation and traffic are measured per leaf (:func:`_masses`): for counts
``|cand - golden|`` and ``max(|golden|, |cand|)``; for ratios the numerator in
excess of golden's own rate at the candidate's traffic and the larger
denominator, so traffic that moves without changing the rate is not a
deviation. Leaves already explained by the other listed slices are left out. Among the parents that qualify the most general (fewest dimensions)
wins, then the smaller remainder, then the smaller traffic. Once a parent is
listed, other listed slices that overlap it and lower the remainder by less
than ``min_gain`` are dropped (their deviation is the parent's). The rule
repeats until nothing changes, so a chain of children collapses into the
one parent.
"""
from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from auditor.localize.attribution import joint_share, slice_mask

Slice = dict[str, Any]


def prefer_parents(table: pd.DataFrame, found: list[tuple[Slice, float]], min_gain: float
                   ) -> list[tuple[Slice, float]]:
    """``found`` (slice, confidence) with children replaced by their parent where the rule holds.

    ``table`` is the leaf table the slices were found on (dimension columns plus
    ``golden_num``/``cand_num`` and, for ratios, ``golden_den``/``cand_den``).
    A parent takes the lowest confidence of the slices it replaces; its rank
    is the rank of the first of them.
    """
    if not found:
        return found
    dev, traffic = _masses(table)
    masks: dict[frozenset, np.ndarray] = {}

    def mask(key: frozenset) -> np.ndarray:
        if key not in masks:
            masks[key] = slice_mask(table, dict(key))
        return masks[key]

    slices = [frozenset(s.items()) for s, _ in found]
    conf = {frozenset(s.items()): c for s, c in found}
    while len(slices) >= 1:
        now = abs(1.0 - joint_share(table, [dict(s) for s in slices]))
        best = None
        for parent in _candidates(slices):
            covered = [s for s in slices if parent <= s]
            if covered == [parent]:
                continue
            rest = [s for s in slices if not parent <= s]
            after = abs(1.0 - joint_share(table, [dict(parent)] + [dict(s) for s in rest]))
            if after > now + min_gain:
                continue
            outside = np.zeros(len(table), dtype=bool)
            for s in rest:
                outside |= mask(s)
            inside = mask(parent) & ~outside
            dropped = {d for s in covered for d, _ in s} - {d for d, _ in parent}
            if _confined(table, inside, dropped, dev, traffic, min_gain):
                continue
            rank = (len(parent), round(after, 12), float(traffic[inside].sum()),
                    sorted(map(str, parent)))
            if best is None or rank < best[0]:
                best = (rank, parent, covered)
        if best is None:
            break
        _, parent, covered = best
        conf[parent] = min(conf[s] for s in covered)
        first = min(slices.index(s) for s in covered)
        kept = [s for s in slices if s not in covered]
        kept.insert(min(first, len(kept)), parent)
        slices = _drop_redundant(table, kept, parent, mask, dev, min_gain)
    return [(dict(sorted(s, key=lambda kv: list(table.columns).index(kv[0]))), conf[s]) for s in slices]


def _drop_redundant(table: pd.DataFrame, slices: list[frozenset], parent: frozenset, mask, dev: np.ndarray,
                    min_gain: float) -> list[frozenset]:
    """Drop listed slices whose deviation the new parent already holds: a slice that overlaps
    the parent and, once the parent is listed, lowers the remainder by less than ``min_gain``."""
    kept = list(slices)
    for s in [s for s in slices if s != parent]:
        if not float(dev[mask(s) & mask(parent)].sum()) > 0:
            continue
        without = [k for k in kept if k != s]
        with_it = abs(1.0 - joint_share(table, [dict(k) for k in kept]))
        if abs(1.0 - joint_share(table, [dict(k) for k in without])) < with_it + min_gain:
            kept = without
    return kept


def _candidates(slices: list[frozenset]) -> list[frozenset]:
    """Every non-empty sub-conjunction of a listed slice (the slice itself included)."""
    out: set[frozenset] = set()
    for s in slices:
        items = sorted(s, key=str)
        for depth in range(1, len(items) + 1):
            out.update(frozenset(c) for c in combinations(items, depth))
    return sorted(out, key=lambda p: (len(p), sorted(map(str, p))))


def _masses(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per-leaf deviation and traffic mass, relative to their totals.

    Additive metrics: ``|cand - golden|`` and ``max(|golden|, |cand|)``. Ratios: the
    numerator in excess of golden's own rate at the candidate's traffic,
    ``|cand_num - cand_den * golden_num / golden_den|`` (a leaf golden never saw:
    ``|cand_num - golden_num|``), and ``max(golden_den, cand_den)``: traffic that
    moves without changing the rate is not a deviation of the metric.
    """
    g, c = table["golden_num"].to_numpy(dtype=float), table["cand_num"].to_numpy(dtype=float)
    if "golden_den" in table:
        g_den, c_den = table["golden_den"].to_numpy(dtype=float), table["cand_den"].to_numpy(dtype=float)
        rate = np.divide(g, g_den, out=np.zeros_like(g), where=g_den != 0)
        dev = np.where(g_den != 0, np.abs(c - c_den * rate), np.abs(c - g))
        traffic = np.maximum(np.abs(g_den), np.abs(c_den))
    else:
        dev, traffic = np.abs(c - g), np.maximum(np.abs(g), np.abs(c))
    return _share(dev), _share(traffic)


def _share(x: np.ndarray) -> np.ndarray:
    total = x.sum()
    return x / total if total > 0 else x


def _confined(table: pd.DataFrame, inside: np.ndarray, dropped: set[str], dev: np.ndarray,
              traffic: np.ndarray, min_gain: float) -> bool:
    """True when one value of a dropped dimension holds (nearly) all of the parent's deviation
    but clearly less of its traffic: the deviation belongs to that child, not to the parent."""
    total_dev, total_traffic = float(dev[inside].sum()), float(traffic[inside].sum())
    if total_dev <= 0:
        return True
    for dim in sorted(dropped):
        values = table.loc[inside, dim]
        codes, _ = pd.factorize(values, use_na_sentinel=False)
        dev_share = np.bincount(codes, weights=dev[inside]) / total_dev
        traffic_share = np.bincount(codes, weights=traffic[inside]) / total_traffic \
            if total_traffic > 0 else np.zeros_like(dev_share)
        top = int(np.argmax(dev_share))
        if dev_share[top] >= 1.0 - min_gain and dev_share[top] - traffic_share[top] >= min_gain:
            return True
    return False
