"""Tolerances: exact by default, opt-in absolute / relative / statistical, and the report
names the allowance that let a difference pass."""
from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, strategies as st

from auditor.tolerances import Tolerance, load_tolerance_rules, wilson_interval
from candidates import bump, find_row
from conftest import run_cli, write_config


def judge(tol, golden, candidate, support=None, differs=None):
    g, c = np.array(golden, float), np.array(candidate, float)
    d = ~np.isclose(g, c, rtol=0, atol=0) if differs is None else np.array(differs)
    s = np.full(len(g), np.nan) if support is None else np.array(support, float)
    return tol.judge(g, c, d, s)


def test_shipped_default_is_exact():
    rules = load_tolerance_rules()
    tol = rules.resolve("any", "ebvs_rate")
    assert tol.exact and tol.describe() == "exact"
    passes, _ = judge(tol, [0.1, 0.1, 5], [0.1, 0.1000000001, 5])
    assert passes.tolist() == [True, False, True]
    # equal values but a moved numerator and denominator still differ under exact
    passes, _ = judge(tol, [0.5], [0.5], differs=[True])
    assert passes.tolist() == [False]


def test_absolute_and_relative_name_the_rule_that_passed():
    tol = Tolerance(absolute=1.0, relative=0.1, origin="audit.yaml x")
    passes, by = judge(tol, [100, 100, 100, np.nan], [101, 109, 111, 3])
    assert passes.tolist() == [True, True, False, False]
    assert by[0] == "absolute 1 (audit.yaml x)" and by[1] == "relative 0.1 (audit.yaml x)"
    assert by[2] is None and by[3] is None      # null vs a value is never "close"


def test_statistical_rule_uses_the_pipelines_support_and_min_support():
    tol = Tolerance(confidence=0.99, min_support=100, origin="o")
    # golden 10%; a pipeline sampling n sessions sees 12%
    passes, by = judge(tol, [0.10, 0.10, 0.10], [0.12, 0.12, 0.12], support=[50, 400, 40_000])
    assert passes.tolist() == [True, True, False]
    assert by[0].startswith("statistical: support below 100")
    assert by[1].startswith("statistical: within Wilson 0.99")


@given(st.integers(1, 10_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
       st.sampled_from([0.8, 0.95, 0.99, 0.999]))
def test_wilson_interval_contains_the_rate_and_widens_with_confidence(kn, conf):
    k, n = kn
    p = np.array([k / n])
    lo, hi = wilson_interval(p, np.array([n]), conf)
    assert 0 - 1e-12 <= lo[0] <= p[0] + 1e-12 and p[0] - 1e-12 <= hi[0] <= 1 + 1e-12
    lo2, hi2 = wilson_interval(p, np.array([n]), min(0.9999, conf + 0.0005))
    assert lo2[0] <= lo[0] + 1e-12 and hi2[0] >= hi[0] - 1e-12


# Newcombe (1998), "Two-sided confidence intervals for the single proportion: comparison
# of seven methods", Statistics in Medicine 17:857-872, Table I, method 3 (Wilson score,
# no continuity correction), 95% intervals to four decimals.
NEWCOMBE_95 = [((81, 263), (0.2553, 0.3662)), ((15, 148), (0.0624, 0.1605)),
               ((0, 20), (0.0, 0.1611)), ((1, 29), (0.0061, 0.1718))]


@pytest.mark.parametrize("kn, expected", NEWCOMBE_95, ids=[f"{k}of{n}" for (k, n), _ in NEWCOMBE_95])
def test_wilson_interval_matches_published_values(kn, expected):
    k, n = kn
    lo, hi = wilson_interval(np.array([k / n]), np.array([n]), 0.95)
    assert (round(float(lo[0]), 4), round(float(hi[0]), 4)) == expected


# two-sided standard-normal quantiles as printed in statistical tables
Z_TABLE = {0.90: 1.6449, 0.95: 1.9600, 0.99: 2.5758, 0.999: 3.2905}


@pytest.mark.parametrize("confidence", sorted(Z_TABLE))
def test_wilson_interval_uses_the_two_sided_z_of_its_confidence(confidence):
    """Each Wilson bound solves (p - bound)^2 = z^2 bound (1 - bound) / n, z from the table."""
    k, n = 37, 400
    p = k / n
    lo, hi = wilson_interval(np.array([p]), np.array([n]), confidence)
    for bound in (float(lo[0]), float(hi[0])):
        z = abs(p - bound) / np.sqrt(bound * (1 - bound) / n)
        assert z == pytest.approx(Z_TABLE[confidence], abs=5e-5)


def test_report_says_which_tolerance_let_a_difference_pass(workdir, golden_of, capsys):
    g = golden_of()
    row = find_row(g, device="web")
    pq.write_table(bump(g, "play_ms", row, 7), workdir / "batch.parquet")
    spec = {"path": "batch.parquet", "metrics": ["play_minutes", "avg_bitrate_kbps"]}
    config = write_config(workdir, {"batch": spec})
    code, _, _ = run_cli(capsys, "run", "--config", str(config), "-q")
    assert code == 1                       # exact by default: 7 ms is a finding
    spec["tolerances"] = {"default": {"relative": 0.001}}
    config = write_config(workdir, {"batch": spec})
    code, out, _ = run_cli(capsys, "run", "--config", str(config), "--json", "-q")
    assert code == 0
    for m in json.loads(out)["pipelines"][0]["metrics"]:
        assert m["status"] == "pass" and m["abs_diff"] > 0
        assert m["passed_by"] == "relative 0.001 (audit.yaml pipelines.batch.tolerances.default)"
        assert m["tolerance"]["rule"] == "relative 0.001"
        assert m["slices"][0]["status"] == "pass" and m["slices"][0]["passed_by"].startswith("relative")
