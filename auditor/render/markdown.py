"""summary.md: short, for a CI log or a pull-request comment."""
from __future__ import annotations

from auditor.findings import AuditResult
from auditor.render.json import report_dict
from auditor.render.templating import render_template


def render_markdown(result: AuditResult) -> str:
    return render_template("summary.md.j2", report=report_dict(result))
