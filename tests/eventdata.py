"""Hand-built raw events for the data-quality tests: clean sessions, and
seeders that add one kind of defect a known number of times."""
from __future__ import annotations

import pyarrow as pa

T0 = 1_742_479_200_000  # 2025-03-20T14:00:00Z in epoch ms
CDNS = ("akamai", "fastly", "cloudfront")
DEVICES = ("roku", "ios", "web", "android")
COLUMNS = ("event_id", "session_id", "viewer_id", "seq", "ts", "received_at", "event_type",
           "bitrate_kbps", "error_code", "fatal", "end_reason", "cdn", "device", "os",
           "player_version", "country", "isp", "asset_id", "content_type")


def event(session: str, seq: int, ts: int, event_type: str, *, i: int = 0, received_at=None,
          event_id: str | None = None, **extra) -> dict:
    row = dict.fromkeys(COLUMNS)
    row.update(event_id=event_id or f"{session}-e{seq}", session_id=session, viewer_id=f"v{i}",
               seq=seq, ts=ts, received_at=ts + 200 if received_at is None else received_at,
               event_type=event_type, cdn=CDNS[i % 3], device=DEVICES[i % 4], os="x",
               player_version="5.2", country="us", isp="isp", asset_id=f"a{i % 7}",
               content_type="vod")
    row.update(extra)
    return row


def clean_session(i: int) -> list[dict]:
    """attempt, first_frame, heartbeat, then end (or a fatal error for every fifth session)."""
    s, t = f"s{i:05d}", T0 + i * 1000
    rows = [event(s, 0, t, "attempt", i=i),
            event(s, 1, t + 1500, "first_frame", i=i, bitrate_kbps=3000),
            event(s, 2, t + 21500, "heartbeat", i=i, bitrate_kbps=3000)]
    if i % 5 == 4:
        rows.append(event(s, 3, t + 30000, "error", i=i, error_code="E1", fatal=True))
    else:
        rows.append(event(s, 3, t + 40000, "end", i=i, end_reason="complete" if i % 2 else "exit"))
    return rows


def clean(n: int = 200) -> list[dict]:
    return [r for i in range(n) for r in clean_session(i)]


def table(rows: list[dict]) -> pa.Table:
    schema = pa.schema([(c, pa.int64() if c in ("seq", "ts", "received_at", "bitrate_kbps")
                         else pa.bool_() if c == "fatal" else pa.string()) for c in COLUMNS])
    return pa.Table.from_pylist(rows, schema=schema)
