"""Data-quality checks: each seeded defect is counted exactly; clean data passes."""
from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eventdata as ed
from auditor.errors import ConfigError
from auditor.golden.calculator import compute_golden, connect
from auditor.quality.checks import check_events, run_quality, slice_rates
from auditor.quality.rules import load_rules, parse_rules

N = 200  # clean sessions: 800 rows, 40 fatal errors, 160 ends


def counts(rows, **kw):
    report = check_events(ed.table(rows), **kw)
    return report, {c.name: (c.unexpected_count, c.denominator) for c in report.checks}


def test_clean_data_passes_every_check():
    report, got = counts(ed.clean(N))
    assert all(c.success for c in report.checks), [c for c in report.checks if not c.success]
    assert all(n == 0 for n, _ in got.values())
    assert report.status == "pass" and report.exit_code == 0
    assert got["duplicate_events"] == (0, 800)
    assert got["orphan_sessions"] == (0, N)
    assert got["fatal_missing"] == (0, 40) and got["end_reason_domain"] == (0, 160)
    assert report.slices == ()


def test_duplicates_counted_as_rows_beyond_the_first_copy():
    rows = ed.clean(N)
    extra = []
    for i, r in enumerate(rows[:60]):       # 60 events redelivered; every third one twice
        for k in range(1 + (i % 3 == 0)):
            extra.append({**r, "received_at": r["received_at"] + 1000 * (k + 1)})
    report, got = counts(rows + extra)
    assert got["duplicate_events"] == (80, 880)
    assert report.check("duplicate_events").details["duplicated_keys"] == 60
    assert report.check("duplicate_events").details["conflicting_keys"] == 0
    # deduplication leaves every other check clean
    assert all(n == 0 for name, (n, _) in got.items() if name != "duplicate_events")


def test_conflicting_copies_are_reported():
    rows = ed.clean(N)
    rows.append({**rows[1], "ts": rows[1]["ts"] + 5})
    report, _ = counts(rows)
    assert report.check("duplicate_events").details["conflicting_keys"] == 1


def test_same_event_id_in_two_sessions_is_not_a_duplicate():
    rows = ed.clean(N)
    rows[4] = {**rows[4], "event_id": rows[0]["event_id"]}   # s00001's attempt reuses s00000's id
    _, got = counts(rows)
    assert got["duplicate_events"] == (0, 800)


def test_orphan_sessions():
    rows = [r for r in ed.clean(N) if not (r["event_type"] == "attempt" and r["session_id"] < "s00025")]
    report, got = counts(rows)
    assert got["orphan_sessions"] == (25, N)
    assert got["events_after_end"] == (0, 800 - 25)      # orphans' events are not "after the end"
    assert report.totals["sessions_with_attempt"] == N - 25


def test_duplicated_attempt_does_not_hide_an_orphan():
    rows = ed.clean(N)
    attempt = rows[0]
    rows = [r for r in rows if r is not attempt]
    rows += [{**rows[0], "event_type": "attempt", "session_id": "zz", "event_id": "zz-0"}] * 2
    _, got = counts(rows)
    assert got["orphan_sessions"] == (1, N + 1)
    assert got["duplicate_events"] == (1, len(rows))


def test_unknown_event_types_after_deduplication():
    rows = ed.clean(N)
    odd = [ed.event(f"s{i:05d}", 10, ed.T0 + i * 1000 + 5000, "thumbnail_shown", i=i,
                    event_id=f"s{i:05d}-x") for i in range(30)]
    odd += [dict(odd[0])] * 3                # copies of one unknown event count once
    report, got = counts(rows + odd)
    assert got["unknown_event_types"] == (30, 830)
    assert got["duplicate_events"] == (3, 833)
    assert report.check("unknown_event_types").details["top_raw_rows"] == {"thumbnail_shown": 33}


def test_events_after_the_terminating_event():
    rows = ed.clean(N)
    extra = []
    for i in range(0, 40):                   # sessions 4, 9, ... end with a fatal error
        s, t = f"s{i:05d}", ed.T0 + i * 1000
        extra.append(ed.event(s, 4, t + 50000, "heartbeat", i=i))
        if i < 10:
            extra.append(ed.event(s, 5, t + 60000, "end", i=i, end_reason="exit"))
    # an end delivered twice is one event, and the copy is not after the end
    extra.append({**rows[3], "received_at": rows[3]["received_at"] + 9})
    # a non-fatal error and a null-fatal error do not terminate
    s = "s00199"
    rows = [r for r in rows if not (r["session_id"] == s and r["seq"] == 3)]
    rows += [ed.event(s, 3, ed.T0 + 199000 + 30000, "error", i=199, fatal=False),
             ed.event(s, 4, ed.T0 + 199000 + 31000, "error", i=199),
             ed.event(s, 5, ed.T0 + 199000 + 32000, "end", i=199, end_reason="exit")]
    report, got = counts(rows + extra)
    assert got["events_after_end"] == (50, 852)
    assert got["fatal_missing"] == (1, 41)
    by_cdn = {s.value: s for s in report.slices if s.check == "events_after_end" and s.dimension == "cdn"}
    assert sum(s.unexpected_count for s in by_cdn.values()) == 50


def test_events_before_the_first_attempt():
    rows = ed.clean(N)
    for r in rows:
        r["seq"] += 1
    rows += [ed.event(f"s{i:05d}", 0, ed.T0 + i * 1000 - 10, "heartbeat", i=i,
                      event_id=f"s{i:05d}-pre") for i in range(12)]
    _, got = counts(rows)
    assert got["events_before_attempt"] == (12, 812)


@pytest.mark.parametrize("late_ms,expected", [(300_000, 0), (300_001, 17)])
def test_late_events_beyond_the_threshold(late_ms, expected):
    rows = ed.clean(N)
    for r in rows[:17]:
        r["received_at"] = r["ts"] + late_ms
    report, got = counts(rows)
    assert got["late_events"] == (expected, 800)
    assert got["clock_ahead"] == (0, 800)


def test_late_threshold_comes_from_the_rules(tmp_path):
    rows = ed.clean(N)
    for r in rows[:17]:
        r["received_at"] = r["ts"] + 120_000
    text = ed_rules_text().replace("max_lateness_ms: 300000", "max_lateness_ms: 60000")
    (tmp_path / "quality.yaml").write_text(text)
    report, got = counts(rows, rules_dir=tmp_path)
    assert got["late_events"] == (17, 800)
    assert report.rules_source == str(tmp_path / "quality.yaml")


def test_client_clock_sanity():
    rows = ed.clean(N)
    for r in rows[40:49]:                    # 9 rows stamped 10 minutes in the future
        r["received_at"] = r["ts"] - 600_000
    # s00002 (rows 8-11: attempt, first_frame, heartbeat, end): the heartbeat jumps back
    # before the first frame and the end before the heartbeat: two backwards intervals
    rows[10]["ts"] = rows[9]["ts"] - 1
    rows[11]["ts"] = rows[10]["ts"] - 1
    _, got = counts(rows)
    assert got["clock_ahead"] == (9, 800)
    assert got["negative_intervals"] == (2, 600)


def test_seq_repeated_within_a_session():
    rows = ed.clean(N)
    for r in rows:
        if r["event_type"] == "heartbeat" and r["session_id"] < "s00007":
            r["seq"] = 1                     # same seq as first_frame, different event_id
    _, got = counts(rows)
    assert got["seq_not_unique"] == (7, 800)


def test_seq_repeats_outside_the_live_events_are_counted_too():
    """Live repeats come from golden's seq_repeat flag; sessions with events that are
    not live (before the attempt, orphans) are grouped by (session, seq) exactly."""
    rows = ed.clean(N)
    t = ed.T0
    # s00000: a heartbeat at the attempt's seq but earlier ts: before the attempt, and
    # a repeat of seq 0 (the attempt is live); another at seq 2 (live) repeats seq 2.
    rows += [ed.event("s00000", 0, t - 5, "heartbeat", event_id="pre"),
             ed.event("s00000", 2, t + 21600, "heartbeat", event_id="live-rep")]
    # an orphan whose three events share one seq: two repeats
    rows += [ed.event("zz", 4, t + k, "heartbeat", event_id=f"zz{k}") for k in range(3)]
    _, got = counts(rows)
    assert got["events_before_attempt"] == (1, 805)
    assert got["seq_not_unique"] == (4, 805)
    assert got["orphan_sessions"] == (1, N + 1)


def test_error_without_fatal_and_end_reason_outside_its_domain():
    rows = ed.clean(N)
    errors = [r for r in rows if r["event_type"] == "error"]
    ends = [r for r in rows if r["event_type"] == "end"]
    for r in errors[:6]:
        r["fatal"] = None
    for r in ends[:11]:
        r["end_reason"] = "quit" if len(r["session_id"]) % 2 else None
    _, got = counts(rows)
    assert got["fatal_missing"] == (6, 40)
    assert got["end_reason_domain"] == (11, 160)


def test_implausible_sessions_longer_than_a_day():
    rows = ed.clean(N)
    for r in rows:
        if r["event_type"] in ("end", "error") and r["session_id"] < "s00004":
            r["ts"] += 86_400_000            # the session now lasts 24 h + its 30-40 s
    report, got = counts(rows)
    assert got["implausible_sessions"] == (4, N)
    assert report.check("implausible_sessions").details["observed_max_duration_ms"] > 86_400_000


def test_null_keys_are_counted_per_column():
    rows = ed.clean(N)
    rows[5]["event_id"] = None
    rows[6]["ts"] = None
    rows[7]["session_id"] = None
    report, got = counts(rows)
    assert got["null_keys"] == (3, 800)
    assert report.check("null_keys").details["ts"] == 1
    assert not report.check("null_keys").success and report.check("null_keys").blocking
    assert report.exit_code == 1


def test_blocking_decides_the_exit_code(tmp_path):
    rows = ed.clean(N)
    for r in rows[:100]:
        r["received_at"] = r["ts"] + 3_600_000
    report, _ = counts(rows)
    assert report.check("late_events").status == "warn"
    assert report.status == "warn" and report.exit_code == 0
    text = ed_rules_text().replace("threshold: 0.05\n    blocking: false", "threshold: 0.05\n    blocking: true")
    (tmp_path / "quality.yaml").write_text(text)
    report, _ = counts(rows, rules_dir=tmp_path)
    assert report.check("late_events").status == "fail"
    assert report.status == "fail" and report.exit_code == 1


def test_per_slice_rates_point_at_the_slice():
    rows = ed.clean(N)
    late = 0
    for r in rows:
        if r["cdn"] == "fastly" and r["device"] == "roku":
            r["received_at"] = r["ts"] + 900_000
            late += 1
    report = check_events(ed.table(rows), dims=("cdn", "device"))
    by_cdn = {s.value: s for s in report.slices if s.check == "late_events" and s.dimension == "cdn"}
    assert set(by_cdn) == {"fastly"}
    fastly_rows = sum(r["cdn"] == "fastly" for r in rows)
    assert (by_cdn["fastly"].unexpected_count, by_cdn["fastly"].denominator) == (late, fastly_rows)
    assert [s.value for s in report.slices_for("device", "roku")] == ["roku"]


def test_slice_rates_of_a_conjunction_on_the_same_connection():
    rows = ed.clean(N)
    for r in rows:
        if r["cdn"] == "fastly" and r["device"] == "roku":
            r["received_at"] = r["ts"] + 900_000
    con = connect()
    compute_golden(ed.table(rows), dims=("cdn", "device"), con=con)
    run_quality(con, dims=("cdn", "device"))
    inside = slice_rates(con, {"cdn": "fastly", "device": "roku"})
    assert inside["late_events"]["rate"] == 1.0
    assert slice_rates(con, {"cdn": "akamai"})["late_events"]["unexpected_count"] == 0
    con.close()


def test_orphans_take_the_dimensions_of_their_first_row(tmp_path):
    rows = [r for r in ed.clean(N) if not (r["event_type"] == "attempt" and r["cdn"] == "akamai")]
    (tmp_path / "quality.yaml").write_text(ed_rules_text().replace("min_support: 100", "min_support: 10"))
    report = check_events(ed.table(rows), dims=("cdn",), rules_dir=tmp_path)
    by_cdn = {s.value: s for s in report.slices if s.check == "orphan_sessions"}
    akamai = sum(1 for i in range(N) if i % 3 == 0)
    assert set(by_cdn) == {"akamai"}
    assert (by_cdn["akamai"].unexpected_count, by_cdn["akamai"].denominator) == (akamai, akamai)


def test_min_support_hides_small_slices(tmp_path):
    rows = ed.clean(N)
    for r in rows[:4]:
        r["received_at"] = r["ts"] + 900_000
    (tmp_path / "quality.yaml").write_text(ed_rules_text().replace("min_support: 100", "min_support: 100000"))
    report = check_events(ed.table(rows), dims=("cdn",), rules_dir=tmp_path)
    assert report.check("late_events").unexpected_count == 4
    assert report.slices == ()


def test_golden_results_are_unchanged_by_the_quality_stage():
    rows = ed.clean(N)
    alone = compute_golden(ed.table(rows), dims=("cdn",)).aggregates
    con = connect()
    with_q = compute_golden(ed.table(rows), dims=("cdn",), con=con).aggregates
    run_quality(con, dims=("cdn",))
    assert con.execute("SELECT count(*) FROM g_aggregate").fetchone()[0] == with_q.num_rows
    assert alone.equals(with_q)
    con.close()


def test_report_dict_shape():
    d = check_events(ed.table(ed.clean(20))).to_dict()
    assert d["schema_version"] == 1 and d["status"] == "pass"
    assert d["engine"] == "auditor builtin"  # the default judge, as in `auditor run`
    for c in d["checks"]:
        assert {"name", "unexpected_count", "unexpected_rate", "success", "threshold", "blocking",
                "denominator", "description", "details", "status"} <= set(c)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(copies=st.lists(st.integers(min_value=0, max_value=3), min_size=40, max_size=40),
       late=st.lists(st.booleans(), min_size=40, max_size=40))
def test_duplicate_and_late_counts_match_a_plain_count(copies, late):
    base = ed.clean(10)
    rows = []
    for r, n, is_late in zip(base, copies, late):
        r = copy.copy(r)
        if is_late:
            r["received_at"] = r["ts"] + 400_000
        rows.append(r)
        rows += [{**r, "received_at": r["received_at"] + k + 1} for k in range(n)]
    _, got = counts(rows, dims=("cdn",))
    assert got["duplicate_events"] == (sum(copies), len(rows))
    # a copy received later than a late original is late too
    assert got["late_events"][0] == sum((1 + n) * is_late for n, is_late in zip(copies, late))


def ed_rules_text() -> str:
    from auditor.golden.sqlfiles import read_rule
    return read_rule("quality.yaml")


def test_rules_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match="checks.late_events.threshold"):
        parse_rules(ed_rules_text().replace("threshold: 0.05", "threshold: 5"))
    with pytest.raises(ConfigError, match="unknown check"):
        parse_rules("checks: {nope: {threshold: 0}}")
    with pytest.raises(ConfigError, match="max_lateness_ms"):
        parse_rules(ed_rules_text().replace("max_lateness_ms: 300000", "max_lateness_ms: soon"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_rules(tmp_path / "missing")


def test_a_check_left_out_of_the_rules_is_not_run(tmp_path):
    text = ed_rules_text()
    start = text.index("  clock_ahead:")
    end = text.index("  negative_intervals:")
    (tmp_path / "quality.yaml").write_text(text[:start] + text[end:])
    report, got = counts(ed.clean(10), rules_dir=tmp_path)
    assert "clock_ahead" not in got and "late_events" in got
