"""Views of an `auditor explain` drill-down (auditor.explain.Drilldown): plain aligned
tables for the terminal (no colour codes) and JSON (schema: auditor/schemas/explain.schema.json)."""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from auditor.findings import json_value
from auditor.render import numbers
from auditor.render.templating import fmt_slice


def render_explain_json(drill) -> str:
    return json.dumps(_jsonable(drill.to_dict()), indent=2, allow_nan=False) + "\n"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return json_value(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[bool] = ()) -> list[str]:
    """Fixed-width columns; numeric columns right-aligned."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    right = list(numeric) + [False] * (len(headers) - len(numeric))
    out = []
    for k, r in enumerate(cells):
        out.append("  " + "  ".join(c.rjust(w) if right[i] and k else c.ljust(w)
                                     for i, (c, w) in enumerate(zip(r, widths))).rstrip())
        if k == 0:
            out.append("  " + "  ".join("-" * w for w in widths))
    return out


def _explanations(loc, ratio: bool, unit: str, numerator: str, denominator: str) -> list[str]:
    headers = ["#", "slice", "share of gap", "golden", "candidate", f"numerator ({numerator})",
               f"denominator ({denominator})" if ratio else "", "num share", "den share",
               "rate effect", "mix effect", "support", "confidence"]
    rows, notes = [], []
    for i, e in enumerate(loc.explanations, 1):
        rows.append([i, fmt_slice(e.slice), numbers.share(e.share_of_gap), numbers.value(e.golden_value, unit),
                     numbers.value(e.candidate_value, unit),
                     f"{numbers.count(e.golden_num)} -> {numbers.count(e.cand_num)} ({numbers.signed(e.num_delta)})",
                     f"{numbers.count(e.golden_den)} -> {numbers.count(e.cand_den)} ({numbers.signed(e.den_delta)})"
                     if ratio else "",
                     numbers.share(e.num_share), numbers.share(e.den_share) if ratio else "",
                     numbers.delta(e.rate_effect, unit) if ratio else "",
                     numbers.delta(e.mix_effect, unit) if ratio else "",
                     _support(e.support, ratio, unit, denominator), numbers.plain(e.confidence, 2)])
        for note in (numbers.gap_share_note(e.share_of_gap),
                     numbers.share_note(e.num_share, e.den_share) if ratio else None):
            if note:
                notes.append(f"  #{i}: {note}")
    if not ratio:   # a count has no denominator, rate or mix effect: drop the empty columns
        keep = [k for k, h in enumerate(headers) if h and h not in ("den share", "rate effect", "mix effect")]
        headers = [headers[k] for k in keep]
        rows = [[r[k] for k in keep] for r in rows]
    numeric = [h not in ("slice",) for h in headers]
    lines = table(headers, rows, numeric) + notes
    lines.append(f"  unexplained: {numbers.share(loc.unexplained_share)} of the gap")
    return lines


def _support(support, ratio: bool, unit: str, denominator: str) -> str:
    """A ratio's support is its denominator (a count of sessions, or ms); a count's is its value."""
    return f"{numbers.count(support)} {denominator}" if ratio else numbers.value(support, unit)


def mechanism_lines(finding: dict) -> list[str]:
    """The mechanism search's finding: the verdict, then the fits tried best first."""
    where = fmt_slice(finding["slice"]) if finding["slice"] else "every session"
    lines = [f"Mechanism ({where}, {finding['sessions']:,} sessions, "
             f"{finding['evaluated']} catalogued mechanisms fitted): {finding['summary']}"]
    fits = [f for f in (finding["best"], *finding["runners_up"]) if f]
    if fits:
        lines += table(["mechanism", "parameters", "closes", "exact", "components reproduced"],
                       [[f["mechanism"], ", ".join(f"{k}={numbers.plain(v)}" for k, v in f["params"].items()),
                         numbers.pct(max(f["closure"], 0.0)), "yes" if f["exact"] else "no",
                         ", ".join(c for c, e in f["components"].items() if e["reproduced"]) or "none"]
                        for f in fits], [False, False, True])
    return lines


def render_explain_text(drill) -> str:
    t = drill.total
    ratio = drill.kind == "ratio"
    unit = drill.unit
    den = "+".join(drill.denominator)
    window = f"{drill.windows[0].start:%Y-%m-%dT%H:%M:%SZ} to {drill.windows[-1].end:%Y-%m-%dT%H:%M:%SZ}"
    lines = [f"{drill.pipeline} / {drill.metric}: {drill.status.upper()} ({window}, tolerance {drill.tolerance})"]
    if not drill.has_gap:
        lines.append(f"no gap: {drill.pipeline} equals golden on {drill.metric} in every slice "
                     f"({numbers.value(t.golden, unit)}).")
        return "\n".join(lines) + "\n"
    lines.append("")
    rows = [["value", numbers.value(t.golden, unit), numbers.value(t.candidate, unit),
             numbers.delta(t.diff, unit), numbers.pct(t.rel_diff)]]
    if t.cand_num is not None:
        rows.append([f"numerator ({drill.numerator})", numbers.count(t.golden_num), numbers.count(t.cand_num),
                     numbers.signed(t.num_diff), ""])
        if ratio:
            rows.append([f"denominator ({den})", numbers.count(t.golden_den),
                         numbers.count(t.cand_den), numbers.signed(t.den_diff), ""])
    lines += table(["", "golden", drill.pipeline, "diff", "rel. diff"], rows, [False, True, True, True, True])
    if t.moved:
        lines.append(f"  moved: {t.moved}")
    lines.append(f"  {drill.slices_differing:,} of {drill.slices_compared:,} published slices differ")
    if drill.localization is not None:
        dims = ", ".join(drill.dimensions)
        lines += ["", f"Slices that explain the gap (published dimensions: {dims}):"]
        lines += _explanations(drill.localization, ratio, unit, drill.numerator, den) \
            if drill.localization.explanations else ["  none found"]
    if drill.mechanism is not None:
        lines += ["", *mechanism_lines(drill.mechanism)]
    s = drill.sessions
    if s is not None:
        o = s.overall
        lines += ["", f"Session rows ({s.file}):",
                  f"  golden {o.golden_sessions:,} sessions, {drill.pipeline} {o.pipeline_sessions:,}; "
                  f"only in golden {o.golden_only:,}, only in {drill.pipeline} {o.pipeline_only:,}, "
                  f"written more than once {s.duplicated:,}; {o.disagreeing:,} disagree on "
                  f"{'/'.join([s.numerator_fact, *s.denominator_facts])}"]
        lines += ["", f"Slices that explain the gap, from session rows (any dimension: {', '.join(s.dimensions)}):"]
        lines += _explanations(s.localization, ratio, unit, drill.numerator, den) \
            if s.localization.explanations else ["  none found"]
        lines += ["", "Sessions per slice:"]
        lines += table(["#", "slice", "golden sessions", f"{drill.pipeline} sessions", "disagree",
                        "only golden", f"only {drill.pipeline}"],
                       [[i, fmt_slice(c.slice), f"{c.golden_sessions:,}", f"{c.pipeline_sessions:,}",
                         f"{c.disagreeing:,}", f"{c.golden_only:,}", f"{c.pipeline_only:,}"]
                        for i, c in enumerate(s.slices, 1)], [True, False, True, True, True, True, True])
        if s.sessions:
            shown = f"{len(s.sessions)} of {sum(c.disagreeing for c in s.slices):,}" if s.truncated else \
                f"all {len(s.sessions)}"
            lines += ["", f"Sessions that disagree inside those slices ({shown}; golden -> {drill.pipeline}):"]
            lines += table(["#", "session_id", "presence", "facts", "dimensions"],
                           [[d.slice_rank, d.session_id, d.presence.replace("_", " ")
                             + (f" x{d.pipeline_rows}" if d.pipeline_rows > 1 else ""),
                             ", ".join(f"{f} {numbers.plain(d.golden[f])}->{numbers.plain(d.pipeline[f])}"
                                       for f in d.golden),
                             fmt_slice({k: v for k, v in d.dimensions.items()})] for d in s.sessions],
                           [True])
    for note in drill.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines) + "\n"
