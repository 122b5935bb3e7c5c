"""`auditor history`: the findings with their status, as aligned text or JSON."""
from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from auditor.history.lifecycle import FindingHistory
from auditor.history.store import SCHEMA_VERSION
from auditor.render.explain import table
from auditor.windows import iso, ms_iso


def _short(ms: int) -> str:
    return ms_iso(ms).replace(":00Z", "Z")


def render_history_text(findings: Sequence[FindingHistory], *, store: str, now: datetime) -> str:
    open_ = [f for f in findings if f.open]
    lines = [f"{store}: {len(findings)} finding{'s' if len(findings) != 1 else ''}, {len(open_)} open "
             f"(as of {iso(now)})"]
    if not findings:
        return "\n".join(lines) + "\n"
    rows = []
    for f in findings:
        status = f.status + (" (provisional)" if f.provisional else "")
        rows.append([f.id, status, f.streak, f.windows_affected, _short(f.first_seen_ms),
                     _short(f.last_seen_ms), f.identity])
    body = table(["id", "status", "streak", "windows", "first seen", "last seen", "finding"], rows,
                 numeric=[False, False, True, True])
    lines += [""] + body
    acked = [f for f in findings if f.ack is not None]
    if acked:
        lines += ["", "acknowledged:"]
        for f in acked:
            until = "" if f.ack.until_ms is None else f" until {ms_iso(f.ack.until_ms)}"
            state = "holds" if f.ack_active else "expired"
            lines.append(f"  {f.id} ({state}{until}): {f.ack.reason}")
    return "\n".join(lines) + "\n"


def render_history_json(findings: Sequence[FindingHistory], *, store: str, now: datetime) -> str:
    doc = {"schema_version": SCHEMA_VERSION, "store": store, "as_of": iso(now),
           "findings": [f.to_dict() for f in findings]}
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"
