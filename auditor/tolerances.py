"""Tolerance rules: when a difference between golden and a pipeline is acceptable.

The shipped default (rules/tolerances.yaml) is *exact*: a correct pipeline
reproduces golden's counts and millisecond sums to the digit, so any
difference is a finding. A tolerance is opt-in, per pipeline and metric, for
pipelines known to approximate (sampling, sketches, late-data watermarks); it
describes the pipeline, never a cover for the golden side.

A rule may allow any of (a difference passes when one of them admits it, and
the report names that one):

- ``absolute: X``  |candidate - golden| <= X (in the metric's unit);
- ``relative: R``  |candidate - golden| <= R * |golden|;
- ``statistical: {confidence: C, min_support: N}`` for rates of session
  counts (ebvs_rate, vsf_rate, vpf_rate): golden's rate lies inside the
  Wilson score interval at confidence C of the candidate's k/n (n the
  candidate's denominator, else golden's), i.e. sampling noise explains the
  gap; a slice with n < N is too small to judge and passes.

Resolution order for pipeline P and metric M, first match wins:
audit.yaml ``pipelines.P.tolerances.M``, then ``.default``; the rules file's
``pipelines.P.M``, ``pipelines.P.default``, ``metrics.M``, then ``default``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.resources import as_file
from statistics import NormalDist
from typing import Any

import numpy as np

from auditor.golden.metrics import Metric, catalogue
from auditor.golden.sqlfiles import rules_path
from auditor.yamldoc import Path, YamlDoc, load_yaml

SESSION_COUNTS = frozenset({"attempts", "plays", "ebvs", "vsf", "vpf"})
RULE_KEYS = ("absolute", "relative", "statistical")
STAT_KEYS = ("confidence", "min_support")


def supports_statistical(metric: Metric) -> bool:
    return metric.is_ratio and metric.numerator in SESSION_COUNTS and set(metric.denominator) <= SESSION_COUNTS


@dataclass(frozen=True)
class Tolerance:
    """What difference a pipeline may show on one metric, and where that rule came from."""

    absolute: float | None = None
    relative: float | None = None
    confidence: float | None = None
    min_support: int = 0
    origin: str = "shipped default"

    @property
    def exact(self) -> bool:
        return self.absolute is None and self.relative is None and self.confidence is None

    def describe(self) -> str:
        if self.exact:
            return "exact"
        parts = []
        if self.absolute is not None:
            parts.append(f"absolute {self.absolute:g}")
        if self.relative is not None:
            parts.append(f"relative {self.relative:g}")
        if self.confidence is not None:
            parts.append(f"statistical (Wilson {self.confidence:g}, min support {self.min_support})")
        return " or ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.describe(), "absolute": self.absolute, "relative": self.relative,
                "confidence": self.confidence, "min_support": self.min_support if self.confidence else None,
                "origin": self.origin}

    def judge(self, golden: np.ndarray, candidate: np.ndarray, differs: np.ndarray,
              support: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised verdicts: (passes, passed_by) per element.

        ``golden``/``candidate`` are metric values (NaN = null), ``differs`` marks
        elements where anything (value, numerator or denominator) differs,
        ``support`` the n of the statistical rule (NaN when unknown).
        ``passed_by`` names the allowance that let a difference pass (None otherwise).
        """
        n = len(golden)
        passes = ~differs
        passed_by = np.full(n, None, dtype=object)
        if self.exact or not differs.any():
            return passes, passed_by
        both = ~np.isnan(golden) & ~np.isnan(candidate)
        gap = np.where(both, np.abs(candidate - golden), np.inf)
        pending = differs.copy()
        if self.absolute is not None:
            ok = pending & both & (gap <= self.absolute)
            passed_by[ok], pending = f"absolute {self.absolute:g} ({self.origin})", pending & ~ok
        if self.relative is not None:
            ok = pending & both & (gap <= self.relative * np.abs(np.where(both, golden, 0.0)))
            passed_by[ok], pending = f"relative {self.relative:g} ({self.origin})", pending & ~ok
        if self.confidence is not None:
            small = pending & ~(support >= self.min_support)
            passed_by[small] = f"statistical: support below {self.min_support} ({self.origin})"
            pending = pending & ~small
            lo, hi = wilson_interval(np.where(both, candidate, 0.0), np.nan_to_num(support), self.confidence)
            ok = pending & both & (golden >= lo) & (golden <= hi)
            passed_by[ok] = f"statistical: within Wilson {self.confidence:g} interval ({self.origin})"
            pending = pending & ~ok
        return ~pending, passed_by


def wilson_interval(rate: np.ndarray, n: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion ``rate`` observed on ``n`` trials."""
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    n = np.asarray(n, dtype="float64")
    safe_n = np.where(n > 0, n, 1.0)
    denom = 1 + z * z / safe_n
    centre = (rate + z * z / (2 * safe_n)) / denom
    half = z / denom * np.sqrt(np.clip(rate * (1 - rate), 0, None) / safe_n + z * z / (4 * safe_n * safe_n))
    lo = np.where(n > 0, centre - half, 0.0)
    hi = np.where(n > 0, centre + half, 1.0)
    return lo, hi


def parse_tolerance(doc: YamlDoc, path: Path, value: Any, metric: str | None, origin: str) -> Tolerance:
    """One rule mapping (``{relative: 0.01}``) -> Tolerance; ``metric`` None means any metric."""
    if value is None or value == "exact":
        return Tolerance(origin=origin)
    if not isinstance(value, Mapping):
        raise doc.error(path, f"a tolerance is a mapping, not {type(value).__name__}",
                        "e.g. {relative: 0.01}, {absolute: 2} or {statistical: {confidence: 0.99, "
                        "min_support: 200}}; `exact` or {} for none")
    doc.check_keys(path, value, RULE_KEYS)
    kwargs: dict[str, Any] = {}
    for key in ("absolute", "relative"):
        if key in value:
            v = value[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                raise doc.error((*path, key), f"{key} must be a number >= 0, not {v!r}",
                                f"e.g. {{{key}: {'0.01' if key == 'relative' else '2'}}}; 0 or `exact` allows no difference")
            kwargs[key] = float(v)
    if "statistical" in value:
        spath = (*path, "statistical")
        stat = value["statistical"]
        if not isinstance(stat, Mapping):
            raise doc.error(spath, "statistical takes a mapping", "e.g. {confidence: 0.99, min_support: 200}")
        doc.check_keys(spath, stat, STAT_KEYS, required=("confidence",))
        conf = stat["confidence"]
        if isinstance(conf, bool) or not isinstance(conf, (int, float)) or not 0 < conf < 1:
            raise doc.error((*spath, "confidence"), f"confidence must be between 0 and 1, not {conf!r}",
                            "e.g. 0.99")
        support = stat.get("min_support", 0)
        if isinstance(support, bool) or not isinstance(support, int) or support < 0:
            raise doc.error((*spath, "min_support"), f"min_support must be a whole number >= 0, not {support!r}",
                            "e.g. 200: slices with fewer sessions are too small to judge")
        if metric is not None and not supports_statistical(catalogue()[metric]):
            raise doc.error(spath, f"a statistical tolerance applies to rates of session counts, not {metric}",
                            "use it for " + ", ".join(m.name for m in catalogue().values()
                                                      if supports_statistical(m))
                            + "; use absolute or relative for the others")
        kwargs.update(confidence=float(conf), min_support=support)
    return Tolerance(origin=origin, **kwargs)


@dataclass(frozen=True)
class ToleranceRules:
    """A tolerances.yaml: ``default``, ``metrics.M``, ``pipelines.P.(M|default)``."""

    default: Tolerance = field(default_factory=lambda: Tolerance(origin="shipped default"))
    metrics: Mapping[str, Tolerance] = field(default_factory=dict)
    pipelines: Mapping[str, Mapping[str, Tolerance]] = field(default_factory=dict)
    file: str | None = None

    def resolve(self, pipeline: str, metric: str,
                overrides: Mapping[str, Tolerance] | None = None) -> Tolerance:
        for table in (overrides or {}, self.pipelines.get(pipeline, {})):
            if metric in table:
                return table[metric]
            if "default" in table:
                return table["default"]
        return self.metrics.get(metric, self.default)


def parse_metric_rules(doc: YamlDoc, path: Path, value: Any, origin_prefix: str) -> dict[str, Tolerance]:
    """``{metric: rule, default: rule}`` (per pipeline)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise doc.error(path, "tolerances take a mapping of metric -> rule",
                        "e.g. {ebvs_rate: {relative: 0.01}, default: {absolute: 1}}")
    names = list(catalogue())
    doc.check_keys(path, value, [*names, "default"])
    return {m: parse_tolerance(doc, (*path, m), v, None if m == "default" else m,
                               f"{origin_prefix}.{m}") for m, v in value.items()}


def load_tolerance_rules(path: str | None = None) -> ToleranceRules:
    """The tolerances file at ``path``, or the shipped rules/tolerances.yaml (exact)."""
    if path is None:
        with as_file(rules_path("tolerances.yaml")) as p:
            doc = load_yaml(p, what="tolerances file")
        name = "rules/tolerances.yaml"
    else:
        doc = load_yaml(path, what="tolerances file")
        name = doc.file
    data = doc.data or {}
    if not isinstance(data, Mapping):
        raise doc.error((), "a tolerances file is a mapping", "see the shipped rules/tolerances.yaml")
    doc.check_keys((), data, ("version", "default", "metrics", "pipelines"))
    default = parse_tolerance(doc, ("default",), data.get("default"), None, f"{name} default")
    metrics_raw = data.get("metrics") or {}
    if not isinstance(metrics_raw, Mapping):
        raise doc.error(("metrics",), "metrics takes a mapping of metric -> rule",
                        "e.g. metrics: {ebvs_rate: {relative: 0.01}}")
    doc.check_keys(("metrics",), metrics_raw, list(catalogue()))
    metrics = {m: parse_tolerance(doc, ("metrics", m), v, m, f"{name} metrics.{m}")
               for m, v in metrics_raw.items()}
    pipes_raw = data.get("pipelines") or {}
    if not isinstance(pipes_raw, Mapping):
        raise doc.error(("pipelines",), "pipelines takes a mapping of pipeline -> {metric: rule}",
                        "e.g. pipelines: {streaming: {ebvs_rate: {relative: 0.01}}}")
    pipelines = {p: parse_metric_rules(doc, ("pipelines", p), v, f"{name} pipelines.{p}")
                 for p, v in pipes_raw.items()}
    return ToleranceRules(default=default, metrics=metrics, pipelines=pipelines, file=doc.file)
