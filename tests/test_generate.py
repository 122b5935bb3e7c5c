"""The generator: the raw-event contract (docs/input.md), determinism, realistic traffic, dirt."""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from auditor.synth.generate import (EVENT_TYPES, SCHEMA, UNKNOWN_EVENT_TYPES, DirtRates,
                                    generate_events, write_events)

START = datetime(2025, 3, 20, 14, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def events() -> pa.Table:
    return generate_events(4000, 7, start=START)


def test_schema_is_exactly_raw_events_contract(events):
    assert events.schema == SCHEMA
    assert events.column_names == [
        "event_id", "session_id", "viewer_id", "seq", "ts", "received_at", "event_type",
        "bitrate_kbps", "error_code", "fatal", "end_reason",
        "cdn", "device", "os", "player_version", "country", "isp", "asset_id", "content_type"]
    for required in ("event_id", "session_id", "seq", "ts", "event_type"):
        assert events[required].null_count == 0
    assert set(events["event_type"].unique().to_pylist()) <= set(EVENT_TYPES + UNKNOWN_EVENT_TYPES)


def test_event_fields_follow_their_event_types(events):
    t = events.to_pandas()
    err = t[t.event_type == "error"]
    assert err.error_code.notna().all() and err.fatal.notna().all()
    assert t[t.event_type != "error"].error_code.isna().all()
    ends = t[t.event_type == "end"]
    assert set(ends.end_reason) == {"complete", "exit"}
    assert t[t.event_type.isin(["first_frame", "bitrate_change"])].bitrate_kbps.gt(0).all()
    assert set(t.content_type) == {"live", "vod"}
    assert (t[t.content_type == "live"].asset_id.str.startswith("live-")).all()


def test_sessions_are_well_formed(events):
    t = events.to_pandas()
    # every event of a session carries the session's dimension values
    per_session = t.groupby("session_id")[["device", "player_version", "cdn", "asset_id"]].nunique()
    assert (per_session == 1).all().all()
    # seq is the client order: timestamps never go backwards along it
    t = t.sort_values(["session_id", "seq", "received_at"])
    assert (t.groupby("session_id").ts.diff().dropna() >= pd_zero()).all()
    # lateness is never negative
    assert (t.received_at >= t.ts).all()
    # copies of an event are identical apart from received_at
    dup = t[t.duplicated(["session_id", "event_id"], keep=False)]
    cols = [c for c in t.columns if c != "received_at"]
    assert len(dup) > 0
    assert (dup.groupby(["session_id", "event_id"])[cols].nunique(dropna=False) == 1).all().all()


def pd_zero():
    import pandas as pd
    return pd.Timedelta(0)


def test_dirt_is_present_at_low_rates_and_can_be_switched_off(events):
    t = events.to_pandas()
    n_sessions = t.session_id.nunique()
    dup_rate = t.duplicated(["session_id", "event_id"]).mean()
    assert 0 < dup_rate < 0.02
    orphans = n_sessions - t[t.event_type == "attempt"].session_id.nunique()
    assert 0 < orphans < 0.01 * n_sessions
    assert 0 < t.event_type.isin(UNKNOWN_EVENT_TYPES).mean() < 0.005
    late = ((t.received_at - t.ts).dt.total_seconds() > 300).mean()
    assert 0 < late < 0.02
    clean = generate_events(2000, 7, start=START, dirt=DirtRates.none()).to_pandas()
    assert not clean.duplicated(["session_id", "event_id"]).any()
    assert not clean.event_type.isin(UNKNOWN_EVENT_TYPES).any()
    assert clean[clean.event_type == "attempt"].session_id.nunique() == clean.session_id.nunique()


def test_traffic_is_skewed_like_real_traffic(events):
    t = events.to_pandas()
    s = t.drop_duplicates("session_id")
    # newer player versions are more common than older ones, per device
    roku = s[s.device == "roku"].player_version.value_counts()
    assert roku["5.3"] > roku["5.2"] > roku["5.1"] > roku["5.0"]
    # Zipf assets: the most popular VOD title far outdraws the median one
    vod = s[s.content_type == "vod"].asset_id.value_counts()
    assert vod.iloc[0] > 20 * vod.median()
    # about 30 events per session on average (heartbeats)
    assert 20 < len(t) / len(s) < 45
    # sessions start inside the requested window
    assert t[t.event_type == "attempt"].ts.min() >= START
    assert t[t.event_type == "attempt"].ts.max() < datetime(2025, 3, 20, 15, 0, tzinfo=timezone.utc)


def test_windows_spread_sessions_over_consecutive_windows():
    t = generate_events(1500, 3, start=START, windows=3, window_minutes=15).to_pandas()
    starts = t[t.event_type == "attempt"].ts
    minutes = ((starts - START).dt.total_seconds() // 900).astype(int)
    assert set(minutes) == {0, 1, 2}


def test_session_ids_are_unique_across_blocks_and_seeds():
    a = generate_events(60_000, 1, dirt=DirtRates.none())      # two generation blocks
    ids = pc.unique(a["session_id"])
    assert len(ids) == 60_000
    b = generate_events(100, 2)
    assert not set(b["session_id"].unique().to_pylist()) & set(ids.to_pylist())


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_gives_byte_identical_parquet(tmp_path):
    write_events(tmp_path / "a.parquet", 1500, 11)
    write_events(tmp_path / "b.parquet", 1500, 11)
    write_events(tmp_path / "c.parquet", 1500, 12)
    assert _digest(tmp_path / "a.parquet") == _digest(tmp_path / "b.parquet")
    assert _digest(tmp_path / "a.parquet") != _digest(tmp_path / "c.parquet")


def test_written_file_equals_in_memory_table(tmp_path):
    import pyarrow.parquet as pq
    rows = write_events(tmp_path / "e.parquet", 800, 5, windows=2)
    table = pq.read_table(tmp_path / "e.parquet")
    assert rows == table.num_rows
    assert table.equals(generate_events(800, 5, windows=2))


def test_bitrate_changes_really_change_the_rendition(events):
    t = events.to_pandas().drop_duplicates(["session_id", "event_id"]).sort_values(["session_id", "seq"])
    t = t[t.bitrate_kbps.notna() & t.event_type.isin(["first_frame", "bitrate_change"])]
    prev = t.groupby("session_id").bitrate_kbps.shift()
    changes = t[(t.event_type == "bitrate_change") & prev.notna()]
    assert len(changes) > 100
    assert (changes.bitrate_kbps != prev[changes.index]).all()


def test_rejects_nonsense_arguments():
    with pytest.raises(ValueError):
        generate_events(-1, 0)
    with pytest.raises(ValueError):
        generate_events(10, 0, windows=0)
    assert generate_events(0, 0).num_rows == 0
