"""A finding's life over the windows: new, recurring, regressed, resolved-fixed, not-observed.

Statuses are drawn at read time from the store's current rows (superseded rows
are ignored), walking each finding's pipeline x metric windows in window order,
never in the order the runs were made: so backfills in any order, and reruns,
give the same history.

Per window of the finding's pipeline and metric, from its first sighting on:

- **new**: the first window it fails in;
- **recurring**: it fails again and was not resolved in between;
- **regressed**: it fails after a window that resolved it;
- **resolved-fixed**: the pipeline published the window, the window is final
  and the finding is not in it (the gap is closed);
- **not-observed**: the pipeline did not publish the window, or the window
  is still provisional: within the pipeline's late-arrival horizon
  (``pipelines.NAME.late_arrival`` in audit.yaml) its numbers can still
  move, so a finding that disappears from it (on a rerun, say) is not fixed.

A finding's current status is that of the last window audited; it is open
while that is new, recurring or regressed, or not-observed after one of them.
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import datetime, timezone
from typing import Any

from auditor.history.store import Store
from auditor.windows import ms_iso as _ms_iso


@lru_cache(maxsize=65536)
def ms_iso(ms: int) -> str:
    return _ms_iso(ms)

NEW, RECURRING, REGRESSED = "new", "recurring", "regressed"
RESOLVED, NOT_OBSERVED = "resolved-fixed", "not-observed"
STATUSES = (NEW, RECURRING, REGRESSED, RESOLVED, NOT_OBSERVED)
FAILING = (NEW, RECURRING, REGRESSED)


@dataclass(frozen=True)
class WindowStatus:
    window_ms: int
    status: str
    provisional: bool
    golden: float | None = None
    candidate: float | None = None


@dataclass(frozen=True)
class Ack:
    reason: str
    until_ms: int | None
    recorded_ms: int

    def active(self, now_ms: int) -> bool:
        return self.until_ms is None or now_ms < self.until_ms


@dataclass(frozen=True)
class FindingHistory:
    """One finding (pipeline, metric, slice, direction) and its status window by window."""

    id: str
    identity: str
    pipeline: str
    metric: str
    slice: str
    direction: str
    windows: tuple[WindowStatus, ...]
    window_minutes: int
    worst: Mapping[str, Any] = field(default_factory=dict)    # the window with the largest gap
    moved: str | None = None
    mechanism: str | None = None
    ack: Ack | None = None
    ack_active: bool = False

    @property
    def status(self) -> str:
        return self.windows[-1].status

    @property
    def provisional(self) -> bool:
        return self.windows[-1].provisional

    @property
    def open(self) -> bool:
        """Failing in its last window audited, or not observed since it last failed."""
        for w in reversed(self.windows):
            if w.status != NOT_OBSERVED:
                return w.status in FAILING
        return False

    @property
    def failing_windows(self) -> tuple[int, ...]:
        return tuple(w.window_ms for w in self.windows if w.status in FAILING)

    @property
    def first_seen_ms(self) -> int:
        return self.failing_windows[0]

    @property
    def last_seen_ms(self) -> int:
        return self.failing_windows[-1]

    @property
    def windows_affected(self) -> int:
        return len(self.failing_windows)

    @property
    def streak(self) -> int:
        """Failing windows since it was last resolved (not-observed windows neither count nor
        break it); 0 when it is resolved now."""
        n = 0
        for w in reversed(self.windows):
            if w.status == RESOLVED:
                break
            n += w.status in FAILING
        return n

    def status_at(self, window_ms: int) -> WindowStatus | None:
        return next((w for w in self.windows if w.window_ms == window_ms), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "identity": self.identity, "pipeline": self.pipeline, "metric": self.metric,
            "slice": self.slice, "direction": self.direction, "status": self.status,
            "provisional": self.provisional, "open": self.open,
            "first_seen": ms_iso(self.first_seen_ms), "last_seen": ms_iso(self.last_seen_ms),
            "windows_affected": self.windows_affected, "streak": self.streak,
            "worst": dict(self.worst), "moved": self.moved, "mechanism": self.mechanism,
            "ack": None if self.ack is None else {
                "reason": self.ack.reason, "active": self.ack_active,
                "until": None if self.ack.until_ms is None else ms_iso(self.ack.until_ms)},
            "windows": [{"window": ms_iso(w.window_ms), "status": w.status, "provisional": w.provisional}
                        for w in self.windows]}


def now_ms(now: datetime | None = None) -> int:
    return int((now or datetime.now(timezone.utc)).timestamp() * 1000)


def draw_lifecycle(window_rows: Iterable[Mapping[str, Any]], finding_rows: Iterable[Mapping[str, Any]],
                   *, now: int, acks: Mapping[str, Ack] | None = None) -> list[FindingHistory]:
    """Every finding's history from the current rows of ``window_results`` and ``findings``."""
    grid: dict[tuple[str, str], dict[int, Mapping[str, Any]]] = defaultdict(dict)
    for r in window_rows:
        grid[(r["pipeline"], r["metric"])][int(r["window_ms"])] = r
    by_finding: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in finding_rows:
        by_finding[r["finding_id"]].append(r)
    acks = acks or {}
    out = []
    for fid, rows in by_finding.items():
        first = rows[0]
        windows = grid.get((first["pipeline"], first["metric"]), {})
        seen = {int(r["window_ms"]): r for r in rows}
        statuses, state = [], None       # state: None (not yet seen) | "open" | "resolved"
        wm = int(next(iter(windows.values()))["window_minutes"]) if windows else 60
        for w in sorted(set(windows) | set(seen)):
            row = windows.get(w, {})
            provisional = now < w + int(row.get("window_minutes") or wm) * 60_000 + int(row.get("late_arrival_ms") or 0)
            if w in seen:
                status = NEW if state is None else REGRESSED if state == "resolved" else RECURRING
                state = "open"
                statuses.append(WindowStatus(w, status, provisional, seen[w]["golden"], seen[w]["candidate"]))
            elif state is None:
                continue
            elif row.get("published_rows") == 0 or provisional:
                statuses.append(WindowStatus(w, NOT_OBSERVED, provisional, row.get("golden"),
                                             row.get("candidate")))
            else:
                state = "resolved"
                statuses.append(WindowStatus(w, RESOLVED, provisional, row.get("golden"), row.get("candidate")))
        worst_row = max(rows, key=lambda r: (_gap(r), -int(r["window_ms"])))
        detail = _detail(worst_row)
        ack = acks.get(fid)
        out.append(FindingHistory(
            id=fid, identity=f"{first['pipeline']}/{first['metric']}/{first['slice']}/{first['direction']}",
            pipeline=first["pipeline"], metric=first["metric"], slice=first["slice"],
            direction=first["direction"], windows=tuple(statuses), window_minutes=wm,
            worst={"window_ms": int(worst_row["window_ms"]), "golden": worst_row["golden"],
                   "candidate": worst_row["candidate"], "share_of_gap": worst_row.get("share_of_gap")},
            moved=worst_row.get("moved"), mechanism=detail.get("mechanism"), ack=ack,
            ack_active=ack is not None and ack.active(now)))
    out.sort(key=lambda f: (not f.open, f.pipeline, f.metric, -f.windows_affected, f.identity))
    return out


def _gap(row: Mapping[str, Any]) -> float:
    g, c = row.get("golden"), row.get("candidate")
    if g is None or c is None:
        return float("inf")
    return abs(c - g) / abs(g) if g else abs(c - g)


def _detail(row: Mapping[str, Any]) -> dict[str, Any]:
    try:
        value = json.loads(row.get("detail") or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def load_acks(store: Store) -> dict[str, Ack]:
    """The latest acknowledgement of each finding."""
    acks: dict[str, Ack] = {}
    for r in store.query("SELECT finding_id, reason, until_ms, recorded_ms FROM acks "
                         "ORDER BY recorded_ms, finding_id"):
        acks[r["finding_id"]] = Ack(r["reason"], r["until_ms"], r["recorded_ms"])
    return acks


def load_history(store: Store, *, now: datetime | None = None, pipelines: Sequence[str] = (),
                 since_ms: int | None = None, until_ms: int | None = None) -> list[FindingHistory]:
    """Every finding in the store with its lifecycle as of ``now`` (default: the clock).
    ``since_ms``/``until_ms`` bound the windows considered (the lifecycle up to ``until_ms``;
    findings without a status in [since, until) are left out)."""
    where, params = ["superseded_by IS NULL"], {}
    if until_ms is not None:
        where.append("window_ms < :until")
        params["until"] = until_ms
    cond = " AND ".join(where)
    # only the pipeline x metric series that hold a finding: a finding's statuses need no other
    windows = store.query(f"SELECT pipeline, metric, window_ms, window_minutes, published_rows, "
                          f"late_arrival_ms, golden, candidate FROM window_results WHERE {cond} AND "
                          f"(pipeline, metric) IN (SELECT DISTINCT pipeline, metric FROM findings "
                          f"WHERE {cond})", params)
    findings = store.query(f"SELECT finding_id, pipeline, metric, slice, direction, window_ms, golden, "
                           f"candidate, share_of_gap, moved, detail FROM findings WHERE {cond} "
                           f"ORDER BY window_ms", params)
    out = draw_lifecycle(windows, findings, now=now_ms(now), acks=load_acks(store))
    if pipelines:
        out = [f for f in out if f.pipeline in pipelines]
    if since_ms is not None:
        out = [f for f in out if f.windows and f.windows[-1].window_ms >= since_ms]
    return out
