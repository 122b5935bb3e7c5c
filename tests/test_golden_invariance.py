"""docs/definitions.md#integers-end-to-end: the golden result is exact integers and does not
depend on row order, file split / layout or DuckDB's thread count."""
from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import reference
from auditor.golden.calculator import GoldenOptions, compute_golden, connect
from golden_support import events_table, iso_to_ms, sql_aggregates, sql_sessions

DIMS = ("cdn", "device")
BASE = iso_to_ms("2025-03-20T13:40:00Z")
TYPES = np.array(["attempt", "first_frame", "heartbeat", "stall_start", "stall_end", "pause",
                  "resume", "seek_start", "seek_end", "ad_start", "ad_end", "bitrate_change",
                  "error", "end", "custom_beacon"])
WEIGHTS = np.array([2, 4, 8, 3, 3, 1, 1, 1, 1, 1, 1, 2, 0.4, 0.4, 0.3])


def synthetic_events(sessions: int, seed: int) -> pa.Table:
    """Random sessions in the raw-events schema, with duplicates (some with another
    received_at), clock jumps and unknown types; rows in session order."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 25, sessions)
    n = int(counts.sum())
    sid = np.repeat(np.arange(sessions), counts)
    pos = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)
    kinds = rng.choice(TYPES, n, p=WEIGHTS / WEIGHTS.sum())
    kinds[(pos == 0) & (rng.random(n) < 0.9)] = "attempt"
    steps = rng.choice([0, 400, 1000, 2000, 5000, 20000, -2000], n)
    steps[pos == 0] = rng.integers(0, 3 * 3_600_000, int((pos == 0).sum()))
    ts = BASE + np.cumsum(steps) - np.repeat(np.cumsum(steps)[np.cumsum(counts) - counts]
                                             - steps[pos == 0], counts)
    bitrate = np.where(rng.random(n) < 0.3, rng.choice([0, 800, 2500, 6000], n), -7)
    cdn = np.array(["akamai", "fastly", "cloudfront", None], dtype=object)[sid % 4]
    device = np.array(["web", "tv", "ios"], dtype=object)[(sid // 4) % 3]
    table = pa.table({
        "event_id": pa.array([f"e{p}" for p in pos]),
        "session_id": pa.array([f"s{s:06d}" for s in sid]),
        "seq": pa.array(pos, pa.int64()),
        "ts": pa.array(ts, pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
        "received_at": pa.array(ts + rng.integers(50, 4_000_000, n), pa.int64()).cast(
            pa.timestamp("ms", tz="UTC")),
        "event_type": pa.array(kinds.tolist()),
        "bitrate_kbps": pa.array(np.where(bitrate < -1, None, bitrate).tolist(), pa.int64()),
        "fatal": pa.array(np.where(kinds == "error", rng.random(n) < 0.6, None).tolist(),
                          pa.bool_()),
        "cdn": pa.array(cdn.tolist(), pa.string()),
        "device": pa.array(device.tolist(), pa.string()),
    })
    dup = rng.random(n) < 0.05
    copies = table.filter(pa.array(dup))
    later = pc.add(copies.column("received_at"), pa.scalar(60_000, pa.duration("ms")))
    copies = copies.set_column(copies.schema.get_field_index("received_at"), "received_at", later)
    return pa.concat_tables([table, copies])


def shuffled(table: pa.Table, seed: int) -> pa.Table:
    """Rows in another order, in many record batches (so DuckDB can scan in parallel)."""
    order = list(range(table.num_rows))
    random.Random(seed).shuffle(order)
    return pa.Table.from_batches(table.take(pa.array(order)).to_batches(max_chunksize=2048))


@pytest.fixture(scope="module")
def events() -> pa.Table:
    return synthetic_events(3000, seed=7)


@pytest.fixture(scope="module")
def baseline(events):
    con = connect(threads=1)
    try:
        return compute_golden(events, dims=DIMS, with_sessions=True, con=con)
    finally:
        con.close()


def test_baseline_matches_reference(events, baseline):
    rows = events.to_pylist()
    for row in rows:
        for col in ("ts", "received_at"):
            row[col] = iso_to_ms(row[col].isoformat())
    expected = reference.compute_sessions(rows, DIMS)
    assert len(expected) > 2000
    assert sql_sessions(baseline) == expected
    assert sql_aggregates(baseline) == reference.aggregate(expected, DIMS)


def test_integer_types_end_to_end(baseline):
    for name in (*baseline.components[1:], "attempts"):
        assert baseline.aggregates.schema.field(name).type == pa.int64(), name
    for name in reference.FACTS:
        assert baseline.sessions.schema.field(name).type == pa.int64(), name
    assert pa.types.is_timestamp(baseline.aggregates.schema.field("window_start").type)


@pytest.mark.parametrize("threads", [2])
def test_thread_count_does_not_change_result(events, baseline, threads):
    con = connect(threads=threads)
    try:
        result = compute_golden(shuffled(events, 1), dims=DIMS, with_sessions=True, con=con)
    finally:
        con.close()
    assert result.aggregates.equals(baseline.aggregates)
    assert result.sessions.equals(baseline.sessions)


@pytest.mark.parametrize("seed", [2, 3])
def test_row_order_does_not_change_result(events, baseline, seed):
    result = compute_golden(shuffled(events, seed), dims=DIMS, with_sessions=True)
    assert result.aggregates.equals(baseline.aggregates)
    assert result.sessions.equals(baseline.sessions)


def test_parquet_split_and_hive_layout_do_not_change_result(events, baseline, tmp_path):
    """Files split by landing hour in dt=/hour= folders (partition columns are layout),
    small row groups, shuffled rows: same result as one in-memory table."""
    table = shuffled(events, 4)
    hours = pc.floor_temporal(table.column("received_at"), unit="hour").to_pylist()
    for hour in sorted(set(hours)):
        part = table.filter(pa.array([h == hour for h in hours]))
        folder = tmp_path / "events" / f"dt={hour:%Y-%m-%d}" / f"hour={hour:%H}"
        folder.mkdir(parents=True, exist_ok=True)
        half = part.num_rows // 2
        pq.write_table(part.slice(0, half), folder / "part-0.parquet", row_group_size=500)
        pq.write_table(part.slice(half), folder / "part-1.parquet", row_group_size=700)
    assert len(list((tmp_path / "events").glob("dt=*/hour=*/*.parquet"))) > 4
    for source in (tmp_path / "events", str(tmp_path / "events" / "*" / "*" / "*.parquet")):
        con = connect(threads=2)
        try:
            result = compute_golden(source, dims=DIMS, with_sessions=True, con=con)
        finally:
            con.close()
        assert result.aggregates.equals(baseline.aggregates)
        assert result.sessions.equals(baseline.sessions)


def test_sums_beyond_float_precision_stay_exact():
    """bitrate x duration sums past 2**53 must not round (docs/definitions.md#exactness)."""
    events, expected = [], 0
    for i in range(5):
        sid = f"s{i}"
        bitrate, duration = 1_000_003 + 2 * i, 9_007_199_254 + i
        start = BASE + i
        events += [
            {"session_id": sid, "event_id": "a", "seq": 0, "ts": start, "event_type": "attempt",
             "cdn": "c", "device": "d"},
            {"session_id": sid, "event_id": "f", "seq": 1, "ts": start + 1,
             "event_type": "first_frame", "bitrate_kbps": bitrate},
            {"session_id": sid, "event_id": "z", "seq": 2, "ts": start + 1 + duration,
             "event_type": "end"},
        ]
        expected += bitrate * duration
    assert 2**53 < expected < 2**63 and int(float(expected)) != expected
    result = compute_golden(events_table(events, DIMS), dims=DIMS, window_minutes=60)
    assert result.aggregates.column("bitrate_kbps_ms").to_pylist() == [expected]
    assert result.aggregates.column("play_ms").to_pylist() == [
        sum(9_007_199_254 + i for i in range(5))]


def test_options_do_not_change_with_threads(events):
    """The option paths (timeout cut, any_frame, wait, session_end) are order-free too."""
    options = GoldenOptions(start_anchor="any_frame", attribution="session_end",
                            inactivity_timeout_ms=10_000, ebvs_min_wait_ms=3000)
    results = []
    for threads, seed in ((1, 5), (2, 6)):
        con = connect(threads=threads)
        try:
            results.append(compute_golden(shuffled(events, seed), dims=DIMS, options=options,
                                          with_sessions=True, con=con))
        finally:
            con.close()
    assert results[0].aggregates.equals(results[1].aggregates)
    assert results[0].sessions.equals(results[1].sessions)
