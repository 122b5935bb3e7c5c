"""summary.md: short, for a CI log or a pull-request comment (GitHub-flavoured Markdown):
the root-cause cards of auditor.render.headline, the verdict table, the data-quality checks
that did not pass with their detail. Every value from the data is escaped for Markdown
(auditor.render.escaping)."""
from __future__ import annotations

from auditor.findings import AuditResult
from auditor.render.headline import headline_cards
from auditor.render.json import report_dict
from auditor.render.quality import render_markdown as quality_markdown
from auditor.render.templating import quality_notes, render_template


def render_markdown(result: AuditResult, templates: str | None = None) -> str:
    report = report_dict(result)
    text = render_template("summary.md.j2", templates=templates, report=report,
                           cards=headline_cards(report, quality_notes))
    if result.quality is not None:
        text += "\n" + quality_markdown(result.quality)
    return text
