"""report.html: one self-contained page (inline CSS and SVG, no scripts, no network),
headline first: a root-cause card per cause (auditor.render.headline) beside a chart of the
relative gap per metric x pipeline and the data-quality rates against their thresholds;
then the verdicts with their sizes, the failing pipelines' metrics with the slices that
explain them, the data-quality checks (a failing or warning check with its detail), and,
collapsed, everything that passed and the leaf tables."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auditor.findings import AuditResult
from auditor.render import charts
from auditor.render.headline import Card, cards_by_metric, headline_cards, metric_anchor
from auditor.render.json import report_dict
from auditor.render.templating import quality_notes, render_template


def _metric(report: Mapping[str, Any], pipeline: str, metric: str) -> Mapping[str, Any]:
    p = next(p for p in report["pipelines"] if p["name"] == pipeline)
    return next(m for m in p["metrics"] if m["metric"] == metric)


def _signed_rel(m: Mapping[str, Any]) -> float | None:
    if m["rel_diff"] is None:
        return None
    return -m["rel_diff"] if (m["diff"] or 0) < 0 else m["rel_diff"]


def _card_charts(report: Mapping[str, Any], card: Card) -> dict[str, Any]:
    out: dict[str, Any] = {"shares": None, "windows": None}
    if card.slices:
        out["shares"] = charts.share_chart([charts.ShareBar(s.label, s.num_share, s.den_share)
                                            for s in card.slices])
    m = _metric(report, card.pipeline, card.lead.metric)
    if len(m["windows"]) > 1:
        out["windows"] = charts.window_chart(
            [w["window"][:16].replace("T", " ") for w in m["windows"]],
            [w["golden"] for w in m["windows"]], [w["candidate"] for w in m["windows"]],
            m["unit"], card.pipeline, [w["status"] == "fail" for w in m["windows"]])
    return out


def page_context(report: Mapping[str, Any]) -> dict[str, Any]:
    """The context of report.html.j2 besides ``report``: ``cards`` (headline.Card), ``links``
    ((pipeline, metric) -> cards), ``anchor`` (metric_anchor), ``charts`` (gap, quality,
    and per card id: shares, windows), each chart an inline SVG."""
    cards = headline_cards(report, quality_notes)
    gap = charts.gap_chart([charts.GapBar(m["metric"], p["name"], _signed_rel(m), m["status"])
                            for p in report["pipelines"] for m in p["metrics"]])
    quality = None
    if report.get("quality"):
        quality = charts.rate_chart([charts.RateBar(c["name"], c["unexpected_rate"], c["threshold"], c["status"])
                                     for c in report["quality"]["checks"]])
    return {"cards": cards, "links": cards_by_metric(cards), "anchor": metric_anchor,
            "charts": {"gap": gap, "quality": quality,
                       "cards": {c.id: _card_charts(report, c) for c in cards}}}


def render_html(result: AuditResult, templates: str | None = None) -> str:
    report = report_dict(result)
    return render_template("report.html.j2", templates=templates, report=report, **page_context(report))
