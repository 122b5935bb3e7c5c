"""Reading raw events (docs/input.md#raw-events) through the `auditor golden` command
and the library: every storage format gives the same golden result; timestamps are UTC
and truncated to the millisecond; a mapping renames columns and event types; a missing
column, a wrong type or an unreadable file exits 2 naming the file and the column."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import reference
from auditor.cli import main
from auditor.golden.events import EventMapping
from auditor.golden.calculator import compute_golden, connect
from golden_support import events_table, iso_to_ms, sql_aggregates, sql_sessions

DIMS = ("cdn", "device")
T0 = iso_to_ms("2025-03-20T14:00:00Z")
COLUMNS = ["event_id", "session_id", "seq", "ts", "received_at", "event_type", "bitrate_kbps",
           "fatal", "end_reason", "cdn", "device"]


def _event(sid, i, t, kind, **extra):
    return {"event_id": f"e{i}", "session_id": sid, "seq": i, "ts": T0 + t,
            "received_at": T0 + t + 250, "event_type": kind, "bitrate_kbps": None,
            "fatal": None, "end_reason": None, "cdn": "akamai", "device": "web", **extra}


EVENTS = [
    _event("s1", 0, 0, "attempt"),
    _event("s1", 1, 1500, "first_frame", bitrate_kbps=2500),
    _event("s1", 2, 4000, "stall_start"),
    _event("s1", 3, 5000, "stall_end"),
    _event("s1", 4, 9000, "end", end_reason="exit"),
    _event("s2", 0, 3_599_000, "attempt", cdn=None),
    _event("s2", 1, 3_600_700, "error", fatal=True, cdn=None),
    _event("s3", 0, 10, "attempt", device="tv"),
    _event("s3", 1, 20, "error", fatal=False, device="tv"),
    _event("s3", 2, 30, "custom_beacon", device="tv"),
    _event("s3", 2, 30, "end", end_reason="exit", device="tv"),  # duplicate delivery
]
EXPECTED_SESSIONS = reference.compute_sessions(EVENTS, DIMS)


def iso(ms: int) -> str:
    """2025-03-20T14:00:01.500Z style."""
    from datetime import datetime, timezone
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def run_cli(*args: str) -> tuple[int, str]:
    """Run `auditor ...` through the console-script entry point; (exit code, stderr)."""
    import io
    from contextlib import redirect_stderr
    err = io.StringIO()
    with redirect_stderr(err), pytest.raises(SystemExit) as exit_info:
        main(list(args))
    return exit_info.value.code, err.getvalue()


def golden_rows(path: Path) -> list[dict]:
    return sql_aggregates_table(pq.read_table(path))


def sql_aggregates_table(table: pa.Table) -> list[dict]:
    rows = table.to_pylist()
    for row in rows:
        row["window_start"] = iso_to_ms(row["window_start"].isoformat())
    return rows


def write_csv(path: Path, events: list[dict], ts_format=iso, columns=COLUMNS) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for e in events:
            row = []
            for c in columns:
                v = e.get(c)
                if c in ("ts", "received_at") and v is not None:
                    v = ts_format(v)
                row.append("" if v is None else str(v).lower() if isinstance(v, bool) else v)
            writer.writerow(row)
    return path


def write_jsonl(path: Path, events: list[dict], ts_format=iso) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for e in events:
            e = {k: (ts_format(v) if k in ("ts", "received_at") and v is not None else v)
                 for k, v in e.items()}
            fh.write(json.dumps(e) + "\n")
    return path


def write_parquet(path: Path, events: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(events_table(events, DIMS), path)
    return path


# ---- every format, the same result ----------------------------------------------------

def _check_cli_result(tmp_path: Path, source: str) -> None:
    out, sessions_out = tmp_path / "golden.parquet", tmp_path / "sessions.parquet"
    code, err = run_cli("golden", "--events", source, "--out", str(out),
                        "--sessions-out", str(sessions_out), "--dims", ",".join(DIMS))
    assert code == 0, err
    assert golden_rows(out) == reference.aggregate(EXPECTED_SESSIONS, DIMS)
    assert sorted(golden_rows(sessions_out), key=lambda r: r["session_id"]) == EXPECTED_SESSIONS


@pytest.mark.parametrize("layout", ["file", "glob", "folder", "hive"])
def test_parquet_layouts(tmp_path, layout):
    by_session = {sid: [e for e in EVENTS if e["session_id"] == sid] for sid in ("s1", "s2", "s3")}
    if layout == "file":
        source = write_parquet(tmp_path / "events.parquet", EVENTS)
    elif layout in ("glob", "folder"):
        for sid, events in by_session.items():
            write_parquet(tmp_path / "ev" / f"part-{sid}.parquet", events)
        source = tmp_path / "ev" / "*.parquet" if layout == "glob" else tmp_path / "ev"
    else:  # landing-time partitions: s1's later events land in the next hour
        write_parquet(tmp_path / "ev" / "dt=2025-03-20" / "hour=14" / "a.parquet", EVENTS[:3] + EVENTS[7:])
        write_parquet(tmp_path / "ev" / "dt=2025-03-20" / "hour=15" / "a.parquet", EVENTS[3:7])
        (tmp_path / "ev" / "_SUCCESS").write_text("")
        source = tmp_path / "ev"
    _check_cli_result(tmp_path, str(source))


@pytest.mark.parametrize("ts_format", [iso, str, lambda ms: iso(ms).replace("T", " ")[:-1]],
                         ids=["iso_z", "epoch_ms", "iso_without_zone"])
@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_text_formats(tmp_path, fmt, ts_format):
    """ISO-8601 strings, epoch milliseconds, and zone-less times (read as UTC)."""
    if fmt == "csv":
        source = write_csv(tmp_path / "events.csv", EVENTS, ts_format)
    else:
        fmt_json = (lambda ms: ms) if ts_format is str else ts_format  # JSON numbers
        source = write_jsonl(tmp_path / "events.jsonl", EVENTS, fmt_json)
    _check_cli_result(tmp_path, str(source))


def test_jsonl_mixing_iso_strings_and_epoch_numbers(tmp_path):
    source = tmp_path / "events.jsonl"
    with open(source, "w", encoding="utf-8") as fh:
        for i, e in enumerate(EVENTS):
            e = dict(e)
            if i % 2:
                e["ts"], e["received_at"] = iso(e["ts"]), iso(e["received_at"])
            if i == 1:  # a number in a string dimension column (not on an attempt)
                e["device"] = 5
            fh.write(json.dumps(e) + "\n")
    _check_cli_result(tmp_path, str(source))


def test_text_with_utc_offsets(tmp_path):
    """An explicit offset is honoured: 16:00:00+02:00 is 14:00:00Z."""
    def with_offset(ms: int) -> str:
        from datetime import datetime, timedelta, timezone
        zone = timezone(timedelta(hours=2))
        return datetime.fromtimestamp(ms / 1000, zone).isoformat(timespec="milliseconds")
    _check_cli_result(tmp_path, str(write_csv(tmp_path / "e.csv", EVENTS, with_offset)))


def test_zone_less_times_are_utc_whatever_the_machine_zone(tmp_path):
    """docs/definitions.md#timestamps: in another time zone, zone-less times are still UTC."""
    source = write_csv(tmp_path / "e.csv", EVENTS, lambda ms: iso(ms).replace("T", " ")[:-1])
    out = tmp_path / "golden.parquet"
    env = {**os.environ, "TZ": "America/New_York"}
    proc = subprocess.run([sys.executable, "-m", "auditor", "golden", "--events", str(source),
                           "--out", str(out), "--dims", ",".join(DIMS)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert golden_rows(out) == reference.aggregate(EXPECTED_SESSIONS, DIMS)
    assert pq.read_table(out).schema.field("window_start").type.tz in ("UTC", "Etc/UTC")


def test_connection_in_another_zone_still_reads_utc():
    con = connect()
    con.execute("SET TimeZone = 'America/New_York'")
    table = pa.table({"event_id": ["a", "b"], "session_id": ["s", "s"], "seq": [0, 1],
                      "ts": ["2025-03-20 14:59:59.999", "2025-03-20 15:00:01"],
                      "event_type": ["attempt", "end"], "cdn": ["c", "c"]})
    result = compute_golden(table, dims=("cdn",), with_sessions=True, con=con)
    assert sql_sessions(result)[0]["window_start"] == T0


# ---- millisecond truncation -----------------------------------------------------------

@pytest.mark.parametrize("unit", ["us", "ns"])
def test_parquet_sub_millisecond_timestamps_are_truncated(tmp_path, unit):
    """attempt at .000999 and first_frame at 1.000001 s truncate to 0 and 1000 ms
    (rounding would give 1 and 1000, i.e. vst 999); before 1970 truncation floors."""
    scale = 1000 if unit == "us" else 1_000_000
    sub = 999 if unit == "us" else 999_999
    table = pa.table({
        "event_id": ["a", "f", "z", "a"], "session_id": ["s", "s", "s", "old"],
        "seq": [0, 1, 2, 0],
        "ts": pa.array([T0 * scale + sub, (T0 + 1000) * scale + 1, (T0 + 3000) * scale,
                        -1], pa.timestamp(unit, tz="UTC")),
        "event_type": ["attempt", "first_frame", "end", "attempt"], "cdn": ["c"] * 4,
    })
    path = tmp_path / "e.parquet"
    pq.write_table(table, path)
    result = compute_golden(str(path), dims=("cdn",), with_sessions=True)
    s_old, s = sql_sessions(result)
    assert (s["vst_ms"], s["play_ms"]) == (1000, 2000)
    assert s_old["window_start"] == -3_600_000  # -1 ns/us is in the hour before the epoch


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_text_sub_millisecond_timestamps_are_truncated(tmp_path, fmt):
    events = [_event("s", 0, 0, "attempt"), _event("s", 1, 1000, "first_frame"),
              _event("s", 2, 3000, "end")]
    texts = {T0: "2025-03-20T14:00:00.000999Z", T0 + 1000: "2025-03-20T14:00:01.000001Z",
             T0 + 3000: "2025-03-20T14:00:03.0000009Z"}
    fmt_ts = lambda ms: texts.get(ms, iso(ms))  # noqa: E731
    path = (write_csv(tmp_path / "e.csv", events, fmt_ts) if fmt == "csv"
            else write_jsonl(tmp_path / "e.jsonl", events, fmt_ts))
    result = compute_golden(str(path), dims=DIMS, with_sessions=True)
    s = sql_sessions(result)[0]
    assert (s["vst_ms"], s["play_ms"]) == (1000, 2000)


# ---- mapping ------------------------------------------------------------------------

def test_mapping_renames_columns_and_event_types(tmp_path):
    renames = {"session_id": "play_id", "ts": "client_time", "event_type": "name",
               "cdn": "edge"}
    names = {"attempt": "play_request", "first_frame": "video_start", "end": "stop"}
    rows = []
    for e in EVENTS:
        row = {renames.get(k, k): v for k, v in e.items()}
        row["name"] = names.get(e["event_type"], e["event_type"])
        rows.append(row)
    source = write_jsonl(tmp_path / "e.jsonl", rows)
    mapping = EventMapping(columns=renames, event_types={v: k for k, v in names.items()})
    result = compute_golden(str(source), dims=DIMS, mapping=mapping, with_sessions=True)
    assert sql_sessions(result) == EXPECTED_SESSIONS
    assert sql_aggregates(result) == reference.aggregate(EXPECTED_SESSIONS, DIMS)
    # without the mapping the renamed required column is reported
    code, err = run_cli("golden", "--events", str(source), "--out", str(tmp_path / "o.parquet"))
    assert code == 2 and "session_id" in err and "e.jsonl" in err


def test_mapping_from_config_dict():
    mapping = EventMapping.from_dict({"columns": {"seq": "sequence"},
                                      "event_types": {"start": "attempt"}})
    table = events_table(EVENTS, DIMS).rename_columns(
        ["sequence" if c == "seq" else c for c in events_table(EVENTS, DIMS).column_names])
    result = compute_golden(table, dims=DIMS, mapping=mapping, with_sessions=True)
    assert sql_sessions(result) == EXPECTED_SESSIONS


# ---- errors: exit 2, naming the file and the column -------------------------------------

def _assert_user_error(tmp_path, source, *names, extra=("--dims", "cdn,device")):
    code, err = run_cli("golden", "--events", str(source), "--out",
                        str(tmp_path / "out.parquet"), *extra)
    assert code == 2, err
    assert "Traceback" not in err and "internal error" not in err
    for name in names:
        assert name in err, (name, err)
    assert not (tmp_path / "out.parquet").exists()
    return err


@pytest.mark.parametrize("column", ["event_id", "session_id", "seq", "ts", "event_type"])
def test_missing_required_column(tmp_path, column):
    table = events_table(EVENTS, DIMS).drop_columns([column])
    pq.write_table(table, tmp_path / "events.parquet")
    _assert_user_error(tmp_path, tmp_path / "events.parquet", "events.parquet", repr(column))


def test_missing_dimension_column(tmp_path):
    write_parquet(tmp_path / "events.parquet", EVENTS)
    _assert_user_error(tmp_path, tmp_path / "events.parquet", "events.parquet", "'isp'",
                       extra=("--dims", "cdn,isp"))


@pytest.mark.parametrize("column,values", [
    ("seq", pa.array(["0", "x", "1"] + ["2"] * (len(EVENTS) - 3))),
    ("seq", pa.array([0.5] * len(EVENTS))),
    ("ts", pa.array([True] * len(EVENTS))),
    ("ts", pa.array(["2025-03-20T14:00:00Z", "yesterday"] + ["2025-03-20T14:00:00Z"] * (len(EVENTS) - 2))),
    ("fatal", pa.array(["maybe"] * len(EVENTS))),
    ("bitrate_kbps", pa.array([[1]] * len(EVENTS))),
    ("cdn", pa.array([{"a": 1}] * len(EVENTS))),
], ids=["seq_text", "seq_double", "ts_bool", "ts_text", "fatal_text", "bitrate_list", "cdn_struct"])
def test_wrong_column_type(tmp_path, column, values):
    table = events_table(EVENTS, DIMS)
    table = table.set_column(table.schema.get_field_index(column), column, values)
    pq.write_table(table, tmp_path / "events.parquet")
    _assert_user_error(tmp_path, tmp_path / "events.parquet", "events.parquet", repr(column))


def test_wrong_value_in_csv_names_column(tmp_path):
    events = [dict(e) for e in EVENTS]
    events[3]["bitrate_kbps"] = "fast"
    source = write_csv(tmp_path / "events.csv", events)
    _assert_user_error(tmp_path, source, "events.csv", "'bitrate_kbps'", "fast")


def test_bad_value_in_one_file_of_a_folder_names_that_file(tmp_path):
    write_csv(tmp_path / "ev" / "a.csv" if (tmp_path / "ev").mkdir() is None else None, EVENTS[:5])
    events = [dict(e) for e in EVENTS[5:]]
    events[1]["seq"] = "one"
    write_csv(tmp_path / "ev" / "b.csv", events)
    _assert_user_error(tmp_path, tmp_path / "ev", "b.csv", "'seq'")


def test_required_column_missing_from_one_parquet_file_names_that_file(tmp_path):
    write_parquet(tmp_path / "ev" / "a.parquet", EVENTS[:5])
    pq.write_table(events_table(EVENTS[5:], DIMS).drop_columns(["seq"]),
                   tmp_path / "ev" / "b.parquet")
    _assert_user_error(tmp_path, tmp_path / "ev", "b.parquet", "'seq'")


@pytest.mark.parametrize("content", [b"PAR1 this is not parquet", b""], ids=["garbage", "empty"])
def test_unreadable_parquet(tmp_path, content):
    (tmp_path / "events.parquet").write_bytes(content)
    _assert_user_error(tmp_path, tmp_path / "events.parquet", "events.parquet")


def test_truncated_parquet_in_a_folder_names_the_file(tmp_path):
    write_parquet(tmp_path / "ev" / "good.parquet", EVENTS)
    data = (tmp_path / "ev" / "good.parquet").read_bytes()
    (tmp_path / "ev" / "torn.parquet").write_bytes(data[: len(data) // 2])
    _assert_user_error(tmp_path, tmp_path / "ev", "torn.parquet")


def test_malformed_jsonl_line(tmp_path):
    path = write_jsonl(tmp_path / "events.jsonl", EVENTS)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"event_id": "x", "session_id": \n')
    _assert_user_error(tmp_path, path, "events.jsonl")


@pytest.mark.parametrize("make,needle", [
    (lambda p: p / "missing.parquet", "no such file"),
    (lambda p: p / "nothing-*.parquet", "no file matches"),
    (lambda p: (p / "empty").mkdir() or p / "empty", "no Parquet"),
    (lambda p: (p / "events.txt").write_text("x") and p / "events.txt", "unknown file type"),
], ids=["missing", "empty_glob", "empty_folder", "unknown_suffix"])
def test_no_readable_input(tmp_path, make, needle):
    source = make(tmp_path)
    _assert_user_error(tmp_path, source, str(source), needle)


@pytest.mark.parametrize("start,needle", [("2025-03-20T14:30:00Z", "aligned"),
                                          ("tomorrow", "ISO-8601")])
def test_bad_window_start(tmp_path, start, needle):
    write_parquet(tmp_path / "events.parquet", EVENTS)
    _assert_user_error(tmp_path, tmp_path / "events.parquet", needle,
                       extra=("--window-start", start, "--dims", "cdn"))


def test_window_start_selects_one_window(tmp_path):
    source = write_parquet(tmp_path / "events.parquet", EVENTS)
    out = tmp_path / "golden.parquet"
    code, err = run_cli("golden", "--events", str(source), "--out", str(out),
                        "--window-start", "2025-03-20T14:00:00Z", "--dims", "cdn,device")
    assert code == 0, err
    expected = [s for s in EXPECTED_SESSIONS if s["window_start"] == T0]
    assert golden_rows(out) == reference.aggregate(expected, DIMS)


def test_overflowing_value_is_a_user_error(tmp_path):
    """A bitrate in bit/s instead of kbit/s overflows bitrate x duration in 64 bits:
    exit 2 with a hint, never a wrapped number nor an internal error."""
    events = [_event("s", 0, 0, "attempt"), _event("s", 1, 1, "first_frame", bitrate_kbps=2**40),
              _event("s", 2, 2**31, "end")]
    source = write_parquet(tmp_path / "events.parquet", events)
    err = _assert_user_error(tmp_path, source, "events.parquet", "out of range")
    assert "bitrate_kbps" in err
