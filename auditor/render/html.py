"""report.html: one self-contained page (inline CSS, no scripts, no network)."""
from __future__ import annotations

from auditor.findings import AuditResult
from auditor.render.json import report_dict
from auditor.render.templating import render_template


def render_html(result: AuditResult) -> str:
    return render_template("report.html.j2", report=report_dict(result))
