"""junit.xml: one test case per pipeline x metric, for CI systems that show test results."""
from __future__ import annotations

import xml.etree.ElementTree as ET

from auditor.findings import AuditResult, MetricResult
from auditor.render.templating import fmt_num, fmt_pct, fmt_slice
from auditor.windows import iso


def _failure_text(m: MetricResult) -> str:
    t = m.total
    lines = [f"golden {fmt_num(t.golden)}, candidate {fmt_num(t.candidate)} "
             f"({t.direction or 'differs'}, {fmt_pct(t.rel_diff)}); tolerance: {m.tolerance.describe()}"]
    if t.moved:
        lines.append(f"moved: {t.moved} (numerator {fmt_num(t.golden_num)} -> {fmt_num(t.cand_num)}, "
                     f"denominator {fmt_num(t.golden_den)} -> {fmt_num(t.cand_den)})")
    lines.append(f"{m.slices_failed} of {m.slices_compared} slices beyond tolerance")
    for s in m.slices[:10]:
        lines.append(f"  {iso(s.window) if s.window else ''} {fmt_slice(dict(s.slice))}: "
                     f"golden {fmt_num(s.golden)} candidate {fmt_num(s.candidate)} [{s.status}]")
    return "\n".join(lines)


def render_junit(result: AuditResult) -> str:
    suites = ET.Element("testsuites", name="auditor run")
    for p in result.pipelines:
        failures = sum(m.failed for m in p.metrics)
        suite = ET.SubElement(suites, "testsuite", name=p.name, tests=str(len(p.metrics)),
                              failures=str(failures), errors="0", skipped="0")
        if result.definitions_fingerprint:   # which definitions produced these numbers
            ET.SubElement(ET.SubElement(suite, "properties"), "property", name="definitions_fingerprint",
                          value=result.definitions_fingerprint)
        for m in p.metrics:
            case = ET.SubElement(suite, "testcase", classname=f"auditor.{p.name}", name=m.metric)
            if m.failed:
                t = m.total
                message = (f"{p.name} {m.metric}: {t.direction or 'differs'} than golden "
                           f"({fmt_num(t.golden)} vs {fmt_num(t.candidate)})")
                failure = ET.SubElement(case, "failure", message=message, type="discrepancy")
                failure.text = _failure_text(m)
    total = sum(int(s.get("tests")) for s in suites)
    suites.set("tests", str(total))
    suites.set("failures", str(sum(int(s.get("failures")) for s in suites)))
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
