"""The run history: every `auditor run --history` appended to a store, and what it tells over weeks.

Owns the store (``store.py``: a DuckDB file or a SQLAlchemy URL, versioned schema,
one transaction per run), what a run appends and how a finding is named
(``record.py``), each finding's lifecycle window by window (``lifecycle.py``),
acknowledgements and the run's exit code with them (``ack.py``), `auditor history`'s
text and JSON (``text.py``) and the scheduled report (``report.py``).
It sits above the renderers (it reuses their number formats) and below the CLI.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from auditor.findings import AuditResult
from auditor.history.ack import Acknowledged, acknowledge, decide_exit
from auditor.history.lifecycle import FindingHistory, load_acks, load_history
from auditor.history.record import FindingKey, record_run
from auditor.history.store import SCHEMA_VERSION, Store, open_store

__all__ = ["Acknowledged", "FindingHistory", "FindingKey", "Recorded", "SCHEMA_VERSION", "Store",
           "acknowledge", "load_history", "open_store", "record_audit", "record_run"]


@dataclass(frozen=True)
class Recorded:
    run_id: str
    store: str
    exit_code: int                  # the run's exit code with acknowledgements counted
    acknowledged: tuple[str, ...]   # identities of the acknowledged findings that did not fail it


def record_audit(location: str, result: AuditResult, *, late_arrival_minutes: Mapping[str, int] | None = None,
                 report_dir: str | None = None, now: datetime | None = None, run_id: str | None = None,
                 progress: Callable[[str], None] | None = None) -> Recorded:
    """Append ``result`` to the store at ``location`` (created or migrated first) and decide the
    run's exit code with the store's acknowledgements."""
    late = {name: minutes * 60_000 for name, minutes in (late_arrival_minutes or {}).items()}
    with open_store(location, write=True, progress=progress) as store:
        run_id = record_run(store, result, late_arrival_ms=late, report_dir=report_dir, now=now,
                            run_id=run_id)
        code, acked = decide_exit(result, load_acks(store), now=now)
        return Recorded(run_id, store.where, code, tuple(acked))
