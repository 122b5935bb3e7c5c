"""Differential tests: the SQL golden calculator against the plain-Python reference
(tests/reference.py) on hypothesis-generated raw events, plus the invariants of
docs/definitions.md#outcomes and docs/definitions.md#canonical-aggregate. Each example
batches several sessions into one SQL call."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import reference
from auditor.golden.calculator import compute_golden, connect
from golden_support import events_table, golden_options, iso_to_ms, sql_aggregates, sql_sessions

BASE = iso_to_ms("2025-03-20T14:58:00Z")  # sessions straddle the 15:00 window boundary
DIMS = ("cdn", "device")
# weighted towards the types that change state; unknown and null types included
TYPES = st.sampled_from(
    ["attempt"] * 2 + ["first_frame"] * 3 + ["stall_start", "stall_end", "heartbeat"] * 3
    + ["ad_start", "ad_end", "seek_start", "seek_end", "pause", "resume", "bitrate_change"] * 2
    + ["error", "end", "custom_beacon", "Attempt", None])
# time steps: ties, small steps, gaps beyond a 30 s timeout, backwards clock jumps
STEPS = st.sampled_from([0, 1, 500, 1000, 1000, 2500, 2500, 7000, 7000, 31000, 45000,
                         -3000, -60000])
SETTINGS = settings(max_examples=100, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

OPTIONS = st.builds(
    reference.Options,
    start_anchor=st.sampled_from(["content_frame", "any_frame"]),
    attribution=st.sampled_from(["session_start", "session_end"]),
    inactivity_timeout_ms=st.sampled_from([None, None, 1000, 30000]),
    ebvs_min_wait_ms=st.sampled_from([0, 0, 2000]),
)


@st.composite
def session_events(draw, session_id: str) -> list[dict]:
    """One session's delivered rows: duplicates (also differing copies), seq ties and
    resets, clock jumps, null fatal, null dims, unknown types, rows missing keys."""
    n = draw(st.integers(0, 14))
    cdn = draw(st.sampled_from(["c1", "c2", None]))
    device = draw(st.sampled_from(["web", "tv"]))
    ts = BASE + draw(st.integers(0, 240_000))
    seq = 0
    rows: list[dict] = []
    for i in range(n):
        ts += draw(STEPS)
        seq += draw(st.sampled_from([1] * 8 + [0, 2, -5]))  # ties, gaps and resets
        kind = "attempt" if i == 0 and draw(st.integers(0, 4)) else draw(TYPES)
        row = {
            "session_id": session_id,
            "event_id": f"e{i}" if draw(st.integers(0, 9)) else draw(st.sampled_from(["e0", "E", "é"])),
            "seq": seq, "ts": ts,
            "received_at": draw(st.sampled_from([ts + 200, ts + 5000, ts - 10, None])),
            "event_type": kind,
            "bitrate_kbps": draw(st.sampled_from([None, None, 0, -1, 800, 3000])),
            "fatal": draw(st.sampled_from([True, False, None])) if kind == "error"
            else draw(st.sampled_from([None, None, None, True])),
            # dims repeat on every event, sometimes differing from the attempt's
            "cdn": cdn if draw(st.booleans()) or i == 0 else draw(st.sampled_from(["c3", None])),
            "device": device,
        }
        if draw(st.integers(0, 30)) == 0:  # a row missing a key column
            row[draw(st.sampled_from(["seq", "ts", "event_id", "session_id"]))] = None
        rows.append(row)
        while rows and draw(st.integers(0, 7)) == 0:  # a redelivered copy
            copy = dict(draw(st.sampled_from(rows)))
            change = draw(st.sampled_from(["received_at", "received_at", "none", "ts", "seq",
                                           "event_type", "bitrate_kbps", "fatal", "cdn"]))
            if change == "received_at":
                copy["received_at"] = draw(st.sampled_from([None, BASE, BASE + 10**7]))
            elif change in ("ts", "seq"):
                copy[change] = (copy[change] or 0) + draw(st.sampled_from([-1, 1, 40_000]))
            elif change == "event_type":
                copy["event_type"] = draw(TYPES)
            elif change == "bitrate_kbps":
                copy["bitrate_kbps"] = draw(st.sampled_from([None, 1, 5000]))
            elif change == "fatal":
                copy["fatal"] = draw(st.sampled_from([True, False, None]))
            elif change == "cdn":
                copy["cdn"] = draw(st.sampled_from(["c0", "c9", None]))
            rows.append(copy)
    return rows


@st.composite
def event_batches(draw) -> list[dict]:
    """Several sessions, their rows interleaved in arbitrary file order."""
    ids = draw(st.lists(st.sampled_from(["s0", "s1", "s2", "s3", "s4", "s5", "sé"]),
                        min_size=1, max_size=6, unique=True))
    rows = [row for sid in ids for row in draw(session_events(sid))]
    return draw(st.permutations(rows))


@pytest.fixture(scope="module")
def con():
    connection = connect(threads=2)
    yield connection
    connection.close()


def facts_of(sessions: list[dict], options: reference.Options) -> list[str]:
    facts = list(reference.FACTS)
    if options.ebvs_min_wait_ms:
        facts.append("ebvs_short")
    return facts


@SETTINGS
@given(rows=event_batches(), options=OPTIONS, window_minutes=st.sampled_from([1, 5, 60]),
       only_window=st.one_of(st.none(), st.integers(-1, 6)), bucket_rows=st.integers(5, 50))
def test_sql_agrees_with_reference(con, rows, options, window_minutes, only_window, bucket_rows):
    """``bucket_rows`` small enough that inputs of more than twice it take the bucketed path
    (docs/golden.md: sessions split into buckets by key), so the bucketed stages meet the
    same adversarial sessions as the one-pass ones."""
    event(f"bucketed: {len(rows) > 2 * bucket_rows}")
    window_ms = window_minutes * 60_000
    start_ms = None if only_window is None else (BASE // window_ms + only_window) * window_ms
    result = compute_golden(
        events_table(rows, DIMS), dims=DIMS, window_minutes=window_minutes,
        window_start=None if start_ms is None else datetime.fromtimestamp(start_ms / 1000, timezone.utc),
        options=golden_options(options), with_sessions=True, con=con, bucket_rows=bucket_rows)
    expected = reference.compute_sessions(
        rows, DIMS, window_minutes, options, window_from_ms=start_ms,
        window_to_ms=None if start_ms is None else start_ms + window_ms)
    assert sql_sessions(result) == expected
    assert sql_aggregates(result) == reference.aggregate(expected, DIMS)

    # docs/definitions.md#outcomes: the outcomes are mutually exclusive and complete
    for s in expected:
        outcomes = s["started"] + s["vsf"] + s["ebvs"] + s.get("ebvs_short", 0)
        assert s["attempt"] == outcomes == 1
        assert s["vpf"] <= s["started"]
        assert min(s[f] for f in facts_of(expected, options)) >= 0


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=event_batches(), options=OPTIONS)
def test_totals_equal_across_any_grouping(con, rows, options):
    """docs/definitions.md#canonical-aggregate: components are additive, so every grouping has
    the same totals."""
    table = events_table(rows, DIMS)
    totals = []
    for dims in [(), ("cdn",), ("device", "cdn")]:
        result = compute_golden(table, dims=dims, window_minutes=60 * 24,
                                options=golden_options(options), con=con)
        agg = result.aggregates
        totals.append({c: sum(agg.column(c).to_pylist()) for c in result.components})
        if dims:
            keys = list(zip(*(agg.column(c).to_pylist() for c in ["window_start", *dims])))
            assert len(keys) == len(set(keys)), "one aggregate row per window and slice"
    assert all(t == totals[0] for t in totals)
    assert totals[0]["attempts"] == (totals[0]["plays"] + totals[0]["vsf"] + totals[0]["ebvs"]
                                     + totals[0].get("ebvs_short", 0))


def _rows_of(table) -> list[dict]:
    rows = table.to_pylist()
    for row in rows:
        for col in ("ts", "received_at"):
            if row[col] is not None:
                row[col] = iso_to_ms(row[col].isoformat())
    return rows


@pytest.mark.parametrize("options", [
    reference.Options(),
    reference.Options(start_anchor="any_frame", attribution="session_end",
                      inactivity_timeout_ms=30_000, ebvs_min_wait_ms=2_000),
], ids=["defaults", "all_options"])
def test_sql_agrees_with_reference_on_generated_traffic(con, options):
    """Realistic sessions from the project's traffic generator (pre-rolls, seeks, stalls,
    late and duplicated deliveries, every default dimension), not only random ones."""
    from auditor.golden.events import DEFAULT_DIMS
    from auditor.synth.generate import generate_events

    table = generate_events(1000, 11)
    result = compute_golden(table, dims=DEFAULT_DIMS, window_minutes=5,
                            options=golden_options(options), with_sessions=True, con=con)
    expected = reference.compute_sessions(_rows_of(table), DEFAULT_DIMS, 5, options)
    assert len(expected) > 600 and sum(s["play_ms"] > 0 for s in expected) > 300
    assert sql_sessions(result) == expected
    assert sql_aggregates(result) == reference.aggregate(expected, DEFAULT_DIMS)
