"""Deterministic, vectorised generator of raw player events (docs/input.md#raw-events).

Sessions are drawn from :mod:`auditor.synth.traffic`; each gets a start time, an
outcome (played, exit before video start, start failure), a startup that may
contain a pre-roll ad, and for played sessions a playing time into which
"episodes" (stalls, seeks with their buffering, pauses, mid-roll ads, bitrate
switches, non-fatal errors) are inserted without overlapping. Heartbeats tick
every 20-30 s of wall time. Then realistic dirt is added at low rates:
redelivered batches (duplicate event ids), sessions whose tail arrives late,
orphan sessions (attempt lost), stray events after ``end`` and unknown event
types.

Everything is numpy over a fixed-size block of sessions with its own seeded
random stream, so the same ``(sessions, seed)`` gives the same events no matter
how they are consumed, and 50M events can be streamed to Parquet block by
block without holding them in memory.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa

from auditor.synth import traffic

EVENT_TYPES = ("attempt", "ad_start", "ad_end", "first_frame", "stall_start", "stall_end",
               "seek_start", "seek_end", "pause", "resume", "bitrate_change", "heartbeat",
               "error", "end")
UNKNOWN_EVENT_TYPES = ("cdn_switch", "qos_sample", "playhead_update")
_TYPE_NAMES = EVENT_TYPES + UNKNOWN_EVENT_TYPES
_T = {name: i for i, name in enumerate(_TYPE_NAMES)}
ERROR_CODES = ("MEDIA_ERR_DECODE", "MANIFEST_TIMEOUT", "DRM_LICENSE_FAILED", "HTTP_404",
               "SEGMENT_TIMEOUT")
END_REASONS = ("complete", "exit")

SCHEMA = pa.schema([
    ("event_id", pa.string()), ("session_id", pa.string()), ("viewer_id", pa.string()),
    ("seq", pa.int64()), ("ts", pa.timestamp("ms", tz="UTC")),
    ("received_at", pa.timestamp("ms", tz="UTC")), ("event_type", pa.string()),
    ("bitrate_kbps", pa.int64()), ("error_code", pa.string()), ("fatal", pa.bool_()),
    ("end_reason", pa.string()),
] + [(d, pa.string()) for d in traffic.DIMENSIONS])

BLOCK_SESSIONS = 50_000          # fixed: part of the seed's meaning, never tune per call
ROW_GROUP_ROWS = 1 << 20
DEFAULT_START = datetime(2025, 3, 20, 14, 0, tzinfo=timezone.utc)

# ordering of events sharing a timestamp within a session
_ORD_ATTEMPT, _ORD_EPISODE, _ORD_HEARTBEAT, _ORD_TERMINAL, _ORD_AFTER = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class DirtRates:
    """Rates of realistic data problems (probabilities per session unless noted)."""
    duplicate_sessions: float = 0.02      # a batch of events is redelivered (x slowness^2)
    late_sessions: float = 0.01           # the tail of the session arrives minutes late (x5 on mobile)
    orphan_sessions: float = 0.002        # the attempt event is lost
    stray_after_end: float = 0.005        # heartbeats keep coming after `end` (x10 on web players)
    unknown_per_minute: float = 0.02      # unknown event types per minute of playback

    @classmethod
    def none(cls) -> "DirtRates":
        return cls(0.0, 0.0, 0.0, 0.0, 0.0)


class _Rows:
    """Accumulates event rows as parallel integer arrays (codes, -1 = null)."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(self, sess, ts, etype, order, *, bitrate=0, error=-1, fatal=-1, reason=-1) -> None:
        n = len(sess)
        if n == 0:
            return
        full = lambda v: np.broadcast_to(np.asarray(v, dtype=np.int64), (n,))  # noqa: E731
        self.parts.append((np.asarray(sess, np.int64), np.asarray(ts, np.int64),
                           full(etype), full(order), full(bitrate), full(error), full(fatal),
                           full(reason)))

    def columns(self) -> list[np.ndarray]:
        return [np.concatenate([p[i] for p in self.parts]) for i in range(8)]


def _within(sizes: np.ndarray) -> np.ndarray:
    """0..size-1 for each group, concatenated."""
    total = int(sizes.sum())
    starts = np.cumsum(sizes) - sizes
    return np.arange(total, dtype=np.int64) - np.repeat(starts, sizes)


def _lognormal(rng, median, sigma, n):
    return rng.lognormal(np.log(median), sigma, n)


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _hex_chars(values: np.ndarray, digits: int = 16) -> np.ndarray:
    """Lowercase hex digits of each unsigned value, as an (n, digits) uint8 matrix."""
    v = values.astype(np.uint64)
    shifts = np.arange(4 * (digits - 1), -4, -4, dtype=np.uint64)
    return _HEX[((v[:, None] >> shifts[None, :]) & np.uint64(15)).astype(np.uint8)]


def _fixed_strings(*parts: np.ndarray | bytes) -> pa.StringArray:
    """Concatenate (n, w) uint8 matrices and constant byte strings row-wise into a string array.

    Fixed-width ids go straight into Arrow buffers: no Python objects, no casts.
    """
    n = next(len(p) for p in parts if isinstance(p, np.ndarray))
    cols = [np.broadcast_to(np.frombuffer(p, np.uint8), (n, len(p))) if isinstance(p, bytes) else p
            for p in parts]
    chars = np.ascontiguousarray(np.hstack(cols))
    width = chars.shape[1]
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(chars))


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a bijection on uint64, so distinct inputs give distinct ids."""
    z = x.astype(np.uint64)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return z


def _block(block: int, n: int, seed: int, start_ms: int, span_ms: int, total_sessions: int,
           dirt: DirtRates) -> pa.Table:
    rng = np.random.default_rng(np.random.SeedSequence([seed, block]))
    s = traffic.draw_sessions(rng, n)
    slow = s.slowness
    rows = _Rows()
    idx = np.arange(n, dtype=np.int64)

    # --- start and startup --------------------------------------------------
    t0 = start_ms + (rng.random(n) * span_ms).astype(np.int64)
    has_ad = rng.random(n) < np.where(s.live, 0.20, 0.35)
    ad_load = (_lognormal(rng, 700, 0.4, n) * slow).astype(np.int64) + 100
    ad_len = rng.choice(np.array([15_000, 20_000, 30_000]), n) + rng.integers(-300, 300, n)
    direct = np.clip(_lognormal(rng, 1800, 0.5, n) * slow, 250, 90_000).astype(np.int64)
    after_ad = np.clip(_lognormal(rng, 600, 0.5, n) * slow, 100, 30_000).astype(np.int64)
    ad_start = t0 + ad_load
    ad_end = ad_start + ad_len
    ff = np.where(has_ad, ad_end + after_ad, t0 + direct)

    # --- outcome: 0 played, 1 exit before video start, 2 start failure ---------
    vsf = rng.random(n) < 0.011 * s.cdn_failure * np.sqrt(slow)
    patience = _lognormal(rng, 14_000, 0.9, n)
    quick = rng.random(n) < 0.03
    ad_quit = has_ad & (rng.random(n) < 0.12)
    impatient = np.where(has_ad, after_ad > patience, direct > patience)
    ebvs = ~vsf & (quick | ad_quit | impatient)
    u = rng.uniform(0.05, 0.95, n)
    exit_ts = np.select(
        [quick, ad_quit],
        [t0 + (u * (ff - t0)).astype(np.int64), ad_start + (u * ad_len).astype(np.int64)],
        np.where(has_ad, ad_end + patience.astype(np.int64), t0 + patience.astype(np.int64)))
    exit_ts = np.minimum(exit_ts, ff - 1)
    has_ad &= ~vsf                                   # start failures happen before any ad
    vsf_ts = t0 + (rng.uniform(0.3, 1.0, n) * np.where(has_ad, ad_load, direct)).astype(np.int64)
    played = ~vsf & ~ebvs

    # --- playback: playing time with non-overlapping episodes -------------------
    play = np.where(s.live, _lognormal(rng, 360_000, 1.1, n), _lognormal(rng, 270_000, 1.0, n))
    play = np.where(played, np.clip(play, 5_000, 4 * 3600_000), 0).astype(np.int64)
    minutes = play / 60_000.0
    kinds = {  # episode kind -> rate per minute of playing
        "stall": 0.15 * slow ** 1.5,
        "seek": np.where(s.live, 0.0, 0.10),
        "pause": np.full(n, 0.04),
        "ad": np.where(has_ad, 1 / 12, 0.0),
        "bitrate": np.full(n, 0.30),
        "error": np.full(n, 0.01),
        "unknown": np.full(n, dirt.unknown_per_minute),
    }
    names = list(kinds)
    counts = np.stack([rng.poisson(r * minutes) for r in kinds.values()])
    ep_kind = np.concatenate([np.full(c.sum(), k) for k, c in enumerate(counts)])
    ep_sess = np.concatenate([np.repeat(idx, c) for c in counts])
    ep_off = (rng.random(len(ep_sess)) * play[ep_sess]).astype(np.int64)
    order = np.lexsort((ep_kind, ep_off, ep_sess))
    ep_kind, ep_sess, ep_off = ep_kind[order], ep_sess[order], ep_off[order]
    m = len(ep_sess)
    ep_slow = slow[ep_sess]
    seek_stall = rng.random(m) < 0.7
    pre_stall = rng.integers(30, 200, m)
    seek_buffer = (_lognormal(rng, 900, 0.6, m) * ep_slow).astype(np.int64) + 50
    post_stall = rng.integers(1, 40, m)
    dur = np.select(
        [ep_kind == names.index("stall"), ep_kind == names.index("seek"),
         ep_kind == names.index("pause"), ep_kind == names.index("ad")],
        [np.clip(_lognormal(rng, 1500, 0.8, m) * ep_slow, 150, 60_000).astype(np.int64),
         np.where(seek_stall, pre_stall + seek_buffer + post_stall, rng.integers(150, 700, m)),
         np.clip(_lognormal(rng, 40_000, 1.0, m), 1_000, 1_800_000).astype(np.int64),
         rng.choice(np.array([30_000, 60_000, 90_000]), m)], 0)
    cum = np.cumsum(dur) - dur
    first = np.searchsorted(ep_sess, ep_sess, side="left")
    ep_ts = ff[ep_sess] + ep_off + (cum - cum[first])
    term = np.where(played, ff + play + np.bincount(ep_sess, dur, n).astype(np.int64),
                    np.where(vsf, vsf_ts, exit_ts))

    # --- events ----------------------------------------------------------------
    rows.add(idx, t0, _T["attempt"], _ORD_ATTEMPT)
    show_ad = has_ad & (ad_start < term)
    rows.add(idx[show_ad], ad_start[show_ad], _T["ad_start"], _ORD_EPISODE)
    done_ad = has_ad & (ad_end < term)
    rows.add(idx[done_ad], ad_end[done_ad], _T["ad_end"], _ORD_EPISODE)
    top = s.max_rung - (slow > 1.4)
    rung0 = np.maximum(0, top - rng.integers(1, 4, n))
    rows.add(idx[played], ff[played], _T["first_frame"], _ORD_EPISODE,
             bitrate=traffic.BITRATE_LADDER_KBPS[rung0[played]])

    def ep(kind: str) -> np.ndarray:
        return ep_kind == names.index(kind)

    def episode(k: np.ndarray, start: np.ndarray, length: np.ndarray, opens: str, closes: str) -> None:
        rows.add(ep_sess[k], start, _T[opens], _ORD_EPISODE)
        rows.add(ep_sess[k], start + length, _T[closes], _ORD_EPISODE)

    for kind, opens, closes in (("stall", "stall_start", "stall_end"), ("seek", "seek_start", "seek_end"),
                                ("pause", "pause", "resume"), ("ad", "ad_start", "ad_end")):
        k = ep(kind)
        episode(k, ep_ts[k], dur[k], opens, closes)
        if kind == "seek":   # the buffering a seek causes, inside the seek
            k = k & seek_stall
            episode(k, ep_ts[k] + pre_stall[k], seek_buffer[k], "stall_start", "stall_end")
    # ABR: switch up to the session's top rung, drop below it on congestion, alternately,
    # so every bitrate_change really changes the rendition
    k = ep("bitrate")
    b_sess = ep_sess[k]
    nth = np.arange(len(b_sess)) - np.searchsorted(b_sess, b_sess, side="left")
    rung = np.where(nth % 2 == 0, top[b_sess],
                    np.maximum(0, top[b_sess] - rng.integers(1, 4, len(b_sess))))
    rows.add(ep_sess[k], ep_ts[k], _T["bitrate_change"], _ORD_EPISODE,
             bitrate=traffic.BITRATE_LADDER_KBPS[rung])
    k = ep("error")
    rows.add(ep_sess[k], ep_ts[k], _T["error"], _ORD_EPISODE,
             error=rng.integers(0, len(ERROR_CODES), k.sum()), fatal=0)
    k = ep("unknown")
    rows.add(ep_sess[k], ep_ts[k], rng.integers(len(EVENT_TYPES), len(_TYPE_NAMES), k.sum()),
             _ORD_EPISODE)

    # heartbeats every 20-30 s of wall time while the session is alive
    hb_int = rng.integers(20_000, 30_001, n)
    n_hb = np.maximum(0, (term - t0 - 1) // hb_int)
    hb_sess = np.repeat(idx, n_hb)
    hb_ts = t0[hb_sess] + (_within(n_hb) + 1) * hb_int[hb_sess]
    rows.add(hb_sess, hb_ts, _T["heartbeat"], _ORD_HEARTBEAT)

    # terminal events
    vpf = played & (rng.random(n) < 0.004 * slow)
    complete = rng.random(n) < np.where(s.live, 0.03, 0.30)
    ebvs_end = ebvs & (rng.random(n) < 0.85)         # the rest just stop sending (app killed)
    fatal = vsf | vpf
    rows.add(idx[fatal], term[fatal], _T["error"], _ORD_TERMINAL,
             error=rng.integers(0, len(ERROR_CODES), fatal.sum()), fatal=1)
    plain_end = (played & ~vpf) | ebvs_end
    rows.add(idx[plain_end], term[plain_end], _T["end"], _ORD_TERMINAL,
             reason=np.where(played & complete, 0, 1)[plain_end])
    after_fatal = fatal & (rng.random(n) < 0.5)       # the player reports its teardown
    rows.add(idx[after_fatal], term[after_fatal] + rng.integers(50, 800, after_fatal.sum()),
             _T["end"], _ORD_AFTER, reason=1)

    # dirt: stray events after `end`: the heartbeat timer outlives the session (more often
    # on web players) and keeps ticking a few times; after an exit during startup the
    # player may still report the first frame it rendered
    stray_p = dirt.stray_after_end * np.where(s.dims["device"] == traffic.VALUES["device"].index("web"), 10, 1)
    stray = plain_end & (rng.random(n) < stray_p)
    stray_ff = stray & ebvs & (rng.random(n) < 0.5)
    rows.add(idx[stray_ff], term[stray_ff] + rng.integers(200, 3_000, stray_ff.sum()),
             _T["first_frame"], _ORD_AFTER, bitrate=traffic.BITRATE_LADDER_KBPS[rung0[stray_ff]])
    n_stray = np.where(stray, rng.geometric(0.3, n), 0)
    st_sess = np.repeat(idx, n_stray)
    rows.add(st_sess, term[st_sess] + (_within(n_stray) + 1) * hb_int[st_sess], _T["heartbeat"],
             _ORD_AFTER)

    sess, ts, etype, ordk, bitrate, error, fatal_c, reason = rows.columns()
    o = np.lexsort((ordk, ts, sess))
    sess, ts, etype, bitrate, error, fatal_c, reason = (
        a[o] for a in (sess, ts, etype, bitrate, error, fatal_c, reason))
    sizes = np.bincount(sess, minlength=n)
    seq = _within(sizes)
    # heartbeats report the rendition playing now: forward-fill within the session
    carry = (bitrate > 0) | (seq == 0)
    src = np.maximum.accumulate(np.where(carry, np.arange(len(sess)), 0))
    hb = etype == _T["heartbeat"]
    bitrate = np.where(hb, bitrate[src], bitrate)

    # arrival: sub-second normally; late sessions deliver their tail in one late batch
    recv = ts + np.clip(_lognormal(rng, 400, 1.0, len(ts)), 20, 120_000).astype(np.int64)
    late = rng.random(n) < dirt.late_sessions * np.where(s.mobile, 5, 1)
    cut = (rng.random(n) * sizes).astype(np.int64)
    first_ev = np.cumsum(sizes) - sizes
    cut_ts = ts[np.minimum(first_ev + cut, len(ts) - 1)]
    reconnect = cut_ts + _lognormal(rng, 1_200_000, 0.8, n).astype(np.int64)
    in_tail = late[sess] & (seq >= cut[sess])
    recv = np.where(in_tail, np.maximum(recv, reconnect[sess]), recv)

    keep = ~((etype == _T["attempt"]) & (rng.random(n) < dirt.orphan_sessions)[sess])

    # redelivered batches: a run of events arrives a second time, same ids; retries follow
    # timeouts, so they are likelier on slow networks and at session start (cold connection)
    dup = rng.random(n) < dirt.duplicate_sessions * slow ** 2
    run_at = np.where(rng.random(n) < 0.6, 0, (rng.random(n) * sizes).astype(np.int64))
    run_len = rng.geometric(0.25, n)
    copy = dup[sess] & (seq >= run_at[sess]) & (seq < run_at[sess] + run_len[sess]) & keep
    retry = rng.integers(2_000, 60_000, n)
    cols = [sess, seq, ts, etype, bitrate, error, fatal_c, reason]
    cols = [np.concatenate([c[keep], c[copy]]) for c in cols]
    recv = np.concatenate([recv[keep], recv[copy] + retry[sess[copy]]])
    sess, seq, ts, etype, bitrate, error, fatal_c, reason = cols
    o = np.lexsort((recv, seq, sess))
    sess, seq, ts, etype, bitrate, error, fatal_c, reason, recv = (
        a[o] for a in (sess, seq, ts, etype, bitrate, error, fatal_c, reason, recv))

    salt = np.random.SeedSequence(seed).generate_state(2, np.uint64)
    with np.errstate(over="ignore"):
        sid_num = salt[0] + np.uint64(block * BLOCK_SESSIONS) + idx.astype(np.uint64)
        viewer = (max(1, total_sessions // 3) * rng.random(n) ** 2).astype(np.uint64)
        viewer_num = salt[1] + viewer
    session_hex = _hex_chars(_mix64(sid_num))
    viewer_hex = _hex_chars(_mix64(viewer_num))
    return _to_table(sess, seq, ts, recv, etype, bitrate, error, fatal_c, reason,
                     session_hex, viewer_hex, s)


def _codes(values: np.ndarray, names) -> pa.Array:
    """Strings from codes into ``names``; a negative code is null."""
    dictionary = pa.array(list(names), type=pa.string())
    mask = values < 0
    indices = pa.array(np.where(mask, 0, values).astype(np.int32), mask=mask)
    return dictionary.take(indices)


def _to_table(sess, seq, ts, recv, etype, bitrate, error, fatal_c, reason, session_hex,
              viewer_hex, s: traffic.Sessions) -> pa.Table:
    if len(seq) and seq.max() >= 16**4:
        raise ValueError("a session has more than 65535 events")
    sid = session_hex[sess]
    cols = {
        "event_id": _fixed_strings(sid, b"-", _hex_chars(seq, 4)),
        "session_id": _fixed_strings(sid),
        "viewer_id": _fixed_strings(b"v", viewer_hex[sess]),
        "seq": pa.array(seq, pa.int64()),
        "ts": pa.array(ts, pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
        "received_at": pa.array(recv, pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
        "event_type": _codes(etype, _TYPE_NAMES),
        "bitrate_kbps": pa.array(bitrate, pa.int64(), mask=bitrate <= 0),
        "error_code": _codes(error, ERROR_CODES),
        "fatal": pa.array(fatal_c == 1, pa.bool_(), mask=fatal_c < 0),
        "end_reason": _codes(reason, END_REASONS),
    }
    for d in traffic.DIMENSIONS:
        cols[d] = _codes(s.dims[d][sess], traffic.VALUES[d])
    return pa.Table.from_pydict(cols, schema=SCHEMA)


def _blocks(sessions: int, seed: int, start: datetime, windows: int, window_minutes: int,
            dirt: DirtRates) -> Iterator[pa.Table]:
    if sessions < 0 or windows < 1 or window_minutes < 1:
        raise ValueError("sessions must be >= 0, windows and window_minutes >= 1")
    if start.tzinfo is None:
        start = start.replace(tzinfo=timezone.utc)
    start_ms = int(start.timestamp() * 1000)
    span_ms = windows * window_minutes * 60_000
    for block, first in enumerate(range(0, sessions, BLOCK_SESSIONS)):
        n = min(BLOCK_SESSIONS, sessions - first)
        yield _block(block, n, seed, start_ms, span_ms, sessions, dirt)


def generate_events(sessions: int, seed: int, *, start: datetime = DEFAULT_START,
                    windows: int = 1, window_minutes: int = 60,
                    dirt: DirtRates = DirtRates()) -> pa.Table:
    """Raw events of ``sessions`` sessions starting in ``windows`` windows from ``start``.

    Rows are ordered by session (in generation order), then ``seq``, then
    ``received_at``; the same arguments always give the same table.
    """
    tables = list(_blocks(sessions, seed, start, windows, window_minutes, dirt))
    return pa.concat_tables(tables) if tables else SCHEMA.empty_table()


def write_events(path: str | Path, sessions: int, seed: int, *, start: datetime = DEFAULT_START,
                 windows: int = 1, window_minutes: int = 60,
                 dirt: DirtRates = DirtRates()) -> int:
    """Stream the generated events into one Parquet file block by block; returns the row count.

    Memory stays bounded by one block (50,000 sessions, about 1.5M events).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with write_parquet(path, SCHEMA) as writer:
        for table in _blocks(sessions, seed, start, windows, window_minutes, dirt):
            writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
            rows += table.num_rows
    return rows


# Per-column Parquet encodings: delta encoding for client-ordered numbers and ids
# (session-major rows make their deltas small), dictionaries for the rest.
_DELTA = {"ts": "DELTA_BINARY_PACKED", "received_at": "DELTA_BINARY_PACKED",
          "seq": "DELTA_BINARY_PACKED", "event_id": "DELTA_BYTE_ARRAY"}


@contextmanager
def write_parquet(path: str | Path, schema: pa.Schema) -> Iterator:
    """A Parquet writer whose bytes depend only on the data (no clock, fixed settings),
    written atomically (auditor.tables.atomic_path): an interrupted run leaves no
    truncated file."""
    import pyarrow.parquet as pq

    from auditor.tables import atomic_path

    delta = {c: e for c, e in _DELTA.items() if c in schema.names}
    with atomic_path(path) as fh, pq.ParquetWriter(
            fh, schema, compression="zstd", compression_level=3, write_statistics=True,
            use_dictionary=[n for n in schema.names if n not in delta],
            column_encoding=delta or None) as writer:
        yield writer
