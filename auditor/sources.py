"""Pipeline sources: read what a pipeline published into the canonical candidate shape.

A source is a file or glob (Parquet, CSV, JSON Lines), a table or query in a
DuckDB database, or a table or query on another engine through SQLAlchemy
(through ``auditor/sqlengine.py``, the one module that imports it). Whatever the source, its rows land
in an embedded DuckDB view, are renamed onto the canonical components
(docs/input.md#pipeline-outputs) and checked: a missing column, a value
that does not convert, a NaN or null count, a fractional count or two rows
for the same (window, slice) is an :class:`InputError` naming the source and
the column.

The canonical candidate table has ``window_ms`` (epoch milliseconds of the
row's window start), the pipeline's dimensions as VARCHAR, the additive
components it publishes as BIGINT, and the final ratios it publishes (when
it does not publish their components) as DOUBLE.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from auditor import sqlengine
from auditor.config import PipelineConfig, SourceSpec, redact_url
from auditor.errors import InputError, first_line, is_data_error, read_error
from auditor.golden.events import describe_columns, resolve_files
from auditor.golden.metrics import catalogue
from auditor.golden.sqlfiles import quote_ident
from auditor.windows import ms_iso

_INT_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
              "UINTEGER", "UBIGINT", "UHUGEINT")


@dataclass(frozen=True)
class CandidateLayout:
    """Which source column feeds each canonical name, and how each metric is published."""

    columns: Mapping[str, str]            # canonical name -> source column
    metrics: Mapping[str, str]            # metric -> "components" | "value"
    components: tuple[str, ...]           # the additive components read


def register_source(con: duckdb.DuckDBPyConnection, spec: SourceSpec, view: str) -> None:
    """Create the DuckDB view ``view`` over the source's rows, as published."""
    if spec.kind == "file":
        reader, files = _file_reader(spec)
        try:
            con.execute(f"CREATE OR REPLACE TEMP VIEW {quote_ident(view)} AS SELECT * FROM {reader}")
        except duckdb.Error as exc:
            if not is_data_error(exc):
                raise
            raise read_error(exc, "the pipeline's output", files, spec.path or "") from None
    elif spec.kind == "duckdb":
        con.register(view, _read_duckdb(spec))
    elif spec.kind == "sql":
        con.register(view, read_sqlalchemy(spec))
    elif spec.kind == "spark":
        from auditor.golden.spark import read_catalog

        con.register(view, read_catalog(table=spec.table, query=spec.query))
    else:  # pragma: no cover - the config only builds the three kinds
        raise ValueError(f"unknown source kind {spec.kind!r}")


def _file_reader(spec: SourceSpec) -> tuple[str, tuple[str, ...]]:
    """The table function reading a file source, and its files."""
    src = resolve_files(spec.path or "")
    fmt = spec.format or src.format
    files = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in src.files) + "]"
    if fmt == "parquet":
        reader = f"read_parquet({files}, union_by_name = true, hive_partitioning = false)"
    elif fmt == "json":
        reader = f"read_json({files}, format = 'newline_delimited', union_by_name = true, hive_partitioning = false)"
    else:
        reader = f"read_csv({files}, header = true, union_by_name = true, hive_partitioning = false)"
    return reader, src.files


def _select_sql(spec: SourceSpec, quote) -> str:
    if spec.query:
        return spec.query
    return "SELECT * FROM " + ".".join(quote(part) for part in (spec.table or "").split("."))


def _read_duckdb(spec: SourceSpec) -> pa.Table:
    try:
        src = duckdb.connect(spec.database or "", read_only=True)
    except duckdb.Error as exc:
        raise InputError(f"cannot open the DuckDB database: {first_line(exc)}", file=spec.database,
                         hint="check that it is a DuckDB database file (of this DuckDB version) "
                              "that no other process is writing to") from None
    try:
        return src.sql(_select_sql(spec, quote_ident)).to_arrow_table()
    except duckdb.Error as exc:
        raise InputError(f"cannot read {spec.table or 'the query'}: {first_line(exc)}",
                         file=spec.database, key=spec.table,
                         hint="check the table name (schema.table) or the query") from None
    finally:
        src.close()


def read_sqlalchemy(spec: SourceSpec) -> pa.Table:
    """Run the table scan or query on the engine at ``spec.url``; rows as an Arrow table."""
    where = redact_url(spec.url or "")
    engine = sqlengine.create_engine(spec.url or "", where=where)
    try:
        with engine.connect() as conn:
            quote = engine.dialect.identifier_preparer.quote
            result = conn.execute(sqlengine.text(_select_sql(spec, quote)))
            names = list(result.keys())
            rows = result.fetchall()
    except sqlengine.error_types() as exc:
        raise InputError(f"the query failed: {first_line(sqlengine.original(exc))}",
                         file=where, key=spec.table,
                         hint="check that the server is reachable and the table or query exists") from None
    finally:
        engine.dispose()
    columns = list(zip(*rows)) if rows else [()] * len(names)
    try:
        return pa.table({n: pa.array(list(c)) for n, c in zip(names, columns)})
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InputError(f"a column of the result has mixed or unsupported values: {first_line(exc)}",
                         file=where, hint="cast the column to one type in the query") from None



def plan_layout(con: duckdb.DuckDBPyConnection, view: str, pipeline: PipelineConfig,
                dims: Sequence[str], where: str) -> CandidateLayout:
    """Map the source's columns onto canonical names and decide how each metric is compared."""
    present = describe_view(con, view, where)
    def src(name: str) -> str:
        return pipeline.columns.get(name, name)
    for name in ("window_start", *dims):
        if src(name) not in present:
            what = "window start column" if name == "window_start" else "dimension"
            raise InputError(f"{what} {src(name)!r} is missing (columns present: {', '.join(present)})",
                             file=where, key=src(name),
                             hint=f"map it in audit.yaml: pipelines.{pipeline.name}.columns: "
                                  f"{{{name}: <its column>}}"
                                  + ("" if name == "window_start" else
                                     f", or list the dimensions it keeps in pipelines.{pipeline.name}.dimensions"))
    wanted = pipeline.metrics or tuple(catalogue())
    metrics: dict[str, str] = {}
    unpublished: dict[str, list[str]] = {}   # metric -> its missing columns
    for name in wanted:
        metric = catalogue()[name]
        if all(src(c) in present for c in metric.components):
            metrics[name] = "components"
        elif src(name) in present:
            metrics[name] = "value"
        else:
            unpublished[name] = [src(c) for c in metric.components if src(c) not in present]
    if unpublished:
        # a pipeline that stops publishing a column is the regression an audit exists to
        # catch: never drop the metric quietly
        missing = sorted({c for cols in unpublished.values() for c in cols})
        needs = "; ".join(f"{m} needs {', '.join(map(repr, cols))}" for m, cols in unpublished.items())
        declared = pipeline.metrics is not None
        raise InputError(
            f"column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} "
            f"{'are' if len(missing) > 1 else 'is'} missing ({needs}, or a column with the final value; "
            f"columns present: {', '.join(present)})", file=where, key=missing[0],
            hint=(f"drop the metric from pipelines.{pipeline.name}.metrics" if declared else
                  f"list the metrics this pipeline publishes in pipelines.{pipeline.name}.metrics "
                  f"(e.g. metrics: [{', '.join(metrics) or 'attempts'}])")
                 + f", or map the column in pipelines.{pipeline.name}.columns")
    components = tuple(dict.fromkeys(c for m, how in metrics.items() if how == "components"
                                     for c in catalogue()[m].components))
    used = ["window_start", *dims, *components, *(m for m, how in metrics.items() if how == "value")]
    return CandidateLayout(columns={n: src(n) for n in used}, metrics=metrics, components=components)


def describe_view(con: duckdb.DuckDBPyConnection, view: str, where: str) -> dict[str, str]:
    return describe_columns(con, quote_ident(view), where, what="the pipeline's output")


def load_candidate(con: duckdb.DuckDBPyConnection, view: str, table: str, layout: CandidateLayout,
                   dims: Sequence[str], grain_ms: int, where: str, grain_key: str) -> int:
    """Canonicalise the source view into ``table``, checking every value; returns its row count."""
    types = describe_view(con, view, where)
    q = {n: quote_ident(c) for n, c in layout.columns.items()}
    checks: list[tuple[str, str, str]] = []   # (column, failure predicate, what was expected)
    ws_type = types[layout.columns["window_start"]]
    if ws_type.startswith(("TIMESTAMP", "DATE")):
        ws = f"epoch_ms({q['window_start']}::TIMESTAMPTZ)"
    elif ws_type in _INT_TYPES:
        ws = f"{q['window_start']}::BIGINT"
    else:
        ws = f"epoch_ms(TRY_CAST(CAST({q['window_start']} AS VARCHAR) AS TIMESTAMPTZ))"
        checks.append(("window_start", f"{q['window_start']} IS NOT NULL AND {ws} IS NULL",
                       "an ISO-8601 time"))
    checks.append(("window_start", f"{q['window_start']} IS NULL", "a window start (found null)"))
    selects = [f"{ws} AS window_ms"] + [f"CAST({q[d]} AS VARCHAR) AS {quote_ident(d)}" for d in dims]
    for comp in layout.components:
        typ, col = types[layout.columns[comp]], q[comp]
        if typ in _INT_TYPES:
            expr = f"{col}::BIGINT"
        else:
            num = f"TRY_CAST({col} AS DOUBLE)"
            checks.append((comp, f"{col} IS NOT NULL AND {num} IS NULL", "a number"))
            checks.append((comp, f"isnan({num})", "a number (found NaN)"))
            checks.append((comp, f"isinf({num})", "a finite number"))
            checks.append((comp, f"NOT isnan({num}) AND NOT isinf({num}) AND {num} <> round({num})",
                           "a whole number (counts and millisecond sums are integers)"))
            expr = f"TRY_CAST(round({num}) AS BIGINT)"
        checks.append((comp, f"{col} IS NULL", "a count (found null; publish 0 for none)"))
        selects.append(f"{expr} AS {quote_ident(comp)}")
    for metric, how in layout.metrics.items():
        if how == "value":
            col = q[metric]
            num = f"TRY_CAST({col} AS DOUBLE)"
            checks.append((metric, f"{col} IS NOT NULL AND {num} IS NULL", "a number"))
            checks.append((metric, f"isnan({num})", "a number or null (found NaN; publish null "
                                                    "for an undefined rate)"))
            selects.append(f"{num} AS {quote_ident(metric)}")
    source = quote_ident(view)
    parts = ", ".join(f"count(*) FILTER (WHERE {pred}), CAST(any_value({q[col]}) FILTER (WHERE {pred}) AS VARCHAR)"
                      for col, pred, _ in checks)
    # DuckDB 2.0.1 folds isnan() to false from Parquet statistics (which omit NaN):
    # check with statistics propagation off.
    con.execute("SET disabled_optimizers = 'statistics_propagation'")
    try:
        row = con.execute(f"SELECT {parts} FROM {source}").fetchone()
    except duckdb.Error as exc:
        if not is_data_error(exc):
            raise
        raise read_error(exc, "the pipeline's output", (), where) from None
    finally:
        con.execute("RESET disabled_optimizers")
    for i, (col, _, expected) in enumerate(checks):
        if row[2 * i]:
            raise InputError(f"column {layout.columns[col]!r} has {row[2 * i]} value(s) that are not "
                             f"{expected}, e.g. {row[2 * i + 1]!r}", file=where, key=layout.columns[col],
                             hint="fix the pipeline's output or its column mapping in audit.yaml")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {quote_ident(table)} AS SELECT {', '.join(selects)} FROM {source}")
    keys = ", ".join(["window_ms", *map(quote_ident, dims)])
    dup = con.execute(f"SELECT {keys}, count(*) AS n FROM {quote_ident(table)} GROUP BY ALL "
                      f"HAVING count(*) > 1 ORDER BY n DESC LIMIT 1").fetchone()
    if dup:
        key = ", ".join(f"{d}={v!r}" for d, v in zip(dims, dup[1:-1]))
        raise InputError(f"{dup[-1]} rows share the window {ms_iso(dup[0])} and slice ({key or 'whole window'})",
                         file=where, key="duplicate keys",
                         hint="a pipeline publishes one row per window and combination of its dimensions; "
                              "if it keeps fewer dimensions, list them in its `dimensions`")
    bad = con.execute(f"SELECT count(*), min(window_ms) FROM {quote_ident(table)} "
                      f"WHERE window_ms % {int(grain_ms)} <> 0").fetchone()
    if bad[0]:
        raise InputError(f"{bad[0]} row(s) start off the {grain_ms // 60000}-minute grain, e.g. at "
                         f"{ms_iso(bad[1])}", file=where, key=layout.columns["window_start"],
                         hint=f"declare the grain the pipeline publishes in {grain_key} (e.g. 5m, 1h)")
    return con.execute(f"SELECT count(*) FROM {quote_ident(table)}").fetchone()[0]
