"""Reading raw player events (docs/input.md#raw-events) into the canonical view ``g_input``.

Accepts a Parquet file, a glob, a folder (Hive-partitioned or not: partition
columns are layout and are ignored), JSON Lines or CSV files, or an in-memory
pyarrow Table. A mapping renames columns and event types of other
deployments onto the contract. Columns are checked up front; a missing
column or a wrong type is an :class:`InputError` naming the file and column.

The view has ``ts`` and ``received_at`` as epoch milliseconds (BIGINT, UTC,
truncated to the millisecond), ``seq`` and ``bitrate_kbps`` as BIGINT, and
every string column as VARCHAR.
"""
from __future__ import annotations

import glob as globmod
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

from auditor.errors import InputError, first_line
from auditor.golden.sqlfiles import quote_ident

REQUIRED_COLUMNS = ("event_id", "session_id", "seq", "ts", "event_type")
OPTIONAL_COLUMNS = ("received_at", "viewer_id", "bitrate_kbps", "error_code", "fatal", "end_reason")
DEFAULT_DIMS = ("cdn", "device", "os", "player_version", "country", "isp", "asset_id", "content_type")
EVENT_TYPES = ("attempt", "ad_start", "ad_end", "first_frame", "stall_start", "stall_end",
               "seek_start", "seek_end", "pause", "resume", "bitrate_change", "heartbeat",
               "error", "end")

_TIME_COLUMNS = {"ts", "received_at"}
_INT_COLUMNS = {"seq", "bitrate_kbps"}
_BOOL_COLUMNS = {"fatal"}
_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".jsonl": "json", ".ndjson": "json",
            ".json": "json", ".csv": "csv", ".tsv": "csv"}


@dataclass(frozen=True)
class EventMapping:
    """How a deployment's raw events map onto the contract.

    ``columns``: contract column name -> the deployment's column name.
    ``event_types``: the deployment's event name -> contract event name.
    """

    columns: Mapping[str, str] = field(default_factory=dict)
    event_types: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "EventMapping":
        data = data or {}
        return cls(columns=dict(data.get("columns") or {}),
                   event_types=dict(data.get("event_types") or {}))


@dataclass(frozen=True)
class EventSource:
    """What was opened: the files (or 'table') and their format."""

    description: str
    format: str
    files: tuple[str, ...] = ()


def _strip_compression(name: str) -> str:
    for ext in (".gz", ".zst", ".bz2"):
        if name.endswith(ext):
            return name[: -len(ext)]
    return name


def _format_of(path: str) -> str | None:
    return _FORMATS.get(os.path.splitext(_strip_compression(path.lower()))[1])


def resolve_files(path: str | os.PathLike) -> EventSource:
    """Expand a file, glob or folder into the list of files to read."""
    text = os.fspath(path)
    if os.path.isdir(text):
        found = sorted(f for f in globmod.glob(os.path.join(text, "**", "*"), recursive=True)
                       if os.path.isfile(f) and _format_of(f)
                       and not os.path.basename(f).startswith((".", "_")))
        if not found:
            raise InputError("the folder holds no Parquet, JSON Lines or CSV files",
                             file=text, hint="point --events at the folder of the raw event files")
    elif any(ch in text for ch in "*?["):
        found = sorted(f for f in globmod.glob(text, recursive=True) if os.path.isfile(f))
        if not found:
            raise InputError("no file matches this pattern", file=text)
    elif os.path.isfile(text):
        found = [text]
    else:
        raise InputError("no such file or folder", file=text)
    formats = {_format_of(f) for f in found}
    if None in formats:
        bad = next(f for f in found if _format_of(f) is None)
        raise InputError("unknown file type (expected .parquet, .jsonl or .csv)", file=bad)
    if len(formats) > 1:
        raise InputError(f"mixed file formats {sorted(formats)}; read one format at a time", file=text)
    return EventSource(description=text, format=formats.pop(), files=tuple(found))


_FILE_COLUMN = "__auditor_source_file"


def _reader_sql(src: EventSource, with_file: bool = False) -> str:
    """The table function reading ``src``; ``with_file`` adds each row's file name."""
    files_sql = "[" + ", ".join(_literal(f) for f in src.files) + "]"
    opts = "union_by_name = true, hive_partitioning = false"
    if with_file:
        opts += f", filename = {_literal(_FILE_COLUMN)}"
    if src.format == "parquet":
        return f"read_parquet({files_sql}, {opts})"
    if src.format == "json":
        return f"read_json({files_sql}, format = 'newline_delimited', {opts})"
    return f"read_csv({files_sql}, header = true, all_varchar = true, {opts})"


def describe_columns(con: duckdb.DuckDBPyConnection, relation_sql: str, where: str,
                     what: str = "the events") -> dict[str, str]:
    """Column name -> DuckDB type (upper case) of a relation; unreadable input is exit 2."""
    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {relation_sql}").fetchall()
    except duckdb.Error as exc:
        raise InputError(f"cannot read {what}: {first_line(exc)}", file=where,
                         hint="check that the file is complete and of the format its suffix says") from None
    return {r[0]: r[1].upper() for r in rows}


def _convert(col: str, src_col: str, typ: str, where: str) -> tuple[str, str | None]:
    """SQL converting a source column to its canonical type, and a SQL check for text sources.

    Returns (expression, failure_predicate or None).
    """
    q = quote_ident(src_col)
    if typ.strip('"') == "NULL":  # an all-null column (e.g. from pyarrow's null type)
        return f"NULL::{_null_type(col)}", None
    if typ == "JSON":
        # JSON Lines mixing strings and numbers in one column: take the text of each
        # value without JSON quoting ("web" -> web, 1742479200000 -> 1742479200000)
        q = f"({q} ->> '$')"
    is_text = typ in ("VARCHAR", "JSON") or typ.startswith("VARCHAR")
    is_int = typ in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT",
                     "UINTEGER", "UBIGINT", "HUGEINT")
    if col in _TIME_COLUMNS:
        if typ.startswith("TIMESTAMP"):
            # epoch_ms() rounds sub-millisecond parts; the contract truncates (floors).
            # Nanosecond columns (TIMESTAMP_NS, TIMESTAMPTZ_NS) must not pass through a
            # microsecond cast either: that rounds too.
            if typ.endswith("_NS"):
                return _floor_div(f"epoch_ns({q})", 1_000_000), None
            return _floor_div(f"epoch_us({q}::{'TIMESTAMPTZ' if 'TIME ZONE' in typ else 'TIMESTAMP'})", 1000), None
        if is_int:
            return f"{q}::BIGINT", None
        if is_text:
            expr = (f"CASE WHEN regexp_full_match(trim({q}), '-?[0-9]+') THEN trim({q})::BIGINT "
                    f"ELSE {_floor_div(f'epoch_us(TRY_CAST(trim({q}) AS TIMESTAMPTZ))', 1000)} END")
            return expr, f"{q} IS NOT NULL AND trim({q}) <> '' AND ({expr}) IS NULL"
        raise InputError(f"column {src_col!r} has type {typ}; expected a timestamp, epoch "
                         "milliseconds or an ISO-8601 string", file=where, key=src_col)
    if col in _INT_COLUMNS:
        if is_int:
            return f"{q}::BIGINT", None
        if is_text:
            return _text_cast(q, "BIGINT")
        raise InputError(f"column {src_col!r} has type {typ}; expected an integer",
                         file=where, key=src_col)
    if col in _BOOL_COLUMNS:
        if typ == "BOOLEAN":
            return q, None
        if is_int:
            return f"({q} <> 0)", None
        if is_text:
            return _text_cast(q, "BOOLEAN")
        raise InputError(f"column {src_col!r} has type {typ}; expected a boolean",
                         file=where, key=src_col)
    if typ.startswith(("STRUCT", "MAP")) or typ.endswith("[]"):
        raise InputError(f"column {src_col!r} has type {typ}; expected a string",
                         file=where, key=src_col)
    return f"CAST({q} AS VARCHAR)", None


def register_events(con: duckdb.DuckDBPyConnection, events: Any, *,
                    dims: Sequence[str] = DEFAULT_DIMS,
                    mapping: EventMapping | None = None,
                    view: str = "g_input") -> EventSource:
    """Create the canonical view ``view`` over ``events`` on ``con``.

    ``events``: a path (file, glob, folder) or a pyarrow Table / pandas DataFrame.
    """
    mapping = mapping or EventMapping()
    # Zone-less text timestamps are UTC (docs/definitions.md#timestamps). DuckDB's
    # built-in ICU would read them in the process's local zone, so pin the session
    # zone before any conversion.
    con.execute("SET TimeZone = 'UTC'")
    if isinstance(events, (str, os.PathLike)):
        src = resolve_files(events)
        relation = _reader_sql(src)
    else:
        con.register(f"{view}_src", events)
        src = EventSource(description="<table>", format="table")
        relation = quote_ident(f"{view}_src")
    schema = describe_columns(con, relation, src.description)

    selects: list[str] = []
    checks: list[tuple[str, str, str]] = []
    wanted = [(c, True) for c in REQUIRED_COLUMNS] + [(c, False) for c in OPTIONAL_COLUMNS]
    wanted += [(d, True) for d in dims if d not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    for col, required in wanted:
        src_col = mapping.columns.get(col, col)
        if src_col not in schema:
            if required:
                kind = "dimension" if col in dims else "required column"
                raise InputError(
                    f"{kind} {src_col!r} is missing (columns present: {', '.join(sorted(schema))})",
                    file=src.description, key=src_col,
                    hint="map it with `mapping: {columns: {" + col + ": <your column>}}` "
                         "in audit.yaml, or choose other --dims" if kind == "dimension" else
                         "map it with `mapping: {columns: {" + col + ": <your column>}}` in audit.yaml")
            selects.append(f"NULL::{_null_type(col)} AS {quote_ident(col)}")
            continue
        expr, failure = _convert(col, src_col, schema[src_col], src.description)
        if col == "event_type" and mapping.event_types:
            cases = " ".join(f"WHEN {_literal(k)} THEN {_literal(v)}"
                             for k, v in mapping.event_types.items())
            expr = f"CASE {expr} {cases} ELSE {expr} END"
        selects.append(f"{expr} AS {quote_ident(col)}")
        if failure:
            checks.append((col, src_col, failure))

    if src.format == "parquet" and len(src.files) > 1:
        _check_columns_per_file(con, src, [mapping.columns.get(c, c) for c, req in wanted if req])
    if checks:
        _check_text_values(con, _reader_sql(src, with_file=True) if src.files else relation,
                           checks, src)
    con.execute(f"CREATE OR REPLACE TEMP VIEW {quote_ident(view)} AS SELECT "
                + ", ".join(selects) + f" FROM {relation}")
    return src


def _check_columns_per_file(con, src: EventSource, required: list[str]) -> None:
    """Reading many Parquet files by name fills a column missing from one file with
    nulls, which would silently drop all of that file's rows: name the file instead.
    Reads only the files' footers."""
    try:
        rows = con.execute("SELECT file_name, list(name) FROM parquet_schema("
                           + "[" + ", ".join(_literal(f) for f in src.files) + "]) "
                           "GROUP BY file_name ORDER BY file_name").fetchall()
    except duckdb.Error as exc:
        raise InputError(f"cannot read the events: {first_line(exc)}", file=src.description,
                         hint="check that the file is complete and of the format its suffix says"
                         ) from None
    for file, names in rows:
        missing = [c for c in required if c not in names]
        if missing:
            raise InputError(f"required column {missing[0]!r} is missing from this file "
                             f"(other files of {src.description} have it)", file=file,
                             key=missing[0])


def _text_cast(q: str, sql_type: str) -> tuple[str, str]:
    """A text column cast to ``sql_type`` (blank = null), and the predicate of values that fail."""
    expr = f"TRY_CAST(nullif(trim({q}), '') AS {sql_type})"
    return expr, f"nullif(trim({q}), '') IS NOT NULL AND {expr} IS NULL"


def _floor_div(expr: str, n: int) -> str:
    """Exact integer floor division in SQL (DuckDB's % keeps the dividend's sign)."""
    return f"(({expr}) - ((({expr}) % {n}) + {n}) % {n}) // {n}"


def _null_type(col: str) -> str:
    if col in _TIME_COLUMNS or col in _INT_COLUMNS:
        return "BIGINT"
    if col in _BOOL_COLUMNS:
        return "BOOLEAN"
    return "VARCHAR"


def _literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _check_text_values(con, relation: str, checks, src: EventSource) -> None:
    """For text formats: find values that do not convert, and name the first one and
    the file it is in."""
    file_col = quote_ident(_FILE_COLUMN) if src.files else "NULL"
    parts = []
    for _, src_col, failure in checks:
        q = quote_ident(src_col)
        parts.append(f"count(*) FILTER (WHERE {failure}), "
                     f"any_value([{q}::VARCHAR, {file_col}]) FILTER (WHERE {failure})")
    try:
        row = con.execute(f"SELECT {', '.join(parts)} FROM {relation}").fetchall()[0]
    except duckdb.Error as exc:
        raise InputError(f"cannot read the events: {first_line(exc)}",
                         file=src.description) from None
    for i, (col, src_col, _) in enumerate(checks):
        bad, (sample, file) = row[2 * i], row[2 * i + 1] or (None, None)
        if bad:
            expected = ("a timestamp (ISO-8601 or epoch milliseconds)" if col in _TIME_COLUMNS
                        else "an integer" if col in _INT_COLUMNS else "true/false")
            raise InputError(f"column {src_col!r} has {bad} value(s) that are not {expected}, "
                             f"e.g. {sample!r}", file=file or src.description, key=src_col)
