"""The metric catalogue (rules/metrics.yaml): numerators, denominators, units."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import yaml

from auditor.golden.sqlfiles import read_rule


@dataclass(frozen=True)
class Metric:
    name: str
    numerator: str
    denominator: tuple[str, ...]   # empty for counts
    unit: str
    description: str
    divisor: int = 1

    @property
    def is_ratio(self) -> bool:
        return bool(self.denominator)

    @property
    def components(self) -> tuple[str, ...]:
        return (self.numerator, *self.denominator)

    def numerator_value(self, row: Mapping[str, Any]) -> int:
        return int(row[self.numerator])

    def denominator_value(self, row: Mapping[str, Any]) -> int | None:
        if not self.denominator:
            return None
        return sum(int(row[c]) for c in self.denominator)

    def value(self, num: int | None, den: int | None = None) -> float | None:
        """The metric from exact integer sums; a zero denominator gives None, never 0."""
        if num is None:
            return None
        if not self.denominator:
            return num / self.divisor
        if not den:
            return None
        return num / (den * self.divisor)


@lru_cache(maxsize=1)
def catalogue() -> dict[str, Metric]:
    data = yaml.safe_load(read_rule("metrics.yaml"))
    out = {}
    for name, spec in data["metrics"].items():
        den = spec.get("denominator") or ()
        out[name] = Metric(name=name, numerator=spec["numerator"],
                           denominator=(den,) if isinstance(den, str) else tuple(den),
                           unit=spec["unit"], description=spec["description"],
                           divisor=int(spec.get("divisor", 1)))
    return out
