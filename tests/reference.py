"""An independent, plain-Python reference of the golden definitions (docs/definitions.md).

Written from the definitions alone, one session at a time, for clarity rather than speed;
the tests compare it with the SQL golden calculator digit for digit. It must stay
obviously correct: no cleverness, every step named after the section it follows
(a #name in a comment is a section of docs/definitions.md).

Events are plain dicts with the columns of docs/input.md#columns; ``ts`` and ``received_at``
are integer epoch milliseconds (UTC), already truncated.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

EVENT_TYPES = frozenset({
    "attempt", "ad_start", "ad_end", "first_frame", "stall_start", "stall_end",
    "seek_start", "seek_end", "pause", "resume", "bitrate_change", "heartbeat",
    "error", "end",
})
FACTS = ("attempt", "started", "ebvs", "vsf", "vpf", "vst_ms", "play_ms", "stall_ms",
         "bitrate_kbps_ms")
FACT_TO_COMPONENT = {"attempt": "attempts", "started": "plays", "ebvs": "ebvs",
                     "ebvs_short": "ebvs_short", "vsf": "vsf", "vpf": "vpf",
                     "vst_ms": "vst_ms_sum", "play_ms": "play_ms", "stall_ms": "stall_ms",
                     "bitrate_kbps_ms": "bitrate_kbps_ms"}


@dataclass(frozen=True)
class Options:
    """docs/definitions.md#named-options, with the same defaults as the golden calculator."""

    start_anchor: str = "content_frame"
    attribution: str = "session_start"
    inactivity_timeout_ms: int | None = None
    ebvs_min_wait_ms: int = 0


def _nulls_last(value):
    """Sort key: None after every value (SQL ORDER BY ... NULLS LAST)."""
    return (value is None, value if value is not None else 0)


def _nulls_last_text(value):
    return (value is None, value if value is not None else "")


def _copy_preference(event: dict, dims: Sequence[str]):
    """docs/definitions.md#deduplication: smallest received_at (nulls last), then seq, ts,
    event_type; then (ties) bitrate_kbps, fatal, the dimension values (nulls last)."""
    return (_nulls_last(event.get("received_at")), event["seq"], event["ts"],
            _nulls_last_text(event.get("event_type")), _nulls_last(event.get("bitrate_kbps")),
            _nulls_last(event.get("fatal")),
            *(_nulls_last_text(event.get(d)) for d in dims))


def deduplicate(events: Iterable[dict], dims: Sequence[str]) -> list[dict]:
    """docs/definitions.md#deduplication (one event per (session_id, event_id)); rows missing
    a key are dropped first (docs/definitions.md#rows-missing-a-key)."""
    best: dict[tuple[str, str], dict] = {}
    for e in events:
        if any(e.get(k) is None for k in ("session_id", "event_id", "seq", "ts")):
            continue
        key = (e["session_id"], e["event_id"])
        if key not in best or _copy_preference(e, dims) < _copy_preference(best[key], dims):
            best[key] = e
    return list(best.values())


def is_fatal_error(e: dict) -> bool:
    return e["event_type"] == "error" and e.get("fatal") is True


def session_facts(events: list[dict], dims: Sequence[str], window_ms: int,
                  options: Options = Options()) -> dict | None:
    """The facts of one session (docs/definitions.md, every section) from its deduplicated events;
    None for an orphan."""
    # unknown event types (and a null type) take no part: #unknown-event-types
    known = [e for e in events if e.get("event_type") in EVENT_TYPES]
    # order by seq, ts, event_id: #event-order
    ordered = sorted(known, key=lambda e: (e["seq"], e["ts"], e["event_id"]))
    # first attempt; none -> orphan: #first-attempt-and-orphans
    first = next((i for i, e in enumerate(ordered) if e["event_type"] == "attempt"), None)
    if first is None:
        return None
    attempt = ordered[first]
    # live events: #live-events
    live = ordered[first:]
    # first end or fatal error; else the last live event: #termination
    end = next((i for i, e in enumerate(live)
                if e["event_type"] == "end" or is_fatal_error(e)), len(live) - 1)
    fatal = is_fatal_error(live[end])
    # #option-inactivity_timeout_ms: the last event before the first gap longer than the timeout
    if options.inactivity_timeout_ms is not None:
        for i in range(end):
            if live[i + 1]["ts"] - live[i]["ts"] > options.inactivity_timeout_ms:
                end, fatal = i, False
                break
    live = live[: end + 1]

    # the state of each interval (#state-priority), from the events up to the one opening it
    any_frame = options.start_anchor == "any_frame"
    in_ad = seeking = stalled = paused = anchored = False
    bitrate = None
    started = False
    vst = play = stall = bitrate_ms = 0
    for i, e in enumerate(live):
        kind = e["event_type"]
        if kind in ("ad_start", "ad_end"):
            in_ad = kind == "ad_start"
        elif kind in ("seek_start", "seek_end"):
            seeking = kind == "seek_start"
        elif kind in ("stall_start", "stall_end"):
            stalled = kind == "stall_start"
        elif kind in ("pause", "resume"):
            paused = kind == "pause"
        if kind == "first_frame" or (any_frame and kind == "ad_start"):
            anchored = started = True
        if e.get("bitrate_kbps") is not None and e["bitrate_kbps"] > 0:
            bitrate = e["bitrate_kbps"]
        if i == len(live) - 1:
            break  # the terminating (or last) event opens no interval
        duration = max(0, live[i + 1]["ts"] - e["ts"])
        if in_ad:
            state = "ad"
        elif not anchored:
            state = "startup"
        elif seeking:
            state = "seeking"
        elif stalled:
            state = "stalled"
        elif paused:
            state = "paused"
        else:
            state = "playing"
        if state == "startup":
            vst += duration
        elif state == "stalled":
            stall += duration
        elif state == "playing":
            play += duration
            if bitrate is not None:
                bitrate_ms += bitrate * duration

    # the facts (#session-facts)
    vsf = int(not started and fatal)
    ebvs = int(not started and not fatal)
    ebvs_short = 0
    if options.ebvs_min_wait_ms and ebvs:
        if live[-1]["ts"] - attempt["ts"] < options.ebvs_min_wait_ms:
            ebvs, ebvs_short = 0, 1
    # the window (#window-grid, #option-attribution)
    anchor_ts = live[-1]["ts"] if options.attribution == "session_end" else attempt["ts"]
    facts = {
        "session_id": attempt["session_id"],
        "window_start": (anchor_ts // window_ms) * window_ms,
        **{d: attempt.get(d) for d in dims},   # the first attempt's (#session-attributes)
        "attempt": 1,
        "started": int(started),
        "ebvs": ebvs,
        "vsf": vsf,
        "vpf": int(started and fatal),
        "vst_ms": vst if started else 0,
        "play_ms": play,
        "stall_ms": stall,
        "bitrate_kbps_ms": bitrate_ms,
    }
    if options.ebvs_min_wait_ms:
        facts["ebvs_short"] = ebvs_short
    return facts


def compute_sessions(events: Iterable[dict], dims: Sequence[str], window_minutes: int = 60,
                     options: Options = Options(), window_from_ms: int | None = None,
                     window_to_ms: int | None = None) -> list[dict]:
    """Per-session facts of every non-orphan session, sorted by session_id; with a window
    range, only sessions attributed to ``[window_from_ms, window_to_ms)``."""
    window_ms = window_minutes * 60_000
    by_session: dict[str, list[dict]] = defaultdict(list)
    for e in deduplicate(events, dims):
        by_session[e["session_id"]].append(e)
    out = []
    for sid in sorted(by_session):
        facts = session_facts(by_session[sid], dims, window_ms, options)
        if facts is None:
            continue
        if window_from_ms is not None and not window_from_ms <= facts["window_start"] < window_to_ms:
            continue
        out.append(facts)
    return out


def aggregate(sessions: Iterable[dict], dims: Sequence[str]) -> list[dict]:
    """docs/definitions.md#canonical-aggregate: every fact summed per (window_start, dims)."""
    totals: dict[tuple, dict] = {}
    for s in sessions:
        key = (s["window_start"], *(s[d] for d in dims))
        row = totals.setdefault(key, {"window_start": s["window_start"],
                                      **{d: s[d] for d in dims}})
        for fact, component in FACT_TO_COMPONENT.items():
            if fact in s:
                row[component] = row.get(component, 0) + s[fact]
    # ORDER BY window_start, dims NULLS LAST
    return [totals[k] for k in sorted(totals, key=lambda k: (k[0], *map(_nulls_last_text, k[1:])))]
