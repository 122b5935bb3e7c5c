"""The parent-slice rule (auditor/localize/parents.py): a fault is named by the most general
slice that explains the gap as well as its children together, never by a child where its
effect happens to be strongest, and never widened past the slice its deviation is confined to."""
from __future__ import annotations

from itertools import product

import numpy as np
import pandas as pd
import pytest

from auditor.golden import calculator as golden
from auditor.localize import localize
from auditor.synth.faults import parse_fault
from auditor.synth.generate import generate_events
from auditor.synth.simulate import PUBLISHED_DIMS, simulate

DIMS = list(PUBLISHED_DIMS)


def _rebuffering_leaves(golden_sessions, published) -> pd.DataFrame:
    """rebuffering_ratio (stall_ms / (play_ms + stall_ms), rules/metrics.yaml) per published slice."""
    cols = ["stall_ms", "play_ms"]
    g = golden.aggregate_sessions(golden_sessions, DIMS).to_pandas().groupby(DIMS, dropna=False)[cols].sum()
    c = published.aggregates.to_pandas().groupby(DIMS, dropna=False)[cols].sum()
    both = g.merge(c, how="outer", left_index=True, right_index=True,
                   suffixes=("", "_c")).fillna(0).reset_index()
    leaves = both[DIMS].copy()
    leaves["golden_num"], leaves["cand_num"] = both["stall_ms"], both["stall_ms_c"]
    leaves["golden_den"] = both["play_ms"] + both["stall_ms"]
    leaves["cand_den"] = both["play_ms_c"] + both["stall_ms_c"]
    return leaves


@pytest.fixture(scope="module")
def watermark_on_one_cdn():
    # a streaming watermark on akamai's ingestion path: late tails are lost, and they are
    # much likelier on mobile devices and in long on-demand sessions, so the effect on
    # rebuffering differs a lot between akamai's live and VOD sessions
    fault = parse_fault("streaming/late_events_dropped:cdn=akamai:60")
    base, published = simulate(generate_events(3000, 21), [fault])
    return _rebuffering_leaves(base.sessions, published["streaming"])


def _ratio_change(leaves: pd.DataFrame, mask) -> float:
    part = leaves[mask]
    g = part["golden_num"].sum() / part["golden_den"].sum()
    return part["cand_num"].sum() / part["cand_den"].sum() - g


def test_generated_fault_uneven_between_children_is_named_by_the_injected_slice(watermark_on_one_cdn):
    leaves = watermark_on_one_cdn
    akamai = leaves["cdn"] == "akamai"
    # the premise: the children of the injected slice are hit very differently
    vod = _ratio_change(leaves, akamai & (leaves["content_type"] == "vod"))
    live = _ratio_change(leaves, akamai & (leaves["content_type"] == "live"))
    assert vod != 0 and live != 0 and abs(vod) > 1.5 * abs(live)
    assert _ratio_change(leaves, ~akamai) == 0

    result = localize(leaves, DIMS, kind="ratio")
    assert [e.slice for e in result.explanations] == [{"cdn": "akamai"}]
    assert result.explanations[0].share_of_gap == pytest.approx(1.0)
    assert result.unexplained_share == pytest.approx(0.0, abs=1e-9)

    # without the rule the search names the child where the damage concentrates, plus fragments
    without = localize(leaves, DIMS, kind="ratio", parent_rule=False)
    assert without.explanations[0].slice == {"cdn": "akamai", "content_type": "vod"}
    assert without.explanations[0].share_of_gap < 0.99
    assert len(without.explanations) > 1


def _cube(seed: int = 0) -> pd.DataFrame:
    sizes = {"cdn": 4, "device": 6, "content_type": 2, "country": 8}
    rng = np.random.default_rng(seed)
    leaves = pd.DataFrame(list(product(*[[f"{d}{i}" for i in range(n)] for d, n in sizes.items()])),
                          columns=list(sizes))
    attempts = rng.integers(50, 400, len(leaves)).astype(float)
    return leaves.assign(golden_num=attempts, cand_num=attempts.copy())


@pytest.mark.parametrize("method", ["cover", "greedy"])
def test_children_hit_unevenly_collapse_into_their_parent(method):
    leaves = _cube(1)
    in_cdn = leaves["cdn"] == "cdn1"
    vod = in_cdn & (leaves["content_type"] == "content_type1")
    live = in_cdn & (leaves["content_type"] == "content_type0")
    leaves.loc[vod, "cand_num"] = np.floor(leaves.loc[vod, "golden_num"] * 0.6)
    leaves.loc[live, "cand_num"] = np.floor(leaves.loc[live, "golden_num"] * 0.95)
    result = localize(leaves, list(leaves.columns[:4]), kind="additive", method=method)
    assert [e.key() for e in result.explanations] == ["cdn=cdn1"]
    assert result.unexplained_share == pytest.approx(0.0)


def test_a_fault_confined_to_one_child_is_not_widened():
    # cdn1 explains this gap exactly as well as cdn1 & content_type1 (no other cdn1 leaf
    # deviates), but all of its deviation sits in one child: the child is the answer
    leaves = _cube(2)
    hit = (leaves["cdn"] == "cdn1") & (leaves["content_type"] == "content_type1")
    leaves.loc[hit, "cand_num"] = np.floor(leaves.loc[hit, "golden_num"] * 0.7)
    result = localize(leaves, list(leaves.columns[:4]), kind="additive")
    assert [e.key() for e in result.explanations] == ["cdn=cdn1&content_type=content_type1"]


def test_two_separate_faults_are_not_merged_into_the_whole():
    leaves = _cube(3)
    for where, factor in (({"cdn": "cdn0"}, 0.5), ({"country": "country3"}, 1.4)):
        mask = np.logical_and.reduce([leaves[d] == v for d, v in where.items()])
        leaves.loc[mask, "cand_num"] = np.floor(leaves.loc[mask, "golden_num"] * factor)
    result = localize(leaves, list(leaves.columns[:4]), kind="additive")
    assert {e.key() for e in result.explanations} == {"cdn=cdn0", "country=country3"}
