"""Root-cause cards: the headline of report.html and summary.md.

A failing metric's gap is explained by slices (report.json ``explanations``). Metrics of
one pipeline that the same slice explains are one cause seen through several metrics: one
card per (pipeline, explaining slice), its *lead* metric (the largest relative gap) on
top, the other metrics grouped under it as *symptoms*, not repeated as findings. A metric
explained by a narrower slice of the same pipeline (``device=ios & country=us`` under
``device=ios``) joins the broader cause's card, its own slice noted. A failing
metric no slice explains (published as final values only, or without dimensions) gets a
card of its own per pipeline ("not localized").

:func:`headline_cards` reads the report dict (auditor.render.json.report_dict, the
templates' context) and returns plain frozen dataclasses; ``Card.to_dict()`` is the same
data for JSON. They are the documented template context of the headline: to say more about
a cause (a mechanism, a link), add a field with a default, or append to ``Card.lines``
(one-line facts shown under the cause), and show it in the templates.
"""
from __future__ import annotations

import dataclasses
import hashlib
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from auditor.render import numbers

CAUSE_MIN_SHARE = 0.2     # a slice explaining at least this share of a metric's gap is its cause
MAX_SLICES = 3            # explaining slices shown on a card


@dataclass(frozen=True)
class Symptom:
    """One failing metric of a pipeline under a cause."""

    pipeline: str
    metric: str
    unit: str
    golden: float | None
    candidate: float | None
    diff: float | None
    rel_diff: float | None          # |diff| / |golden|; None when golden is 0 or missing
    direction: str | None           # higher | lower | missing | extra
    moved: str | None               # numerator | denominator | both
    share: float | None             # of this metric's gap that the cause explains
    anchor: str                     # id of the metric's section in report.html
    within: Mapping[str, Any] = field(default_factory=dict)   # its own, narrower slice, if any

    @property
    def size(self) -> str:
        """``9.104% -> 9.845% (+0.7411 pp, +8.14%)``."""
        rel = "" if self.rel_diff is None else f", {numbers.signed_pct(_signed_rel(self))}"
        return (f"{numbers.value(self.golden, self.unit)} → {numbers.value(self.candidate, self.unit)} "
                f"({numbers.delta(self.diff, self.unit)}{rel})")

    @property
    def within_text(self) -> str:
        """``device=ios & country=us`` when the symptom's own slice is narrower than the cause."""
        return numbers.slice_text(self.within) if self.within else ""

    @property
    def rel_text(self) -> str:
        """``+8.14%`` (or the direction when golden is 0 or a side is missing)."""
        if self.rel_diff is None:
            return self.direction or "differs"
        return numbers.signed_pct(_signed_rel(self))


def _signed_rel(s: Symptom) -> float | None:
    if s.rel_diff is None:
        return None
    return -s.rel_diff if (s.diff or 0) < 0 else s.rel_diff


@dataclass(frozen=True)
class SliceShare:
    """One slice that explains the lead metric's gap, as a card shows it."""

    slice: Mapping[str, Any]
    share: float                     # of the gap (1 = all of it)
    num_share: float
    den_share: float
    numerator: str                   # component names, for the text
    denominator: str
    golden_num: float | None
    cand_num: float | None
    golden_den: float | None
    cand_den: float | None
    golden_value: float | None
    candidate_value: float | None
    unit: str
    quality: tuple[str, ...] = ()    # notable data-quality rates in the slice

    @property
    def label(self) -> str:
        return numbers.slice_text(self.slice)

    @property
    def side(self) -> str:
        """Which side carries it: numerator, denominator, or both (opposite or shared)."""
        if not self.den_share or self.golden_den is None:
            return "numerator"
        if not self.num_share:
            return "denominator"
        return "numerator and denominator"

    @property
    def moves(self) -> str:
        """``ebvs 58 → 132 (+74)`` and the denominator when it moved too."""
        parts = []
        if self.golden_num is not None and self.golden_num != self.cand_num:
            parts.append(f"{self.numerator} {numbers.count(self.golden_num)} → {numbers.count(self.cand_num)} "
                         f"({numbers.signed((self.cand_num or 0) - self.golden_num)})")
        if self.golden_den is not None and self.golden_den != self.cand_den:
            parts.append(f"{self.denominator} {numbers.count(self.golden_den)} → {numbers.count(self.cand_den)} "
                         f"({numbers.signed((self.cand_den or 0) - self.golden_den)})")
        return ", ".join(parts)

    @property
    def note(self) -> str | None:
        """Why a share lies outside 0-100% (numbers.share_note / gap_share_note)."""
        return numbers.gap_share_note(self.share) or (
            numbers.share_note(self.num_share, self.den_share) if self.golden_den is not None else None)


@dataclass(frozen=True)
class Card:
    """One root cause: a pipeline, the slice that explains its gaps, and what it moved."""

    id: str                          # html anchor: cause-1, cause-2, ...
    pipeline: str
    cause: Mapping[str, Any]         # the explaining slice; {} when not localized
    localized: bool
    lead: Symptom                    # the metric with the largest relative gap
    symptoms: tuple[Symptom, ...]    # the other metrics this cause moves
    slices: tuple[SliceShare, ...]   # the lead metric's explaining slices (cause first)
    command: str                     # the `auditor explain ...` to run next
    lines: tuple[str, ...] = field(default_factory=tuple)   # further one-line facts
    # the mechanism search's finding for the cause (docs/mechanisms.md#where-it-shows), or None
    mechanism: Mapping[str, Any] | None = None

    @property
    def cause_text(self) -> str:
        return numbers.slice_text(self.cause) if self.localized else "not localized to a slice"

    @property
    def metrics(self) -> tuple[Symptom, ...]:
        return (self.lead, *self.symptoms)

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "cause_text": self.cause_text,
                "lead": {**dataclasses.asdict(self.lead), "size": self.lead.size}}


def metric_anchor(pipeline: str, metric: str) -> str:
    """The id of a pipeline x metric section in report.html: readable for a plain pipeline
    name, a stable digest for any other (ids must be unique and attribute-safe)."""
    if pipeline.replace("_", "").replace("-", "").isalnum():
        return f"m-{pipeline}-{metric}"
    return f"m-{hashlib.sha1(pipeline.encode()).hexdigest()[:10]}-{metric}"


def _symptom(pipeline: str, m: Mapping[str, Any], share: float | None) -> Symptom:
    return Symptom(pipeline=pipeline, metric=m["metric"], unit=m["unit"], golden=m["golden"],
                   candidate=m["candidate"], diff=m["diff"], rel_diff=m["rel_diff"],
                   direction=m["direction"], moved=m["moved"], share=share,
                   anchor=metric_anchor(pipeline, m["metric"]))


def _key(slice_: Mapping[str, Any]) -> tuple:
    return tuple(sorted((k, "" if v is None else str(v), v is None) for k, v in slice_.items()))


def _rank(s: Symptom) -> tuple:
    return (-(s.rel_diff if s.rel_diff is not None else float("inf")),)


def explain_command(report: Mapping[str, Any], pipeline: str, metric: str) -> str:
    """The exact `auditor explain` command for one pipeline x metric over the audited span."""
    config = report.get("config") or "audit.yaml"
    window = f"{report['window']['start']}/{report['window']['end']}"
    return " ".join(["auditor", "explain", "--config", shlex.quote(str(config)), "--pipeline",
                     shlex.quote(pipeline), "--metric", shlex.quote(metric), "--window", shlex.quote(window)])


def _slices(m: Mapping[str, Any], quality_notes) -> tuple[SliceShare, ...]:
    den = "+".join(m["denominator"])
    return tuple(SliceShare(
        slice=dict(e["slice"]), share=e["share_of_gap"], num_share=e["num_share"] or 0.0,
        den_share=e["den_share"] or 0.0, numerator=m["numerator"], denominator=den,
        golden_num=e["golden_num"], cand_num=e["cand_num"], golden_den=e["golden_den"],
        cand_den=e["cand_den"], golden_value=e["golden_value"], candidate_value=e["candidate_value"],
        unit=m["unit"], quality=tuple(quality_notes(e)))
        for e in m["explanations"][:MAX_SLICES])


def headline_cards(report: Mapping[str, Any], quality_notes=lambda e: ()) -> list[Card]:
    """The root-cause cards of a report dict, the biggest relative gap first.

    ``quality_notes(explanation)`` gives the notable data-quality phrases of an explanation's
    slice (auditor.render.templating.quality_notes)."""
    groups: dict[tuple, dict[str, Any]] = {}
    for p in report["pipelines"]:
        for m in p["metrics"]:
            if m["status"] != "fail":
                continue
            causes = [e for e in m["explanations"] if (e["share_of_gap"] or 0) >= CAUSE_MIN_SHARE] \
                or m["explanations"][:1]
            for e in causes or [None]:
                key = (p["name"], _key(e["slice"]) if e else None)
                group = groups.setdefault(key, {"pipeline": p["name"], "cause": dict(e["slice"]) if e else {},
                                                "localized": e is not None, "members": []})
                group["members"].append((_symptom(p["name"], m, e["share_of_gap"] if e else None), m))
    _merge_narrower(groups)
    cards = []
    for group in groups.values():
        seen, members = set(), []
        # the metrics explained by the cause itself lead; then by relative gap; each metric once
        for s, m in sorted(group["members"], key=lambda sm: (bool(sm[0].within), _rank(sm[0]))):
            if s.metric not in seen:
                seen.add(s.metric)
                members.append((s, m))
        lead, lead_metric = members[0]
        slices = _slices(lead_metric, quality_notes)
        if group["localized"]:   # the cause first, then the lead metric's other slices
            slices = tuple(sorted(slices, key=lambda s: _key(s.slice) != _key(group["cause"])))
        cards.append(Card(id="", pipeline=group["pipeline"], cause=group["cause"],
                          localized=group["localized"], lead=lead,
                          symptoms=tuple(sorted((s for s, _ in members[1:]), key=_rank)), slices=slices,
                          command=explain_command(report, group["pipeline"], lead.metric),
                          lines=tuple(dict.fromkeys(q for s in slices[:1] for q in s.quality)),
                          mechanism=_mechanism(lead_metric, group)))
    cards.sort(key=lambda c: (not c.localized, _rank(c.lead)))
    return [dataclasses.replace(c, id=f"cause-{i}") for i, c in enumerate(cards, 1)]


def _mechanism(m: Mapping[str, Any], group: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The mechanism finding of the card's cause: on the lead metric's explanation of that
    slice, or on the metric itself when no slice explains it."""
    if not group["localized"]:
        return m.get("mechanism")
    return next((e["mechanism"] for e in m["explanations"]
                 if e.get("mechanism") and _key(e["slice"]) == _key(group["cause"])), None)


def _merge_narrower(groups: dict[tuple, dict[str, Any]]) -> None:
    """Move each group whose cause narrows another group's cause of the same pipeline (a
    superset of its conditions) into the closest such group, its members marked ``within``."""
    localized = [k for k, g in groups.items() if g["localized"]]
    for key in sorted(localized, key=lambda k: -len(k[1])):   # narrowest first
        group = groups[key]
        items = set(key[1])
        parents = [k for k in localized if k in groups and k != key and k[0] == key[0]
                   and set(k[1]) < items]
        if not parents:
            continue
        parent = groups[max(parents, key=lambda k: len(k[1]))]
        parent["members"] += [(dataclasses.replace(s, within=s.within or dict(group["cause"])), m)
                              for s, m in group["members"]]
        del groups[key]


def cards_by_metric(cards: Sequence[Card]) -> dict[tuple[str, str], list[Card]]:
    """(pipeline, metric) -> the cards it appears on (for links from the verdict table)."""
    out: dict[tuple[str, str], list[Card]] = {}
    for c in cards:
        for s in c.metrics:
            out.setdefault((s.pipeline, s.metric), []).append(c)
    return out
