"""summary.md: short, for a CI log or a pull-request comment."""
from __future__ import annotations

from auditor.findings import AuditResult
from auditor.render.quality import render_markdown as quality_markdown
from auditor.render.json import report_dict
from auditor.render.templating import render_template


def render_markdown(result: AuditResult) -> str:
    text = render_template("summary.md.j2", report=report_dict(result))
    if result.quality is not None:
        text += "\n" + quality_markdown(result.quality)
    return text
