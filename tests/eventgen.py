"""Tiny deterministic raw-event tables for the tests (docs/input.md#columns)."""
from __future__ import annotations

import random
from datetime import datetime, timezone

import pyarrow as pa

T0 = datetime(2025, 3, 20, 14, 0, tzinfo=timezone.utc)
T0_MS = int(T0.timestamp() * 1000)
CDNS = ("akamai", "fastly", "cloudfront")
DEVICES = ("roku", "web", "ios", None)
VERSIONS = ("5.1", "5.2")
COUNTRIES = ("US", "FR")


def make_events(sessions: int = 400, seed: int = 7, *, span_minutes: int = 60,
                start_ms: int = T0_MS) -> pa.Table:
    """``sessions`` sessions starting uniformly in ``span_minutes`` from ``start_ms``:
    plays (with stalls and bitrate changes), exits before start, start failures and
    playback failures, over cdn / device (with nulls) / player_version / country."""
    rng = random.Random(seed)
    rows: list[dict] = []
    for s in range(sessions):
        sid = f"s{seed}-{s:05d}"
        dims = {"cdn": rng.choice(CDNS), "device": rng.choice(DEVICES),
                "player_version": rng.choice(VERSIONS), "country": rng.choice(COUNTRIES)}
        t = start_ms + rng.randrange(span_minutes * 60_000)
        seq = 0

        def add(etype: str, ts: int, **extra) -> None:
            nonlocal seq
            rows.append({"event_id": f"{sid}-e{seq}", "session_id": sid, "viewer_id": f"v{s % 97}",
                         "seq": seq, "ts": ts, "received_at": ts + 150, "event_type": etype,
                         "bitrate_kbps": extra.get("bitrate"), "error_code": extra.get("error"),
                         "fatal": extra.get("fatal"), "end_reason": extra.get("reason"), **dims})
            seq += 1

        add("attempt", t)
        outcome = rng.random()
        if outcome < 0.12:                      # exit before video start
            add("end", t + rng.randrange(500, 9000), reason="exit")
            continue
        if outcome < 0.18:                      # video start failure
            add("error", t + rng.randrange(300, 5000), error="E_SRC", fatal=True)
            continue
        t += rng.randrange(400, 4000)
        bitrate = rng.choice((1800, 3500, 6000))
        add("first_frame", t, bitrate=bitrate)
        for _ in range(rng.randrange(1, 5)):
            t += rng.randrange(5_000, 40_000)
            kind = rng.random()
            if kind < 0.3:
                add("stall_start", t)
                t += rng.randrange(200, 6000)
                add("stall_end", t)
            elif kind < 0.5:
                bitrate = rng.choice((1800, 3500, 6000))
                add("bitrate_change", t, bitrate=bitrate)
            else:
                add("heartbeat", t, bitrate=bitrate)
        t += rng.randrange(1000, 30_000)
        if outcome < 0.24:                      # video playback failure
            add("error", t, error="E_NET", fatal=True)
        else:
            add("end", t, reason=rng.choice(("complete", "exit")))
    table = pa.Table.from_pylist(rows)
    for name in ("ts", "received_at"):
        i = table.schema.get_field_index(name)
        table = table.set_column(i, name, table.column(name).cast(pa.timestamp("ms", tz="UTC")))
    return table
