"""The history store: a DuckDB file (the embedded default) or a SQL server through SQLAlchemy.

One :class:`Store` opens either. Statements are written once, in the SQL both
engines speak, with ``:name`` parameters (bound, never pasted); the DuckDB
backend rewrites them to ``$name``. Every write is one transaction
(:meth:`Store.transaction`): a process killed inside it leaves the store as it
was. The schema is versioned in ``history_meta`` and brought forward by the
ordered :data:`MIGRATIONS` when a store is opened for writing.

DuckDB lets one process at a time open a file for writing: a second run that
finds the file locked waits and retries with backoff (up to ``busy_timeout``
seconds) instead of failing, so two runs writing at once both land. On
PostgreSQL the server serializes them; migrations take an advisory lock.
"""
from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from auditor import sqlengine
from auditor.errors import ConfigError, InputError, first_line

SCHEMA_VERSION = 2
BUSY_TIMEOUT = 120.0      # seconds a writer waits for another process's lock on a DuckDB file
_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")

# version -> the statements that bring a store from the version before to it
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "CREATE TABLE history_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE TABLE runs (run_id TEXT PRIMARY KEY, recorded_at TEXT NOT NULL, recorded_ms BIGINT NOT NULL,"
        " auditor_version TEXT, config_file TEXT, events TEXT, window_minutes BIGINT, status TEXT,"
        " golden_options TEXT, report_dir TEXT)",
        # per run, pipeline, metric and audited window: golden vs the pipeline
        "CREATE TABLE window_results (run_id TEXT NOT NULL, pipeline TEXT NOT NULL, metric TEXT NOT NULL,"
        " window_ms BIGINT NOT NULL, window_minutes BIGINT NOT NULL, unit TEXT, kind TEXT, status TEXT,"
        " published_rows BIGINT, golden DOUBLE PRECISION, candidate DOUBLE PRECISION, golden_num BIGINT,"
        " cand_num BIGINT, golden_den BIGINT, cand_den BIGINT, rel_diff DOUBLE PRECISION, tolerance TEXT,"
        " superseded_by TEXT)",
        # per run, finding and audited window where it was seen
        "CREATE TABLE findings (run_id TEXT NOT NULL, finding_id TEXT NOT NULL, pipeline TEXT NOT NULL,"
        " metric TEXT NOT NULL, slice TEXT NOT NULL, direction TEXT NOT NULL, window_ms BIGINT NOT NULL,"
        " golden DOUBLE PRECISION, candidate DOUBLE PRECISION, share_of_gap DOUBLE PRECISION,"
        " moved TEXT, detail TEXT, superseded_by TEXT)",
        # per run: the data-quality checks' counts
        "CREATE TABLE quality_counts (run_id TEXT NOT NULL, check_name TEXT NOT NULL, status TEXT,"
        " unexpected_count BIGINT, denominator BIGINT, rate DOUBLE PRECISION, first_window_ms BIGINT)",
    ),
    2: (
        # the definitions' fingerprint (auditor gate), the late-arrival horizon and acknowledgements
        "ALTER TABLE runs ADD COLUMN definitions_fingerprint TEXT",
        "ALTER TABLE window_results ADD COLUMN late_arrival_ms BIGINT",
        "UPDATE window_results SET late_arrival_ms = 0",
        "CREATE TABLE acks (finding_id TEXT NOT NULL, identity TEXT NOT NULL, reason TEXT NOT NULL,"
        " until_ms BIGINT, recorded_at TEXT NOT NULL, recorded_ms BIGINT NOT NULL)",
    ),
}


def is_url(location: str) -> bool:
    """A SQLAlchemy URL (``postgresql+psycopg://...``) rather than a DuckDB file path."""
    return "://" in location


def describe(location: str) -> str:
    """The store as messages name it (a URL without its password)."""
    if not is_url(location):
        return location
    from urllib.parse import urlsplit
    parts = urlsplit(location)
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")).geturl() \
        if parts.password else location


class Store:
    """An open history store. Use as a context manager; :meth:`transaction` for writes."""

    def __init__(self, location: str, *, write: bool, busy_timeout: float = BUSY_TIMEOUT,
                 progress: Callable[[str], None] | None = None) -> None:
        self.location, self.where, self.write = location, describe(location), write
        self._say = progress or (lambda _msg: None)
        self._busy_timeout = busy_timeout
        self.kind = "sql" if is_url(location) else "duckdb"
        self._con: Any = None
        self._engine: Any = None
        self._conn: Any = None
        self._in_transaction = False
        if self.kind == "duckdb":
            self._open_duckdb()
        else:
            self._open_sql()

    # -- opening ------------------------------------------------------------------------

    def _open_duckdb(self) -> None:
        import duckdb
        if not self.write and not os.path.exists(self.location):
            raise InputError("no history store here", file=self.where,
                             hint="record runs first: auditor run --config audit.yaml --history "
                                  f"{self.location}")
        if self.write:
            parent = os.path.dirname(os.path.abspath(self.location))
            if not os.path.isdir(parent):
                raise ConfigError("the history store's folder does not exist", file=self.where,
                                  hint=f"create {parent}, or give another path")
        deadline, delay = time.monotonic() + self._busy_timeout, 0.05
        while True:
            try:
                self._con = duckdb.connect(self.location, read_only=not self.write)
                return
            except duckdb.Error as exc:
                if not _locked(exc) or time.monotonic() >= deadline:
                    hint = ("another process holds the store: retry when it is done" if _locked(exc)
                            else "a DuckDB history store is a .duckdb file written by auditor run --history")
                    raise InputError(f"cannot open the history store: {first_line(exc)}",
                                     file=self.where, hint=hint) from None
                if delay == 0.05:
                    self._say(f"history: {self.where} is busy (another run is writing); waiting")
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 2.0)

    def _open_sql(self) -> None:
        self._engine = sqlengine.create_engine(self.location, where=self.where)
        try:
            self._conn = self._engine.connect()
        except sqlengine.error_types() as exc:
            self._engine.dispose()
            raise InputError(f"cannot reach the history store: {first_line(sqlengine.original(exc))}",
                             file=self.where, hint="check that the server is reachable and the "
                                                   "database exists") from None

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
        if self._conn is not None:
            self._conn.close()
            self._engine.dispose()
            self._conn = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- statements ---------------------------------------------------------------------

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self._run(sql, params)

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Rows as dicts."""
        return self._run(sql, params, fetch=True)

    def insert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert ``rows`` (dicts with the same keys) into ``table``."""
        if not rows:
            return
        cols = list(rows[0])
        if self.kind == "duckdb":
            import pyarrow as pa
            data = pa.Table.from_pylist([dict(r) for r in rows])
            self._con.register("history_rows", data)
            try:
                names = ", ".join(f'"{c}"' for c in cols)
                self._con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM history_rows")
            finally:
                self._con.unregister("history_rows")
        else:
            sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})"
            self._guard(lambda: self._conn.execute(sqlengine.text(sql), [dict(r) for r in rows]))

    def supersede(self, table: str, run_id: str, pipeline: str, windows: Sequence[int]) -> None:
        """Mark ``pipeline``'s current rows of ``table`` in ``windows`` as replaced by ``run_id``."""
        member = "list_contains(:ws, window_ms)" if self.kind == "duckdb" else "window_ms = ANY(:ws)"
        self.execute(f"UPDATE {table} SET superseded_by = :run WHERE pipeline = :p AND {member} "
                     "AND superseded_by IS NULL", {"run": run_id, "p": pipeline, "ws": list(windows)})

    def _run(self, sql: str, params: Mapping[str, Any] | None, fetch: bool = False) -> Any:
        params = dict(params or {})
        if self.kind == "duckdb":
            import duckdb
            try:
                cur = self._con.execute(_PARAM.sub(r"$\1", sql), params)
                if not fetch:
                    return None
                names = [d[0] for d in cur.description]
                return [dict(zip(names, row)) for row in cur.fetchall()]
            except duckdb.IOException as exc:
                raise _store_error(exc, self.where) from None

        def go():
            result = self._conn.execute(sqlengine.text(sql), params)
            rows = [dict(row._mapping) for row in result] if fetch else None
            if not self._in_transaction:   # end SQLAlchemy's implicit transaction of a lone statement
                self._conn.commit()
            return rows
        return self._guard(go)

    def _guard(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except sqlengine.connection_error_types() as exc:
            raise _store_error(sqlengine.original(exc), self.where) from None

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """One transaction: everything inside lands together, or nothing does."""
        if self.kind == "duckdb":
            self._con.execute("BEGIN TRANSACTION")
            try:
                yield self
                self._con.execute("COMMIT")
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
        else:
            trans = self._conn.begin()
            self._in_transaction = True
            try:
                yield self
                trans.commit()
            except BaseException:
                trans.rollback()
                raise
            finally:
                self._in_transaction = False

    # -- schema -------------------------------------------------------------------------

    def version(self) -> int:
        """The store's schema version (0: empty, no auditor tables)."""
        if not self._has_table("history_meta"):
            return 0
        rows = self.query("SELECT value FROM history_meta WHERE key = 'schema_version'")
        return int(rows[0]["value"]) if rows else 0

    def _has_table(self, name: str) -> bool:
        rows = self.query("SELECT count(*) AS n FROM information_schema.tables WHERE table_name = :n "
                          "AND table_schema = current_schema()", {"n": name})
        return bool(rows[0]["n"])

    def migrate(self) -> int:
        """Bring the schema to :data:`SCHEMA_VERSION`, one migration per transaction; returns the
        version found. A store written by a newer auditor is refused."""
        with self.transaction():
            if self.kind == "sql" and self._engine.dialect.name == "postgresql":
                self.execute("SELECT pg_advisory_xact_lock(4242013)")   # one migrator at a time
            found = self.version()
            if found > SCHEMA_VERSION:
                raise InputError(f"the history store has schema version {found}; this auditor "
                                 f"knows up to {SCHEMA_VERSION}", file=self.where,
                                 hint="upgrade auditor to read and write this store")
            for version in range(found + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[version]:
                    self.execute(statement)
                if version == 1:
                    self.execute("INSERT INTO history_meta (key, value) VALUES ('schema_version', '1')")
                self.execute("UPDATE history_meta SET value = :v WHERE key = 'schema_version'",
                             {"v": str(version)})
        return found

    def require_current(self) -> None:
        """For readers: the store must exist and be at this auditor's schema version."""
        found = self.version()
        if found == 0:
            raise InputError("no history store here (no auditor tables)", file=self.where,
                             hint="record runs first: auditor run --config audit.yaml --history ...")
        if found != SCHEMA_VERSION:
            raise InputError(f"the history store has schema version {found}, this auditor reads "
                             f"{SCHEMA_VERSION}", file=self.where,
                             hint="an older store is migrated by the next `auditor run --history` "
                                  "or `auditor ack`" if found < SCHEMA_VERSION
                             else "upgrade auditor to read this store")


def open_store(location: str, *, write: bool = False, progress: Callable[[str], None] | None = None,
               busy_timeout: float = BUSY_TIMEOUT) -> Store:
    """Open the store at ``location`` (a DuckDB path or a SQLAlchemy URL); for writing it is
    created or migrated to the current schema first, for reading it must be current."""
    store = Store(location, write=write, progress=progress, busy_timeout=busy_timeout)
    try:
        if write:
            store.migrate()
        else:
            store.require_current()
    except BaseException:
        store.close()
        raise
    return store


def _locked(exc: BaseException) -> bool:
    text = str(exc)
    return "lock" in text.lower() and ("Conflicting lock" in text or "Could not set lock" in text)


def _store_error(exc: BaseException, where: str) -> InputError:
    return InputError(f"the history store failed: {first_line(exc)}", file=where,
                      hint="check that it is an auditor history store and the server is reachable")
