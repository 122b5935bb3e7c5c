"""The number-format policy (auditor.render.numbers) and the defects it fixed: units from the
metric catalogue (play_minutes in minutes, also in explanations and `auditor explain`), no
scientific notation, never ``null``, shares outside 0-100% explained, slices listed by their
contribution to the gap."""
from __future__ import annotations

import math
import re

import pyarrow.parquet as pq
import pytest
from hypothesis import given, strategies as st

from auditor.audit import run_audit
from auditor.config import load_config
from auditor.render import numbers
from candidates import bump, find_row
from conftest import run_cli, write_config


@pytest.mark.parametrize("value, text", [
    (0, "0"), (58.0, "58"), (1234567, "1,234,567"), (77284.37148, "77,284"), (2295.79, "2,296"),
    (3545.53, "3,546"), (41.5, "41.50"), (0.0910366, "0.09104"), (4.19748e-05, "0.00004197"),
    (-644.6557, "-644.7"), (16440824877000.0, "16,440,824,877,000"), (1e-20, "~0"),
    (None, "n/a"), (math.nan, "n/a"), (math.inf, "n/a"),
])
def test_plain_numbers(value, text):
    assert numbers.plain(value) == text


@pytest.mark.parametrize("value, unit, text", [
    (0.0910366, "ratio", "9.104%"), (2295.79, "ms", "2,296 ms"), (77284.37, "minutes", "77,284 min"),
    (3545.53, "kbps", "3,546 kbps"), (8944, "count", "8,944"), (None, "ratio", "n/a"),
])
def test_values_carry_their_catalogue_unit(value, unit, text):
    assert numbers.value(value, unit) == text


def test_differences_of_ratios_are_percentage_points_and_signed():
    assert numbers.delta(0.0074111, "ratio") == "+0.7411 pp"
    assert numbers.delta(-644.6557, "minutes") == "-644.7 min"
    assert numbers.signed(0) == "+0" and numbers.signed(None) == "n/a"
    assert numbers.pct(0.0814) == "8.14%" and numbers.pct(1.0) == "100%" and numbers.pct(None) == "n/a"


def test_shares_outside_0_100_are_explained():
    assert numbers.share_note(1.0, 0.0) is None and numbers.share_note(0.4, 0.6) is None
    note = numbers.share_note(6.48, -5.48)
    assert "opposite directions" in note and "648%" in note and "-548%" in note and "100%" in note
    assert numbers.gap_share_note(0.5) is None
    assert "offset 4,050%" in numbers.gap_share_note(41.5) and "4,150%" in numbers.gap_share_note(41.5)
    assert "against" in numbers.gap_share_note(-0.2)


def test_slice_text_never_says_null():
    assert numbers.slice_text({}) == "whole window"
    assert numbers.slice_text({"device": "firetv", "isp": None}) == "device=firetv & isp=(missing)"


@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**20, 10**20),
                 st.none()))
def test_no_scientific_notation_or_null_for_any_number(x):
    for text in (numbers.plain(x), numbers.signed(x), numbers.pct(x), numbers.value(x, "ratio"),
                 numbers.delta(x, "ms")):
        assert not re.search(r"\de[+-]?\d|[eE][+-]\d|null|nan|inf", text, re.IGNORECASE), text
        assert text == "n/a" or any(c.isdigit() for c in text)


@given(st.floats(min_value=-1e12, max_value=1e12, allow_nan=False).filter(lambda v: abs(v) >= 1e-6))
def test_plain_keeps_four_significant_digits(x):
    text = numbers.plain(x)
    back = float(text.replace(",", ""))
    assert math.isclose(back, x, rel_tol=5e-4), (x, text)


@pytest.fixture
def play_and_ebvs(workdir, golden_of):
    """batch loses play time and EBVS in one slice; a second slice gets a tiny 1-session change."""
    batch = golden_of(dims=("cdn", "device"))
    big = find_row(batch, cdn="fastly", device="roku")
    batch = bump(batch, "play_ms", big, -600_000)
    batch = bump(batch, "ebvs", big, 4)
    pq.write_table(batch, workdir / "batch.parquet")
    config = write_config(workdir, {"batch": {"path": "batch.parquet", "dimensions": ["cdn", "device"],
                                              "metrics": ["play_minutes", "ebvs_rate"]}})
    return config


def test_play_minutes_explanations_are_in_minutes(play_and_ebvs, capsys):
    result = run_audit(load_config(play_and_ebvs), ["2025-03-20T14:00:00Z/PT2H"])
    m = result.pipeline("batch").metric("play_minutes")
    top = m.explanations[0]
    assert top["slice"] == {"cdn": "fastly", "device": "roku"}
    # values in minutes (play_ms / 60000); numerator and denominator stay component sums
    assert top["golden_value"] == pytest.approx(top["golden_num"] / 60000)
    assert top["golden_value"] - top["candidate_value"] == pytest.approx(10.0)
    assert top["support"] == pytest.approx(max(top["golden_num"], top["cand_num"]) / 60000)
    code, out, _ = run_cli(capsys, "explain", "--config", str(play_and_ebvs), "--pipeline", "batch",
                           "--metric", "play_minutes", "--window", "2025-03-20T14:00:00Z/PT2H")
    assert code == 1
    assert "-10 min" in out and "(play_ms)" in out and "-600,000" in out
    assert f"{numbers.value(top['golden_value'], 'minutes')}" in out


def test_slices_are_listed_by_their_contribution_to_the_gap(workdir, golden_of):
    """The smallest slice gets the largest rate change but carries a quarter of the gap; the
    largest slice, which carries three quarters, is listed first."""
    batch = golden_of(dims=("cdn", "device"))
    rows = batch.to_pylist()
    big = max(range(len(rows)), key=lambda i: rows[i]["attempts"])
    tiny = min((i for i, r in enumerate(rows) if r["attempts"] and r["ebvs"] == 0),
               key=lambda i: rows[i]["attempts"])
    batch = bump(bump(batch, "ebvs", big, 9), "ebvs", tiny, 3)
    pq.write_table(batch, workdir / "batch.parquet")
    config = write_config(workdir, {"batch": {"path": "batch.parquet", "dimensions": ["cdn", "device"],
                                              "metrics": ["ebvs_rate"]}})
    m = run_audit(load_config(config), ["2025-03-20T14:00:00Z/PT2H"]).pipeline("batch").metric("ebvs_rate")
    first, second = m.slices[0], m.slices[1]
    assert abs(second.diff) > abs(first.diff), "the tiny slice has the larger rate change"
    assert first.share_of_gap > second.share_of_gap > 0
    assert first.share_of_gap == pytest.approx(0.75, abs=0.05)
