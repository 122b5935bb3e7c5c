"""Renderers of the one result model (auditor.findings): report.json, summary.md,
junit.xml and report.html. :func:`write_reports` renders every file in memory
first and then replaces the set as one (auditor.tables.write_file_set), so a
failure never leaves a partial or mixed set."""
from __future__ import annotations

import os
from pathlib import Path

from auditor.findings import AuditResult
from auditor.render.html import render_html
from auditor.render.json import render_json, report_dict
from auditor.render.junit import render_junit
from auditor.render.markdown import render_markdown
from auditor.tables import write_file_set

__all__ = ["render_html", "render_json", "render_junit", "render_markdown", "report_dict",
           "write_reports"]


def write_reports(result: AuditResult, out_dir: str | os.PathLike, *, junit: bool = False,
                  templates: str | os.PathLike | None = None) -> list[Path]:
    """Write report.json, summary.md, report.html (and junit.xml) into ``out_dir``; with
    ``templates`` (audit.yaml's ``report: {templates: DIR}``) a template found in that folder
    replaces the shipped one of the same name."""
    templates = None if templates is None else str(templates)
    files = {"report.json": render_json(result), "summary.md": render_markdown(result, templates),
             "report.html": render_html(result, templates)}
    if junit:
        files["junit.xml"] = render_junit(result)
    return write_file_set(out_dir, files)
