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

import difflib
import glob as globmod
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

from auditor.errors import InputError, is_data_error, read_error
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
class CatalogTable:
    """Events in a table of the engine's catalog (``events: {table: db.events}``; the
    Spark engine's metastore)."""

    name: str

    def __str__(self) -> str:
        return self.name


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
            raise InputError("no file matches this pattern", file=text,
                             hint="check the pattern (quote it so the shell does not expand it)")
    elif os.path.isfile(text):
        found = [text]
    else:
        raise InputError("no such file or folder", file=text,
                         hint="give the raw events as a Parquet file, a glob, a folder, .jsonl or .csv")
    formats = {_format_of(f) for f in found}
    if None in formats:
        bad = next(f for f in found if _format_of(f) is None)
        raise InputError("unknown file type (expected .parquet, .jsonl or .csv)", file=bad,
                         hint="name the files by their format, or move other files out of the input")
    if len(formats) > 1:
        raise InputError(f"mixed file formats {sorted(formats)}; read one format at a time", file=text,
                         hint="point at one format with a glob, e.g. 'events/**/*.parquet'")
    return EventSource(description=text, format=formats.pop(), files=tuple(found))


_FILE_COLUMN = "__auditor_source_file"


def _reader_sql(src: EventSource, with_file: bool = False, files: Sequence[str] | None = None) -> str:
    """The table function reading ``src`` (or only ``files`` of it); ``with_file`` adds each
    row's file name."""
    files_sql = "[" + ", ".join(_literal(f) for f in (files or src.files)) + "]"
    opts = "union_by_name = true, hive_partitioning = false"
    if with_file:
        opts += f", filename = {_literal(_FILE_COLUMN)}"
    if src.format == "parquet":
        return f"read_parquet({files_sql}, {opts})"
    if src.format == "json":
        return f"read_json({files_sql}, format = 'newline_delimited', {opts})"
    return f"read_csv({files_sql}, header = true, all_varchar = true, {opts})"


def describe_columns(con: duckdb.DuckDBPyConnection, relation_sql: str, where: str,
                     what: str = "the events", files: Sequence[str] = ()) -> dict[str, str]:
    """Column name -> DuckDB type (upper case) of a relation; unreadable input is exit 2."""
    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {relation_sql}").fetchall()
    except duckdb.Error as exc:
        if not is_data_error(exc):
            raise
        raise read_error(exc, what, files, where) from None
    return {r[0]: r[1].upper() for r in rows}


def _convert(col: str, src_col: str, typ: str, where: str) -> tuple[str, str | None, str | None]:
    """SQL converting a source column to its canonical type, and for a source type that may
    hold values that do not convert, a SQL predicate of those values and what was expected.

    Returns (expression, failure_predicate or None, expected or None).
    """
    q = quote_ident(src_col)
    if typ.strip('"') == "NULL":  # an all-null column (e.g. from pyarrow's null type)
        return f"NULL::{_null_type(col)}", None, None
    if typ == "JSON":
        # JSON Lines mixing strings and numbers in one column: take the text of each
        # value without JSON quoting ("web" -> web, 1742479200000 -> 1742479200000)
        q = f"({q} ->> '$')"
    is_text = typ in ("VARCHAR", "JSON") or typ.startswith("VARCHAR")
    is_int = typ in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT",
                     "UINTEGER", "UBIGINT", "HUGEINT")
    is_float = typ in ("FLOAT", "DOUBLE", "REAL") or typ.startswith("DECIMAL")
    if col in _TIME_COLUMNS:
        if typ.startswith("TIMESTAMP"):
            # epoch_ms() rounds sub-millisecond parts; the contract truncates (floors).
            # Nanosecond columns (TIMESTAMP_NS, TIMESTAMPTZ_NS) must not pass through a
            # microsecond cast either: that rounds too.
            if typ.endswith("_NS"):
                return _floor_div(f"epoch_ns({q})", 1_000_000), None, None
            return (_floor_div(f"epoch_us({q}::{'TIMESTAMPTZ' if 'TIME ZONE' in typ else 'TIMESTAMP'})", 1000),
                    None, None)
        if is_int:
            return f"{q}::BIGINT", None, None
        if is_text:
            expr = (f"CASE WHEN regexp_full_match(trim({q}), '-?[0-9]+') THEN trim({q})::BIGINT "
                    f"ELSE {_floor_div(f'epoch_us(TRY_CAST(trim({q}) AS TIMESTAMPTZ))', 1000)} END")
            return (expr, f"{q} IS NOT NULL AND trim({q}) <> '' AND ({expr}) IS NULL",
                    "a timestamp (ISO-8601 or epoch milliseconds)")
        raise InputError(f"column {src_col!r} has type {typ}; expected a timestamp, epoch "
                         "milliseconds or an ISO-8601 string", file=where, key=src_col,
                         hint=_TYPE_HINT)
    if col in _INT_COLUMNS:
        if is_int:
            return f"{q}::BIGINT", None, None
        if is_text:
            return (*_text_cast(q, "BIGINT"), "an integer")
        if is_float:
            # what pandas writes for integers with nulls: whole values are integers, a
            # fractional, infinite or NaN value is refused by name
            return (f"TRY_CAST({q} AS BIGINT)",
                    f"{q} IS NOT NULL AND (isnan({q}) OR isinf({q}) OR {q} <> trunc({q}) "
                    f"OR TRY_CAST({q} AS BIGINT) IS NULL)",
                    "whole numbers (found a fractional, infinite, NaN or out-of-range value)")
        raise InputError(f"column {src_col!r} has type {typ}; expected an integer",
                         file=where, key=src_col, hint=_TYPE_HINT)
    if col in _BOOL_COLUMNS:
        if typ == "BOOLEAN":
            return q, None, None
        if is_int:
            return f"({q} <> 0)", None, None
        if is_text:
            return (*_text_cast(q, "BOOLEAN"), "true/false")
        raise InputError(f"column {src_col!r} has type {typ}; expected a boolean",
                         file=where, key=src_col, hint=_TYPE_HINT)
    if typ.startswith(("STRUCT", "MAP")) or typ.endswith("[]"):
        raise InputError(f"column {src_col!r} has type {typ}; expected a string",
                         file=where, key=src_col, hint=_TYPE_HINT)
    return f"CAST({q} AS VARCHAR)", None, None


_TYPE_HINT = ("write the column with the type the input contract gives it (docs/input.md#types), "
              "or map another column onto it with `mapping: {columns: ...}` in audit.yaml")


def register_events(con: duckdb.DuckDBPyConnection, events: Any, *,
                    dims: Sequence[str] = DEFAULT_DIMS,
                    mapping: EventMapping | None = None,
                    view: str = "g_input") -> EventSource:
    """Create the canonical view ``view`` over ``events`` on ``con``.

    ``events``: a path (file, glob, folder) or a pyarrow Table / pandas DataFrame.
    Parquet files that store a column with different types (``ts`` as a timestamp in
    one file and as epoch milliseconds in another, both allowed by the contract) are
    read in groups of one schema each, each group converted by its own types.
    """
    mapping = mapping or EventMapping()
    # Zone-less text timestamps are UTC (docs/definitions.md#timestamps). DuckDB's
    # built-in ICU would read them in the process's local zone, so pin the session
    # zone before any conversion.
    con.execute("SET TimeZone = 'UTC'")
    wanted = [(c, True) for c in REQUIRED_COLUMNS] + [(c, False) for c in OPTIONAL_COLUMNS]
    wanted += [(d, True) for d in dims if d not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if isinstance(events, (str, os.PathLike)):
        src = resolve_files(events)
        groups = [src.files]
        if src.format == "parquet" and len(src.files) > 1:
            groups = _schema_groups(con, src, [mapping.columns.get(c, c) for c, _ in wanted],
                                    [mapping.columns.get(c, c) for c, req in wanted if req])
        parts = [_canonical_select(con, src, _reader_sql(src, files=files), files, wanted, dims, mapping)
                 for files in groups]
    else:
        con.register(f"{view}_src", events)
        src = EventSource(description="<table>", format="table")
        parts = [_canonical_select(con, src, quote_ident(f"{view}_src"), (), wanted, dims, mapping)]
    con.execute(f"CREATE OR REPLACE TEMP VIEW {quote_ident(view)} AS " + " UNION ALL ".join(parts))
    return src


def _canonical_select(con: duckdb.DuckDBPyConnection, src: EventSource, relation: str,
                      files: Sequence[str], wanted: list[tuple[str, bool]], dims: Sequence[str],
                      mapping: EventMapping) -> str:
    """``SELECT <canonical columns> FROM relation`` (``files`` of ``src``, or a registered
    table), after checking the columns and, where the source type may hold bad values, the
    values."""
    where = files[0] if len(files) == 1 else src.description
    schema = describe_columns(con, relation, where, files=files)
    selects: list[str] = []
    checks: list[tuple[str, str, str]] = []
    for col, required in wanted:
        src_col = mapping.columns.get(col, col)
        if src_col not in schema:
            if required:
                raise _missing_column(col, src_col, schema, dims, where)
            selects.append(f"NULL::{_null_type(col)} AS {quote_ident(col)}")
            continue
        expr, failure, expected = _convert(col, src_col, schema[src_col], where)
        if col == "event_type" and mapping.event_types:
            cases = " ".join(f"WHEN {_literal(k)} THEN {_literal(v)}"
                             for k, v in mapping.event_types.items())
            expr = f"CASE {expr} {cases} ELSE {expr} END"
        selects.append(f"{expr} AS {quote_ident(col)}")
        if failure:
            checks.append((src_col, failure, expected))
    if checks:
        _check_values(con, _reader_sql(src, with_file=True, files=files) if files else relation,
                      checks, src, files)
    return "SELECT " + ", ".join(selects) + f" FROM {relation}"


def _missing_column(col: str, src_col: str, schema: Mapping[str, str], dims: Sequence[str],
                    where: str) -> InputError:
    kind = "dimension" if col in dims and col not in REQUIRED_COLUMNS else "required column"
    close = difflib.get_close_matches(src_col, list(schema), n=1)
    mapped = "map it with `mapping: {columns: {" + col + ": <your column>}}` in audit.yaml"
    hint = (f"did you mean {close[0]!r}? " if close else "") + (
        f"{mapped}, or choose other dimensions (--dims, or dimensions: in audit.yaml)"
        if kind == "dimension" else mapped)
    return InputError(f"{kind} {src_col!r} is missing (columns present: {', '.join(sorted(schema))})",
                      file=where, key=src_col, hint=hint)


def _schema_groups(con: duckdb.DuckDBPyConnection, src: EventSource, columns: list[str],
                   required: list[str]) -> list[tuple[str, ...]]:
    """Parquet files grouped by the types they store the contract's columns with, from the
    files' footers. A required column missing from one file is an error naming that file:
    reading many files by name fills it with nulls, which would silently drop the file's rows."""
    try:
        rows = con.execute("SELECT file_name, list(name ORDER BY name), "
                           "list(name || ' ' || duckdb_type ORDER BY name) FILTER (WHERE list_contains($cols, name)) "
                           "FROM parquet_schema($files) GROUP BY file_name ORDER BY file_name",
                           {"cols": columns, "files": list(src.files)}).fetchall()
    except duckdb.Error as exc:
        if not is_data_error(exc):
            raise
        raise read_error(exc, "the events", src.files, src.description) from None
    groups: dict[tuple[str, ...], list[str]] = {}
    for file, names, typed in rows:
        missing = [c for c in required if c not in names]
        if missing:
            raise InputError(f"required column {missing[0]!r} is missing from this file "
                             f"(other files of {src.description} have it)", file=file, key=missing[0],
                             hint="write the file with the same columns as the others, or move it "
                                  "out of the input")
        groups.setdefault(tuple(typed or ()), []).append(file)
    return [tuple(files) for files in groups.values()]


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


def _check_values(con, relation: str, checks: list[tuple[str, str, str]], src: EventSource,
                  files: Sequence[str]) -> None:
    """Find values that do not convert (text that is not a number or time, a fractional or
    non-finite float in an integer column), and name the first one and the file it is in."""
    file_col = quote_ident(_FILE_COLUMN) if files else "NULL"
    parts = []
    for src_col, failure, _ in checks:
        q = quote_ident(src_col)
        parts.append(f"count(*) FILTER (WHERE {failure}), "
                     f"any_value([{q}::VARCHAR, {file_col}]) FILTER (WHERE {failure})")
    # DuckDB folds isnan() to false from Parquet statistics (which omit NaN): check
    # with statistics propagation off.
    con.execute("SET disabled_optimizers = 'statistics_propagation'")
    try:
        row = con.execute(f"SELECT {', '.join(parts)} FROM {relation}").fetchall()[0]
    except duckdb.Error as exc:
        if not is_data_error(exc):
            raise
        raise read_error(exc, "the events", files, src.description) from None
    finally:
        con.execute("RESET disabled_optimizers")
    for i, (src_col, _, expected) in enumerate(checks):
        bad, (sample, file) = row[2 * i], row[2 * i + 1] or (None, None)
        if bad:
            raise InputError(f"column {src_col!r} has {bad} value(s) that are not {expected}, "
                             f"e.g. {sample!r}", file=file or src.description, key=src_col,
                             hint="fix the values at the source, or map another column onto "
                                  f"{src_col} with `mapping: {{columns: ...}}` in audit.yaml")
