"""report.json: the result model as JSON (schema: auditor/schemas/report.schema.json).

:func:`report_dict` is also the context of the Markdown and HTML templates, so
every view shows the same fields.
"""
from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

from auditor.findings import AuditResult, MetricResult, PipelineResult, json_value
from auditor.golden.metrics import catalogue
from auditor.windows import iso


def metric_dict(m: MetricResult) -> dict[str, Any]:
    metric = catalogue()[m.metric]
    total = m.total.to_dict()
    for key in ("window", "slice", "presence", "status", "share_of_gap"):
        total.pop(key)
    return {"metric": m.metric, "status": m.status, "unit": m.unit, "kind": m.kind,
            "published_as": m.published_as, "numerator": metric.numerator,
            "denominator": list(metric.denominator), **total,
            "tolerance": m.tolerance.to_dict(),
            "windows": [{k: v for k, v in w.to_dict().items() if k != "share_of_gap"} for w in m.windows],
            "slice_counts": {"compared": m.slices_compared, "differing": m.slices_differing,
                             "failed": m.slices_failed, "golden_only": m.slices_golden_only,
                             "candidate_only": m.slices_candidate_only},
            "slices": [s.to_dict() for s in m.slices],
            "explanations": [{k: json_value(v) for k, v in e.items()} for e in m.explanations],
            "note": m.note,
            "mechanism": None if m.mechanism is None else {k: json_value(v) for k, v in m.mechanism.items()},
            # only for a pipeline with declared deviations (docs/deviations.md)
            **({"deviation": m.deviation.to_dict()} if m.deviation is not None else {})}


def pipeline_dict(p: PipelineResult) -> dict[str, Any]:
    return {"name": p.name, "status": p.status, "source": p.source, "grain_minutes": p.grain_minutes,
            "dimensions": list(p.dimensions),
            "rows": {"read": p.rows_read, "outside_windows": p.rows_outside_windows,
                     "golden_only": p.rows_golden_only, "candidate_only": p.rows_candidate_only},
            "metrics": [metric_dict(m) for m in p.metrics],
            **({"deviations": [dict(d) for d in p.deviations]} if p.deviations else {})}


def report_dict(result: AuditResult) -> dict[str, Any]:
    return {
        "schema_version": result.schema_version,
        "auditor_version": result.auditor_version,
        "status": result.status,
        "window": {"start": iso(result.windows[0].start), "end": iso(result.windows[-1].end)},
        "windows": [{"start": iso(w.start), "end": iso(w.end)} for w in result.windows],
        "empty_windows": [{"start": iso(w.start), "end": iso(w.end)} for w in result.empty_windows],
        "window_minutes": result.window_minutes,
        "dimensions": list(result.dimensions),
        "events": result.events,
        "config": result.config_file,
        "definitions_fingerprint": result.definitions_fingerprint,
        "golden": {**result.golden_stats, "options": dict(result.golden_options)},
        "quality": result.quality,
        "verdicts": [{"metric": v.metric, "agree": list(v.agree), "off": list(v.off),
                      "not_published": list(v.not_published),
                      "candidates_agree_not_golden": v.candidates_agree_not_golden,
                      "summary": v.summary} for v in result.verdicts],
        "pipelines": [pipeline_dict(p) for p in result.pipelines],
    }


def render_json(result: AuditResult) -> str:
    return json.dumps(report_dict(result), indent=2, allow_nan=False) + "\n"


def report_schema() -> dict[str, Any]:
    """The JSON Schema of report.json shipped in the package."""
    return json.loads(files("auditor").joinpath("schemas", "report.schema.json").read_text(encoding="utf-8"))
