"""The data-quality rules: rules/quality.yaml (thresholds, blocking, parameters).

A rules folder holds ``quality.yaml`` and the counting SQL under
``quality/``. The packaged folder is the default; a user folder (``rules:``
in audit.yaml, ``--rules``) overrides whichever of those files it contains.
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from auditor.errors import ConfigError
from auditor.golden.sqlfiles import read_rule

# Every check the stage knows how to count, in report order, with the
# parameters it takes and their defaults.
CHECKS: dict[str, dict[str, Any]] = {
    "required_columns": {},
    "null_keys": {},
    "duplicate_events": {},
    "unknown_event_types": {},
    "orphan_sessions": {},
    "events_before_attempt": {},
    "events_after_end": {},
    "seq_not_unique": {},
    "fatal_missing": {},
    "end_reason_domain": {"allowed": ["complete", "exit"]},
    "late_events": {"max_lateness_ms": 300_000},
    "clock_ahead": {"max_ahead_ms": 300_000},
    "negative_intervals": {},
    "implausible_sessions": {"max_duration_ms": 86_400_000},
}


@dataclass(frozen=True)
class CheckRule:
    name: str
    description: str
    threshold: float
    blocking: bool
    enabled: bool = True
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class QualityRules:
    checks: tuple[CheckRule, ...]
    version: int = 1
    slice_min_support: int = 100
    slice_top: int = 5
    source: str = "rules/quality.yaml"
    rules_dir: str | None = None

    def check(self, name: str) -> CheckRule:
        for rule in self.checks:
            if rule.name == name:
                return rule
        raise KeyError(name)

    def param(self, check: str, name: str) -> Any:
        return self.check(check).parameters[name]

    @property
    def enabled(self) -> tuple[CheckRule, ...]:
        return tuple(r for r in self.checks if r.enabled)

    def read_sql(self, name: str) -> str:
        """A counting SQL file: the user's copy under rules_dir/quality/ if present, else packaged."""
        if self.rules_dir:
            own = Path(self.rules_dir, "quality", name)
            if own.is_file():
                return own.read_text(encoding="utf-8")
        return read_rule(f"quality/{name}")


def load_rules(rules_dir: str | os.PathLike | None = None) -> QualityRules:
    """Load quality.yaml from ``rules_dir`` (if it has one) or the packaged rules."""
    if rules_dir is not None:
        if not os.path.isdir(rules_dir):
            raise ConfigError("the rules folder does not exist", file=os.fspath(rules_dir),
                              hint="point rules: (or --rules) at a copy of the packaged rules/ folder")
        path = Path(rules_dir, "quality.yaml")
        if path.is_file():
            return parse_rules(path.read_text(encoding="utf-8"), source=str(path),
                               rules_dir=os.fspath(rules_dir))
    return parse_rules(read_rule("quality.yaml"), source="rules/quality.yaml",
                       rules_dir=os.fspath(rules_dir) if rules_dir is not None else None)


def parse_rules(text: str, *, source: str = "quality.yaml", rules_dir: str | None = None) -> QualityRules:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"not valid YAML{where}", file=source,
                          hint="check indentation and quoting near that line") from None
    if not isinstance(data, dict) or not isinstance(data.get("checks"), dict):
        raise ConfigError("expected a mapping with a 'checks:' mapping", file=source, key="checks",
                          hint="copy the shipped rules/quality.yaml and edit it")
    unknown = sorted(set(data["checks"]) - set(CHECKS))
    if unknown:
        raise ConfigError(f"unknown check(s) {unknown}", file=source, key="checks",
                          hint=f"known checks: {', '.join(CHECKS)}")
    rules = []
    for name, defaults in CHECKS.items():
        spec = data["checks"].get(name)
        key = f"checks.{name}"
        if spec is None:  # a check left out of the file is off
            rules.append(CheckRule(name=name, description="", threshold=0.0, blocking=False,
                                   enabled=False, parameters=dict(defaults)))
            continue
        if not isinstance(spec, dict):
            raise ConfigError("expected a mapping", file=source, key=key,
                              hint="e.g. {threshold: 0.01, blocking: false}")
        extra = sorted(set(spec) - {"description", "threshold", "blocking", "enabled", "parameters"})
        if extra:
            raise ConfigError(f"unknown key(s) {extra}", file=source, key=key,
                              hint="allowed: description, threshold, blocking, enabled, parameters")
        threshold = spec.get("threshold", 0)
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) \
                or math.isnan(threshold) or not 0 <= threshold <= 1:
            raise ConfigError(f"threshold must be a rate between 0 and 1, not {threshold!r}",
                              file=source, key=f"{key}.threshold", hint="e.g. 0.01 for 1%")
        for flag in ("blocking", "enabled"):
            if not isinstance(spec.get(flag, True), bool):
                raise ConfigError(f"{flag} must be true or false", file=source, key=f"{key}.{flag}",
                                  hint=f"e.g. {flag}: false")
        params = dict(defaults)
        given = spec.get("parameters") or {}
        if not isinstance(given, dict) or set(given) - set(defaults):
            raise ConfigError(f"unknown parameter(s) {sorted(set(given) - set(defaults))}"
                              if isinstance(given, dict) else "expected a mapping",
                              file=source, key=f"{key}.parameters",
                              hint=f"parameters of {name}: {sorted(defaults) or 'none'}")
        for pname, value in given.items():
            if pname.endswith("_ms") and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ConfigError("expected a whole number of milliseconds >= 0",
                                  file=source, key=f"{key}.parameters.{pname}", hint="e.g. 60000 for a minute")
            if pname == "allowed" and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
                raise ConfigError("expected a list of strings", file=source, key=f"{key}.parameters.{pname}",
                                  hint="e.g. [completed, error, user_exit]")
            params[pname] = value
        rules.append(CheckRule(name=name, description=str(spec.get("description", "")),
                               threshold=float(threshold), blocking=spec.get("blocking", False),
                               enabled=spec.get("enabled", True), parameters=params))
    slices = data.get("slices") or {}
    support, top = slices.get("min_support", 100), slices.get("top", 5)
    for k, v in (("min_support", support), ("top", top)):
        if isinstance(v, bool) or not isinstance(v, int) or v < (1 if k == "top" else 0):
            raise ConfigError("expected a whole number", file=source, key=f"slices.{k}",
                              hint=f"e.g. {k}: {'100' if k == 'min_support' else '5'}")
    version = data.get("version", 1)
    return QualityRules(checks=tuple(rules), version=version, slice_min_support=support,
                        slice_top=top, source=source, rules_dir=rules_dir)
