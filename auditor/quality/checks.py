"""Data-quality expectations on raw events (docs/quality.md).

The heavy per-event counting is DuckDB SQL under ``rules/quality/``, run on
the tables the golden stages already built on the same connection, so an
audit reads its events once. A judge (``auditor.quality.judges``: auditor's builtin
one or Great Expectations, the ``engine`` setting) then validates the compact
results: each check's rate against its threshold, and the canonical event
view's column types against the contract.

- :func:`run_quality` after the golden stages ran on ``con`` (``auditor run``);
- :func:`check_events` on its own (``auditor quality``);
- :func:`slice_rates` for any conjunction of dimension values afterwards.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable

import duckdb

from auditor.errors import ExitCode
from auditor.golden.events import DEFAULT_DIMS, OPTIONAL_COLUMNS, REQUIRED_COLUMNS, EventMapping
from auditor.quality.judges import BUILTIN, check_engine, engine_version, judge_columns, judge_rates, preload
from auditor.quality.rules import QualityRules, load_rules
from auditor.golden.sqlfiles import execute_script, quote_ident, render

SCHEMA_VERSION = 1
# Checks that can explain a metric gap, cut by slice: check -> (numerator, denominator)
# columns of q_sessions ("1" counts sessions).
SLICED_CHECKS = {
    "duplicate_events": ("dup_rows", "rows"),
    "late_events": ("late_rows", "rows"),
    "orphan_sessions": ("orphan::BIGINT", "1"),
    "events_after_end": ("after_end", "dedup_rows"),
}
# A slice's rate is notable ("this slice also has 30% late events") when it is
# above the check's threshold or at least this many times the overall rate.
NOTABLE_FACTOR = 3
_UNITS = {"duplicate_events": "rows", "late_events": "rows", "orphan_sessions": "sessions",
          "events_after_end": "deduplicated rows"}
# The canonical view's column types (auditor.golden.events); every other column is VARCHAR.
_TYPES = {"ts": "BIGINT", "received_at": "BIGINT", "seq": "BIGINT", "bitrate_kbps": "BIGINT",
          "fatal": "BOOLEAN"}


@dataclass(frozen=True)
class CheckResult:
    name: str
    description: str
    unexpected_count: int
    denominator: int
    unexpected_rate: float        # unexpected_count / denominator; 0.0 when the denominator is 0
    threshold: float
    success: bool                 # the judge's verdict: unexpected_rate <= threshold
    blocking: bool
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """pass, warn (failed, not blocking) or fail (failed and blocking)."""
        return "pass" if self.success else ("fail" if self.blocking else "warn")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "status": self.status,
                "unexpected_count": self.unexpected_count, "denominator": self.denominator,
                "unexpected_rate": self.unexpected_rate, "threshold": self.threshold,
                "success": self.success, "blocking": self.blocking, "details": dict(self.details)}


@dataclass(frozen=True)
class SliceRate:
    check: str
    dimension: str
    value: str | None
    unexpected_count: int
    denominator: int
    unit: str

    @property
    def rate(self) -> float:
        return self.unexpected_count / self.denominator if self.denominator else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "dimension": self.dimension, "value": self.value,
                "unexpected_count": self.unexpected_count, "denominator": self.denominator,
                "unit": self.unit, "rate": self.rate}


@dataclass(frozen=True)
class QualityReport:
    checks: tuple[CheckResult, ...]
    slices: tuple[SliceRate, ...]     # top slices per sliced check and dimension
    dims: tuple[str, ...]
    rules_source: str
    rules_version: int
    engine: str                       # who judged: 'auditor builtin' or 'great_expectations 1.24.1'
    totals: Mapping[str, int] = field(default_factory=dict)

    @property
    def blocking_failures(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.status == "fail")

    @property
    def warnings(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.status == "warn")

    @property
    def status(self) -> str:
        return "fail" if self.blocking_failures else ("warn" if self.warnings else "pass")

    @property
    def exit_code(self) -> int:
        """1 only when a blocking check fails (docs/interface.md#exit-codes); warnings exit 0."""
        return int(ExitCode.FINDINGS if self.blocking_failures else ExitCode.OK)

    def check(self, name: str) -> CheckResult:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def slices_for(self, dimension: str, value: str | None) -> tuple[SliceRate, ...]:
        """The listed slice rates of one dimension value (e.g. for a localized slice)."""
        return tuple(s for s in self.slices if s.dimension == dimension and s.value == value)

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "status": self.status, "engine": self.engine,
                "rules": {"source": self.rules_source, "version": self.rules_version},
                "dimensions": list(self.dims), "totals": dict(self.totals),
                "checks": [c.to_dict() for c in self.checks],
                "slices": [s.to_dict() for s in self.slices]}


def check_events(events: Any, *, dims: Sequence[str] = DEFAULT_DIMS,
                 rules: QualityRules | None = None,
                 rules_dir: str | os.PathLike | None = None,
                 mapping: EventMapping | None = None,
                 con: duckdb.DuckDBPyConnection | None = None,
                 engine: str = BUILTIN, progress: Callable[[str], None] | None = None) -> QualityReport:
    """Data-quality checks on raw events alone: runs the golden stages, then :func:`run_quality`.

    ``engine`` judges the counts (auditor.quality.judges.ENGINES); the default is the builtin
    judge, as in ``auditor run``.
    """
    from auditor.golden.calculator import compute_golden, connect

    rules = rules or load_rules(rules_dir)
    preload(engine)  # GX (if it judges) imports on a thread while DuckDB computes golden
    own = con is None
    con = con or connect()
    try:
        say = progress or (lambda _msg: None)
        say(f"[golden] reading {events if isinstance(events, (str, os.PathLike)) else 'the events'}")
        compute_golden(events, dims=dims, mapping=mapping, con=con)
        say(f"[quality] checking the events ({rules.source})")
        return run_quality(con, rules=rules, dims=dims, engine=engine)
    finally:
        if own:
            con.close()


def run_quality(con: duckdb.DuckDBPyConnection, *, rules: QualityRules | None = None,
                dims: Sequence[str] = DEFAULT_DIMS, engine: str = BUILTIN) -> QualityReport:
    """Run the data-quality checks on ``con``, where the golden stages have run.

    ``engine`` judges the counts: ``builtin`` (the default) or ``great_expectations``
    (the same verdicts, judged by GX).
    Leaves ``q_sessions`` and ``q_session_dims`` on ``con`` for :func:`slice_rates`.
    """
    check_engine(engine)
    rules = rules or load_rules()
    dims = tuple(dims)
    try:
        salt_row = con.execute("SELECT salt FROM g_meta").fetchall()[0]
    except duckdb.CatalogException:
        raise RuntimeError("run_quality() needs the golden stages to have run on this "
                           "connection (compute_golden(..., con=con)); or use check_events()") from None
    params = {
        "max_lateness_ms": rules.param("late_events", "max_lateness_ms"),
        "max_ahead_ms": rules.param("clock_ahead", "max_ahead_ms"),
        "allowed_end_reasons": list(rules.param("end_reason_domain", "allowed")),
        "max_duration_ms": rules.param("implausible_sessions", "max_duration_ms"),
        "salt": salt_row[0],
    }
    execute_script(con, render(rules.read_sql("01_rows.sql")), params)
    execute_script(con, render(rules.read_sql("02_sessions.sql")), params)
    raw = _row(con, "SELECT * FROM q_rows")
    ses = _row(con, """
        SELECT count(*) AS sessions, count(*) FILTER (WHERE orphan) AS orphans,
               coalesce(sum(rows), 0) AS keyed_rows, coalesce(sum(dup_rows), 0) AS dup_rows,
               coalesce(sum(dedup_rows), 0) AS dedup_rows, coalesce(sum(known_rows), 0) AS known_rows,
               coalesce(sum(seq_repeats), 0) AS seq_repeats,
               coalesce(sum(before_attempt), 0) AS before_attempt,
               coalesce(sum(after_end), 0) AS after_end, coalesce(sum(intervals), 0) AS intervals,
               coalesce(sum(negative_intervals), 0) AS negative_intervals,
               count(*) FILTER (WHERE implausible) AS implausible,
               max(duration_ms) AS max_duration_ms
        FROM q_sessions""")
    dup = _row(con, "SELECT count(*) AS keys, count(*) FILTER (WHERE conflicting) AS conflicting FROM q_dup")
    execute_script(con, render(rules.read_sql("03_slices.sql"), dims=dims),
                   {**params, "has_orphans": ses["orphans"] > 0})

    counts = _counts(con, rules, raw, ses, dup, engine)
    enabled = [r for r in rules.enabled if r.name in counts]
    rates = {r.name: (counts[r.name][0] / counts[r.name][1] if counts[r.name][1] else 0.0) for r in enabled}
    verdicts = judge_rates(engine, rates, {r.name: r.threshold for r in enabled}) if enabled else {}
    checks = tuple(
        CheckResult(name=r.name, description=r.description, unexpected_count=int(counts[r.name][0]),
                    denominator=int(counts[r.name][1]), unexpected_rate=rates[r.name],
                    threshold=r.threshold, success=verdicts[r.name].success, blocking=r.blocking,
                    details=counts[r.name][2])
        for r in enabled)
    sliced = [c for c in SLICED_CHECKS if any(r.name == c for r in enabled)]
    totals = {"rows": raw["rows"], "deduplicated_rows": ses["dedup_rows"], "sessions": ses["sessions"],
              "sessions_with_attempt": ses["sessions"] - ses["orphans"]}
    return QualityReport(checks=checks, slices=_top_slices(con, rules, dims, sliced), dims=dims,
                         rules_source=rules.source, rules_version=rules.version,
                         engine=engine_version(engine), totals=totals)


def _row(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, Any]:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return dict(zip(names, cur.fetchall()[0]))


def _counts(con, rules: QualityRules, raw, ses, dup, engine: str) -> dict[str, tuple[int, int, dict]]:
    """check -> (unexpected_count, denominator, details)."""
    # the contract's own columns, whatever the dimensions (which are always text in the view):
    # `auditor quality` and `auditor run` count the same columns on the same events
    expected = {c: _TYPES.get(c, "VARCHAR") for c in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)}
    actual = {r[0]: r[1] for r in con.execute("DESCRIBE g_input").fetchall()}
    columns = judge_columns(engine, actual, expected)
    failing = {c: o.observed for c, o in columns.items() if not o.success}
    all_null = [c for c, n in (("received_at", raw["rows_with_received_at"]), ("fatal", raw["rows_with_fatal"]),
                               ("end_reason", raw["rows_with_end_reason"])) if raw["rows"] and not n]
    unknown = con.execute("SELECT et_other, count(*) AS n FROM g_narrow WHERE et = 0 "
                          "GROUP BY et_other ORDER BY n DESC, et_other NULLS FIRST LIMIT 10").fetchall()
    return {
        "required_columns": (len(failing), len(expected), {"failing": failing, "all_null": all_null}),
        "null_keys": (raw["null_key_rows"], raw["rows"],
                      {c: raw[f"null_{c}"] for c in ("event_id", "session_id", "seq", "ts", "event_type")}),
        "duplicate_events": (ses["dup_rows"], raw["rows"],
                             {"duplicated_keys": dup["keys"], "conflicting_keys": dup["conflicting"]}),
        "unknown_event_types": (ses["dedup_rows"] - ses["known_rows"], ses["dedup_rows"],
                                {"top_raw_rows": {("<null>" if k is None else k): n for k, n in unknown}}),
        "orphan_sessions": (ses["orphans"], ses["sessions"], {}),
        "events_before_attempt": (ses["before_attempt"], ses["dedup_rows"], {}),
        "events_after_end": (ses["after_end"], ses["dedup_rows"], {}),
        "seq_not_unique": (ses["seq_repeats"], ses["known_rows"], {}),
        "fatal_missing": (raw["fatal_missing_rows"], raw["error_rows"], {}),
        "end_reason_domain": (raw["bad_end_rows"], raw["end_rows"],
                              {"allowed": list(rules.param("end_reason_domain", "allowed"))}),
        "late_events": (raw["late_rows"], raw["rows"],
                        {"max_lateness_ms": rules.param("late_events", "max_lateness_ms"),
                         "observed_max_lateness_ms": raw["max_lateness_ms"],
                         "rows_without_received_at": raw["rows"] - raw["rows_with_received_at"]}),
        "clock_ahead": (raw["ahead_rows"], raw["rows"],
                        {"max_ahead_ms": rules.param("clock_ahead", "max_ahead_ms"),
                         "observed_max_ahead_ms": raw["max_ahead_ms"]}),
        "negative_intervals": (ses["negative_intervals"], ses["intervals"], {}),
        "implausible_sessions": (ses["implausible"], ses["sessions"] - ses["orphans"],
                                 {"max_duration_ms": rules.param("implausible_sessions", "max_duration_ms"),
                                  "observed_max_duration_ms": ses["max_duration_ms"]}),
    }


def _top_slices(con, rules: QualityRules, dims: tuple[str, ...], checks: list[str]) -> tuple[SliceRate, ...]:
    """Per check and dimension: the values with the highest rates among those with enough support."""
    if not dims or not checks:
        return ()
    # One pass over the sessions for every dimension (grouping(d) = 0 marks the
    # rows grouped by d; a null value of d is a value of its own); the support
    # filter and the top values per (dimension, check) are chosen in SQL, so
    # Python sees at most dims x checks x top rows, not every asset id.
    idents = [quote_ident(d) for d in dims]
    per_check = ", ".join(f"{{'c': {i}, 'n': sum({SLICED_CHECKS[c][0]})::BIGINT, "
                          f"'d': sum({SLICED_CHECKS[c][1]})::BIGINT}}" for i, c in enumerate(checks))
    rows = con.execute(f"""
        WITH g AS (
            SELECT list_position([{", ".join(f"grouping({i})" for i in idents)}], 0) AS k,
                   [{", ".join(f"{i}::VARCHAR" for i in idents)}] AS vals, [{per_check}] AS cs
            FROM q_sessions JOIN q_session_dims USING (sk)
            GROUP BY GROUPING SETS ({", ".join(f"({i})" for i in idents)})
        ), u AS (SELECT k, vals[k] AS value, unnest(cs) AS x FROM g)
        SELECT k, value, x.c, x.n, x.d FROM u
        WHERE x.n > 0 AND x.d >= $min_support
        QUALIFY row_number() OVER (PARTITION BY k, x.c
                                   ORDER BY x.n / x.d DESC, x.n DESC, value IS NULL, value) <= $top
        ORDER BY x.c, k, x.n / x.d DESC, x.n DESC, value IS NULL, value""",
                       {"min_support": rules.slice_min_support, "top": rules.slice_top}).fetchall()
    return tuple(SliceRate(check=checks[c], dimension=dims[k - 1], value=value, unexpected_count=n,
                           denominator=d, unit=_UNITS[checks[c]]) for k, value, c, n, d in rows)


def slice_rates(con: duckdb.DuckDBPyConnection, slice_: Mapping[str, str | None]) -> dict[str, dict[str, Any]]:
    """Exact rates of the sliced checks within one slice (a conjunction of dimension = value).

    Needs :func:`run_quality` to have run on ``con``; a null value matches null.
    Returns check -> {unexpected_count, denominator, unit, rate}.
    """
    where = " AND ".join(f"d.{quote_ident(k)} IS NOT DISTINCT FROM ?" for k in slice_) or "true"
    sums = ", ".join(f"coalesce(sum({n}), 0)::BIGINT, coalesce(sum({d}), 0)::BIGINT"
                     for n, d in SLICED_CHECKS.values())
    row = con.execute(f"SELECT {sums} FROM q_sessions JOIN q_session_dims d USING (sk) WHERE {where}",
                      list(slice_.values())).fetchall()[0]
    return {c: {"unexpected_count": row[2 * i], "denominator": row[2 * i + 1], "unit": _UNITS[c],
                "rate": row[2 * i] / row[2 * i + 1] if row[2 * i + 1] else 0.0}
            for i, c in enumerate(SLICED_CHECKS)}


def explanation_quality(con: duckdb.DuckDBPyConnection, report: QualityReport,
                        slice_: Mapping[str, str | None], *, min_support: int = 0) -> dict[str, dict[str, Any]]:
    """The sliced checks' rates within one explanation's slice, for report.json.

    check -> {rate, unexpected_count, denominator, unit, overall_rate, notable}
    for the checks ``report`` ran. ``notable``: the slice holds at least
    ``min_support`` units, has an unexpected count, and its rate is above the
    check's threshold or at least NOTABLE_FACTOR times the overall rate.
    Needs :func:`run_quality` to have run on ``con``.
    """
    ran = {c.name: c for c in report.checks if c.name in SLICED_CHECKS}
    if not ran or not set(slice_) <= set(report.dims):
        return {}
    out = {}
    for name, r in slice_rates(con, slice_).items():
        check = ran.get(name)
        if check is None:
            continue
        overall = check.unexpected_rate
        notable = (r["unexpected_count"] > 0 and r["denominator"] >= min_support
                   and (r["rate"] > check.threshold or r["rate"] >= NOTABLE_FACTOR * overall))
        out[name] = {"rate": r["rate"], "unexpected_count": r["unexpected_count"],
                     "denominator": r["denominator"], "unit": r["unit"], "overall_rate": overall,
                     "notable": notable}
    return out
