"""Views of a :class:`~auditor.quality.QualityReport`: a terminal table, a
Markdown section for summary.md and an HTML section for report.html (the
template ``templates/quality.html.j2`` only formats; autoescape is on).

The Markdown and HTML views take the report or its ``to_dict()`` (the
``quality`` field of report.json, which is what ``auditor run`` renders)."""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from auditor.quality.checks import QualityReport
from auditor.render import numbers

_MARK = {"pass": "ok", "warn": "WARN", "fail": "FAIL"}


def _pct(rate: float) -> str:
    return numbers.pct(rate)


_n = numbers.count


def render_json(report: QualityReport) -> str:
    return json.dumps(report.to_dict(), indent=1, sort_keys=False) + "\n"


def render_text(report: QualityReport) -> str:
    """A short fixed-width table, one line per check, then the top slices."""
    lines = [f"data quality: {report.status.upper()}  ({_n(report.totals.get('rows', 0))} rows, "
             f"{_n(report.totals.get('sessions', 0))} sessions)"]
    width = max((len(c.name) for c in report.checks), default=10)
    for c in report.checks:
        lines.append(f"  {_MARK[c.status]:<4}  {c.name:<{width}}  {_n(c.unexpected_count):>10} / "
                     f"{_n(c.denominator):<10}  {_pct(c.unexpected_rate):>8}  (max {numbers.pct_setting(c.threshold)}"
                     f"{', blocking' if c.blocking else ''})")
    if report.slices:
        lines.append("slices with the highest rates:")
        for s in report.slices:
            lines.append(f"  {s.check}: {s.dimension}={s.value}  {_pct(s.rate)} "
                         f"({_n(s.unexpected_count)} of {_n(s.denominator)} {s.unit})")
    return "\n".join(lines) + "\n"


def _md(text: object) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _as_dict(report: QualityReport | Mapping[str, Any]) -> Mapping[str, Any]:
    return report.to_dict() if isinstance(report, QualityReport) else report


def render_markdown(report: QualityReport | Mapping[str, Any]) -> str:
    """The '## Data quality' section of summary.md: every check, and the top slices
    of the checks that did not pass (summary.md is read in CI logs and PR comments;
    every slice is in report.json and report.html)."""
    q = _as_dict(report)
    failing = {c["name"] for c in q["checks"] if c["status"] != "pass"}
    shown = [s for s in q["slices"] if s["check"] in failing]
    out = [f"## Data quality: {q['status']}", "",
           "| check | status | unexpected | of | rate | threshold | blocking |",
           "|---|---|---:|---:|---:|---:|---|"]
    for c in q["checks"]:
        out.append(f"| {c['name']} | {c['status']} | {_n(c['unexpected_count'])} | {_n(c['denominator'])} | "
                   f"{_pct(c['unexpected_rate'])} | {numbers.pct_setting(c['threshold'])} | "
                   f"{'yes' if c['blocking'] else 'no'} |")
    if shown:
        out += ["", "| check | slice | rate | unexpected | of |", "|---|---|---:|---:|---|"]
        for s in shown:
            out.append(f"| {s['check']} | {_md(s['dimension'])} = {_md(s['value'])} | {_pct(s['rate'])} | "
                       f"{_n(s['unexpected_count'])} | {_n(s['denominator'])} {s['unit']} |")
    if len(shown) < len(q["slices"]):
        out += ["", f"{len(q['slices']) - len(shown)} slice rates of passing checks are in "
                    "report.json and report.html."]
    return "\n".join(out) + "\n"


def render_html(report: QualityReport | Mapping[str, Any]) -> str:
    """An HTML ``<section>`` for report.html (escaped; no page chrome): the template
    report.html.j2 includes too."""
    from auditor.render.templating import render_template
    return render_template("quality.html.j2", quality=_as_dict(report))
