"""Great Expectations behind one door (style.md habit 10).

Every ``import great_expectations`` of the project is in this module, inside
functions, so ``auditor --help`` never pays for it and a GX major-version
change touches this file only. GX validates the *compact* tables the
data-quality stage computes in DuckDB (one rate per check, a small sample of
the canonical event view for the column contract), never the 10M raw events:
its pandas path does not scale to them, and its SQL path through DuckDB's
SQLAlchemy dialect is not dependable.

GX is quiet here: no usage statistics (``GX_ANALYTICS_ENABLED=false``), no
progress bars, its loggers at WARNING.

Callers go through :mod:`auditor.quality.judges`, which picks GX or the builtin judge
(the same verdicts, without this import) from the ``engine`` setting.
"""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

from auditor.quality.outcome import Outcome, observed_type

_LOCK = threading.Lock()
_STATE: dict[str, Any] = {}

def preload() -> None:
    """Start importing GX in a background thread (its import takes seconds).

    ``auditor quality`` (and ``auditor run`` with ``engine: great_expectations``)
    calls this before the golden stages, which run in DuckDB
    without the GIL, so the import overlaps with them instead of adding to them.
    """
    if "gx" not in _STATE and "thread" not in _STATE:
        _STATE["thread"] = threading.Thread(target=_load_quietly, name="auditor-gx-import", daemon=True)
        _STATE["thread"].start()


def _load_quietly() -> None:
    try:
        _gx()
    except Exception:  # noqa: BLE001 - the caller's own _gx() call raises it again
        pass


def _gx():
    with _LOCK:
        if "gx" not in _STATE:
            _STATE["gx"] = _load()
        return _STATE["gx"]


def _load():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    for name in ("great_expectations", "great_expectations.core", "great_expectations.data_context"):
        logging.getLogger(name).setLevel(logging.WARNING)
    import great_expectations as gx  # noqa: PLC0415 - the one lazy import
    from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: PLC0415

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    source = context.data_sources.add_pandas("auditor_quality")
    batches = {name: source.add_dataframe_asset(name).add_batch_definition_whole_dataframe("all")
               for name in ("check_rates", "column_types")}
    return gx, batches


def engine_version() -> str:
    """'great_expectations <version>' (imports GX)."""
    gx, _ = _gx()
    return f"great_expectations {gx.__version__}"


def _validate(asset: str, frame, expectations: list, result_format: str = "SUMMARY") -> list:
    """GX's results for ``expectations`` on ``frame``; ``result_format`` COMPLETE lists every
    unexpected row (a result_format given to an expectation itself is not honoured by
    ``Batch.validate``, which defaults to SUMMARY: at most 20 partial indexes)."""
    gx, batches = _gx()
    suite = gx.ExpectationSuite(name=f"auditor_{asset}")
    for exp in expectations:
        suite.add_expectation(exp)
    batch = batches[asset].get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(suite, result_format=result_format)
    for r in result.results:
        if r.exception_info and r.exception_info.get("raised_exception"):
            raise RuntimeError(f"Great Expectations failed on {r.expectation_config.type}: "
                               f"{r.exception_info.get('exception_message')}")
    return list(result.results)


def validate_rates(rates: Mapping[str, float], thresholds: Mapping[str, float]) -> dict[str, Outcome]:
    """Expect each check's unexpected rate to be at most its threshold.

    ``rates``: check name -> observed unexpected rate (0 when nothing was checked).
    The checks are the columns of a one-row frame; each gets an
    ``expect_column_max_to_be_between(max_value=threshold)``.
    """
    import pandas as pd  # noqa: PLC0415

    gx, _ = _gx()
    names = list(rates)
    frame = pd.DataFrame({n: [float(rates[n])] for n in names})
    exps = [gx.expectations.ExpectColumnMaxToBeBetween(column=n, max_value=float(thresholds[n]),
                                                       meta={"check": n}) for n in names]
    out = {}
    for r in _validate("check_rates", frame, exps):
        name = r.expectation_config.meta["check"]
        out[name] = Outcome(expectation=r.expectation_config.type, success=bool(r.success),
                            observed=r.result.get("observed_value"))
    return out


def validate_columns(actual: Mapping[str, str | None], expected: Mapping[str, str]) -> dict[str, Outcome]:
    """Expect every contract column to be present with its canonical type.

    ``actual``: column -> DuckDB type of the canonical event view (None: absent);
    ``expected``: column -> required DuckDB type. The pairs form a compact
    frame (one row per column) checked with
    ``expect_column_pair_values_to_be_equal``. Returns column -> Outcome.
    """
    import pandas as pd  # noqa: PLC0415

    gx, _ = _gx()
    cols = list(expected)
    frame = pd.DataFrame({"column": cols,
                          "actual_type": [observed_type(actual, c) for c in cols],
                          "expected_type": [expected[c] for c in cols]})
    exp = gx.expectations.ExpectColumnPairValuesToBeEqual(
        column_A="actual_type", column_B="expected_type", ignore_row_if="neither")
    (result,) = _validate("column_types", frame, [exp], result_format="COMPLETE")
    bad = set(result.result.get("unexpected_index_list") or [])
    if len(bad) != result.result.get("unexpected_count", 0):
        raise RuntimeError("Great Expectations did not list the unexpected rows of the column contract "
                           f"({result.result.get('unexpected_count')} unexpected, {len(bad)} listed)")
    return {c: Outcome(expectation=result.expectation_config.type, success=i not in bad,
                       observed=frame["actual_type"][i], details={"expected": expected[c]})
            for i, c in enumerate(cols)}
