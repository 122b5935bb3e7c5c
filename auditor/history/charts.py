"""Inline SVG geometry for the scheduled report: line charts and a status heatmap.

Everything is computed here (coordinates rounded to 0.1 px, paths as ``d``
strings); the template only prints it. Long series are bucketed to at most
:data:`MAX_COLUMNS` columns (a bucket shows its mean value, and for a status
its worst one), so 90 days of hourly windows make a chart as light as a week.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from auditor.render import numbers
from auditor.windows import ms_iso

MAX_COLUMNS = 360
STATUS_RANK = {"pass": 0, "provisional": 1, "missing": 2, "fail": 3}


def _bucket(n: int) -> int:
    return max(1, math.ceil(n / MAX_COLUMNS))


def _mean(values: Sequence[float | None]) -> float | None:
    real = [v for v in values if v is not None and math.isfinite(v)]
    return sum(real) / len(real) if real else None


def _path(points: Sequence[tuple[float, float | None]]) -> str:
    out, pen = [], False
    for x, y in points:
        if y is None:
            pen = False
            continue
        out.append(f"{'L' if pen else 'M'}{x:.1f} {y:.1f}")
        pen = True
    return " ".join(out)


def _ticks(lo: float, hi: float, n: int = 3) -> list[float]:
    if hi <= lo:
        return [lo]
    return [lo + (hi - lo) * k / (n - 1) for k in range(n)]


def line_chart(windows: Sequence[int], series: Mapping[str, Sequence[float | None]], *, start_ms: int,
               end_ms: int, markers: Sequence[tuple[int, str]] = (), width: int = 640, height: int = 120,
               unit: str = "count", percent: bool = False) -> dict[str, Any]:
    """One chart: a path per series over ``windows`` (ms), x from ``start_ms`` to ``end_ms``,
    y from the data's range, labelled in the metric's ``unit`` (auditor.render.numbers) or as
    percentages; ``markers`` are vertical lines (definition changes)."""
    pad_l, pad_r, pad_t, pad_b = 64, 8, 8, 18
    step = _bucket(len(windows))
    xs = [windows[i] for i in range(0, len(windows), step)]
    cols = {name: [_mean(vals[i:i + step]) for i in range(0, len(vals), step)] for name, vals in series.items()}
    real = [v for vals in cols.values() for v in vals if v is not None]
    lo, hi = (min(real), max(real)) if real else (0.0, 1.0)
    if percent or unit == "ratio":
        lo = min(lo, 0.0)
    if hi == lo:
        lo, hi = lo - (abs(lo) * 0.05 or 1.0), hi + (abs(hi) * 0.05 or 1.0)
    span_x = max(end_ms - start_ms, 1)
    plot_w, plot_h = width - pad_l - pad_r, height - pad_t - pad_b

    def x_of(ms: int) -> float:
        return pad_l + plot_w * (ms - start_ms) / span_x

    def y_of(v: float | None) -> float | None:
        return None if v is None else pad_t + plot_h * (1 - (v - lo) / (hi - lo))
    def fmt(v: float) -> str:
        return numbers.pct(v) if percent else numbers.value(v, unit)
    paths = [{"name": name, "d": _path([(x_of(x), y_of(v)) for x, v in zip(xs, vals)])}
             for name, vals in cols.items()]
    return {
        "width": width, "height": height, "left": pad_l, "right": width - pad_r, "top": pad_t,
        "bottom": height - pad_b, "paths": paths,
        "yticks": [{"y": round(y_of(v), 1), "label": fmt(_round(v))} for v in _ticks(lo, hi)],
        "xticks": [{"x": round(x_of(ms), 1), "label": ms_iso(ms)[:10]} for ms in (start_ms, end_ms)],
        "markers": [{"x": round(x_of(ms), 1), "label": label} for ms, label in markers
                    if start_ms <= ms <= end_ms],
    }


def _round(v: float) -> float:
    if v == 0 or not math.isfinite(v):
        return v
    digits = 3 - int(math.floor(math.log10(abs(v))))
    return round(v, max(digits, 0)) if digits > 0 else float(round(v))


def heatmap(rows: Sequence[tuple[str, Mapping[int, str]]], windows: Sequence[int], *, start_ms: int,
            end_ms: int, window_len_ms: int, width: int = 900, row_height: int = 14, markers: Sequence[tuple[int, str]] = ()
            ) -> dict[str, Any]:
    """Rows of statuses per window (pass | fail | missing | provisional), cells merged where a row
    keeps one status, worst status per bucket."""
    pad_l = 190
    step = _bucket(len(windows))
    buckets = [windows[i:i + step] for i in range(0, len(windows), step)]
    plot_w = width - pad_l - 8
    span_x = max(end_ms - start_ms, 1)

    def x_of(ms: int) -> float:
        return pad_l + plot_w * (ms - start_ms) / span_x
    out_rows = []
    for k, (label, statuses) in enumerate(rows):
        cells, run = [], None
        for b in buckets:
            found = [statuses[w] for w in b if w in statuses]
            status = max(found, key=lambda s: STATUS_RANK.get(s, 0)) if found else None
            x0, x1 = x_of(b[0]), x_of(b[-1] + window_len_ms)
            if run is not None and run["status"] == status:
                run["x1"] = x1
            else:
                if run is not None and run["status"] is not None:
                    cells.append(run)
                run = {"status": status, "x0": x0, "x1": x1}
        if run is not None and run["status"] is not None:
            cells.append(run)
        out_rows.append({"label": label, "y": k * row_height,
                         "cells": [{"status": c["status"], "x": round(c["x0"], 1),
                                    "w": round(max(c["x1"] - c["x0"], 0.5), 1)} for c in cells]})
    height = len(rows) * row_height + 18
    return {"width": width, "height": height, "left": pad_l, "row_height": row_height, "rows": out_rows,
            "bottom": len(rows) * row_height,
            "xticks": [{"x": round(x_of(ms), 1), "label": ms_iso(ms)[:10]} for ms in (start_ms, end_ms)],
            "markers": [{"x": round(x_of(ms), 1), "label": label} for ms, label in markers
                        if start_ms <= ms <= end_ms]}
