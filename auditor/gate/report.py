"""The gate's outputs: gate.json (schema: auditor/schemas/gate.schema.json), gate.md (the
pull-request comment), junit.xml and a self-contained gate.html.

:func:`gate_dict` is also the context of both templates (auditor/gate/templates/),
so every view shows the same fields.
"""
from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from functools import lru_cache
from importlib.resources import files
from typing import Any

import jinja2

from auditor.findings import json_value
from auditor.gate.diff import MetricDiff, comparison_dict
from auditor.gate.run import GateResult
from auditor.render.templating import fmt_num, fmt_pct, fmt_signed, fmt_slice
from auditor.tables import write_file_set


def _metric_dict(m: MetricDiff, result: GateResult) -> dict[str, Any]:
    verdict = result.verdict(m.metric)
    total = comparison_dict(m.total)
    for key in ("window", "slice", "presence", "status", "passed_by", "support"):
        total.pop(key)
    declared = None
    if m.changed and verdict is not None:
        declared = "undeclared" if verdict.undeclared is not None else (
            "declared" if verdict.declarations else "within tolerance")
    return {**total, "metric": m.metric, "status": m.status, "unit": m.unit, "kind": m.kind,
            "declared": declared, "formula": dict(m.formula),
            "formula_changed": m.formula["base"] != m.formula["head"],
            "tolerance": m.tolerance.to_dict(),
            "windows": [comparison_dict(w) for w in m.windows],
            "windows_moved": sum(1 for w in m.windows if w.num_diff or w.den_diff),
            "leaves": {"compared": m.leaves_compared, "moved": m.leaves_moved},
            "slices_moved": m.slices_moved,
            "slices": [comparison_dict(s) for s in m.slices],
            "explanations": [{k: json_value(v) for k, v in e.items()} for e in m.explanations],
            "undeclared": comparison_dict(verdict.undeclared) if verdict and verdict.undeclared else None,
            "declarations": [d.to_dict() for d in verdict.declarations] if verdict else []}


def gate_dict(result: GateResult) -> dict[str, Any]:
    return {
        "schema_version": result.schema_version,
        "auditor_version": result.auditor_version,
        "status": result.status,
        "exit_code": result.exit_code,
        "headline": result.headline,
        "problems": result.problems,
        "base": result.base.to_dict(),
        "head": result.head.to_dict(),
        "data_affecting": result.data_affecting,
        "changed_files": list(result.changed_files),
        "cosmetic_files": list(result.cosmetic_files),
        "corpus": [c.to_dict() for c in result.corpus],
        "golden": dict(result.golden_stats),
        "dimensions": list(result.dimensions),
        "depth": result.depth,
        "metrics": [_metric_dict(m, result) for m in result.metrics],
        "declarations": [d.to_dict() for v in result.verdicts for d in v.declarations],
        "inherited_declarations": [d.to_dict() for d in result.head.declarations if d.inherited],
        "reclassification": result.reclassification.to_dict(),
        "cases": [c.to_dict() for c in result.cases],
        "faults": [f.to_dict() for f in result.faults],
    }


def render_json(result: GateResult) -> str:
    return json.dumps(gate_dict(result), indent=2, allow_nan=False) + "\n"


def gate_schema() -> dict[str, Any]:
    """The JSON Schema of gate.json shipped in the package."""
    return json.loads(files("auditor").joinpath("schemas", "gate.schema.json").read_text(encoding="utf-8"))


def md_text(value: Any) -> str:
    """User-controlled text in gate.md outside code: no HTML, no table breaks."""
    return (str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("`", "\\`").replace("|", "\\|").replace("\n", " "))


def md_code(value: Any) -> str:
    """User-controlled text inside a code span of gate.md (rendered literally there)."""
    return str(value).replace("`", "'").replace("|", "\\|").replace("\n", " ")


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    """gate.html.j2 autoescaped; gate.md.j2 not (Markdown is not HTML: every user string
    there goes through the ``md`` or ``code`` filter)."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("auditor.gate", "templates"),
                             autoescape=jinja2.select_autoescape(("html.j2",), default_for_string=True),
                             undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(num=fmt_num, signed=fmt_signed, pct=fmt_pct, slice=fmt_slice, md=md_text,
                       code=md_code, short=lambda digest: str(digest).removeprefix("sha256:")[:12])
    return env


def render_markdown(result: GateResult) -> str:
    return _environment().get_template("gate.md.j2").render(r=gate_dict(result))


def render_html(result: GateResult) -> str:
    return _environment().get_template("gate.html.j2").render(r=gate_dict(result))


def render_junit(result: GateResult) -> str:
    """One test case per metric, declaration, definition case and curated fault; the
    fingerprints and corpus hashes as properties."""
    suites = ET.Element("testsuites", name="auditor gate")
    suite = ET.SubElement(suites, "testsuite", name="auditor gate")
    props = ET.SubElement(suite, "properties")
    for name, value in (("definitions_fingerprint", result.head.fingerprint.digest),
                        ("base_definitions_fingerprint", result.base.fingerprint.digest),
                        ("data_affecting_change", str(result.data_affecting).lower()),
                        *((f"corpus.{c.name}.sha256", c.sha256) for c in result.corpus)):
        ET.SubElement(props, "property", name=name, value=value)
    cases: list[tuple[str, str, str | None, str]] = []
    for m in result.metrics:
        verdict = result.verdict(m.metric)
        failure = None
        if verdict is not None and verdict.undeclared is not None:
            failure = next(p for p in result.problems if p.startswith(f"undeclared movement: {m.metric} "))
        cases.append(("gate.metrics", m.metric, failure, m.status))
        for d in verdict.declarations if verdict else ():
            name = f"{d.declaration.metric} {fmt_slice(dict(d.declaration.slice))}"
            cases.append(("gate.declarations", name, d.message if d.failed else None, d.status))
    cases += [("gate.cases", c.id, c.message if c.failed else None, c.status) for c in result.cases]
    cases += [("gate.faults", f"{f.fixture}: {f.fault}", f.message if f.failed else None, f.status)
              for f in result.faults]
    for classname, name, failure, status in cases:
        case = ET.SubElement(suite, "testcase", classname=classname, name=name)
        if failure:
            ET.SubElement(case, "failure", message=failure, type=status).text = failure
    failures = sum(1 for c in cases if c[2])
    for el in (suites, suite):
        el.set("tests", str(len(cases)))
        el.set("failures", str(failures))
    suite.set("errors", "0")
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def write_gate_reports(result: GateResult, out: str | os.PathLike, *, junit: bool = False) -> list[str]:
    """gate.json, gate.md, gate.html (and junit.xml) under ``out``, rendered first and then
    replaced as one set (auditor.tables.write_file_set): all of them, or none."""
    outputs = [("gate.json", render_json), ("gate.md", render_markdown), ("gate.html", render_html)]
    if junit:
        outputs.append(("junit.xml", render_junit))
    files = {name: render(result) for name, render in outputs}
    return [str(path) for path in write_file_set(out, files)]
