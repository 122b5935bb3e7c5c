"""The scheduled report: one self-contained HTML page (and its JSON) for a period of the history.

``build_report`` reads the store into a plain, JSON-ready model (what
``--json FILE`` writes); ``render_report_html`` lays it out with inline SVG
charts (``charts.py``) in ``auditor/templates/history.html.j2``: no script, no
network, the run report's number formats and colours. For the period:

- the headline: open findings, new and resolved this period, the longest-running;
- per pipeline x metric, golden vs the pipeline over the windows and the
  relative difference, with a marker where the definitions' fingerprint or
  the golden options changed;
- a status heatmap of windows x pipeline/metric;
- the findings with their lifecycle, first and last seen, worst window,
  slice, what moved, the mechanism when known, and acknowledgements;
- the data-quality checks' rates run by run;
- links to the runs' own reports where they were kept.
"""
from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from auditor.errors import ConfigError
from auditor.history.charts import heatmap, line_chart
from auditor.history.lifecycle import load_history, now_ms
from auditor.history.store import SCHEMA_VERSION, Store
from auditor.render import numbers
from auditor.render.templating import render_template
from functools import lru_cache

from auditor.windows import iso, parse_time
from auditor.windows import ms_iso as _ms_iso


@lru_cache(maxsize=65536)
def ms_iso(ms: int) -> str:
    """Window starts repeat across every series of a report: format each once."""
    return _ms_iso(ms)

REPORT_SCHEMA_VERSION = 1
_RELATIVE = re.compile(r"(?P<n>\d+)\s*(?P<unit>[hdw])")
_UNIT = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def parse_period(since: str | None, until: str | None, *, now: datetime) -> tuple[datetime, datetime]:
    """``--since 7d|36h|2w|DATE`` and ``--until DATE`` -> [since, until); default: the 7 days before now."""
    def when(text: str, key: str) -> datetime:
        try:
            return parse_time(text, key=key)
        except ConfigError as exc:
            raise ConfigError(exc.message, key=key, hint="e.g. 7d, 36h, 2w or 2025-03-20") from None
    end = when(until, "--until") if until else now
    if since is None:
        start = end - timedelta(days=7)
    elif m := _RELATIVE.fullmatch(since.strip()):
        start = end - int(m["n"]) * _UNIT[m["unit"]]
    else:
        start = when(since, "--since")
    if start >= end:
        raise ConfigError(f"the period is empty: --since {iso(start)} is not before --until {iso(end)}",
                          key="--since", hint="e.g. --since 7d, or --since 2025-03-01 --until 2025-03-15")
    return start, end


def build_report(store: Store, *, since: datetime, until: datetime, now: datetime | None = None,
                 out_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """The report's model for windows starting in [since, until), statuses as of ``now``;
    run-report links are made relative to ``out_dir`` (where the HTML goes)."""
    now = now or datetime.now(timezone.utc)
    s_ms, u_ms = now_ms(since), now_ms(until)
    rows = store.query(
        "SELECT w.pipeline, w.metric, w.window_ms, w.window_minutes, w.unit, w.status, w.published_rows,"
        " w.golden, w.candidate, w.rel_diff, w.late_arrival_ms, r.run_id, r.definitions_fingerprint,"
        " r.golden_options, r.report_dir FROM window_results w JOIN runs r ON r.run_id = w.run_id"
        " WHERE w.superseded_by IS NULL AND w.window_ms >= :since AND w.window_ms < :until"
        " ORDER BY w.pipeline, w.metric, w.window_ms", {"since": s_ms, "until": u_ms})
    at = now_ms(now)
    findings = [f for f in load_history(store, now=now, until_ms=u_ms)
                if any(s_ms <= w.window_ms < u_ms for w in f.windows)]
    windows = sorted({r["window_ms"] for r in rows})
    wmin = rows[0]["window_minutes"] if rows else 60
    defs = _definition_changes(rows)
    series: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        provisional = at < r["window_ms"] + r["window_minutes"] * 60_000 + (r["late_arrival_ms"] or 0)
        status = ("missing" if r["published_rows"] == 0 else r["status"])
        series[(r["pipeline"], r["metric"])].append({
            "window": ms_iso(r["window_ms"]), "window_ms": r["window_ms"], "status": status,
            "provisional": provisional, "golden": r["golden"], "candidate": r["candidate"],
            "rel_diff": r["rel_diff"], "unit": r["unit"]})
    open_ = [f for f in findings if f.open]
    new = [f for f in findings if s_ms <= f.first_seen_ms < u_ms]
    resolved = [f for f in findings if f.status == "resolved-fixed" and any(
        w.status == "resolved-fixed" and s_ms <= w.window_ms < u_ms for w in f.windows)]
    longest = max(open_, key=lambda f: (f.streak, -f.first_seen_ms), default=None)
    return {
        "schema_version": REPORT_SCHEMA_VERSION, "store_schema_version": SCHEMA_VERSION,
        "store": store.where, "as_of": iso(now), "since": iso(since), "until": iso(until),
        "window_minutes": wmin, "windows": len(windows),
        "first_window": ms_iso(windows[0]) if windows else None,
        "last_window": ms_iso(windows[-1]) if windows else None,
        "headline": {
            "open": len(open_), "new": len(new), "resolved": len(resolved),
            "acknowledged": sum(1 for f in open_ if f.ack_active),
            "longest_running": None if longest is None else {
                "id": longest.id, "identity": longest.identity, "streak": longest.streak,
                "first_seen": ms_iso(longest.first_seen_ms), "windows_affected": longest.windows_affected}},
        "definition_changes": [{"window": ms_iso(ms), "window_ms": ms, "what": what} for ms, what in defs],
        "series": [{"pipeline": p, "metric": m, "unit": pts[0]["unit"],
                    "failing_windows": sum(1 for x in pts if x["status"] == "fail"), "points": pts}
                   for (p, m), pts in sorted(series.items())],
        "findings": [_finding(f, s_ms, u_ms) for f in findings],
        "quality": _quality(store, s_ms, u_ms),
        "runs": _runs(store, rows, out_dir),
    }


def _finding(f, s_ms: int, u_ms: int) -> dict[str, Any]:
    d = f.to_dict()
    inside = [w for w in f.windows if s_ms <= w.window_ms < u_ms]
    d["windows"] = [w for w, ws in zip(d["windows"], f.windows) if s_ms <= ws.window_ms < u_ms]
    strip: list[dict[str, Any]] = []
    for w in inside:   # the lifecycle in the period, as runs of one status
        if strip and strip[-1]["status"] == w.status:
            strip[-1]["windows"] += 1
            strip[-1]["to"] = ms_iso(w.window_ms)
        else:
            strip.append({"status": w.status, "windows": 1, "from": ms_iso(w.window_ms), "to": ms_iso(w.window_ms)})
    d["lifecycle"] = strip
    d["worst"] = {**d["worst"], "window": ms_iso(d["worst"].pop("window_ms"))}
    return d


def _definition_changes(rows: Sequence[dict[str, Any]]) -> list[tuple[int, str]]:
    """Windows whose run used other definitions (fingerprint) or golden options than the window before."""
    per_window: dict[int, tuple[str | None, str | None]] = {}
    for r in rows:
        per_window.setdefault(r["window_ms"], (r["definitions_fingerprint"], r["golden_options"]))
    changes, before = [], None
    for ms in sorted(per_window):
        fp, opts = per_window[ms]
        if before is not None and (fp, opts) != before:
            what = [w for w, changed in (("definitions " + (fp or "?")[:15], fp != before[0]),
                                         ("golden options", opts != before[1])) if changed]
            changes.append((ms, " and ".join(what) + " changed"))
        before = (fp, opts)
    return changes


def _quality(store: Store, s_ms: int, u_ms: int) -> list[dict[str, Any]]:
    rows = store.query("SELECT q.check_name, q.rate, q.unexpected_count, q.denominator, q.status, "
                       "q.first_window_ms, r.recorded_ms FROM quality_counts q JOIN runs r ON r.run_id = q.run_id "
                       "WHERE q.first_window_ms >= :since AND q.first_window_ms < :until "
                       "ORDER BY q.check_name, q.first_window_ms, r.recorded_ms", {"since": s_ms, "until": u_ms})
    latest: dict[tuple[str, int], dict[str, Any]] = {}
    for r in rows:   # the last run of each window start speaks for it (reruns supersede)
        latest[(r["check_name"], r["first_window_ms"])] = r
    checks: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (name, ms), r in sorted(latest.items()):
        checks[name].append({"window": ms_iso(ms), "window_ms": ms, "rate": r["rate"], "status": r["status"],
                             "unexpected_count": r["unexpected_count"], "denominator": r["denominator"]})
    return [{"check": name, "points": pts, "max_rate": max((p["rate"] or 0) for p in pts),
             "failing_runs": sum(1 for p in pts if p["status"] not in ("pass", None))}
            for name, pts in sorted(checks.items())]


def _runs(store: Store, rows: Sequence[dict[str, Any]], out_dir: str | os.PathLike | None) -> list[dict[str, Any]]:
    """The runs behind the period's current rows, with a link to their kept report."""
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for r in rows:
        first[r["run_id"]] = min(first.get(r["run_id"], r["window_ms"]), r["window_ms"])
        last[r["run_id"]] = max(last.get(r["run_id"], r["window_ms"]), r["window_ms"])
    dirs = {r["run_id"]: r["report_dir"] for r in rows}
    found = {r["run_id"]: r for r in store.query("SELECT run_id, recorded_at, status, auditor_version FROM runs")}
    out = []
    for run_id in sorted(first, key=lambda k: (first[k], k)):
        link = None
        folder = dirs.get(run_id)
        if folder:
            for name in ("report.html", "summary.md", "report.json"):
                target = Path(folder) / name
                if target.is_file():
                    link = os.path.relpath(target, out_dir) if out_dir is not None else target.as_uri()
                    link = link.replace(os.sep, "/")
                    break
        info = found.get(run_id, {})
        out.append({"run_id": run_id, "recorded_at": info.get("recorded_at"), "status": info.get("status"),
                    "auditor_version": info.get("auditor_version"), "first_window": ms_iso(first[run_id]),
                    "last_window": ms_iso(last[run_id]), "report": link})
    return out


def render_report_json(model: dict[str, Any]) -> str:
    return json.dumps(model, indent=1, allow_nan=False, sort_keys=False) + "\n"


STATUS_LABELS = {"pass": "pass", "fail": "fail", "missing": "not published", "provisional": "provisional"}


def render_report_html(model: dict[str, Any]) -> str:
    """The page: the model plus the SVG geometry computed here (the template only prints)."""
    start, end = now_ms(parse_time(model["since"])), now_ms(parse_time(model["until"]))
    markers = [(c["window_ms"], c["what"]) for c in model["definition_changes"]]
    charts = []
    for s in model["series"]:
        xs = [p["window_ms"] for p in s["points"]]
        values = line_chart(xs, {"golden": [p["golden"] for p in s["points"]],
                                 s["pipeline"]: [p["candidate"] for p in s["points"]]},
                            start_ms=start, end_ms=end, markers=markers, unit=s["unit"])
        gap = line_chart(xs, {"relative difference": [p["rel_diff"] for p in s["points"]]},
                         start_ms=start, end_ms=end, markers=markers, height=70, percent=True)
        charts.append({"series": s, "levels": values, "gap": gap})
    grid = []
    for s in model["series"]:
        statuses = {p["window_ms"]: ("provisional" if p["provisional"] and p["status"] == "pass" else p["status"])
                    for p in s["points"]}
        grid.append((f"{s['pipeline']} / {s['metric']}", statuses))
    windows = sorted({p["window_ms"] for s in model["series"] for p in s["points"]})
    heat = heatmap(grid, windows, start_ms=start, end_ms=end, markers=markers,
                   window_len_ms=model["window_minutes"] * 60_000)
    quality = [{"check": q["check"], "max_rate": q["max_rate"], "failing_runs": q["failing_runs"],
                "chart": line_chart([p["window_ms"] for p in q["points"]],
                                                {"rate": [p["rate"] for p in q["points"]]},
                                                start_ms=start, end_ms=end, height=60, width=320, percent=True)}
               for q in model["quality"]]
    units = {(s["pipeline"], s["metric"]): s["unit"] for s in model["series"]}
    worst = {f["id"]: (numbers.value(f["worst"]["golden"], units.get((f["pipeline"], f["metric"]), "count")),
                       numbers.value(f["worst"]["candidate"], units.get((f["pipeline"], f["metric"]), "count")))
             for f in model["findings"]}
    return render_template("history.html.j2", report=model, charts=charts, heat=heat, quality=quality,
                           status_labels=STATUS_LABELS, worst=worst)


def write_scheduled_report(store: Store, *, since: datetime, until: datetime, now: datetime | None = None,
                           out: str | os.PathLike | None = None, json_out: str | os.PathLike | None = None
                           ) -> dict[str, Any]:
    """Build the model and write the HTML and/or JSON (each atomically, rendered before either is written)."""
    from auditor.tables import write_text
    out_dir = Path(out).resolve().parent if out is not None else None
    model = build_report(store, since=since, until=until, now=now, out_dir=out_dir)
    html = render_report_html(model) if out is not None else None
    text = render_report_json(model) if json_out is not None else None
    if html is not None:
        write_text(out, html)
    if text is not None:
        write_text(json_out, text)
    return model
