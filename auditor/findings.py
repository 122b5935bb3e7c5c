"""The audit result model: frozen dataclasses every report format renders.

One :class:`AuditResult` per ``auditor run``; per pipeline a
:class:`PipelineResult`; per pipeline and metric a :class:`MetricResult` with
the comparison over the whole audited span, per audited window, and the
slices (at the pipeline's published grain and dimensions) that differ; and
per metric a three-way :class:`Verdict` across pipelines. report.json,
summary.md, junit.xml and report.html are views of this model (auditor/render/).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from auditor.tolerances import Tolerance
from auditor.windows import Window, iso

SCHEMA_VERSION = 1
PASS, FAIL = "pass", "fail"


def _num(value: float | int | None) -> float | int | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def json_value(value: Any) -> Any:
    """A value as report.json writes it: non-finite floats as null, datetimes as ISO text."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):
        return iso(value)
    return value


@dataclass(frozen=True)
class Comparison:
    """Golden vs candidate for one metric over one scope (a slice in a grain bucket, a window, the span).

    ``*_num``/``*_den`` are the exact component sums (``*_den`` None for counts;
    all None when the pipeline publishes only the final value). A value is None
    when its denominator is zero (never 0) or the side has no row.
    """

    golden: float | None
    candidate: float | None
    golden_num: int | None = None
    cand_num: int | None = None
    golden_den: int | None = None
    cand_den: int | None = None
    window: datetime | None = None           # start of the grain bucket or window; None for the span
    slice: Mapping[str, str | None] = field(default_factory=dict)
    presence: str = "both"                   # both | golden_only | candidate_only
    status: str = PASS
    passed_by: str | None = None             # the tolerance that let a difference pass
    support: int | None = None               # n behind a statistical judgement
    # a slice's contribution to the span's gap (1.0 = all of it; auditor.reconcile.gap_contributions)
    share_of_gap: float | None = None

    @property
    def diff(self) -> float | None:
        g, c = _num(self.golden), _num(self.candidate)
        return None if g is None or c is None else c - g

    @property
    def abs_diff(self) -> float | None:
        d = self.diff
        return None if d is None else abs(d)

    @property
    def rel_diff(self) -> float | None:
        d, g = self.diff, _num(self.golden)
        return None if d is None or not g else abs(d) / abs(g)

    @property
    def direction(self) -> str | None:
        """``higher``/``lower`` (candidate vs golden), ``missing``/``extra`` when one side is null."""
        g, c = _num(self.golden), _num(self.candidate)
        if g is None and c is None:
            return None
        if c is None:
            return "missing"
        if g is None:
            return "extra"
        return "higher" if c > g else "lower" if c < g else None

    @property
    def num_diff(self) -> int | None:
        return None if self.golden_num is None or self.cand_num is None else self.cand_num - self.golden_num

    @property
    def den_diff(self) -> int | None:
        return None if self.golden_den is None or self.cand_den is None else self.cand_den - self.golden_den

    @property
    def moved(self) -> str | None:
        """Which side of a ratio moved: numerator, denominator, both (None when neither or unknown)."""
        n, d = self.num_diff, self.den_diff
        if n is None:
            return None
        sides = [s for s, v in (("numerator", n), ("denominator", d)) if v]
        return "both" if len(sides) == 2 else (sides[0] if sides else None)

    def to_dict(self) -> dict[str, Any]:
        """The comparison as report.json and ``auditor explain --json`` write it."""
        out = {"window": self.window, "slice": dict(self.slice), "presence": self.presence,
               "status": self.status, "golden": self.golden, "candidate": self.candidate,
               "diff": self.diff, "abs_diff": self.abs_diff, "rel_diff": self.rel_diff,
               "direction": self.direction,
               "golden_num": self.golden_num, "cand_num": self.cand_num, "num_diff": self.num_diff,
               "golden_den": self.golden_den, "cand_den": self.cand_den, "den_diff": self.den_diff,
               "moved": self.moved, "passed_by": self.passed_by, "support": self.support,
               "share_of_gap": self.share_of_gap}
        return {k: json_value(v) for k, v in out.items()}


@dataclass(frozen=True)
class GapSplit:
    """A metric's gap split by the pipeline's declared deviations (docs/deviations.md).

    ``golden`` is the definition's value, ``expected`` golden's under the declared
    deviations, ``candidate`` the pipeline's: the expected part of the gap is
    ``expected - golden``, the unexplained remainder ``candidate - expected``, and only
    the remainder is judged. ``status_without`` is the verdict the whole gap would get.
    """

    golden: float | None
    expected: float | None
    candidate: float | None
    golden_num: int | None = None
    golden_den: int | None = None
    expected_num: int | None = None
    expected_den: int | None = None
    status_without: str = PASS

    @property
    def gap(self) -> float | None:
        return _minus(self.candidate, self.golden)

    @property
    def expected_diff(self) -> float | None:
        return _minus(self.expected, self.golden)

    @property
    def remainder_diff(self) -> float | None:
        return _minus(self.candidate, self.expected)

    @property
    def expected_share(self) -> float | None:
        """The part of the gap the declarations account for (1.0 = all of it; None: no gap)."""
        gap, part = self.gap, self.expected_diff
        return None if not gap or part is None else part / gap

    @property
    def exact(self) -> bool:
        """The declarations reproduce the pipeline's value exactly (remainder 0, gap not 0)."""
        return bool(self.gap) and self.remainder_diff == 0

    def to_dict(self) -> dict[str, Any]:
        share = self.expected_share
        out = {"golden": self.golden, "expected": self.expected, "candidate": self.candidate,
               "gap": self.gap, "expected_diff": self.expected_diff,
               "remainder_diff": self.remainder_diff, "expected_share": share,
               "remainder_share": None if share is None else 1.0 - share, "exact": self.exact,
               "golden_num": self.golden_num, "golden_den": self.golden_den,
               "expected_num": self.expected_num, "expected_den": self.expected_den,
               "status_without": self.status_without}
        return {k: json_value(v) for k, v in out.items()}


def _minus(a: float | None, b: float | None) -> float | None:
    a, b = _num(a), _num(b)
    return None if a is None or b is None else a - b


@dataclass(frozen=True)
class MetricResult:
    metric: str
    unit: str
    kind: str                      # count | ratio
    published_as: str              # components | value
    status: str
    tolerance: Tolerance
    total: Comparison              # the whole audited span
    windows: tuple[Comparison, ...]
    slices: tuple[Comparison, ...]  # differing slices at the published grain, failing and largest first
    slices_compared: int = 0
    slices_differing: int = 0
    slices_failed: int = 0
    slices_golden_only: int = 0
    slices_candidate_only: int = 0
    explanations: tuple[Mapping[str, Any], ...] = ()
    note: str | None = None
    # (window start ms, explanations) per failing audited window, when the run keeps a history
    window_explanations: tuple[tuple[int, tuple[Mapping[str, Any], ...]], ...] = ()
    # the mechanism search on the gap no slice explains (docs/mechanisms.md#the-search); an
    # explained gap carries its finding in each explanation's ``mechanism``
    mechanism: Mapping[str, Any] | None = None
    # with declared deviations: the comparison above is against golden under them, and
    # this splits the whole gap into expected part and remainder
    deviation: GapSplit | None = None

    @property
    def failed(self) -> bool:
        return self.status == FAIL


@dataclass(frozen=True)
class PipelineResult:
    name: str
    source: str
    grain_minutes: int
    dimensions: tuple[str, ...]
    status: str
    metrics: tuple[MetricResult, ...]
    rows_read: int = 0
    rows_outside_windows: int = 0
    rows_golden_only: int = 0
    rows_candidate_only: int = 0
    window_rows: tuple[int, ...] = ()    # rows published per audited window (0: window not published)
    deviations: tuple[Mapping[str, Any], ...] = ()   # declared in audit.yaml (Deviation.to_dict)

    def metric(self, name: str) -> MetricResult | None:
        return next((m for m in self.metrics if m.metric == name), None)


@dataclass(frozen=True)
class Verdict:
    """Across pipelines, for one metric: who agrees with golden and who is off."""

    metric: str
    agree: tuple[str, ...]
    off: tuple[str, ...]
    not_published: tuple[str, ...]
    candidates_agree_not_golden: bool

    @property
    def summary(self) -> str:
        if not self.off:
            return (f"{_names(self.agree)} agree{'s' if len(self.agree) == 1 else ''} with golden"
                    if self.agree else "no pipeline publishes it")
        if self.candidates_agree_not_golden:
            return (f"{_names(self.off)} agree with each other but not with golden: check golden's "
                    "definition and the inputs the pipelines share")
        text = f"{_names(self.off)} {'is' if len(self.off) == 1 else 'are'} off"
        if self.agree:
            text += f"; {_names(self.agree)} agree{'s' if len(self.agree) == 1 else ''} with golden"
        return text


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)


@dataclass(frozen=True)
class AuditResult:
    status: str
    windows: tuple[Window, ...]
    window_minutes: int
    dimensions: tuple[str, ...]
    events: str
    pipelines: tuple[PipelineResult, ...]
    verdicts: tuple[Verdict, ...]
    golden_stats: Mapping[str, int] = field(default_factory=dict)
    # the named options golden ran with (docs/definitions.md#named-options)
    golden_options: Mapping[str, Any] = field(default_factory=dict)
    quality: Mapping[str, Any] | None = None
    config_file: str | None = None
    auditor_version: str = ""
    schema_version: int = SCHEMA_VERSION
    empty_windows: tuple[Window, ...] = ()   # audited without a golden session (--allow-empty)
    definitions_fingerprint: str | None = None   # auditor.golden.fingerprint of the rules in use

    @property
    def exit_code(self) -> int:
        return 0 if self.status == PASS else 1

    def pipeline(self, name: str) -> PipelineResult:
        return next(p for p in self.pipelines if p.name == name)
