"""The golden calculator: raw player events -> per-session facts -> canonical aggregates.

The definitions are the SQL stages under ``rules/golden/`` (metrics.md made
executable); this module only opens the input, binds the options and runs
the stages in order on an embedded DuckDB connection.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

import duckdb
import pyarrow as pa

from auditor.errors import ConfigError, InputError
from auditor.events import DEFAULT_DIMS, EventMapping, EventSource, register_events
from auditor.sqlfiles import quote_ident, run_rule

# 04_intervals is a query that 05_session_facts includes (one pipeline, no interval table)
STAGES = ("01_load", "02_dedup", "03_live", "05_session_facts", "06_attributes", "07_aggregate")
COMPONENTS = ("attempts", "plays", "ebvs", "vsf", "vpf", "vst_ms_sum", "play_ms", "stall_ms",
              "bitrate_kbps_ms")
SESSION_FACTS = ("attempt", "started", "ebvs", "vsf", "vpf", "vst_ms", "play_ms", "stall_ms",
                 "bitrate_kbps_ms")
# session fact -> aggregate component
FACT_TO_COMPONENT = dict(zip(SESSION_FACTS, COMPONENTS))


@dataclass(frozen=True)
class GoldenOptions:
    """The named options of metrics.md section 5; the defaults are the golden definitions."""

    start_anchor: str = "content_frame"
    attribution: str = "session_start"
    inactivity_timeout_ms: int | None = None
    ebvs_min_wait_ms: int = 0

    def __post_init__(self) -> None:
        if self.start_anchor not in ("content_frame", "any_frame"):
            raise ConfigError(f"start_anchor must be content_frame or any_frame, not {self.start_anchor!r}",
                              key="start_anchor")
        if self.attribution not in ("session_start", "session_end"):
            raise ConfigError(f"attribution must be session_start or session_end, not {self.attribution!r}",
                              key="attribution")
        if self.inactivity_timeout_ms is not None and (
                not isinstance(self.inactivity_timeout_ms, int) or self.inactivity_timeout_ms <= 0):
            raise ConfigError("inactivity_timeout_ms must be a positive whole number of milliseconds",
                              key="inactivity_timeout_ms")
        if not isinstance(self.ebvs_min_wait_ms, int) or self.ebvs_min_wait_ms < 0:
            raise ConfigError("ebvs_min_wait_ms must be a whole number >= 0", key="ebvs_min_wait_ms")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GoldenResult:
    aggregates: pa.Table
    sessions: pa.Table | None
    dims: tuple[str, ...]
    window_minutes: int
    options: GoldenOptions
    source: EventSource | None = None
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def components(self) -> tuple[str, ...]:
        return COMPONENTS + (("ebvs_short",) if self.options.ebvs_min_wait_ms else ())


DEFAULT_MEMORY_LIMIT = "3GB"


def connect(memory_limit: str | None = None, threads: int | None = None,
            temp_directory: str | None = None) -> duckdb.DuckDBPyConnection:
    """An embedded DuckDB connection set up for the golden calculator.

    Memory is bounded by construction: DuckDB's buffer pool is capped at
    ``memory_limit`` (default $AUDITOR_MEMORY_LIMIT or 3GB) and spills sorts,
    joins and temporary tables to ``temp_directory`` beyond it. ``threads``
    defaults to $AUDITOR_THREADS or every core. The session time zone is UTC
    (metrics.md 6): DuckDB's built-in ICU would otherwise start in the process's
    local zone and read zone-less text timestamps as local time.
    """
    memory_limit = memory_limit or os.environ.get("AUDITOR_MEMORY_LIMIT") or DEFAULT_MEMORY_LIMIT
    threads = threads or int(os.environ.get("AUDITOR_THREADS", "0") or 0) or None
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    try:
        con.execute("SET memory_limit = ?", [memory_limit])
    except duckdb.Error as exc:
        raise ConfigError(f"invalid memory limit {memory_limit!r}: {exc}",
                          key="AUDITOR_MEMORY_LIMIT", hint="e.g. 2GB or 500MB") from None
    con.execute("SET temp_directory = ?", [temp_directory or os.path.join(tempfile.gettempdir(), "auditor-duckdb")])
    con.execute("SET preserve_insertion_order = false")
    # DuckDB draws a progress bar on stdout for long queries; stdout must stay parseable
    con.execute("SET enable_progress_bar = false")
    return con


def _to_epoch_ms(value: datetime | str | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(f"not an ISO-8601 time: {value!r}", key="window start",
                              hint="e.g. 2025-03-20T14:00:00Z") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return int(value.timestamp() * 1000)


def check_dims(dims: Sequence[str]) -> tuple[str, ...]:
    dims = tuple(dims)
    if len(set(dims)) != len(dims):
        raise ConfigError(f"dimensions repeat: {list(dims)}", key="dims")
    reserved = {"session_id", "window_start", "event_id", "seq", "ts", "event_type"} | set(COMPONENTS) | set(SESSION_FACTS)
    clash = [d for d in dims if d in reserved]
    if clash:
        raise ConfigError(f"{clash} cannot be used as a dimension (reserved column name)", key="dims")
    return dims


def compute_golden(events: Any, *, dims: Sequence[str] = DEFAULT_DIMS, window_minutes: int = 60,
                   window_start: datetime | str | None = None, window_end: datetime | str | None = None,
                   options: GoldenOptions | None = None, with_sessions: bool = False,
                   mapping: EventMapping | None = None,
                   con: duckdb.DuckDBPyConnection | None = None) -> GoldenResult:
    """Recompute the golden metrics from raw events.

    ``events``: Parquet file / glob / (Hive-partitioned) folder, JSON Lines or CSV, or a
    pyarrow Table in the raw-events schema. ``window_start`` (with ``window_end``, or one
    window of ``window_minutes``) restricts the result to sessions attributed to those
    windows; without it every window in the data is computed.
    """
    options = options or GoldenOptions()
    dims = check_dims(dims)
    if not isinstance(window_minutes, int) or window_minutes <= 0:
        raise ConfigError("window length must be a positive whole number of minutes",
                          key="window-minutes")
    window_ms = window_minutes * 60_000
    start_ms = _to_epoch_ms(window_start)
    end_ms = _to_epoch_ms(window_end)
    if start_ms is not None:
        if start_ms % window_ms:
            raise ConfigError(
                f"window start {window_start} is not aligned to {window_minutes}-minute windows "
                "since the Unix epoch (metrics.md 1.8)", key="window-start",
                hint="use a start on a multiple of the window length, e.g. a full hour for 60")
        if end_ms is None:
            end_ms = start_ms + window_ms
    own = con is None
    con = con or connect()
    try:
        source = register_events(con, events, dims=dims, mapping=mapping)
        params = {
            "salt": 0,
            "any_frame": options.start_anchor == "any_frame",
            "session_end": options.attribution == "session_end",
            "inactivity_timeout_ms": options.inactivity_timeout_ms,
            "ebvs_min_wait_ms": options.ebvs_min_wait_ms,
            "window_ms": window_ms,
            "window_from_ms": start_ms,
            "window_to_ms": end_ms,
        }
        try:
            _run_stages(con, dims, params)
        except duckdb.ConversionException as exc:
            raise InputError(f"a value in the events cannot be converted: {exc}",
                             file=source.description) from None
        except duckdb.OutOfRangeException as exc:
            # 64-bit integers end to end (metrics.md 6): an overflow is an implausible
            # input value (e.g. bitrate in bit/s), never a silent wrap-around
            raise InputError(f"a value in the events is out of range: {str(exc).splitlines()[0]}",
                             file=source.description,
                             hint="check the units of bitrate_kbps (kbit/s) and ts (ms)") from None
        except duckdb.IOException as exc:
            raise InputError(f"cannot read the events: {exc}", file=source.description) from None
        extra = ("ebvs_short",) if options.ebvs_min_wait_ms else ()
        agg_cols = ["window_start", *dims, *COMPONENTS[:3], *extra, *COMPONENTS[3:]]
        order = ", ".join(quote_ident(c) for c in ["window_start", *dims])
        aggregates = con.sql(
            "SELECT " + ", ".join(quote_ident(c) for c in agg_cols)
            + f" FROM g_aggregate ORDER BY {order} NULLS LAST").to_arrow_table()
        sessions = None
        if with_sessions:
            fact_cols = ["session_id", "window_start", *dims, *SESSION_FACTS[:3], *extra, *SESSION_FACTS[3:]]
            sessions = con.sql(
                "SELECT " + ", ".join(quote_ident(c) for c in fact_cols)
                + " FROM g_sessions ORDER BY session_id").to_arrow_table()
        stats = dict(zip(("events", "sessions"), con.execute(
            "SELECT (SELECT count(*) FROM g_narrow), (SELECT count(*) FROM g_sessions)").fetchall()[0]))
        return GoldenResult(aggregates=aggregates, sessions=sessions, dims=dims,
                            window_minutes=window_minutes, options=options, source=source,
                            stats=stats)
    finally:
        if own:
            con.close()


def _run_stages(con: duckdb.DuckDBPyConnection, dims: tuple[str, ...], params: dict) -> None:
    for salt in range(4):
        params["salt"] = salt
        run_rule(con, "golden/01_load.sql", params)
        if not _session_keys_collide(con, salt):
            break
    else:  # pragma: no cover - four independent 64-bit collisions in a row
        raise RuntimeError("session keys collide under every salt")
    # The salt in use, for later stages on this connection that join g_input to
    # session keys (the data-quality stage; docs/quality.md).
    con.execute("CREATE OR REPLACE TEMP TABLE g_meta AS SELECT $salt::BIGINT AS salt", {"salt": salt})
    timeout = params["inactivity_timeout_ms"] is not None
    for stage in STAGES[1:]:
        run_rule(con, f"golden/{stage}.sql", params, dims=dims, exact_ties=False, timeout=timeout)
        if stage == "05_session_facts" and con.execute(
                "SELECT count(*) FROM g_facts WHERE tied").fetchall()[0][0]:
            run_rule(con, f"golden/{stage}.sql", params, dims=dims, exact_ties=True, timeout=timeout)


def _session_keys_collide(con: duckdb.DuckDBPyConnection, salt: int) -> bool:
    """True when two different session ids share a 64-bit session key (then re-salt)."""
    row = con.execute(
        "SELECT count(*) FROM (SELECT hash(session_id, $salt::BIGINT) AS sk FROM g_input "
        "WHERE session_id IS NOT NULL GROUP BY sk HAVING min(session_id) <> max(session_id))",
        {"salt": salt}).fetchall()[0]
    return bool(row[0])


def aggregate_sessions(sessions: pa.Table, dims: Sequence[str]) -> pa.Table:
    """Roll per-session facts up to the canonical aggregate shape (same SQL semantics as golden)."""
    dims = tuple(dims)
    con = connect()
    try:
        con.register("s", sessions)
        extra = [c for c in ("ebvs_short",) if c in sessions.column_names]
        sums = ", ".join(f"sum({quote_ident(f)})::BIGINT AS {quote_ident(FACT_TO_COMPONENT.get(f, f))}"
                         for f in [*SESSION_FACTS[:3], *extra, *SESSION_FACTS[3:]])
        keys = ", ".join(quote_ident(c) for c in ["window_start", *dims])
        return con.sql(f"SELECT {keys}, {sums} FROM s GROUP BY ALL ORDER BY {keys} NULLS LAST"
                       ).to_arrow_table()
    finally:
        con.close()
