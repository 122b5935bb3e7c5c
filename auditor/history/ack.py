"""Acknowledgements: a known finding, its reason and how long it may stay open.

``auditor ack FINDING --reason TEXT [--until DATE]`` records one; FINDING is the
short id `auditor history` prints or the full identity
``pipeline/metric/dim=value&dim=value/direction``. An acknowledged finding stays
in the history and the reports, with its reason, but while the acknowledgement
holds it does not fail `auditor run`: the run exits 0 when every failing
metric's findings are acknowledged (and no blocking data-quality check fails).
An acknowledgement without ``--until`` holds until it is replaced; a later one
of the same finding replaces the earlier.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime, timezone

from auditor.errors import ConfigError, InputError
from auditor.findings import FAIL, PASS, AuditResult
from auditor.history.lifecycle import Ack, now_ms
from auditor.history.record import window_findings
from auditor.history.store import Store
from auditor.windows import iso


@dataclass(frozen=True)
class Acknowledged:
    id: str
    identity: str
    reason: str
    until: datetime | None


def acknowledge(store: Store, finding: str, reason: str, *, until: datetime | None = None,
                now: datetime | None = None) -> Acknowledged:
    """Record an acknowledgement of ``finding`` (id or identity), which must be in the store."""
    now = now or datetime.now(timezone.utc)
    if not reason.strip():
        raise ConfigError("an acknowledgement needs a reason", key="--reason",
                          hint='e.g. --reason "batch drops late first_frame events, fix in JIRA-123"')
    if until is not None and until <= now:
        raise ConfigError(f"--until {iso(until)} is in the past", key="--until",
                          hint="give a future date, e.g. --until 2025-04-30")
    rows = store.query("SELECT DISTINCT finding_id, pipeline, metric, slice, direction FROM findings")
    known = {r["finding_id"]: f"{r['pipeline']}/{r['metric']}/{r['slice']}/{r['direction']}" for r in rows}
    match = finding if finding in known else next((i for i, ident in known.items() if ident == finding), None)
    if match is None:
        close = difflib.get_close_matches(finding, list(known.values()) + list(known), n=1, cutoff=0.6)
        raise InputError(f"no finding {finding!r} in the history", file=store.where, key="FINDING",
                         hint=f"did you mean {close[0]!r}?" if close else
                         "`auditor history` lists the findings with their ids")
    with store.transaction():
        store.insert("acks", [{"finding_id": match, "identity": known[match], "reason": reason.strip(),
                               "until_ms": None if until is None else now_ms(until),
                               "recorded_at": iso(now), "recorded_ms": now_ms(now)}])
    return Acknowledged(match, known[match], reason.strip(), until)


def decide_exit(result: AuditResult, acks: dict[str, Ack], *, now: datetime | None = None
                ) -> tuple[int, list[str]]:
    """The run's exit code once acknowledgements are counted, and the acknowledged identities.

    Exit 0 when every failing metric's findings in this run hold an active acknowledgement
    and nothing else fails; otherwise the audit's own code."""
    if result.status == PASS:
        return 0, []
    at = now_ms(now)
    acked: list[str] = []
    for p in result.pipelines:
        for m in p.metrics:
            if m.status != FAIL:
                continue
            keys = {f.key for f in window_findings(p, m, result.windows)}
            held = [k for k in keys if k.id in acks and acks[k.id].active(at)]
            if not keys or len(held) < len(keys):
                return result.exit_code, []
            acked += sorted(k.identity for k in held)
    if not any(p.status == FAIL for p in result.pipelines):
        return result.exit_code, []        # a blocking data-quality check failed
    quality_failed = result.quality is not None and result.quality.get("status") == FAIL
    return (result.exit_code if quality_failed else 0), acked
