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
from auditor.render import escaping, numbers

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
    return str(escaping.md_cell(text))


def _as_dict(report: QualityReport | Mapping[str, Any]) -> Mapping[str, Any]:
    return report.to_dict() if isinstance(report, QualityReport) else report


def _detail_lines(details: Mapping[str, Any]) -> list[str]:
    """A check's details as 'label: a 538, b 526' lines (counts largest first)."""
    out = []
    for key, value in details.items():
        label = key.replace("_", " ")
        if isinstance(value, Mapping) and value and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in value.values()):
            pairs = sorted(value.items(), key=lambda kv: -kv[1])
            out.append(f"{label}: " + ", ".join(f"{_md(k)} {numbers.count(v)}" for k, v in pairs))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out.append(f"{label}: {numbers.plain(value)}")
        elif isinstance(value, (list, tuple)) and value:
            out.append(f"{label}: " + ", ".join(_md(v) for v in value))
    return out


def render_markdown(report: QualityReport | Mapping[str, Any]) -> str:
    """The '## Data quality' section of summary.md: the checks that did not pass, each with
    its detail (e.g. the unknown event types and their counts) and its slices with the highest
    rates; the passing checks by name (every rate is in report.json and report.html)."""
    q = _as_dict(report)
    flagged = [c for c in q["checks"] if c["status"] != "pass"]
    passed = [c["name"] for c in q["checks"] if c["status"] == "pass"]
    out = [f"## Data quality: {q['status']}", ""]
    if flagged:
        out += ["| check | status | unexpected | of | rate | threshold | blocking |",
                "|---|---|---:|---:|---:|---:|---|"]
        for c in flagged:
            out.append(f"| {c['name']} | {c['status']} | {_n(c['unexpected_count'])} | {_n(c['denominator'])} | "
                       f"{_pct(c['unexpected_rate'])} | {numbers.pct_setting(c['threshold'])} | "
                       f"{'yes' if c['blocking'] else 'no'} |")
        out.append("")
        for c in flagged:
            slices = sorted((s for s in q["slices"] if s["check"] == c["name"]), key=lambda s: -s["rate"])[:5]
            facts = _detail_lines(c.get("details") or {})
            facts += [f"highest rates: " + ", ".join(
                f"{_md(s['dimension'])}={_md('(missing)' if s['value'] is None else s['value'])} {_pct(s['rate'])}"
                for s in slices)] if slices else []
            out += [f"- **{c['name']}**: {'; '.join(facts)}"] if facts else []
        out.append("")
    rates = sum(1 for s in q["slices"] if s["check"] in passed)
    where = f" (their {rates} slice rates are in report.json and report.html)" if rates else ""
    out.append(f"{len(passed)} of {len(q['checks'])} checks pass{where}: {', '.join(passed)}." if passed
               else "No check passes.")
    return "\n".join(out) + "\n"


def render_html(report: QualityReport | Mapping[str, Any]) -> str:
    """An HTML ``<section>`` for report.html (escaped; no page chrome): the template
    report.html.j2 includes too."""
    from auditor.render.templating import render_template
    return render_template("quality.html.j2", quality=_as_dict(report))
