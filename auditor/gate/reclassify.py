"""The session reclassification matrix: which sessions changed outcome between base and head.

Both sides' per-session facts (golden's ``g_sessions``) are joined on the
corpus input and ``session_id``. Each session gets one outcome per side:

- ``play``: started, no fatal error after the start;
- ``vpf``: started, then a fatal error (video playback failure);
- ``ebvs``: exited before the video started;
- ``short_exit``: an exit before the start shorter than ``ebvs_min_wait_ms`` (not an EBVS);
- ``vsf``: a fatal error before the start (video start failure);
- ``absent``: not counted on that side (no attempt, or outside the corpus's windows).

A cell of the matrix counts the sessions that went from one outcome to
another ("41 sessions ebvs -> vsf"), with a few example sessions and their
raw events. Sessions that kept their outcome but changed a fact (startup,
playing, stall time, bitrate) or their window are counted beside it.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from auditor.golden.sqlfiles import quote_ident
from auditor.windows import iso

EXAMPLES = 3        # example sessions per cell
EVENTS_SHOWN = 40   # raw events listed per example session
_OUTCOME = """CASE WHEN {p}.session_id IS NULL THEN 'absent'
     WHEN {p}.started = 1 AND {p}.vpf = 1 THEN 'vpf'
     WHEN {p}.started = 1 THEN 'play'
     WHEN {p}.vsf = 1 THEN 'vsf'
     WHEN {p}.ebvs = 1 THEN 'ebvs'
     WHEN {p}.ebvs_short = 1 THEN 'short_exit'
     ELSE 'attempt' END"""
_FACTS = ("vst_ms", "play_ms", "stall_ms", "bitrate_kbps_ms")


@dataclass(frozen=True)
class Example:
    input: str
    session_id: str
    base: dict[str, Any]
    head: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"input": self.input, "session_id": self.session_id, "base": self.base,
                "head": self.head, "events": self.events}


@dataclass(frozen=True)
class Cell:
    base: str
    head: str
    sessions: int
    examples: tuple[Example, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"base": self.base, "head": self.head, "sessions": self.sessions,
                "examples": [e.to_dict() for e in self.examples]}


@dataclass(frozen=True)
class Reclassification:
    sessions: int                 # sessions on either side
    cells: tuple[Cell, ...]       # outcome changes, largest first
    facts_changed: int            # same outcome, a fact changed
    window_changed: int           # same outcome, attributed to another window
    facts_examples: tuple[Example, ...] = ()

    @property
    def reclassified(self) -> int:
        return sum(c.sessions for c in self.cells)

    def to_dict(self) -> dict[str, Any]:
        return {"sessions": self.sessions, "reclassified": self.reclassified,
                "cells": [c.to_dict() for c in self.cells], "facts_changed": self.facts_changed,
                "window_changed": self.window_changed,
                "facts_examples": [e.to_dict() for e in self.facts_examples]}


def _facts_table(tables: Sequence[pa.Table]) -> pa.Table:
    cols = ("input", "session_id", "window_start", "attempt", "started", "ebvs", "ebvs_short", "vsf",
            "vpf", *_FACTS)
    out = []
    for t in tables:
        if "ebvs_short" not in t.column_names:
            t = t.append_column("ebvs_short", pa.array([0] * t.num_rows, pa.int64()))
        out.append(t.select(list(cols)))
    return pa.concat_tables(out, promote_options="permissive")


EventViews = Mapping[str, str]
# {input name: the example sessions' ids} -> {input name: a table on ``con`` of their raw events}
FetchEvents = Callable[[Mapping[str, Sequence[str]]], EventViews]


def reclassify(con: duckdb.DuckDBPyConnection, base: Sequence[pa.Table], head: Sequence[pa.Table],
               event_views: EventViews | FetchEvents) -> Reclassification:
    """The matrix from per-input session facts (each table has an ``input`` column naming
    the corpus input). ``event_views`` maps that name to a view of its raw events on
    ``con``, or is a function given the example sessions' ids per input that returns such
    views (when the events are not on ``con``: the Spark engine fetches just those sessions)."""
    con.register("gate_sb", _facts_table(base))
    con.register("gate_sh", _facts_table(head))
    facts_differ = " OR ".join(f"b.{f} <> h.{f}" for f in _FACTS)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE gate_reclass AS
        SELECT coalesce(b.input, h.input) AS input, coalesce(b.session_id, h.session_id) AS session_id,
               {_OUTCOME.format(p='b')} AS b_outcome, {_OUTCOME.format(p='h')} AS h_outcome,
               b.session_id IS NOT NULL AND h.session_id IS NOT NULL AND ({facts_differ}) AS facts_changed,
               b.window_start IS DISTINCT FROM h.window_start AS window_changed,
               b.window_start AS b_window, h.window_start AS h_window,
               {", ".join(f"b.{f} AS b_{f}, h.{f} AS h_{f}" for f in _FACTS)}
        FROM gate_sb b FULL OUTER JOIN gate_sh h USING (input, session_id)""")
    con.unregister("gate_sb")
    con.unregister("gate_sh")
    total, facts, windows = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE b_outcome = h_outcome AND facts_changed), "
        "count(*) FILTER (WHERE b_outcome = h_outcome AND b_outcome <> 'absent' AND window_changed) "
        "FROM gate_reclass").fetchone()
    counts = con.execute("SELECT b_outcome, h_outcome, count(*) FROM gate_reclass "
                         "WHERE b_outcome <> h_outcome GROUP BY ALL ORDER BY 3 DESC, 1, 2").fetchall()
    cell_rows = [(b, h, n, con.execute(
        "SELECT * FROM gate_reclass WHERE b_outcome = $b AND h_outcome = $h "
        "ORDER BY input, session_id LIMIT $k", {"b": b, "h": h, "k": EXAMPLES}).df())
        for b, h, n in counts]
    facts_rows = con.execute("SELECT * FROM gate_reclass WHERE b_outcome = h_outcome AND facts_changed "
                             "ORDER BY input, session_id LIMIT $k", {"k": EXAMPLES}).df()
    if callable(event_views):
        wanted: dict[str, list[str]] = {}
        for rows in [r for *_, r in cell_rows] + [facts_rows]:
            for inp, sid in zip(rows["input"], rows["session_id"]):
                wanted.setdefault(inp, []).append(sid)
        event_views = event_views(wanted) if wanted else {}
    cells = tuple(Cell(b, h, int(n), _examples(con, rows, event_views)) for b, h, n, rows in cell_rows)
    return Reclassification(sessions=int(total), cells=cells, facts_changed=int(facts),
                            window_changed=int(windows),
                            facts_examples=_examples(con, facts_rows, event_views))


def _side(row: dict, prefix: str) -> dict[str, Any]:
    window = row[prefix + "window"]
    return {"outcome": row[prefix[0] + "_outcome"],
            "window_start": None if window is None or window != window else iso(window),
            **{f: None if row[prefix + f] != row[prefix + f] else int(row[prefix + f]) for f in _FACTS}}


def _examples(con: duckdb.DuckDBPyConnection, rows, event_views: EventViews) -> tuple[Example, ...]:
    out = []
    for row in rows.to_dict("records"):
        view = event_views.get(row["input"])
        events = session_events(con, view, row["session_id"]) if view else []
        out.append(Example(input=row["input"], session_id=row["session_id"], base=_side(row, "b_"),
                           head=_side(row, "h_"), events=events))
    return tuple(out)


def session_events(con: duckdb.DuckDBPyConnection, view: str, session_id: str) -> list[dict[str, Any]]:
    """A session's raw events in (seq, ts) order, times as milliseconds after its first event."""
    rows = con.execute(
        f"SELECT seq, ts - min(ts) OVER () AS t_ms, event_type, fatal, bitrate_kbps "
        f"FROM {quote_ident(view)} WHERE session_id = $sid ORDER BY seq, ts, event_id LIMIT $n",
        {"sid": session_id, "n": EVENTS_SHOWN}).fetchall()
    return [{"seq": seq, "t_ms": t, "event_type": et, **({"fatal": fatal} if fatal is not None else {}),
             **({"bitrate_kbps": br} if br is not None else {})} for seq, t, et, fatal, br in rows]
