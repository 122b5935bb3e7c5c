"""The golden calculator on Apache Spark (``engine: spark``): the only module that imports pyspark.

The stages are the same rules files DuckDB runs (``rules/golden/*.sql``), each
statement rendered for Spark SQL by :mod:`auditor.golden.dialect`; values are
bound as named parameters. What DuckDB keeps as temporary tables Spark keeps
as cached DataFrames (memory and disk, so they spill instead of failing) named
as temporary views; the aggregate (and, when asked, the per-session facts)
come back to the driver as Arrow tables with the same columns and types as
DuckDB's, so everything after golden (comparison, localization, reports)
runs unchanged on the driver.

The session: the active one when auditor runs inside ``spark-submit`` or a
notebook, else ``$AUDITOR_SPARK_REMOTE`` (a Spark Connect URL, ``sc://host``),
else a local one on ``$AUDITOR_SPARK_MASTER`` (default ``local[*]``). Its
settings (ANSI mode, UTC) are :data:`auditor.golden.dialect.SPARK_CONF`.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import pyarrow as pa

from auditor.errors import ConfigError, InputError, first_line

INSTALL_HINT = "pip install -e '.[spark]' (pyspark and sqlglot), or choose engine: duckdb"
JAVA_HINT = ("install a Java runtime (17), e.g. `apt-get install default-jre-headless`, or set "
             "JAVA_HOME to one; or choose engine: duckdb")

_SESSION = None


def check_available() -> None:
    """ConfigError (exit 2) with the fix when pyspark, sqlglot or Java is missing."""
    for module in ("pyspark", "sqlglot"):
        try:
            __import__(module)
        except ImportError:
            raise ConfigError(f"engine spark needs {module}, which is not installed", key="engine",
                              hint=INSTALL_HINT) from None
    if os.environ.get("AUDITOR_SPARK_REMOTE") or _active_session() is not None:
        return  # Spark Connect or an existing JVM: no local Java needed
    java_home = os.environ.get("JAVA_HOME")
    java = os.path.join(java_home, "bin", "java") if java_home else shutil.which("java")
    if not java or not os.access(java, os.X_OK):
        raise ConfigError("engine spark needs Java, and none was found"
                          + (f" (JAVA_HOME={java_home})" if java_home else " on PATH"),
                          key="engine", hint=JAVA_HINT)


def _active_session():
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        return None
    return SparkSession.getActiveSession()


def get_session():
    """The Spark session golden runs on, with :data:`SPARK_CONF` applied."""
    global _SESSION
    check_available()
    from pyspark.sql import SparkSession

    from auditor.golden.dialect import SPARK_CONF

    spark = SparkSession.getActiveSession()
    if spark is None:
        builder = SparkSession.builder.appName("auditor")
        remote = os.environ.get("AUDITOR_SPARK_REMOTE")
        if remote:
            builder = builder.remote(remote)
        else:
            builder = builder.master(os.environ.get("AUDITOR_SPARK_MASTER") or "local[*]")
            builder = builder.config("spark.ui.enabled", "false")
            builder = builder.config("spark.sql.shuffle.partitions",
                                     os.environ.get("AUDITOR_SPARK_PARTITIONS") or "8")
        for key, value in SPARK_CONF.items():
            builder = builder.config(key, value)
        spark = builder.getOrCreate()
        if not remote:
            spark.sparkContext.setLogLevel("ERROR")
    for key, value in SPARK_CONF.items():
        if key.startswith("spark.sql."):
            spark.conf.set(key, value)  # an existing session gets the runtime settings too
    _SESSION = spark
    return spark


# -- input -----------------------------------------------------------------------------

_KINDS = {"ts": "time", "received_at": "time", "seq": "int", "bitrate_kbps": "int", "fatal": "bool"}
_EXPECTED = {"time": "a timestamp or epoch milliseconds (an integer type)",
             "int": "an integer type", "bool": "a boolean or an integer type"}


def _read(spark, events: Any, tmp: list[str]):
    """A DataFrame over the raw events and the description used in messages."""
    from auditor.golden.events import CatalogTable, resolve_files

    if isinstance(events, CatalogTable):
        try:
            return spark.table(events.name), events.name
        except Exception as exc:  # AnalysisException: no such table
            raise InputError(f"cannot read the table {events.name}: {first_line(exc)}", key="events",
                             hint="name a table of the session's catalog as db.table") from None
    if isinstance(events, (str, os.PathLike)):
        text = os.fspath(events)
        if "://" not in text:  # local: the same checks (and messages) as the DuckDB engine
            src = resolve_files(text)
            if src.format != "parquet":
                raise InputError(f"the Spark engine reads Parquet files and tables, not {src.format}",
                                 file=text, hint="convert the events to Parquet, or use engine: duckdb")
        reader = spark.read.option("recursiveFileLookup", "true") \
            if os.path.isdir(text) or text.endswith("/") else spark.read
        try:
            return reader.parquet(text), text
        except Exception as exc:
            raise InputError(f"cannot read the events: {first_line(exc)}", file=text,
                             hint="give Parquet files, a folder of them or a glob") from None
    # an in-memory table (tests, the library API): through a Parquet file, as files are read
    import pyarrow.parquet as pq

    table = events if isinstance(events, pa.Table) else pa.Table.from_pandas(events, preserve_index=False)
    folder = tempfile.mkdtemp(prefix="auditor-spark-")
    tmp.append(folder)
    pq.write_table(table, os.path.join(folder, "events.parquet"))
    return spark.read.parquet(folder), "<table>"


def register_events(spark, events: Any, *, dims: Sequence[str], mapping=None,
                    tmp: list[str]) -> str:
    """The canonical view ``g_input`` on Spark (the columns and types of
    :func:`auditor.golden.events.register_events`); returns the input's description."""
    from pyspark.sql import functions as F

    from auditor.golden.dialect import spark_input_expr, spark_select
    from auditor.golden.events import (OPTIONAL_COLUMNS, REQUIRED_COLUMNS, EventMapping,
                                       _missing_column)

    mapping = mapping or EventMapping()
    df, where = _read(spark, events, tmp)
    schema = {f.name: f.dataType.simpleString() for f in df.schema.fields}
    wanted = [(c, True) for c in REQUIRED_COLUMNS] + [(c, False) for c in OPTIONAL_COLUMNS]
    wanted += [(d, True) for d in dims if d not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    exprs = []
    for col, required in wanted:
        src_col = mapping.columns.get(col, col)
        kind = _KINDS.get(col, "text")
        typ = schema.get(src_col, "void")
        if src_col not in schema and required:
            raise _missing_column(col, src_col, schema, dims, where)
        expr = spark_input_expr(col, src_col, typ, kind)
        if expr is None:
            raise InputError(f"column {src_col!r} has Spark type {typ}; expected "
                             f"{_EXPECTED.get(kind, 'a string')}", file=where, key=src_col,
                             hint="write the column with the type the input contract gives it "
                                  "(docs/input.md#types), or use engine: duckdb, which also "
                                  "reads text timestamps and numbers")
        exprs.append((expr, col))
    df.createOrReplaceTempView("g_input_src")
    canonical = spark.sql(spark_select(exprs, "g_input_src"))
    if mapping.event_types:
        et = F.col("event_type")
        mapped = None
        for raw, name in mapping.event_types.items():
            mapped = (F.when(et == F.lit(raw), F.lit(name)) if mapped is None
                      else mapped.when(et == F.lit(raw), F.lit(name)))
        canonical = canonical.withColumn("event_type", mapped.otherwise(et))
    canonical.createOrReplaceTempView("g_input")
    return where


# -- the stages ---------------------------------------------------------------------------

class _Tables:
    """The cached DataFrames standing in for DuckDB's temporary tables."""

    def __init__(self, spark) -> None:
        self.spark = spark
        self.cached: dict[str, Any] = {}

    def keep(self, name: str, df, materialize: bool = False) -> None:
        from pyspark import StorageLevel

        df = df.persist(StorageLevel.MEMORY_AND_DISK)
        if materialize:
            df.count()
        old = self.cached.pop(name, None)
        df.createOrReplaceTempView(name)
        self.cached[name] = df
        if old is not None:
            old.unpersist()

    def release(self) -> None:
        for df in self.cached.values():
            df.unpersist()
        self.cached.clear()


def _run_rule(spark, tables: _Tables, relpath: str, params: Mapping[str, Any], rules, **context) -> None:
    from auditor.golden.dialect import DialectError, parameter_names, to_spark
    from auditor.golden.sqlfiles import read_rule, render, statements

    custom = rules is not None and rules.custom
    text = rules.render(relpath, **context) if custom else render(read_rule(relpath), **context)
    for line, stmt in statements(text):
        try:
            st = to_spark(stmt)
            names = parameter_names(st.sql)
            missing = names - params.keys()
            if missing and custom:  # a rules folder's own SQL names a parameter we do not bind
                raise DialectError(f"unknown parameter(s) {', '.join('$' + m for m in sorted(missing))}"
                                   f"; the stages are given {', '.join('$' + p for p in sorted(params))}")
            if missing:
                raise KeyError(f"SQL parameter(s) not given: {sorted(missing)}")
            df = spark.sql(st.sql, args={k: params[k] for k in names})
        except KeyError:
            raise
        except Exception as exc:
            if not custom or not _is_sql_error(exc):
                raise
            at = line + exc.line - 1 if isinstance(exc, DialectError) and exc.line else line
            raise ConfigError(f"the SQL fails on Spark: {first_line(exc)}",
                              file=f"{rules.path(relpath)}:{at}",
                              hint="fix the statement there (the line counts from the rendered "
                                   "template)") from None
        if st.kind == "table":
            tables.keep(st.target, df)
        elif st.kind == "view":
            df.createOrReplaceTempView(st.target)
        elif st.kind == "delete":
            tables.keep(st.target, df, materialize=True)
        elif st.kind == "insert":
            tables.keep(st.target, spark.table(st.target).unionByName(df), materialize=True)
        else:
            df.collect()


def _is_sql_error(exc: BaseException) -> bool:
    from pyspark.errors import AnalysisException, ParseException

    from auditor.golden.dialect import DialectError

    return isinstance(exc, (AnalysisException, ParseException, DialectError))


def run_stages(spark, tables: _Tables, dims: tuple[str, ...], params: dict, rules) -> None:
    """Stages 1-7 in one pass: Spark partitions the sessions itself (by session key, in each
    window and grouping), which is what DuckDB's session buckets do on one machine."""
    timeout = params["inactivity_timeout_ms"] is not None
    _run_rule(spark, tables, "golden/01_load.sql", params, rules, spool=False)
    for stage in ("02_dedup", "03_live", "05_session_facts"):
        _run_rule(spark, tables, f"golden/{stage}.sql", params, rules, dims=dims, exact_ties=False,
                  timeout=timeout)
    if spark.table("g_facts").where("tied").limit(1).count():
        _run_rule(spark, tables, "golden/05_session_facts.sql", params, rules, dims=dims,
                  exact_ties=True, timeout=timeout)
    for stage in ("06_attributes", "07_aggregate"):
        _run_rule(spark, tables, f"golden/{stage}.sql", params, rules, dims=dims)


def collect(df, schema: pa.Schema, order: Sequence[str]) -> pa.Table:
    """A (small) Spark result on the driver as an Arrow table with ``schema``'s columns and
    types, sorted by ``order`` with NULLs last (the order DuckDB's result has)."""
    from auditor.golden.dialect import spark_epoch_micros, spark_ident

    cols = []
    for field in schema:
        name = spark_ident(field.name)
        cols.append(f"{spark_epoch_micros(field.name)} AS {name}" if pa.types.is_timestamp(field.type)
                    else name)
    table = _to_arrow(df.selectExpr(*cols))
    if table is None or table.num_rows == 0:
        return schema.empty_table()
    arrays = []
    for field in schema:
        column = table.column(field.name)
        if pa.types.is_timestamp(field.type):
            column = column.cast(pa.int64()).cast(pa.timestamp("us")).cast(field.type)
        arrays.append(column.cast(field.type))
    table = pa.Table.from_arrays(arrays, schema=schema)
    return table.sort_by([(c, "ascending", "at_end") for c in order])


def cleanup(tmp: list[str]) -> None:
    for folder in tmp:
        shutil.rmtree(folder, ignore_errors=True)


def classify_spark_error(exc: BaseException, where: str) -> InputError | None:
    """An error Spark raised while running the stages that is the data's fault, as an
    InputError (an overflow under ANSI mode, a damaged or missing file); else None."""
    text = str(exc)
    if "ARITHMETIC_OVERFLOW" in text or "CAST_OVERFLOW" in text or "ArithmeticException" in text:
        return InputError(f"a value in the events is out of range: {first_line(exc)}", file=where,
                          hint="check the units of bitrate_kbps (kbit/s) and ts (ms)")
    for marker in ("FileNotFoundException", "PATH_NOT_FOUND", "is not a Parquet file",
                   "CANNOT_READ_FILE_FOOTER", "FAILED_READ_FILE", "Could not read footer"):
        if marker in text:
            return InputError(f"cannot read the events: {first_line(exc)}", file=where,
                              hint="a file is missing or damaged; rewrite it or move it out of the input")
    return None


@contextmanager
def _data_errors(where: str):
    """Errors Spark raises that are the data's fault (:func:`classify_spark_error`) become
    an InputError naming ``where``; every other error passes as it is."""
    try:
        yield
    except (ConfigError, InputError, KeyError, KeyboardInterrupt):
        raise
    except Exception as exc:
        mapped = classify_spark_error(exc, where)
        if mapped is None:
            raise
        raise mapped from None


def compute(events: Any, *, dims: tuple[str, ...], params: dict, mapping, rules,
            with_sessions: bool, aggregate_schema: pa.Schema, session_schema: pa.Schema | None
            ) -> tuple[pa.Table, pa.Table | None, dict[str, int], str]:
    """Golden on Spark: (aggregates, sessions or None, stats, input description)."""
    spark = get_session()
    tmp: list[str] = []
    tables = _Tables(spark)
    where = "the events"
    try:
        where = register_events(spark, events, dims=dims, mapping=mapping, tmp=tmp)
        with _data_errors(where):
            run_stages(spark, tables, dims, params, rules)
            order = ["window_start", *dims]
            aggregates = collect(spark.table("g_aggregate"), aggregate_schema, order)
            sessions = (collect(spark.table("g_sessions"), session_schema, ["session_id"])
                        if with_sessions else None)
            stats = {"events": spark.table("g_narrow").count(),
                     "sessions": spark.table("g_sessions").count()}
        return aggregates, sessions, stats, where
    finally:
        tables.release()
        for view in ("g_input", "g_input_src", "g_narrow", "g_dupkeys", "g_events", "g_first_attempt",
                     "g_live", "g_facts", "g_tied", "g_attrs", "g_sessions", "g_aggregate"):
            spark.catalog.dropTempView(view)
        cleanup(tmp)


SESSION_EVENT_SCHEMA = pa.schema([("session_id", pa.string()), ("event_id", pa.string()),
                                  ("seq", pa.int64()), ("ts", pa.int64()), ("event_type", pa.string()),
                                  ("fatal", pa.bool_()), ("bitrate_kbps", pa.int64())])


def session_events(events: Any, session_ids: Sequence[str], *, dims: Sequence[str],
                   mapping=None) -> pa.Table:
    """The raw events of a few sessions (``session_ids``) on the input contract, as
    :func:`register_events` reads them (``ts`` in epoch milliseconds), collected to the
    driver: what ``auditor gate`` shows as the example sessions of its reclassification
    matrix when the corpus was read by Spark."""
    from pyspark.sql import functions as F

    spark = get_session()
    tmp: list[str] = []
    try:
        where = register_events(spark, events, dims=dims, mapping=mapping, tmp=tmp)
        df = spark.table("g_input").where(F.col("session_id").isin(sorted(set(session_ids))))
        with _data_errors(where):
            return collect(df, SESSION_EVENT_SCHEMA, ["session_id", "seq", "ts", "event_id"])
    finally:
        for view in ("g_input", "g_input_src"):
            spark.catalog.dropTempView(view)
        cleanup(tmp)


def read_catalog(*, table: str | None = None, query: str | None = None) -> pa.Table:
    """A pipeline's published aggregates from the Spark session's catalog (a Hive table or a
    query), collected to the driver as Arrow: they are small (one row per window and slice)."""
    spark = get_session()
    try:
        df = spark.table(table) if table else spark.sql(query)
        return _to_arrow(df) or pa.table({f.name: pa.array([], pa.null()) for f in df.schema.fields})
    except (ConfigError, InputError, KeyboardInterrupt):
        raise
    except Exception as exc:
        if not _is_sql_error(exc):
            raise
        raise InputError(f"cannot read {table or 'the query'} on Spark: {first_line(exc)}", key=table,
                         hint="check the table name (db.table) in the session's catalog, or the query") from None


def _to_arrow(df) -> pa.Table | None:
    """A DataFrame's rows on the driver as Arrow (None when it has none)."""
    if hasattr(df, "toArrow"):  # pyspark 4
        return df.toArrow()
    batches = df._collect_as_arrow()
    return pa.Table.from_batches(batches) if batches else None
