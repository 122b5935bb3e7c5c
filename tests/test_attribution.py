"""Exact gap attribution: additivity, counterfactual ratio shares, rate vs mix."""
from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from auditor.localize.attribution import joint_share, slice_contribution
from auditor.errors import InputError


def ratio_leaves(rows):
    return pd.DataFrame(rows, columns=["dev", "golden_num", "golden_den", "cand_num", "cand_den"])


leaf_values = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c", None]), st.integers(0, 500), st.integers(0, 500)),
    min_size=1, max_size=30)


@given(leaf_values)
def test_additive_contributions_over_a_partition_add_up_to_the_gap(rows):
    leaves = pd.DataFrame(rows, columns=["dev", "golden_num", "cand_num"])
    gap = leaves.cand_num.sum() - leaves.golden_num.sum()
    parts = [slice_contribution(leaves, {"dev": v}) for v in ["a", "b", "c", None]]
    if gap == 0:
        assert all(p.share_of_gap == 0 for p in parts)
    else:
        # deltas are integers here, so the shares sum to 1 up to float rounding only
        assert math.isclose(sum(p.share_of_gap for p in parts), 1.0, rel_tol=1e-12)
        for v, p in zip(["a", "b", "c", None], parts):
            sub = leaves[leaves.dev.isna()] if v is None else leaves[leaves.dev == v]
            assert p.share_of_gap * gap == pytest.approx(sub.cand_num.sum() - sub.golden_num.sum())


ratio_rows = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 50), st.integers(1, 200),
              st.integers(0, 50), st.integers(1, 200)),
    min_size=1, max_size=20)


@settings(max_examples=200)
@given(ratio_rows)
def test_ratio_partition_rate_and_mix_add_up_and_joint_fix_closes_the_gap(rows):
    rows = [(d, min(gn, gd), gd, min(cn, cd), cd) for d, gn, gd, cn, cd in rows]
    leaves = ratio_leaves(rows)
    G = leaves.golden_num.sum() / leaves.golden_den.sum()
    C = leaves.cand_num.sum() / leaves.cand_den.sum()
    parts = [slice_contribution(leaves, {"dev": v}) for v in "abc"]
    assert sum(p.rate_effect + p.mix_effect for p in parts) == pytest.approx(C - G, abs=1e-12)
    for p in parts:
        assert p.num_share + p.den_share == pytest.approx(p.share_of_gap, abs=1e-9)
    if not math.isclose(C, G, abs_tol=1e-12):
        assert joint_share(leaves, [{"dev": v} for v in "abc"]) == pytest.approx(1.0)


def test_ratio_slice_equal_to_golden_gets_zero_and_single_faulty_slice_gets_all():
    leaves = ratio_leaves([("a", 10, 100, 10, 100), ("b", 5, 200, 30, 200), ("c", 7, 70, 7, 70)])
    assert slice_contribution(leaves, {"dev": "a"}).share_of_gap == 0.0
    faulty = slice_contribution(leaves, {"dev": "b"})
    assert faulty.share_of_gap == pytest.approx(1.0)
    assert faulty.num_share == pytest.approx(1.0) and faulty.den_share == pytest.approx(0.0)


def test_denominator_only_fault_is_reported_as_denominator_share():
    # the candidate drops half the attempts of slice b but keeps its failures
    leaves = ratio_leaves([("a", 10, 100, 10, 100), ("b", 10, 100, 10, 50)])
    c = slice_contribution(leaves, {"dev": "b"})
    assert c.share_of_gap == pytest.approx(1.0)
    assert c.den_share == pytest.approx(1.0) and c.num_share == pytest.approx(0.0)


def test_simpsons_paradox_separates_mix_from_rate():
    # Textbook kidney-stone shape: the candidate's rate is better in every
    # slice, yet worse overall because traffic moved to the harder slice.
    leaves = ratio_leaves([
        ("small", 81, 87, 234, 270),
        ("large", 192, 263, 55, 80),
    ])
    # golden rates: small 0.931, large 0.730; candidate: small 0.867, large 0.688
    # -> both rates drop; overall golden 0.780 vs candidate 0.826 (it rises): pure mix.
    G = 273 / 350
    C = 289 / 350
    parts = {v: slice_contribution(leaves, {"dev": v}) for v in ("small", "large")}
    rate = sum(p.rate_effect for p in parts.values())
    mix = sum(p.mix_effect for p in parts.values())
    assert rate + mix == pytest.approx(C - G)
    assert C > G and rate < 0 < mix          # rates fell everywhere, the shift to 'small' lifted the total
    assert parts["small"].mix_effect > 0 and parts["large"].mix_effect > 0


def test_pure_traffic_shift_has_no_rate_effect():
    leaves = ratio_leaves([("a", 10, 100, 20, 200), ("b", 50, 100, 25, 50)])
    parts = [slice_contribution(leaves, {"dev": v}) for v in "ab"]
    assert all(p.rate_effect == pytest.approx(0.0) for p in parts)
    assert sum(p.mix_effect for p in parts) == pytest.approx(45 / 250 - 60 / 200)


def test_null_dimension_value_is_its_own_slice():
    leaves = pd.DataFrame({"dev": ["a", None, None], "golden_num": [5, 1, 2], "cand_num": [5, 4, 2]})
    assert slice_contribution(leaves, {"dev": None}).share_of_gap == pytest.approx(1.0)
    assert slice_contribution(leaves, {"dev": "a"}).share_of_gap == 0.0


def test_missing_column_is_a_user_error_naming_it():
    leaves = pd.DataFrame({"dev": ["a"], "golden_num": [1]})
    with pytest.raises(InputError, match="cand_num"):
        slice_contribution(leaves, {"dev": "a"})
    with pytest.raises(InputError, match="cdn"):
        slice_contribution(leaves.assign(cand_num=1), {"cdn": "x"})
