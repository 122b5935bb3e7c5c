"""Cover search: root-cause slices for an exact golden (docs/localization.md).

With an exact golden every leaf whose candidate differs from golden is a real
discrepancy, and a real fault rarely hits every session of its slice alike
(a parser drops 20% of one SDK's payloads; a watermark only catches the late
ones). Fitting "candidate = golden x factor" per slice then prefers the
children where the damage happens to concentrate. The cover search instead
asks which few slices contain the deviation, and how little traffic they need
to do it:

- each leaf carries its deviation mass |cand - golden| (per channel,
  relative to the channel's total) and its traffic mass (its share of the
  larger of golden and candidate);
- greedily, the slice with the best ``covered deviation / (alpha + traffic)``
  is taken and its leaves' deviation is marked explained; ``alpha`` is the
  price of one more listed slice, so a parent that contains all of a fault
  beats a child that contains part of it with a little less traffic, while an
  overall slice that covers everything with all the traffic loses to the
  specific one;
- the chosen slice is then widened to a slice that contains it (its
  ancestors, and slices on dimensions its leaves share, e.g. the device of a
  player version only that device runs) when the wider slice holds at least
  ``min_gain`` more deviation and either costs at most ``alpha`` more
  traffic, or the chosen slice is not significantly denser in deviating
  leaves than the wider one: with k deviating leaves in the wider slice and
  a traffic share p for the chosen one, the chosen slice's count is within
  ``WIDEN_Z`` binomial standard deviations of k*p. A fault that hits a random
  share of its slice's sessions leaves lumpy damage when sessions are few;
  without this the search names the child where the damage happened to
  concentrate and lists the rest of the fault as further slices;
- a slice is visited only if it covers at least ``min_gain`` of the
  deviation still unexplained, and coverage only shrinks from parent to
  child, so only cuboids whose parents have such slices are enumerated.
Ties go to the shallower slice, then the larger coverage.
"""
from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np

from auditor.localize.risk import slice_keys

DEFAULT_ALPHA = 0.05
WIDEN_Z = 3.0          # how much denser the chosen slice must be to stay narrower


class CoverSearch:
    def __init__(self, codes: np.ndarray, golden: np.ndarray, cand: np.ndarray,
                 dims: list[str], values: list[list[Any]], alpha: float = DEFAULT_ALPHA) -> None:
        self.codes, self.dims, self.values, self.alpha = codes, dims, values, alpha
        scale = np.maximum(np.abs(golden).sum(axis=1), np.abs(cand).sum(axis=1))
        weight = np.where(scale > 0, 1.0 / np.where(scale > 0, scale, 1.0), 0.0)[:, None]
        dev = (weight * np.abs(cand - golden)).sum(axis=0)
        traffic = (weight * np.maximum(np.abs(golden), np.abs(cand))).sum(axis=0)
        self.dev = dev / dev.sum() if dev.sum() > 0 else dev
        self.traffic = traffic / traffic.sum() if traffic.sum() > 0 else traffic

    def run(self, max_depth: int, max_results: int, min_gain: float) -> list[tuple[dict, float]]:
        remaining = self.dev.copy()
        found: list[tuple[dict, float]] = []
        while len(found) < max_results and remaining.sum() >= min_gain and remaining.sum() > 0:
            best = self._best(remaining, max_depth, min_gain)
            if best is None:
                break
            while True:  # widen step by step: each step tests against the slice it grew from
                wider = self._widen(*best, remaining, min_gain, max_depth)
                if wider[0] == best[0]:
                    break
                best = wider
            cuboid, element, members, covered = best
            found.append(({self.dims[d]: self.values[d][v] for d, v in zip(cuboid, element)}, 1.0))
            remaining[members] = 0.0
        return found

    def _widen(self, cuboid, element, members, covered, remaining, min_gain, max_depth):
        """The wider slice that the fault really fills, if any (see above)."""
        traffic = float(self.traffic[members].sum())
        deviating = remaining > 0
        k_chosen = int(deviating[members].sum())
        best = (cuboid, element, members, covered)
        best_key = (covered, -len(cuboid))
        first = self.codes[members[0]]
        shared = [d for d in range(self.codes.shape[1]) if np.all(self.codes[members, d] == first[d])]
        for depth in range(1, min(max_depth, len(shared)) + 1):
            for sub in combinations(shared, depth):
                if sub == tuple(cuboid):
                    continue
                sub_element = tuple(int(first[d]) for d in sub)
                inside = np.flatnonzero(np.all(self.codes[:, list(sub)] == sub_element, axis=1))
                cov = float(remaining[inside].sum())
                extra_traffic = float(self.traffic[inside].sum()) - traffic
                extra = cov - covered
                if extra < min_gain or (cov, -depth) <= best_key:
                    continue
                k = int(deviating[inside].sum())
                share = traffic / (traffic + extra_traffic) if extra_traffic > 0 else 1.0
                spread = (k * share * (1 - share)) ** 0.5
                uniform = spread > 0 and (k_chosen - k * share) / spread < WIDEN_Z
                if extra_traffic <= self.alpha or uniform:
                    best, best_key = (sub, sub_element, inside, cov), (cov, -depth)
        return best

    def _best(self, remaining: np.ndarray, max_depth: int, min_gain: float):
        abnormal = np.flatnonzero(remaining > 0)
        best, best_key = None, None
        frequent: set[tuple[int, ...]] = set()
        for depth in range(1, max_depth + 1):
            for cuboid in combinations(range(self.codes.shape[1]), depth):
                if depth > 1 and any(tuple(d for d in cuboid if d != drop) not in frequent
                                     for drop in cuboid):
                    continue
                cols = list(cuboid)
                keys = slice_keys(self.codes[:, cols])
                uniq, inv = np.unique(keys[abnormal], return_inverse=True)
                covered = np.bincount(inv, weights=remaining[abnormal], minlength=len(uniq))
                ok = covered >= min_gain
                if not ok.any():
                    continue
                frequent.add(cuboid)
                cand_keys, cand_cov = uniq[ok], covered[ok]
                in_cand = np.isin(keys, cand_keys)
                pos = np.searchsorted(cand_keys, keys[in_cand])
                traffic = np.bincount(pos, weights=self.traffic[in_cand], minlength=len(cand_keys))
                score = cand_cov / (self.alpha + traffic)
                top = int(np.argmax(score))
                rank = (round(float(score[top]), 12), -depth, float(cand_cov[top]))
                if best_key is None or rank > best_key:
                    members = np.flatnonzero(keys == cand_keys[top])
                    element = tuple(int(c) for c in self.codes[members[0], cols])
                    best, best_key = (cuboid, element, members, float(cand_cov[top])), rank
        return best
