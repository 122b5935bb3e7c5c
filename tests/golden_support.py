"""Shared test plumbing for the golden calculator: raw events as dicts <-> Arrow tables,
and golden results as plain rows comparable with tests/reference.py."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timezone

import pyarrow as pa

from auditor.golden.calculator import GoldenOptions, GoldenResult
from reference import Options

TS = pa.timestamp("ms", tz="UTC")
BASE_COLUMNS = {
    "event_id": pa.string(), "session_id": pa.string(), "viewer_id": pa.string(),
    "seq": pa.int64(), "ts": TS, "received_at": TS, "event_type": pa.string(),
    "bitrate_kbps": pa.int64(), "error_code": pa.string(), "fatal": pa.bool_(),
    "end_reason": pa.string(),
}


def iso_to_ms(text: str) -> int:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    delta = value - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def events_table(events: Sequence[dict], dims: Iterable[str]) -> pa.Table:
    """Raw events (``ts``/``received_at`` as epoch ms) as a table in the raw-events schema."""
    columns = dict(BASE_COLUMNS)
    columns.update({d: pa.string() for d in dims if d not in columns})
    return pa.table({name: pa.array([e.get(name) for e in events], type=typ)
                     for name, typ in columns.items()})


def _plain(table: pa.Table) -> list[dict]:
    rows = table.to_pylist()
    for row in rows:
        if row.get("window_start") is not None:
            row["window_start"] = iso_to_ms(row["window_start"].isoformat())
    return rows


def sql_sessions(result: GoldenResult) -> list[dict]:
    """Per-session facts of a golden result as dicts, window_start as epoch ms, by session_id."""
    return sorted(_plain(result.sessions), key=lambda r: r["session_id"])


def sql_aggregates(result: GoldenResult) -> list[dict]:
    return _plain(result.aggregates)


def golden_options(options: Options) -> GoldenOptions:
    return GoldenOptions(start_anchor=options.start_anchor, attribution=options.attribution,
                         inactivity_timeout_ms=options.inactivity_timeout_ms,
                         ebvs_min_wait_ms=options.ebvs_min_wait_ms)
