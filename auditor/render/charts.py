"""Inline SVG charts for report.html (and any other page of auditor's, e.g. the scheduled
report): no script, no font or stylesheet from the network, text escaped, sizes fixed so a
page lays out before it paints. Each function takes plain numbers and labels and returns
:class:`markupsafe.Markup` ready to place in an autoescaped template.

The visual language, shared by every chart:
- golden is grey (``GOLDEN``), a pipeline's value blue (``CANDIDATE``), a failing bar red
  (``FAIL``), a passing one green (``PASS``), a warning amber (``WARN``);
- a numerator part is blue (``NUMERATOR``), a denominator part orange (``DENOMINATOR``);
- every bar carries its number as text (formatted by auditor.render.numbers), so a chart
  reads without a legend and prints in black and white;
- a chart is ``role="img"`` with a ``<title>`` saying what it shows.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

from auditor.render import numbers
from auditor.render.escaping import html_text

GOLDEN, CANDIDATE = "#8a8a93", "#2563eb"
PASS, FAIL, WARN = "#11703a", "#b3261e", "#b26a00"
NUMERATOR, DENOMINATOR = "#2563eb", "#ea7a16"
AXIS, TEXT = "#9a9aa3", "#1d1d1f"
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


def _svg(width: int, height: int, title: str, body: list[str]) -> Markup:
    return Markup(
        f'<svg class="chart" role="img" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" {FONT}><title>{html_text(title, 300)}'
        f'</title>{"".join(body)}</svg>')


def _text(x: float, y: float, text: str, anchor: str = "start", color: str = TEXT,
          weight: str = "normal", limit: int = 40) -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{color}" '
            f'font-weight="{weight}">{html_text(text, limit)}</text>')


def _rect(x: float, y: float, w: float, h: float, color: str) -> str:
    if w < 0:
        x, w = x + w, -w
    return f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0.0):.1f}" height="{h:.1f}" fill="{color}"/>'


@dataclass(frozen=True)
class GapBar:
    """One bar of :func:`gap_chart`: a metric x pipeline and its signed relative gap."""

    metric: str
    pipeline: str
    rel_gap: float | None       # (candidate - golden) / |golden|; None when undefined
    status: str                 # pass | fail


def gap_chart(bars: Sequence[GapBar], width: int = 480) -> Markup:
    """Relative gap per metric x pipeline: a bar per pipeline in each metric's row, growing
    right when the pipeline is above golden, left when below, red when the metric fails."""
    metrics = list(dict.fromkeys(b.metric for b in bars))
    pipelines = list(dict.fromkeys(b.pipeline for b in bars))
    label_w, value_w, bar_h, gap = 140, 120, 12, 5
    row_h = bar_h * len(pipelines) + gap
    top = 16
    height = top + row_h * len(metrics) + 2
    plot_w = width - label_w - value_w
    center = label_w + plot_w / 2
    scale = max((abs(b.rel_gap) for b in bars if b.rel_gap is not None), default=0.0) or 1.0
    body = [_text(label_w, 10, "below golden", color=AXIS),
            _text(label_w + plot_w, 10, "above golden", "end", AXIS),
            f'<line x1="{center:.1f}" y1="{top - 3}" x2="{center:.1f}" y2="{height - 2}" stroke="{AXIS}"/>']
    by_key = {(b.metric, b.pipeline): b for b in bars}
    for i, metric in enumerate(metrics):
        y0 = top + i * row_h
        if i:
            body.append(f'<line x1="0" y1="{y0 - gap / 2:.1f}" x2="{width}" y2="{y0 - gap / 2:.1f}" '
                        'stroke="#ececf0"/>')
        body.append(_text(label_w - 6, y0 + row_h / 2 + 1, metric, "end", limit=22))
        for k, pipeline in enumerate(pipelines):
            b = by_key.get((metric, pipeline))
            if b is None:
                continue
            y = y0 + k * bar_h
            failing = b.status == "fail"
            if b.rel_gap:
                w = b.rel_gap / scale * (plot_w / 2 - 2)
                if abs(w) < 2:
                    w = 2 if w > 0 else -2
                body.append(_rect(center, y + 1.5, w, bar_h - 3, FAIL if failing else CANDIDATE))
            text = "0" if b.rel_gap == 0 else numbers.signed_pct(b.rel_gap)
            body.append(_text(width - 2, y + bar_h - 2.5, f"{pipeline} {text}", "end",
                              FAIL if failing else AXIS, limit=24))
    title = "Relative gap to golden per metric and pipeline: " + ("; ".join(
        f"{b.metric} {b.pipeline} {numbers.signed_pct(b.rel_gap)}" for b in bars if b.status == "fail")
        or "no gap beyond tolerance")
    return _svg(width, height, title, body)


@dataclass(frozen=True)
class ShareBar:
    """One slice of :func:`share_chart`: its share of the gap, split numerator/denominator."""

    label: str
    num_share: float
    den_share: float


def share_chart(bars: Sequence[ShareBar], width: int = 520) -> Markup:
    """Share of the gap per explaining slice (its label above its bar): the numerator part
    (blue) and the denominator part (orange) from zero; a part below zero (a side pulling
    the other way) grows left of the axis. The dashed line is 100% of the gap."""
    value_w, row_h, top = 60, 30, 14
    height = top + row_h * len(bars)
    lo = min([0.0] + [min(b.num_share, b.den_share, b.num_share + b.den_share) for b in bars])
    hi = max([1.0] + [max(b.num_share, b.den_share, b.num_share + b.den_share) for b in bars])
    plot_w = width - value_w - 4

    def x(v: float) -> float:
        return 2 + (v - lo) / (hi - lo) * plot_w
    body = [_text(2, 10, "numerator", color=NUMERATOR), _text(70, 10, "denominator", color=DENOMINATOR),
            _text(x(1), 10, "100% of the gap", "end", AXIS),
            f'<line x1="{x(0):.1f}" y1="{top}" x2="{x(0):.1f}" y2="{height}" stroke="{AXIS}"/>',
            f'<line x1="{x(1):.1f}" y1="{top}" x2="{x(1):.1f}" y2="{height}" stroke="{AXIS}" '
            'stroke-dasharray="2 2"/>']
    for i, b in enumerate(bars):
        y = top + i * row_h
        body.append(_text(x(0) + 3 if lo == 0 else 2, y + 11, b.label, limit=80))
        bar_y = y + 14
        if b.num_share and b.den_share and (b.num_share > 0) == (b.den_share > 0):   # same side: stack
            parts = [(0.0, b.num_share, NUMERATOR), (b.num_share, b.den_share, DENOMINATOR)]
        else:   # one part, or parts pulling in opposite directions: each from zero, thinner
            parts = [(0.0, b.num_share, NUMERATOR), (0.0, b.den_share, DENOMINATOR)]
        split = not (b.num_share and b.den_share) or (b.num_share > 0) == (b.den_share > 0)
        for k, (base, part, color) in enumerate(parts):
            if part:
                h = 11 if split else 5
                yy = bar_y if split else bar_y + k * 6
                body.append(_rect(x(base), yy, x(base + part) - x(base), h, color))
        body.append(_text(width - 2, bar_y + 10, numbers.share(b.num_share + b.den_share), "end",
                          weight="bold"))
    title = "Share of the gap per slice (numerator, denominator): " + "; ".join(
        f"{b.label} {numbers.share(b.num_share)} numerator, {numbers.share(b.den_share)} denominator"
        for b in bars)
    return _svg(width, height, title, body)


def window_chart(labels: Sequence[str], golden: Sequence[float | None],
                 candidate: Sequence[float | None], unit: str, pipeline: str,
                 failing: Sequence[bool] = (), width: int = 460, height: int = 120) -> Markup:
    """Golden vs the pipeline per window (a backfill): two lines, failing windows marked red."""
    left, right, top, bottom = 8, 8, 16, 18
    values = [v for v in (*golden, *candidate) if v is not None]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    if hi == lo:
        lo, hi = lo - 1, hi + 1
    n = max(len(labels), 2)
    plot_w, plot_h = width - left - right, height - top - bottom

    def pt(i: int, v: float) -> tuple[float, float]:
        return left + i / (n - 1) * plot_w, top + (hi - v) / (hi - lo) * plot_h

    body = [_text(left, 11, "golden", color=GOLDEN), _text(left + 50, 11, pipeline, color=CANDIDATE),
            _text(width - right, 11, f"{numbers.value(lo, unit)} – {numbers.value(hi, unit)}", "end", AXIS)]
    for series, color in ((golden, GOLDEN), (candidate, CANDIDATE)):
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in (pt(i, v) for i, v in enumerate(series) if v is not None))
        body.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2"/>')
    for i, bad in enumerate(failing):
        if bad and i < len(candidate) and candidate[i] is not None:
            cx, cy = pt(i, candidate[i])
            body.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3" fill="{FAIL}"/>')
    if labels:
        body.append(_text(left, height - 4, labels[0], color=AXIS))
        body.append(_text(width - right, height - 4, labels[-1], "end", AXIS))
    title = (f"Golden vs {pipeline} per window, {len(labels)} windows, "
             f"{sum(bool(f) for f in failing)} beyond tolerance")
    return _svg(width, height, title, body)


@dataclass(frozen=True)
class RateBar:
    """One data-quality check of :func:`rate_chart`: its rate against its threshold."""

    name: str
    rate: float
    threshold: float
    status: str                 # pass | warn | fail


def rate_chart(bars: Sequence[RateBar], width: int = 480, cap: float = 3.0) -> Markup:
    """Data-quality rates against their thresholds: each bar is the rate as a multiple of its
    own threshold (the dashed line is the threshold; bars stop at ``cap`` x)."""
    label_w, value_w, bar_h, top = 140, 130, 13, 14
    height = top + bar_h * len(bars) + 2
    plot_w = width - label_w - value_w - 6

    def x(multiple: float) -> float:
        return label_w + min(multiple, cap) / cap * plot_w
    body = [_text(x(1), 10, "threshold", "middle", AXIS),
            f'<line x1="{x(1):.1f}" y1="{top - 2}" x2="{x(1):.1f}" y2="{height - 2}" stroke="{AXIS}" '
            'stroke-dasharray="3 2"/>']
    for i, b in enumerate(bars):
        y = top + i * bar_h
        multiple = b.rate / b.threshold if b.threshold else (cap if b.rate else 0.0)
        color = {"fail": FAIL, "warn": WARN}.get(b.status, PASS)
        body.append(_text(label_w - 6, y + 10, b.name, "end", color if b.status != "pass" else TEXT, limit=24))
        if b.rate:
            body.append(_rect(label_w, y + 2, max(x(multiple) - label_w, 2.0), bar_h - 4, color))
        body.append(_text(width - 2, y + 10, f"{numbers.pct(b.rate)} (max {numbers.pct_setting(b.threshold)})",
                          "end", color if b.status != "pass" else AXIS))
    title = "Data-quality rates against their thresholds: " + "; ".join(
        f"{b.name} {numbers.pct(b.rate)} of max {numbers.pct_setting(b.threshold)} ({b.status})" for b in bars)
    return _svg(width, height, title, body)
