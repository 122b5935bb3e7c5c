"""Simulated pipelines: what a streaming and a batch job would have published.

Each pipeline's output is the golden calculator applied to that pipeline's
view of the raw events, with its faults (:mod:`auditor.synth.faults`) injected:

1. ``events`` faults transform the events of the sessions in their slice;
2. ``option`` faults run the golden calculator with a definition variant on
   the sessions in their slice;
3. ``facts`` faults transform the per-session facts in their slice.

Sessions are independent, so only the sessions touched by steps 1-2 are
recomputed; every other session keeps its golden facts. With no faults a
pipeline publishes exactly the golden aggregate.
"""
from __future__ import annotations

import dataclasses
import zlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from auditor.golden import calculator as golden
from auditor.synth.faults import PIPELINES, Fault

# What the simulated pipelines publish: every dimension but the asset (a real
# pipeline rarely aggregates by title; the sessions file still names them).
PUBLISHED_DIMS: tuple[str, ...] = tuple(d for d in golden.DEFAULT_DIMS if d != "asset_id")
FACT_COLUMNS = ("attempt", "started", "ebvs", "vsf", "vpf", "vst_ms", "play_ms", "stall_ms",
                "bitrate_kbps_ms")


@dataclass(frozen=True)
class Published:
    """One pipeline's published aggregate (canonical shape) and its session rows."""
    pipeline: str
    faults: tuple[Fault, ...]
    aggregates: pa.Table
    sessions: pa.Table


def slice_mask(table: pa.Table, slice_: tuple[tuple[str, str], ...]) -> np.ndarray:
    """Rows whose dimension values match every ``dim=value`` of the slice."""
    mask = np.ones(table.num_rows, dtype=bool)
    for dim, value in slice_:
        mask &= pc.fill_null(pc.equal(table[dim], value), False).to_numpy(zero_copy_only=False)
    return mask


def share_mask(session_ids: pa.ChunkedArray | pa.Array, share: float | None) -> np.ndarray:
    """Rows of exactly ``round(share * n)`` of the ``n`` distinct sessions given.

    Which ones is decided by a hash of the session id (ties by the id), so the
    choice is stable and unrelated to outcomes, and small slices get the exact
    share instead of a noisy one.
    """
    if share is None or share >= 1:
        return np.ones(len(session_ids), dtype=bool)
    unique = pc.unique(session_ids).to_pylist()
    ranked = sorted(unique, key=lambda sid: (zlib.crc32(str(sid).encode()), str(sid)))
    chosen = pa.array(ranked[:int(round(share * len(ranked)))], pa.string())
    return pc.is_in(session_ids, chosen).to_numpy(zero_copy_only=False)


# --- events faults: (events of the slice's sessions, fault) -> the pipeline's view ----------

def _is(events: pa.Table, *types: str) -> np.ndarray:
    return pc.is_in(events["event_type"], pa.array(types)).to_numpy(zero_copy_only=False)


def _drop_first_frame(events: pa.Table, fault: Fault) -> pa.Table:
    hit = _is(events, "first_frame") & share_mask(events["session_id"], fault.value)
    return events.filter(~hit)


def _drop_late(events: pa.Table, fault: Fault) -> pa.Table:
    lateness = pc.subtract(events["received_at"].cast(pa.int64()), events["ts"].cast(pa.int64()))
    late = pc.fill_null(pc.greater(lateness, int(fault.value * 1000)), False)
    return events.filter(pc.invert(late))


def _drop_seeks(events: pa.Table, fault: Fault) -> pa.Table:
    return events.filter(~_is(events, "seek_start", "seek_end"))


def _end_not_terminal(events: pa.Table, fault: Fault) -> pa.Table:
    # `end` becomes a plain liveness event: the session runs on to its last event
    types = pc.if_else(pc.equal(events["event_type"], "end"), "heartbeat", events["event_type"])
    return events.set_column(events.schema.get_field_index("event_type"), "event_type", types)


def _drop_preroll_ads(events: pa.Table, fault: Fault) -> pa.Table:
    ff = events.filter(_is(events, "first_frame")).group_by("session_id").aggregate([("seq", "min")])
    first = dict(zip(ff["session_id"].to_pylist(), ff["seq_min"].to_pylist()))
    sid, seq = events["session_id"].to_pylist(), events["seq"].to_numpy()
    before = np.array([first.get(s) is None or q < first[s] for s, q in zip(sid, seq)], dtype=bool)
    return events.filter(~(_is(events, "ad_start", "ad_end") & before))


EVENT_FAULTS = {
    "missing_first_frame": _drop_first_frame,
    "late_events_dropped": _drop_late,
    "seek_stall_as_rebuffering": _drop_seeks,
    "events_after_end_counted": _end_not_terminal,
    "ad_time_in_startup": _drop_preroll_ads,
}

# --- option faults: golden definition variants -------------------------------------------

OPTION_FAULTS = {
    "preroll_exit_not_ebvs": lambda f: {"start_anchor": "any_frame"},
    "session_end_attribution": lambda f: {"attribution": "session_end"},
    "short_exits_not_ebvs": lambda f: {"ebvs_min_wait_ms": int(round(f.value * 1000))},
}

# --- facts faults: (sessions, mask of the slice, fault, raw events) -> sessions ---------------


def _set(table: pa.Table, name: str, values) -> pa.Table:
    i = table.schema.get_field_index(name)
    return table.set_column(i, table.schema.field(i), pa.array(values, table.schema.field(i).type))


def _fan_out_duplicates(sessions, mask, fault, events):
    attempts = events.filter(_is(events, "attempt")).group_by("session_id").aggregate(
        [("session_id", "count")])
    copies = dict(zip(attempts["session_id"].to_pylist(), attempts["session_id_count"].to_pylist()))
    sid = sessions["session_id"].to_pylist()
    times = np.array([copies.get(s, 1) if m else 1 for s, m in zip(sid, mask)], dtype=np.int64)
    return sessions.take(pa.array(np.repeat(np.arange(len(sid)), times)))


def _vsf_as_ebvs(sessions, mask, fault, events):
    vsf = sessions["vsf"].to_numpy()
    moved = np.where(mask, vsf, 0)
    sessions = _set(sessions, "ebvs", sessions["ebvs"].to_numpy() + moved)
    return _set(sessions, "vsf", vsf - moved)


def _lose_sessions(sessions, mask, fault, events):
    lost = np.zeros(sessions.num_rows, dtype=bool)
    lost[mask] = share_mask(sessions["session_id"].filter(pa.array(mask)), fault.value)
    return sessions.filter(~lost)


def _bitrate_bps(sessions, mask, fault, events):
    b = sessions["bitrate_kbps_ms"].to_numpy()
    return _set(sessions, "bitrate_kbps_ms", np.where(mask, b * 1000, b))


FACT_FAULTS = {
    "duplicates_not_removed": _fan_out_duplicates,
    "fatal_error_as_ebvs": _vsf_as_ebvs,
    "sessions_lost": _lose_sessions,
    "bitrate_in_bps": _bitrate_bps,
}


def simulate_pipeline(pipeline: str, events: pa.Table, faults: Sequence[Fault], base: golden.GoldenResult,
                      *, dims: Sequence[str] = PUBLISHED_DIMS, window_minutes: int = 60,
                      rules: golden.RulesFolder | None = None) -> Published:
    """One pipeline's output given the golden result ``base`` (with sessions, all dimensions).

    Recomputed sessions run under ``rules`` (default: the packaged definitions) and
    ``base``'s options, with each option fault's variant on top.
    """
    faults = tuple(f for f in faults if f.pipeline == pipeline)
    sessions = base.sessions
    recompute = [f for f in faults if f.kind in EVENT_FAULTS or f.kind in OPTION_FAULTS]
    if recompute:
        touched = np.zeros(events.num_rows, dtype=bool)
        for f in recompute:
            touched |= slice_mask(events, f.slice)
        view = events.filter(touched)
        # every session of the slices is recomputed, also one whose events a fault removed
        # entirely (a session whose only events arrived late is lost, not kept as golden)
        ids = pc.unique(view["session_id"])
        for f in faults:
            if f.kind in EVENT_FAULTS:
                hit = slice_mask(view, f.slice)
                view = pa.concat_tables([view.filter(~hit), EVENT_FAULTS[f.kind](view.filter(hit), f)])
        redone = _recompute(view, [f for f in faults if f.kind in OPTION_FAULTS], sessions.schema,
                            window_minutes, base.options, rules)
        keep = pc.invert(pc.is_in(sessions["session_id"], ids))
        sessions = pa.concat_tables([sessions.filter(keep), redone])
    for f in faults:
        if f.kind in FACT_FAULTS:
            sessions = FACT_FAULTS[f.kind](sessions, slice_mask(sessions, f.slice), f, events)
    sessions = sessions.sort_by([("session_id", "ascending"), ("window_start", "ascending")])
    aggregates = golden.aggregate_sessions(sessions, list(dims))
    # the canonical row order (golden's: window, then dimensions, nulls last), restated
    # because the roll-up's row order is not guaranteed and the files must be reproducible
    keys = [(c, "ascending", "at_end") for c in ("window_start", *dims)]
    aggregates = aggregates.sort_by(keys).combine_chunks()
    return Published(pipeline, faults, aggregates, sessions)


def _recompute(view: pa.Table, option_faults: Sequence[Fault], schema: pa.Schema,
               window_minutes: int, options: golden.GoldenOptions,
               rules: golden.RulesFolder | None) -> pa.Table:
    """Golden facts of the sessions in ``view``, each under the options of the faults covering it."""
    combos = np.zeros(view.num_rows, dtype=np.int64)
    for bit, f in enumerate(option_faults):
        combos |= slice_mask(view, f.slice).astype(np.int64) << bit
    parts = []
    for combo in np.unique(combos):
        opts: dict = {}
        for bit, f in enumerate(option_faults):
            if combo >> bit & 1:
                opts.update(OPTION_FAULTS[f.kind](f))
        part = golden.compute_golden(view.filter(combos == combo), dims=golden.DEFAULT_DIMS,
                                     window_minutes=window_minutes,
                                     options=dataclasses.replace(options, **opts), with_sessions=True,
                                     rules=rules).sessions
        parts.append(part.select(schema.names).cast(schema))
    return pa.concat_tables(parts) if parts else schema.empty_table()


def simulate(events: pa.Table, faults: Sequence[Fault], *, dims: Sequence[str] = PUBLISHED_DIMS,
             window_minutes: int = 60) -> tuple[golden.GoldenResult, dict[str, Published]]:
    """Golden (with sessions, all dimensions) and every pipeline's published output."""
    unknown = sorted({f.pipeline for f in faults} - set(PIPELINES))
    if unknown:
        raise ValueError(f"unknown pipelines {unknown}")
    base = golden.compute_golden(events, dims=golden.DEFAULT_DIMS, window_minutes=window_minutes,
                                 with_sessions=True)
    return base, {p: simulate_pipeline(p, events, faults, base, dims=dims, window_minutes=window_minutes)
                  for p in PIPELINES}
