"""A pipeline's session-level rows against golden's per-session facts.

When a pipeline also publishes one row per session (``sessions:`` in
audit.yaml: ``session_id`` plus the session facts of docs/definitions.md#session-facts, e.g.
``attempt, started, ebvs, vst_ms``), `auditor explain` joins them with
golden's facts on ``session_id`` (rules/explain/sessions.sql). That gives
two things the published aggregates cannot: localization over *any* golden
dimension (golden attributes every session, so the pipeline's rows need no
dimensions at all), and the individual sessions that disagree inside the
slices that explain the gap.

The session file is read through the pipeline sources machinery (a file or
glob of Parquet, CSV or JSON Lines); ``pipelines.NAME.columns`` renames
``window_start`` and the dimensions there too. ``session_id`` and the
facts keep their canonical names.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from auditor.config import PipelineConfig, SourceSpec
from auditor.errors import InputError
from auditor.golden.calculator import FACT_TO_COMPONENT, SESSION_FACTS
from auditor.localize.search import Localization
from auditor.reconcile import localize_metric
from auditor.golden.metrics import Metric
from auditor.sources import _INT_TYPES, describe_view, register_source
from auditor.golden.sqlfiles import run_rule

COMPONENT_TO_FACT = {c: f for f, c in FACT_TO_COMPONENT.items()}


def metric_facts(metric: Metric) -> tuple[str, tuple[str, ...]]:
    """The session facts behind a metric: (numerator fact, denominator facts)."""
    return COMPONENT_TO_FACT[metric.numerator], tuple(COMPONENT_TO_FACT[c] for c in metric.denominator)


@dataclass(frozen=True)
class SessionDiff:
    """One session whose facts for the metric differ between golden and the pipeline."""

    session_id: str
    slice_rank: int                          # 1-based: the first listed slice it falls in
    dimensions: Mapping[str, str | None]
    presence: str                            # both | golden_only | pipeline_only
    pipeline_rows: int                       # rows the pipeline wrote for it (2+: a fan-out)
    golden: Mapping[str, int]                # fact -> value (the metric's facts, then others that differ)
    pipeline: Mapping[str, int]
    differs: tuple[str, ...]                 # every fact that differs, metric's or not

    def to_dict(self) -> dict[str, Any]:
        return {"session_id": self.session_id, "slice_rank": self.slice_rank,
                "dimensions": dict(self.dimensions), "presence": self.presence,
                "pipeline_rows": self.pipeline_rows, "golden": dict(self.golden),
                "pipeline": dict(self.pipeline), "differs": list(self.differs)}


@dataclass(frozen=True)
class SliceSessions:
    """Session counts inside one slice (``{}`` is the whole audited span)."""

    slice: Mapping[str, str | None]
    golden_sessions: int
    pipeline_sessions: int
    disagreeing: int                         # the metric's facts differ (one-sided sessions included)
    golden_only: int
    pipeline_only: int

    def to_dict(self) -> dict[str, Any]:
        return {"slice": dict(self.slice), "golden_sessions": self.golden_sessions,
                "pipeline_sessions": self.pipeline_sessions, "disagreeing": self.disagreeing,
                "golden_only": self.golden_only, "pipeline_only": self.pipeline_only}


@dataclass(frozen=True)
class SessionDrilldown:
    """Golden vs a pipeline's session rows for one metric."""

    file: str
    dimensions: tuple[str, ...]              # every audit dimension (golden's)
    numerator_fact: str
    denominator_facts: tuple[str, ...]
    overall: SliceSessions                   # the whole audited span
    duplicated: int                          # sessions the pipeline wrote more than once
    totals: Mapping[str, int | None]         # golden_num, pipeline_num, golden_den, pipeline_den
    localization: Localization               # over every audit dimension, from session rows
    slices: tuple[SliceSessions, ...]        # per listed slice (the explanations, else the span)
    sessions: tuple[SessionDiff, ...]        # disagreeing sessions inside those slices, capped
    listed_max: int

    @property
    def truncated(self) -> bool:
        return sum(s.disagreeing for s in self.slices) > len(self.sessions)

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "dimensions": list(self.dimensions),
                "numerator_fact": self.numerator_fact, "denominator_facts": list(self.denominator_facts),
                "overall": self.overall.to_dict(), "duplicated": self.duplicated,
                "totals": dict(self.totals), "localization": self.localization.to_dict(),
                "slices": [s.to_dict() for s in self.slices],
                "sessions": [s.to_dict() for s in self.sessions],
                "listed_max": self.listed_max, "truncated": self.truncated}


def join_sessions(con: duckdb.DuckDBPyConnection, pipeline: PipelineConfig, golden_sessions: pa.Table,
                  dims: Sequence[str], window_minutes: int) -> Any:
    """Golden's per-session facts joined with the pipeline's session rows (a pandas frame with
    ``session_id, in_golden, in_pipeline, pipeline_rows``, the dimensions, ``g_<fact>``,
    ``p_<fact>``); the pipeline's rows are kept to the audited windows (table ``r_windows``)."""
    where = pipeline.sessions or ""
    register_source(con, SourceSpec(kind="file", path=where), "x_pipe_raw")
    present = describe_view(con, "x_pipe_raw", where)
    def src(name: str) -> str:
        return pipeline.columns.get(name, name)
    facts = [f for f in SESSION_FACTS if f in present]
    if "session_id" not in present or not facts:
        missing = "session_id" if "session_id" not in present else "any session fact"
        raise InputError(f"session rows have no {missing} column (columns present: {', '.join(present)})",
                         file=where, key="session_id" if "session_id" not in present else None,
                         hint="session rows need session_id and the session facts "
                              f"({', '.join(SESSION_FACTS)}; docs/definitions.md#session-facts)")
    bad = [f for f in facts if present[f] not in _INT_TYPES]
    if bad:
        raise InputError(f"session fact column(s) {bad} are not integers ({present[bad[0]]})",
                         file=where, key=bad[0], hint="session facts are whole numbers (counts, ms)")
    window = src("window_start") if src("window_start") in present else None
    con.register("x_golden_sessions", golden_sessions)
    try:
        run_rule(con, "explain/sessions.sql", {"window_ms": window_minutes * 60_000} if window else {},
                 source="x_pipe_raw", session_column="session_id", window_column=window,
                 window_is_ms=bool(window) and present[window] in _INT_TYPES,
                 pipe_dims=[(d, src(d)) for d in dims if src(d) in present],
                 pipe_dim_names=[d for d in dims if src(d) in present], dims=list(dims), facts=facts)
    except duckdb.Error as exc:
        raise InputError(f"cannot read the session rows: {str(exc).splitlines()[0]}", file=where,
                         hint="check the session file's window_start and fact columns") from None
    finally:
        con.unregister("x_golden_sessions")
    return con.sql("SELECT * FROM x_session_join ORDER BY session_id").to_df()


def require_facts(frame: Any, metric: Metric, where: str) -> None:
    """InputError (exit 2) when the session rows lack a fact the metric needs."""
    num, den = metric_facts(metric)
    missing = [f for f in (num, *den) if "p_" + f not in frame.columns]
    if missing:
        raise InputError(f"session rows have no column {missing[0]!r}, which {metric.name} needs",
                         file=where, key=missing[0],
                         hint=f"{metric.name} = {num} / {' + '.join(den)} per session" if den
                         else f"{metric.name} sums the session fact {num}")


def drill_sessions(frame: Any, metric: Metric, dims: Sequence[str], *, where: str, depth: int,
                   max_sessions: int) -> SessionDrilldown:
    """Localize the metric's gap over every dimension from session rows, then list the sessions
    that disagree inside the slices found (the whole span when none is found)."""
    require_facts(frame, metric, where)
    num, den = metric_facts(metric)
    leaves = frame[list(dims)].copy()
    leaves["golden_num"], leaves["cand_num"] = frame["g_" + num], frame["p_" + num]
    if den:
        leaves["golden_den"] = sum(frame["g_" + f] for f in den)
        leaves["cand_den"] = sum(frame["p_" + f] for f in den)
    located = localize_metric(leaves, dims, metric, max_depth=depth)
    differs = (leaves["golden_num"] != leaves["cand_num"]).to_numpy(bool)
    if den:
        differs = differs | (leaves["golden_den"] != leaves["cand_den"]).to_numpy(bool)
    in_g, in_p = frame["in_golden"].to_numpy(bool), frame["in_pipeline"].to_numpy(bool)
    slices = [dict(e.slice) for e in located.explanations] or [{}]
    rank = np.zeros(len(frame), dtype=int)       # 0: in no listed slice
    for k, s in enumerate(slices, 1):
        rank = np.where((rank == 0) & _mask(frame, s), k, rank)
    counted = [_count(s, _mask(frame, s), differs, in_g, in_p) for s in slices]
    fact_cols = [f for f in SESSION_FACTS if "p_" + f in frame.columns]
    order = _listing_order(leaves, differs & (rank > 0), rank)[:max_sessions]
    rows = tuple(_session(frame, int(i), int(rank[i]), dims, (num, *den), fact_cols) for i in order)
    totals = {"golden_num": int(leaves["golden_num"].sum()), "pipeline_num": int(leaves["cand_num"].sum()),
              "golden_den": int(leaves["golden_den"].sum()) if den else None,
              "pipeline_den": int(leaves["cand_den"].sum()) if den else None}
    everything = np.ones(len(frame), dtype=bool)
    return SessionDrilldown(
        file=where, dimensions=tuple(dims), numerator_fact=num, denominator_facts=den,
        overall=_count({}, everything, differs, in_g, in_p),
        duplicated=int((frame["pipeline_rows"].to_numpy() > 1).sum()), totals=totals,
        localization=located, slices=tuple(counted), sessions=rows, listed_max=max_sessions)


def _mask(frame: Any, slice_: Mapping[str, str | None]) -> np.ndarray:
    mask = np.ones(len(frame), dtype=bool)
    for d, v in slice_.items():
        col = frame[d]
        mask &= (col.isna() if v is None else (col == v).fillna(False)).to_numpy(bool)
    return mask


def _count(slice_, mask, differs, in_g, in_p) -> SliceSessions:
    return SliceSessions(slice=dict(slice_), golden_sessions=int((mask & in_g).sum()),
                         pipeline_sessions=int((mask & in_p).sum()),
                         disagreeing=int((mask & differs).sum()),
                         golden_only=int((mask & in_g & ~in_p).sum()),
                         pipeline_only=int((mask & in_p & ~in_g).sum()))


def _listing_order(leaves: Any, pick: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """Disagreeing sessions by slice rank, then the largest relative change first (stable by id)."""
    idx = np.flatnonzero(pick)
    size = np.zeros(len(leaves))
    for g, c in (("golden_num", "cand_num"), ("golden_den", "cand_den")):
        if g in leaves.columns:
            gv, cv = leaves[g].to_numpy(float), leaves[c].to_numpy(float)
            size += np.abs(cv - gv) / np.maximum(np.maximum(np.abs(gv), np.abs(cv)), 1.0)
    return idx[np.lexsort((idx, -size[idx], rank[idx]))]


def _session(frame: Any, i: int, rank: int, dims: Sequence[str], metric_facts_: Sequence[str],
             fact_cols: Sequence[str]) -> SessionDiff:
    row = frame.iloc[i]
    differs = tuple(f for f in fact_cols if int(row["g_" + f]) != int(row["p_" + f]))
    shown = list(dict.fromkeys([*metric_facts_, *differs]))
    presence = "both" if row["in_golden"] and row["in_pipeline"] else (
        "golden_only" if row["in_golden"] else "pipeline_only")
    return SessionDiff(
        session_id=str(row["session_id"]), slice_rank=rank,
        dimensions={d: (None if pd.isna(row[d]) else str(row[d])) for d in dims}, presence=presence,
        pipeline_rows=int(row["pipeline_rows"]),
        golden={f: int(row["g_" + f]) for f in shown}, pipeline={f: int(row["p_" + f]) for f in shown},
        differs=differs)
