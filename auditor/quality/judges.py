"""Who judges the data-quality counts: auditor itself or Great Expectations.

DuckDB counts every check (auditor.quality.checks); a *judge* then turns the compact
result into verdicts, with one meaning whichever judges:

- a check passes iff its unexpected rate is at most its threshold
  (``rate <= threshold``; GX: ``expect_column_max_to_be_between(max_value=threshold)``);
- a contract column passes iff it is present with exactly its canonical type
  (GX: ``expect_column_pair_values_to_be_equal(actual_type, expected_type)``).

``builtin`` applies these rules here, in a few lines, without importing
Great Expectations (whose import alone costs about 5 CPU-seconds, more than
the rest of a small audit); ``great_expectations`` hands the same compact
tables to GX through :mod:`auditor.quality.expectations`. tests/test_judges.py checks
that both give the same verdicts on random rates, thresholds and column types.
"""
from __future__ import annotations

from collections.abc import Mapping

from auditor.errors import ConfigError
from auditor.quality.outcome import Outcome, observed_type

BUILTIN = "builtin"
GREAT_EXPECTATIONS = "great_expectations"
ENGINES = (BUILTIN, GREAT_EXPECTATIONS)
BUILTIN_VERSION = "auditor builtin"
ENGINE_HINT = ("engine: builtin (auditor compares the counts with the thresholds itself, fast) "
               "or great_expectations (Great Expectations validates them; imports GX)")


def check_engine(engine: str) -> str:
    """``engine`` if it names a judge, else a ConfigError listing them."""
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}",
                          key="engine", hint=ENGINE_HINT)
    return engine



def preload(engine: str) -> None:
    """Start importing GX on a thread when GX judges; nothing for the builtin judge."""
    if check_engine(engine) == GREAT_EXPECTATIONS:
        from auditor.quality import expectations  # noqa: PLC0415 - GX only when asked for
        expectations.preload()


def engine_version(engine: str) -> str:
    """What the report's ``engine`` field says: 'auditor builtin' or 'great_expectations 1.24.1'."""
    if check_engine(engine) == GREAT_EXPECTATIONS:
        from auditor.quality import expectations  # noqa: PLC0415
        return expectations.engine_version()
    return BUILTIN_VERSION


def judge_rates(engine: str, rates: Mapping[str, float],
                thresholds: Mapping[str, float]) -> dict[str, Outcome]:
    """check -> Outcome: success iff ``rates[check] <= thresholds[check]``."""
    if check_engine(engine) == GREAT_EXPECTATIONS:
        from auditor.quality import expectations  # noqa: PLC0415
        return expectations.validate_rates(rates, thresholds)
    return {n: Outcome(expectation="rate_at_most_threshold",
                       success=float(rates[n]) <= float(thresholds[n]), observed=float(rates[n]))
            for n in rates}


def judge_columns(engine: str, actual: Mapping[str, str | None],
                  expected: Mapping[str, str]) -> dict[str, Outcome]:
    """column -> Outcome: success iff the column is present with exactly ``expected[column]``.

    ``actual``: column -> DuckDB type in the canonical view (absent or None: missing).
    """
    if check_engine(engine) == GREAT_EXPECTATIONS:
        from auditor.quality import expectations  # noqa: PLC0415
        return expectations.validate_columns(actual, expected)
    return {c: Outcome(expectation="column_has_type", success=observed_type(actual, c) == t,
                       observed=observed_type(actual, c), details={"expected": t})
            for c, t in expected.items()}
