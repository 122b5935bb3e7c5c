"""The verdict of one data-quality check, whichever judge gave it."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MISSING = "<missing>"   # the observed type of a contract column the view does not have


@dataclass(frozen=True)
class Outcome:
    """One verdict: a check's rate against its threshold, or a column against its type."""

    expectation: str
    success: bool
    observed: Any = None
    details: Mapping[str, Any] = field(default_factory=dict)


def observed_type(actual: Mapping[str, str | None], column: str) -> str:
    """The type a contract column has in the view: its DuckDB type, or MISSING."""
    return actual.get(column) or MISSING
