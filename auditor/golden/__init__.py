"""The definitions and the golden calculator: raw player events -> session facts -> aggregates.

Owns reading raw events onto the input contract (:mod:`.events`), loading and
rendering the SQL stages of ``rules/`` with bound parameters and quoted
identifiers (:mod:`.sqlfiles`), the metric catalogue of ``rules/metrics.yaml``
(:mod:`.metrics`) and the calculator that runs the stages (:mod:`.calculator`).

It is the lowest layer above :mod:`auditor.errors`: nothing here imports the
comparison, localization, quality, rendering or synthetic-data code
(tests/test_layers.py keeps it so).
"""
from auditor.golden.calculator import (COMPONENTS, FACT_TO_COMPONENT, SESSION_FACTS, GoldenOptions,
                                       GoldenResult, aggregate_sessions, check_dims, compute_golden,
                                       connect, default_options, load_options)
from auditor.golden.sqlfiles import RulesFolder
from auditor.golden.events import DEFAULT_DIMS, EventMapping

__all__ = ["COMPONENTS", "DEFAULT_DIMS", "FACT_TO_COMPONENT", "SESSION_FACTS", "EventMapping",
           "GoldenOptions", "GoldenResult", "RulesFolder", "aggregate_sessions", "check_dims",
           "compute_golden", "connect", "default_options", "load_options"]
