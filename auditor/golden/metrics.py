"""The metric catalogue (rules/metrics.yaml): numerators, denominators, units."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import yaml

from auditor.golden.calculator import COMPONENTS
from auditor.golden.sqlfiles import RulesFolder, read_rule
from auditor.yamldoc import load_yaml


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
    """The packaged catalogue (read once per process)."""
    return load_catalogue()


# what a numerator or denominator may name: the canonical aggregate's components
_COMPONENTS = (*COMPONENTS, "ebvs_short")


def load_catalogue(rules: RulesFolder | None = None) -> dict[str, Metric]:
    """The metrics.yaml of ``rules`` (default: the packaged one). In a folder other than the
    packaged one every problem is a ConfigError naming the file and line."""
    rules = rules or RulesFolder()
    if not rules.custom:
        return _parse(yaml.safe_load(read_rule("metrics.yaml")))
    doc = load_yaml(rules.path("metrics.yaml"), what="metric catalogue")
    data = doc.data
    if not isinstance(data, Mapping) or not isinstance(data.get("metrics"), Mapping):
        raise doc.error((), "metrics.yaml is a mapping with a `metrics:` section")
    for name, spec in data["metrics"].items():
        path = ("metrics", name)
        if not isinstance(spec, Mapping):
            raise doc.error(path, "a metric is a mapping: numerator, denominator, unit, description")
        doc.check_keys(path, spec, ("numerator", "denominator", "unit", "description", "divisor"),
                       required=("numerator", "unit"))
        den = spec.get("denominator") or []
        for key, names in (("numerator", [spec["numerator"]]),
                           ("denominator", [den] if isinstance(den, str) else den)):
            bad = [n for n in names if n not in _COMPONENTS]
            if bad:
                raise doc.error((*path, key), f"{bad} are not components of the canonical aggregate",
                                "components: " + ", ".join(_COMPONENTS))
        divisor = spec.get("divisor", 1)
        if isinstance(divisor, bool) or not isinstance(divisor, int) or divisor <= 0:
            raise doc.error((*path, "divisor"), "divisor is a whole number > 0")
    return _parse(data)


def _parse(data: Mapping[str, Any]) -> dict[str, Metric]:
    out = {}
    for name, spec in data["metrics"].items():
        den = spec.get("denominator") or ()
        out[name] = Metric(name=name, numerator=spec["numerator"],
                           denominator=(den,) if isinstance(den, str) else tuple(den),
                           unit=spec["unit"], description=spec.get("description", ""),
                           divisor=int(spec.get("divisor", 1)))
    return out
