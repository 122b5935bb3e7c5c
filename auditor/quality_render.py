"""Views of a :class:`~auditor.quality.QualityReport`: a terminal table, a
Markdown section for summary.md and an HTML section for report.html (the
template ``templates/quality.html.j2`` only formats; autoescape is on)."""
from __future__ import annotations

import json
from importlib.resources import files

import jinja2

from auditor.quality import QualityReport

_MARK = {"pass": "ok", "warn": "WARN", "fail": "FAIL"}


def _pct(rate: float) -> str:
    return f"{rate * 100:.3g}%"


def render_json(report: QualityReport) -> str:
    return json.dumps(report.to_dict(), indent=1, sort_keys=False) + "\n"


def render_text(report: QualityReport) -> str:
    """A short fixed-width table, one line per check, then the top slices."""
    lines = [f"data quality: {report.status.upper()}  ({report.totals.get('rows', 0)} rows, "
             f"{report.totals.get('sessions', 0)} sessions)"]
    width = max((len(c.name) for c in report.checks), default=10)
    for c in report.checks:
        lines.append(f"  {_MARK[c.status]:<4}  {c.name:<{width}}  {c.unexpected_count:>10} / "
                     f"{c.denominator:<10}  {_pct(c.unexpected_rate):>8}  (max {_pct(c.threshold)}"
                     f"{', blocking' if c.blocking else ''})")
    if report.slices:
        lines.append("slices with the highest rates:")
        for s in report.slices:
            lines.append(f"  {s.check}: {s.dimension}={s.value}  {_pct(s.rate)} "
                         f"({s.unexpected_count} of {s.denominator} {s.unit})")
    return "\n".join(lines) + "\n"


def _md(text: object) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def render_markdown(report: QualityReport) -> str:
    """The '## Data quality' section of summary.md."""
    out = [f"## Data quality: {report.status}", "",
           "| check | status | unexpected | of | rate | threshold | blocking |",
           "|---|---|---:|---:|---:|---:|---|"]
    for c in report.checks:
        out.append(f"| {c.name} | {c.status} | {c.unexpected_count} | {c.denominator} | "
                   f"{_pct(c.unexpected_rate)} | {_pct(c.threshold)} | {'yes' if c.blocking else 'no'} |")
    if report.slices:
        out += ["", "| check | slice | rate | unexpected | of |", "|---|---|---:|---:|---|"]
        for s in report.slices:
            out.append(f"| {s.check} | {_md(s.dimension)} = {_md(s.value)} | {_pct(s.rate)} | "
                       f"{s.unexpected_count} | {s.denominator} {s.unit} |")
    return "\n".join(out) + "\n"


def render_html(report: QualityReport) -> str:
    """An HTML ``<section>`` for report.html (escaped; no page chrome)."""
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                             loader=jinja2.FunctionLoader(
                                 lambda name: files("auditor").joinpath("templates", name).read_text("utf-8")))
    env.filters["pct"] = _pct
    return env.get_template("quality.html.j2").render(quality=report.to_dict())
