"""The golden calculator: raw player events -> per-session facts -> canonical aggregates.

The definitions are the SQL stages under ``rules/golden/`` (docs/definitions.md made
executable); this module only opens the input, binds the options and runs
the stages in order on an embedded DuckDB connection.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

import duckdb
import pyarrow as pa

from auditor.errors import ConfigError, InputError, first_line, is_data_error, read_error
from auditor.golden.events import DEFAULT_DIMS, EventMapping, EventSource, register_events
from auditor.golden.sqlfiles import RulesFolder, quote_ident, run_rule
from auditor.yamldoc import load_yaml

COMPONENTS = ("attempts", "plays", "ebvs", "vsf", "vpf", "vst_ms_sum", "play_ms", "stall_ms",
              "bitrate_kbps_ms")
SESSION_FACTS = ("attempt", "started", "ebvs", "vsf", "vpf", "vst_ms", "play_ms", "stall_ms",
                 "bitrate_kbps_ms")
# session fact -> aggregate component
FACT_TO_COMPONENT = dict(zip(SESSION_FACTS, COMPONENTS))


@dataclass(frozen=True)
class GoldenOptions:
    """The named options (docs/definitions.md#named-options); the defaults are the definitions."""

    start_anchor: str = "content_frame"
    attribution: str = "session_start"
    inactivity_timeout_ms: int | None = None
    ebvs_min_wait_ms: int = 0

    def __post_init__(self) -> None:
        if self.start_anchor not in ("content_frame", "any_frame"):
            raise ConfigError(f"start_anchor must be content_frame or any_frame, not {self.start_anchor!r}",
                              key="start_anchor", hint="content_frame is the golden definition")
        if self.attribution not in ("session_start", "session_end"):
            raise ConfigError(f"attribution must be session_start or session_end, not {self.attribution!r}",
                              key="attribution", hint="session_start is the golden definition")
        if self.inactivity_timeout_ms is not None and (
                not isinstance(self.inactivity_timeout_ms, int) or self.inactivity_timeout_ms <= 0):
            raise ConfigError("inactivity_timeout_ms must be a positive whole number of milliseconds",
                              key="inactivity_timeout_ms", hint="e.g. 1800000 (30 minutes), or leave it out")
        if not isinstance(self.ebvs_min_wait_ms, int) or self.ebvs_min_wait_ms < 0:
            raise ConfigError("ebvs_min_wait_ms must be a whole number >= 0", key="ebvs_min_wait_ms",
                              hint="e.g. 1000; 0 (the golden definition) counts every exit before video start")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


OPTIONS_FILE = "options.yaml"


def load_options(rules: RulesFolder | None = None) -> GoldenOptions:
    """The options the definitions run with: ``golden:`` in the rules folder's options.yaml.

    The shipped rules/options.yaml holds the defaults of docs/definitions.md#named-options; changing a
    default there is a definition change (`auditor gate` shows what it moves)
    and ``auditor run`` follows it unless audit.yaml's ``golden:`` overrides
    it. A folder without the file runs with :class:`GoldenOptions`' defaults.
    """
    rules = rules or RulesFolder()
    if not rules.exists(OPTIONS_FILE):
        return GoldenOptions()
    doc = load_yaml(rules.path(OPTIONS_FILE), what="golden options file")
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, Mapping):
        raise doc.error((), "options.yaml is a mapping with a `golden:` section",
                        "e.g. golden: {start_anchor: content_frame, ebvs_min_wait_ms: 0}")
    doc.check_keys((), data, ("version", "golden"))
    values = data.get("golden") or {}
    if not isinstance(values, Mapping):
        raise doc.error(("golden",), "golden takes the named options of docs/definitions.md#named-options")
    doc.check_keys(("golden",), values, list(GoldenOptions.__dataclass_fields__))
    try:
        return GoldenOptions(**values)
    except ConfigError as exc:
        raise doc.error(("golden", exc.key or ""), exc.message, exc.hint) from None


@lru_cache(maxsize=1)
def _packaged_options() -> GoldenOptions:
    return load_options()


def default_options(rules: RulesFolder | None = None) -> GoldenOptions:
    """:func:`load_options` of ``rules`` (the packaged folder's is read once per process)."""
    return load_options(rules) if rules is not None and rules.custom else _packaged_options()


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
    (docs/definitions.md#timestamps): DuckDB's built-in ICU would otherwise start in the process's
    local zone and read zone-less text timestamps as local time.
    """
    memory_limit = memory_limit or os.environ.get("AUDITOR_MEMORY_LIMIT") or DEFAULT_MEMORY_LIMIT
    threads = threads or _env_threads()
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


def _env_threads() -> int | None:
    """$AUDITOR_THREADS as a positive whole number (None when unset: every core)."""
    env = os.environ.get("AUDITOR_THREADS", "").strip()
    if not env:
        return None
    if not env.isdigit() or int(env) < 1:
        raise ConfigError(f"AUDITOR_THREADS must be a positive whole number, not {env!r}",
                          key="AUDITOR_THREADS", hint="e.g. AUDITOR_THREADS=2, or unset it to use every core")
    return int(env)


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
        raise ConfigError(f"dimensions repeat: {list(dims)}", key="dims", hint="name each dimension once")
    reserved = {"session_id", "window_start", "event_id", "seq", "ts", "event_type"} | set(COMPONENTS) | set(SESSION_FACTS)
    clash = [d for d in dims if d in reserved]
    if clash:
        raise ConfigError(f"{clash} cannot be used as a dimension (reserved column name)", key="dims",
                          hint="dimensions are attributes of a session such as cdn, device or country")
    return dims


def compute_golden(events: Any, *, dims: Sequence[str] = DEFAULT_DIMS, window_minutes: int = 60,
                   window_start: datetime | str | None = None, window_end: datetime | str | None = None,
                   options: GoldenOptions | None = None, with_sessions: bool = False,
                   mapping: EventMapping | None = None,
                   con: duckdb.DuckDBPyConnection | None = None,
                   bucket_rows: int | None = None, rules: RulesFolder | None = None,
                   reuse_loaded: bool = False, engine: str = "duckdb") -> GoldenResult:
    """Recompute the golden metrics from raw events.

    ``events``: Parquet file / glob / (Hive-partitioned) folder, JSON Lines or CSV, or a
    pyarrow Table in the raw-events schema. ``window_start`` (with ``window_end``, or one
    window of ``window_minutes``) restricts the result to sessions attributed to those
    windows; without it every window in the data is computed.

    Inputs of more than twice ``bucket_rows`` rows (default: :func:`default_bucket_rows`)
    are processed in session buckets of about that size, which bounds memory.

    ``rules``: the rules folder to read the stages and default options from (default:
    the packaged one). ``reuse_loaded``: the previous run on ``con`` read the same
    events with the same dimensions, mapping and load/dedup SQL (stages 1-2), so an
    input that runs in one pass skips them (``auditor gate`` runs base and head so).

    ``engine``: ``duckdb`` (embedded, the default) or ``spark`` (the same stages as
    Spark SQL, :mod:`auditor.golden.spark`; ``events`` may then also be a
    :class:`~auditor.golden.events.CatalogTable`). The result is the same, to the digit.
    """
    options = options or default_options(rules)
    dims = check_dims(dims)
    if not isinstance(window_minutes, int) or window_minutes <= 0:
        raise ConfigError("window length must be a positive whole number of minutes",
                          key="window-minutes", hint="e.g. 60")
    window_ms = window_minutes * 60_000
    start_ms = _to_epoch_ms(window_start)
    end_ms = _to_epoch_ms(window_end)
    if start_ms is not None:
        if start_ms % window_ms:
            raise ConfigError(
                f"window start {window_start} is not aligned to {window_minutes}-minute windows "
                "since the Unix epoch (docs/definitions.md#window-grid)", key="window-start",
                hint="use a start on a multiple of the window length, e.g. a full hour for 60")
        if end_ms is None:
            end_ms = start_ms + window_ms
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
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}", key="engine",
                          hint="choose " + " or ".join(ENGINES))
    if engine == "spark":
        return _compute_on_spark(events, dims=dims, window_minutes=window_minutes, params=params,
                                 options=options, with_sessions=with_sessions, mapping=mapping,
                                 rules=rules)
    own = con is None
    con = con or connect()
    try:
        source = register_events(con, events, dims=dims, mapping=mapping)
        try:
            _run_stages(con, dims, params, bucket_rows, _input_rows(con, source), rules, reuse_loaded)
        except duckdb.OutOfRangeException as exc:
            # 64-bit integers end to end (docs/definitions.md#integers-end-to-end): an
            # overflow is an implausible input value (e.g. bitrate in bit/s), never a
            # silent wrap-around
            raise InputError(f"a value in the events is out of range: {first_line(exc)}",
                             file=source.description,
                             hint="check the units of bitrate_kbps (kbit/s) and ts (ms)") from None
        except duckdb.Error as exc:
            # a damaged file is found when its pages are read, here, not when its footer was
            if not is_data_error(exc):
                raise
            raise read_error(exc, "the events", source.files, source.description) from None
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


ENGINES = ("duckdb", "spark")


def _schemas(dims: tuple[str, ...], extra: tuple[str, ...]) -> tuple[pa.Schema, pa.Schema]:
    """The Arrow schemas of golden's aggregate and session tables (DuckDB's, which the Spark
    engine's results are cast to)."""
    ts = pa.field("window_start", pa.timestamp("us", tz="UTC"))
    dim_fields = [pa.field(d, pa.string()) for d in dims]
    comps = [*COMPONENTS[:3], *extra, *COMPONENTS[3:]]
    facts = [*SESSION_FACTS[:3], *extra, *SESSION_FACTS[3:]]
    return (pa.schema([ts, *dim_fields, *(pa.field(c, pa.int64()) for c in comps)]),
            pa.schema([pa.field("session_id", pa.string()), ts, *dim_fields,
                       *(pa.field(f, pa.int64()) for f in facts)]))


def _compute_on_spark(events: Any, *, dims: tuple[str, ...], window_minutes: int, params: dict,
                      options: GoldenOptions, with_sessions: bool, mapping: EventMapping | None,
                      rules: RulesFolder | None) -> GoldenResult:
    from auditor.golden import spark

    extra = ("ebvs_short",) if options.ebvs_min_wait_ms else ()
    agg_schema, session_schema = _schemas(dims, extra)
    aggregates, sessions, stats, where = spark.compute(
        events, dims=dims, params=params, mapping=mapping, rules=rules, with_sessions=with_sessions,
        aggregate_schema=agg_schema, session_schema=session_schema)
    return GoldenResult(aggregates=aggregates, sessions=sessions, dims=dims,
                        window_minutes=window_minutes, options=options,
                        source=EventSource(description=where, format="spark"), stats=stats)


def require_sessions(result: GoldenResult, events: Any, window_start: datetime | str | None, *,
                     allow_empty: bool = False) -> str | None:
    """A golden result without a single session must not pass for a result: an
    :class:`InputError`, or with ``allow_empty`` the warning to print."""
    if result.stats.get("sessions"):
        return None
    where = (f"the window starting {window_start} ({result.window_minutes} minutes)" if window_start
             else "the events")
    message = f"{where} hold{'s' if window_start else ''} no golden sessions"
    if allow_empty:
        return message
    raise InputError(message, file=str(events) if isinstance(events, (str, os.PathLike)) else None,
                     key="--window-start" if window_start else None,
                     hint="choose a --window-start the events cover; --allow-empty writes the empty "
                          "output with a warning")


def _input_rows(con: duckdb.DuckDBPyConnection, source: EventSource) -> int:
    """Rows in the input, to choose between one pass and buckets: exact for Parquet
    (footer metadata) and tables; for text files an upper estimate from their size
    (counting would parse them once more), which errs towards buckets."""
    if source.format in ("parquet", "table"):
        return con.execute("SELECT count(*) FROM g_input").fetchall()[0][0]
    # a JSON or CSV event takes over 100 bytes; compressed, over 10
    return sum(os.path.getsize(f) // (10 if f.endswith((".gz", ".zst", ".bz2")) else 100)
               for f in source.files)


def _run_stages(con: duckdb.DuckDBPyConnection, dims: tuple[str, ...], params: dict,
                bucket_rows: int | None, rows: int, rules: RulesFolder | None = None,
                reuse_loaded: bool = False) -> None:
    for salt in range(4):
        if not _session_keys_collide(con, salt):
            break
    else:  # pragma: no cover - four independent 64-bit collisions in a row
        raise RuntimeError("session keys collide under every salt")
    params["salt"] = salt
    # The salt in use, for later stages on this connection that join g_input to
    # session keys (the data-quality stage; docs/quality.md).
    con.execute("CREATE OR REPLACE TEMP TABLE g_meta AS SELECT $salt::BIGINT AS salt", {"salt": salt})
    bucket_rows = bucket_rows or default_bucket_rows(con)
    # Up to two buckets' worth the input runs in one pass: writing the spool
    # would cost more than the smaller sorts and hash tables save.
    buckets = 1 if rows <= 2 * bucket_rows else -(-rows // bucket_rows)
    reuse = reuse_loaded and buckets == 1 and _has_table(con, "g_narrow") and _has_table(con, "g_dupkeys")
    if not reuse:
        _drop(con, "g_narrow")  # a view after a bucketed run on this connection
    if buckets == 1:
        if not reuse:
            run_rule(con, "golden/01_load.sql", params, rules=rules, spool=False)
        _session_stages(con, dims, params, rules, skip_dedup=reuse)
    else:
        _run_buckets(con, dims, params, buckets, rules)
    for stage in ("06_attributes", "07_aggregate"):
        run_rule(con, f"golden/{stage}.sql", params, rules=rules, dims=dims)


def _session_stages(con: duckdb.DuckDBPyConnection, dims: tuple[str, ...], params: dict,
                    rules: RulesFolder | None = None, skip_dedup: bool = False) -> None:
    """Stages 2-5 on the sessions in g_narrow (3-5 when ``skip_dedup``: stage 2's tables
    are there from a previous run on the same rows)."""
    timeout = params["inactivity_timeout_ms"] is not None
    for stage in ("03_live", "05_session_facts") if skip_dedup else ("02_dedup", "03_live", "05_session_facts"):
        run_rule(con, f"golden/{stage}.sql", params, rules=rules, dims=dims, exact_ties=False,
                 timeout=timeout)
    if con.execute("SELECT count(*) FROM g_facts WHERE tied").fetchall()[0][0]:
        run_rule(con, "golden/05_session_facts.sql", params, rules=rules, dims=dims, exact_ties=True,
                 timeout=timeout)


def session_stages(con: duckdb.DuckDBPyConnection, dims: Sequence[str], params: dict,
                   rules: RulesFolder | None = None) -> None:
    """Stages 2-5 (dedup to per-session facts, table ``g_facts``) on the rows already in
    ``g_narrow`` with the bound ``params`` of :func:`compute_golden` (``salt`` unused):
    what auditor.mechanisms reruns on a slice's sessions under a variant."""
    _session_stages(con, tuple(dims), params, rules)


# Tables stages 2-5 leave per bucket that later stages (06, 07, data quality) read whole.
_BUCKET_TABLES = ("g_dupkeys", "g_first_attempt", "g_facts")


def _run_buckets(con: duckdb.DuckDBPyConnection, dims: tuple[str, ...], params: dict,
                 buckets: int, rules: RulesFolder | None = None) -> None:
    """Stages 2-5 one session bucket at a time (01_load.sql: the spool).

    The narrow rows are read once and written to Parquet files per bucket in a
    folder that lives as long as the connection (g_narrow then becomes a view
    over all of them, for the data-quality stage). Sessions never span buckets,
    so every stage gives the same rows as on the whole input.
    """
    temp = con.execute("SELECT current_setting('temp_directory')").fetchall()[0][0] or None
    if temp:
        os.makedirs(temp, exist_ok=True)
    spool = tempfile.mkdtemp(prefix="golden-spool-", dir=temp)
    weakref.finalize(con, shutil.rmtree, spool, True)
    run_rule(con, "golden/01_load.sql", {**params, "buckets": buckets, "spool": spool}, rules=rules,
             spool=True)
    first = True
    for b in range(buckets):
        part = os.path.join(spool, f"bucket={b}")
        if not os.path.isdir(part):  # no session hashed here
            continue
        _drop(con, "g_narrow")
        con.execute("CREATE TEMP TABLE g_narrow AS "
                    "SELECT * FROM read_parquet($files, hive_partitioning = false)",
                    {"files": os.path.join(part, "*.parquet")})
        _session_stages(con, dims, params, rules)
        for table in _BUCKET_TABLES:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {table}_all AS SELECT * FROM {table}" if first
                        else f"INSERT INTO {table}_all SELECT * FROM {table}")
        first = False
    if first:  # not one row with the keys to order it: the one-pass path on nothing
        run_rule(con, "golden/01_load.sql", params, rules=rules, spool=False)
        _session_stages(con, dims, params, rules)
        return
    for table in _BUCKET_TABLES:
        _drop(con, table)
        con.execute(f"ALTER TABLE {table}_all RENAME TO {table}")
    _narrow_view(con, os.path.join(spool, "*", "*.parquet"))


def _narrow_view(con: duckdb.DuckDBPyConnection, files: str) -> None:
    """g_narrow as a view over spool files, for the data-quality stage after a
    bucketed run. (Per bucket the stages read g_narrow three times: copying the
    bucket into a table once is cheaper, measured 65 s vs 67-75 s at 50M.)"""
    _drop(con, "g_narrow")
    # a view cannot hold a bound parameter: the folder is ours, quoted as a literal
    con.execute("CREATE TEMP VIEW g_narrow AS SELECT * FROM read_parquet('"
                + files.replace("'", "''") + "', hive_partitioning = false)")


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = $n",
                            {"n": name}).fetchall()[0][0])


def _drop(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop the temp table or view ``name`` if there is one (our own table names)."""
    kinds = con.execute("SELECT 'TABLE' FROM duckdb_tables() WHERE temporary AND table_name = $n "
                        "UNION ALL SELECT 'VIEW' FROM duckdb_views() WHERE temporary AND view_name = $n",
                        {"n": name}).fetchall()
    for (kind,) in kinds:
        con.execute(f"DROP {kind} {name}")


def default_bucket_rows(con: duckdb.DuckDBPyConnection) -> int:
    """Input rows per session bucket: $AUDITOR_BUCKET_ROWS, else one per 512 bytes of
    DuckDB's memory limit (5.9M rows under the default 3 GB). Measured on 50M events,
    one after the other: 11M-row buckets 85 s, peak 2.4 GB; 5M-row buckets 80 s,
    peak 2.0 GB (benchmarks/RESULTS.md); one pass over 10M rows peaks at 1.5 GB."""
    env = os.environ.get("AUDITOR_BUCKET_ROWS")
    if env:
        try:
            value = int(env)
        except ValueError:
            value = 0
        if value <= 0:
            raise ConfigError(f"AUDITOR_BUCKET_ROWS must be a positive whole number, not {env!r}",
                              key="AUDITOR_BUCKET_ROWS")
        return value
    limit = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    return max(1, _bytes(limit) // 512)


_UNITS = {"bytes": 1, "B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40,
          "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}


def _bytes(setting: str) -> int:
    """DuckDB's rendering of a memory setting ('2.7 GiB', '128.0 MiB', '0 bytes') in bytes."""
    number, _, unit = setting.strip().partition(" ")
    return int(float(number) * _UNITS.get(unit.strip() or "B", 1))


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
