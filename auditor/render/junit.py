"""junit.xml: one test case per pipeline x metric, for CI systems that show test results.
Numbers follow auditor.render.numbers (units, separators, never ``null``)."""
from __future__ import annotations

import xml.etree.ElementTree as ET

from auditor.findings import AuditResult, MetricResult
from auditor.golden.metrics import catalogue
from auditor.render import numbers
from auditor.windows import iso


def _components(m: MetricResult) -> str:
    """'numerator ebvs 909 -> 983, denominator attempts 9,985 -> 9,985' (what moved, in sums)."""
    t = m.total
    metric = catalogue().get(m.metric)
    num = metric.numerator if metric else "numerator"
    parts = [f"numerator {num} {numbers.count(t.golden_num)} -> {numbers.count(t.cand_num)}"]
    if t.golden_den is not None:
        den = "+".join(metric.denominator) if metric else "denominator"
        parts.append(f"denominator {den} {numbers.count(t.golden_den)} -> {numbers.count(t.cand_den)}")
    return ", ".join(parts)


def _size(m: MetricResult) -> str:
    t = m.total
    rel = f", {numbers.pct(t.rel_diff)}" if t.rel_diff is not None else ""
    return f"{numbers.delta(t.diff, m.unit)}{rel}"


def _failure_text(m: MetricResult) -> str:
    t = m.total
    lines = [f"golden {numbers.value(t.golden, m.unit)}, candidate {numbers.value(t.candidate, m.unit)} "
             f"({t.direction or 'differs'}, {_size(m)}); tolerance: {m.tolerance.describe()}"]
    if t.moved:
        lines.append(f"moved: {t.moved} ({_components(m)})")
    lines.append(f"{numbers.count(m.slices_failed)} of {numbers.count(m.slices_compared)} slices beyond tolerance")
    for e in m.explanations[:3]:
        lines.append(f"explained by {numbers.slice_text(e['slice'])}: {numbers.share(e['share_of_gap'])} "
                     "of the gap")
    for s in m.slices[:10]:
        lines.append(f"  {iso(s.window) if s.window else ''} {numbers.slice_text(dict(s.slice))}: "
                     f"golden {numbers.value(s.golden, m.unit)} candidate {numbers.value(s.candidate, m.unit)} "
                     f"[{s.status}]")
    return "\n".join(lines)


def _deviation_text(m: MetricResult) -> str:
    """The whole gap split by the pipeline's declared deviations (docs/deviations.md)."""
    d = m.deviation
    share = f" ({numbers.share(d.expected_share)} of the gap)" if d.expected_share is not None else ""
    judged = ("reproduced exactly" if d.exact else
              f"remainder {numbers.delta(d.remainder_diff, m.unit)}, the only part judged")
    return (f"declared deviations: golden {numbers.value(d.golden, m.unit)}, expected "
            f"{numbers.value(d.expected, m.unit)}, candidate {numbers.value(d.candidate, m.unit)}; "
            f"expected part {numbers.delta(d.expected_diff, m.unit)}{share}, {judged}"
            + (f"; {d.status_without} without the declarations" if d.status_without != m.status else ""))


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
                           f"({numbers.value(t.golden, m.unit)} vs {numbers.value(t.candidate, m.unit)}, "
                           f"{_size(m)})")
                failure = ET.SubElement(case, "failure", message=message, type="discrepancy")
                failure.text = _failure_text(m)
            if m.deviation is not None and (m.deviation.gap or m.deviation.expected_diff):
                ET.SubElement(case, "system-out").text = _deviation_text(m)
    total = sum(int(s.get("tests")) for s in suites)
    suites.set("tests", str(total))
    suites.set("failures", str(sum(int(s.get("failures")) for s in suites)))
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
