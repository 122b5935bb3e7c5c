"""The two judges of the data-quality counts (auditor.quality.judges) give the same verdicts.

``auditor run`` judges with the builtin rules and ``auditor quality`` with Great
Expectations by default; these properties are what make having both safe: on random
rates and thresholds (equal ones, 0, 1, neighbouring floats) and random column/type
contracts (missing, null, wrong and right types) every verdict is the same, and is
the documented rule (rate <= threshold; column present with exactly its type).
"""
from __future__ import annotations

import math

import pytest
from hypothesis import example, given, settings, strategies as st

from auditor.errors import ConfigError
from auditor.quality.judges import (BUILTIN, BUILTIN_VERSION, ENGINES, GREAT_EXPECTATIONS, check_engine,
                                    engine_version, judge_columns, judge_rates)
from auditor.quality.outcome import MISSING
from auditor.quality.rules import CHECKS

SETTINGS = settings(max_examples=60, deadline=None)
TYPES = ("BIGINT", "BOOLEAN", "VARCHAR", "DOUBLE", "TIMESTAMP", "INTEGER", "BIGINT[]")
COLUMNS = ("event_id", "session_id", "seq", "ts", "event_type", "received_at", "fatal", "end_reason",
           "bitrate_kbps", "cdn", "device", "player version", "país")

unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
fraction = st.integers(1, 10**8).flatmap(lambda n: st.integers(0, n).map(lambda k: k / n))
rates = st.one_of(st.sampled_from([0.0, 1.0]), unit, fraction)


@st.composite
def rate_and_threshold(draw) -> tuple[float, float]:
    rate = draw(rates)
    how = draw(st.sampled_from(["equal", "below", "above", "any"]))
    if how == "equal":
        return rate, rate
    if how == "below":      # the largest float under the rate: fails by one ulp
        return rate, max(0.0, math.nextafter(rate, 0.0))
    if how == "above":
        return rate, min(1.0, math.nextafter(rate, 1.0))
    return rate, draw(st.one_of(st.sampled_from([0.0, 1.0]), unit))


checks = st.dictionaries(st.sampled_from(list(CHECKS)), rate_and_threshold(), min_size=1, max_size=len(CHECKS))


@st.composite
def column_contracts(draw) -> tuple[dict[str, str | None], dict[str, str]]:
    names = draw(st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=len(COLUMNS), unique=True))
    expected = {c: draw(st.sampled_from(TYPES[:5])) for c in names}
    actual: dict[str, str | None] = {}
    for c in names:
        state = draw(st.sampled_from(["missing", "null", "empty", "right", "wrong"]))
        if state == "right":
            actual[c] = expected[c]
        elif state == "wrong":
            actual[c] = draw(st.sampled_from([t for t in TYPES if t != expected[c]]))
        elif state != "missing":
            actual[c] = None if state == "null" else ""
    actual.update({f"extra_{i}": t for i, t in enumerate(draw(st.lists(st.sampled_from(TYPES), max_size=3)))})
    return actual, expected


@SETTINGS
@given(checks)
@example({"late_events": (0.0, 0.0), "clock_ahead": (1.0, 1.0), "duplicate_events": (0.05, 0.05),
          "orphan_sessions": (1.0, 0.0), "null_keys": (0.0, 1.0), "seq_not_unique": (1 / 3, 1 / 3)})
def test_both_judges_give_the_same_rate_verdicts(pairs):
    observed = {n: r for n, (r, _) in pairs.items()}
    thresholds = {n: t for n, (_, t) in pairs.items()}
    builtin = judge_rates(BUILTIN, observed, thresholds)
    gx = judge_rates(GREAT_EXPECTATIONS, observed, thresholds)
    assert set(builtin) == set(gx) == set(pairs)
    for name, (rate, threshold) in pairs.items():
        assert builtin[name].success == gx[name].success == (rate <= threshold), (name, rate, threshold)
        assert builtin[name].observed == gx[name].observed == rate


@SETTINGS
@given(column_contracts())
@example(({"ts": "BIGINT", "seq": "INTEGER", "fatal": None}, {"ts": "BIGINT", "seq": "BIGINT",
                                                               "fatal": "BOOLEAN", "cdn": "VARCHAR"}))
def test_both_judges_give_the_same_column_verdicts(contract):
    actual, expected = contract
    builtin = judge_columns(BUILTIN, actual, expected)
    gx = judge_columns(GREAT_EXPECTATIONS, actual, expected)
    assert set(builtin) == set(gx) == set(expected)
    for column, wanted in expected.items():
        present_and_right = actual.get(column) == wanted
        assert builtin[column].success == gx[column].success == present_and_right, (column, actual, wanted)
        assert builtin[column].observed == gx[column].observed == (actual.get(column) or MISSING)
        assert builtin[column].details == gx[column].details == {"expected": wanted}


def test_engine_names_and_versions():
    assert ENGINES == ("builtin", "great_expectations")
    assert engine_version(BUILTIN) == BUILTIN_VERSION == "auditor builtin"
    assert engine_version(GREAT_EXPECTATIONS).startswith("great_expectations 1.")


@pytest.mark.parametrize("call", [lambda e: check_engine(e), lambda e: engine_version(e),
                                  lambda e: judge_rates(e, {"a": 0.0}, {"a": 0.0}),
                                  lambda e: judge_columns(e, {}, {"a": "BIGINT"})])
def test_an_unknown_engine_is_a_config_error_naming_the_engines(call):
    with pytest.raises(ConfigError) as exc:
        call("gx")
    assert exc.value.key == "engine" and "'gx'" in exc.value.message
    assert "builtin" in exc.value.hint and "great_expectations" in exc.value.hint
