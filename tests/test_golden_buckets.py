"""Large inputs are processed in session buckets (auditor/golden/calculator.py _run_buckets):
the same numbers, to the digit, as one pass over the whole input."""
from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from auditor.errors import ConfigError
from auditor.synth.generate import generate_events
from auditor.golden.calculator import GoldenOptions, _bytes, compute_golden, connect, default_bucket_rows
from auditor.quality.checks import run_quality

DIMS = ("cdn", "device", "player_version", "country")


@pytest.fixture(scope="module")
def events():
    # the generator's realistic dirt: redeliveries, orphans, strays after `end`,
    # unknown types, late tails, sessions crossing windows
    return generate_events(1500, seed=11)


def _golden_and_quality(events, bucket_rows, options=None):
    con = connect(threads=2)
    try:
        golden = compute_golden(events, dims=DIMS, window_minutes=15, with_sessions=True,
                                options=options, con=con, bucket_rows=bucket_rows)
        quality = run_quality(con, dims=DIMS, engine="builtin").to_dict()
        spools = con.execute("SELECT count(*) FROM duckdb_views() WHERE temporary "
                             "AND view_name = 'g_narrow'").fetchall()[0][0]
        return golden, quality, spools
    finally:
        con.close()


@pytest.mark.parametrize("options", [GoldenOptions(),
                                     GoldenOptions(start_anchor="any_frame", attribution="session_end",
                                                   inactivity_timeout_ms=60_000, ebvs_min_wait_ms=2_000)],
                         ids=["defaults", "every-option"])
def test_buckets_give_the_same_aggregates_sessions_and_quality(events, options):
    whole, whole_q, whole_view = _golden_and_quality(events, events.num_rows, options)
    parts, parts_q, parts_view = _golden_and_quality(events, events.num_rows // 7, options)
    assert (whole_view, parts_view) == (0, 1)  # one pass vs the bucketed path
    assert whole.stats == parts.stats
    assert whole.aggregates.equals(parts.aggregates)
    assert whole.sessions.equals(parts.sessions)
    whole_q.pop("engine"), parts_q.pop("engine")
    assert whole_q == parts_q
    assert whole_q["checks"] and any(c["unexpected_count"] for c in whole_q["checks"])


def test_bucketed_then_whole_run_on_one_connection(events):
    """g_narrow is a view after a bucketed run and a table after a whole one."""
    con = connect(threads=2)
    try:
        first = compute_golden(events, dims=DIMS, con=con, bucket_rows=events.num_rows // 3)
        second = compute_golden(events, dims=DIMS, con=con, bucket_rows=events.num_rows)
        third = compute_golden(events, dims=DIMS, con=con, bucket_rows=events.num_rows // 3)
        assert first.aggregates.equals(second.aggregates) and second.aggregates.equals(third.aggregates)
    finally:
        con.close()


def test_spool_folder_goes_away_with_the_connection(events, tmp_path):
    con = connect(threads=2, temp_directory=str(tmp_path))
    compute_golden(events, dims=DIMS, con=con, bucket_rows=events.num_rows // 4)
    spools = [p for p in tmp_path.iterdir() if p.name.startswith("golden-spool-")]
    assert len(spools) == 1 and any(spools[0].rglob("*.parquet"))
    con.close()
    del con
    assert not spools[0].exists()


def test_default_bucket_size_follows_the_memory_limit(monkeypatch):
    monkeypatch.delenv("AUDITOR_BUCKET_ROWS", raising=False)
    con = connect(memory_limit="1GB")
    try:
        assert default_bucket_rows(con) == _bytes(
            con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]) // 512
        assert 1_500_000 < default_bucket_rows(con) < 2_000_000
        monkeypatch.setenv("AUDITOR_BUCKET_ROWS", "5000")
        assert default_bucket_rows(con) == 5000
        monkeypatch.setenv("AUDITOR_BUCKET_ROWS", "lots")
        with pytest.raises(ConfigError, match="AUDITOR_BUCKET_ROWS"):
            default_bucket_rows(con)
    finally:
        con.close()


@pytest.mark.parametrize("text, expected", [("2.7 GiB", int(2.7 * 2**30)), ("128.0 MiB", 128 * 2**20),
                                            ("0 bytes", 0), ("512 KiB", 512 * 1024)])
def test_memory_setting_renderings(text, expected):
    assert _bytes(text) == expected


def test_text_input_is_bucketed_by_its_size(events, tmp_path):
    """JSON Lines are not counted (that would parse them twice): their size bounds the
    rows from above, so a large file takes the bucketed path, with the same numbers."""
    path = tmp_path / "events.jsonl"
    con = duckdb.connect()
    con.register("t", events)
    con.execute(f"COPY (SELECT * FROM t) TO '{path}' (FORMAT json)")
    con.close()
    estimate = path.stat().st_size // 100
    assert estimate >= events.num_rows  # the bound holds for this file
    whole, _, whole_view = _golden_and_quality(str(path), estimate)
    parts, _, parts_view = _golden_and_quality(str(path), estimate // 5)
    assert (whole_view, parts_view) == (0, 1)
    assert whole.aggregates.equals(parts.aggregates) and whole.sessions.equals(parts.sessions)
    reference = compute_golden(events, dims=DIMS, window_minutes=15)
    assert reference.aggregates.equals(parts.aggregates.select(reference.aggregates.column_names))


def test_input_without_a_single_ordered_row_gives_an_empty_result(events):
    keyless = events.set_column(events.schema.get_field_index("session_id"), "session_id",
                                pa.nulls(events.num_rows, pa.string()))
    result = compute_golden(keyless, dims=DIMS, bucket_rows=events.num_rows // 5)
    assert result.aggregates.num_rows == 0 and result.stats == {"events": 0, "sessions": 0}
