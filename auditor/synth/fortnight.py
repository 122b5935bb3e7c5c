"""A simulated fortnight of scheduled audits, appended to a run history.

Fourteen daily windows (2025-03-03 to 2025-03-16), each generated on its own
(events, what streaming and batch published) and audited the way a scheduler
would, one `auditor run --history` per day, recorded as of an hour after the
day ends. What happens, by day (:data:`PLAN`):

- 1-2: both pipelines are right;
- 3-6: batch loses first_frame events from part of the Roku sessions (batch
  EBVS too high): the finding is new on day 3 and recurs;
- 5: batch publishes nothing for the day: not-observed, not fixed (and the
  finding ``batch/<metric>/*/missing`` is new);
- 7-9: the batch fault is fixed (resolved-fixed);
- 9: the definitions change once (a tolerance is added in the audit's
  `rules:` folder, so the definitions' fingerprint moves);
- 10-12: the batch fault is back (regressed, then recurring);
- 11-13: part of the Android sessions' first_frame events reach streaming late,
  after its pass over the window (streaming EBVS too high);
- 13-14: batch is fixed again;
- 13 (rerun): after the late events arrived, day 13 is audited again and
  streaming is clean; streaming's late-arrival horizon (2 days) has not
  passed, so its finding is not-observed, not resolved.

``reports/history/regenerate.py`` writes the committed example report from it.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from auditor.synth.faults import parse_fault
from auditor.tables import write_text

START = datetime(2025, 3, 3, tzinfo=timezone.utc)
DAYS = 14
BATCH_FAULT = "batch/missing_first_frame:device=roku:0.6"
STREAMING_FAULT = "streaming/missing_first_frame:device=android:0.6"
DEFINITION_CHANGE_DAY = 9
STREAMING_LATE_ARRIVAL = "2d"


@dataclass(frozen=True)
class Day:
    n: int                           # 1..14
    batch_fault: bool = False
    batch_published: bool = True
    streaming_fault: bool = False
    rerun_clean: bool = False        # audited again later, after the late data arrived: streaming clean

    @property
    def start(self) -> datetime:
        return START + timedelta(days=self.n - 1)

    @property
    def label(self) -> str:
        return self.start.strftime("%Y-%m-%d")


PLAN: tuple[Day, ...] = tuple(Day(
    n, batch_fault=n in (3, 4, 5, 6, 10, 11, 12), batch_published=n != 5,
    streaming_fault=n in (11, 12, 13), rerun_clean=n == 13) for n in range(1, DAYS + 1))
# when the report is drawn: an hour after the last day ends
AS_OF = START + timedelta(days=DAYS, hours=1)


@dataclass(frozen=True)
class Fortnight:
    store: str
    as_of: datetime
    runs: tuple[str, ...]
    work: Path


def build_fortnight(work: str | os.PathLike, *, store: str | None = None, runs_dir: str | os.PathLike | None = None,
                    sessions: int = 1200, seed: int = 20250303,
                    progress: Callable[[str], None] | None = None) -> Fortnight:
    """Generate the fortnight under ``work`` and record every day's audit in ``store`` (default
    ``work/history.duckdb``); each run's summary.md is kept in ``runs_dir/DAY[-rerun]/``."""
    import pyarrow.parquet as pq
    import yaml

    from auditor.audit import run_audit
    from auditor.config import load_config
    from auditor.history import record_audit
    from auditor.render import render_markdown
    from auditor.synth.dataset import write_dataset

    say = progress or (lambda _msg: None)
    work = Path(work)
    store = store or str(work / "history.duckdb")
    rules_v2 = work / "rules-v2"
    rules_v2.mkdir(parents=True, exist_ok=True)
    write_text(rules_v2 / "tolerances.yaml",
               "# day 9: the team allows 0.1% on average bitrate (a definition change)\n"
               "version: 1\ndefault: exact\nmetrics:\n  avg_bitrate_kbps: {relative: 0.001}\n")
    run_ids = []
    for day in PLAN:
        passes = [(day.streaming_fault, day.label)]
        if day.rerun_clean:
            passes.append((False, day.label + "-rerun"))
        for k, (streaming_fault, name) in enumerate(passes):
            folder = work / name
            faults = [parse_fault(f) for f, on in ((BATCH_FAULT, day.batch_fault),
                                                   (STREAMING_FAULT, streaming_fault)) if on]
            say(f"[fortnight] {name}: generating" + (f" with {', '.join(f.label() for f in faults)}" if faults else ""))
            write_dataset(folder, sessions=sessions, seed=seed + day.n, faults=faults, start=day.start,
                          windows=1, window_minutes=1440, batch_sessions=False)
            if not day.batch_published:
                batch = pq.read_table(folder / "batch.parquet")
                pq.write_table(batch.slice(0, 0), folder / "batch.parquet")
            config = yaml.safe_load((folder / "audit.yaml").read_text(encoding="utf-8"))
            config["pipelines"]["streaming"]["late_arrival"] = STREAMING_LATE_ARRIVAL
            if day.n >= DEFINITION_CHANGE_DAY:
                config["rules"] = "../rules-v2"
            write_text(folder / "audit.yaml", yaml.safe_dump(config, sort_keys=False))
            audit_config = load_config(folder / "audit.yaml")
            result = run_audit(audit_config, per_window=True)
            recorded_at = day.start + timedelta(days=1, hours=1) + (timedelta(days=1) if k else timedelta())
            kept = None
            if runs_dir is not None:
                kept = Path(runs_dir) / name
                kept.mkdir(parents=True, exist_ok=True)
                # the work folder is temporary: kept reports name it as fortnight/
                write_text(kept / "summary.md", render_markdown(result).replace(str(work), "fortnight"))
            recorded = record_audit(store, result, report_dir=str(kept) if kept else None, now=recorded_at,
                                    late_arrival_minutes={p.name: p.late_arrival_minutes
                                                          for p in audit_config.pipelines},
                                    run_id=recorded_at.strftime("%Y%m%dT%H%M%SZ") + f"-{name}")
            run_ids.append(recorded.run_id)
            say(f"[fortnight] {name}: {result.status} -> {recorded.run_id}")
    return Fortnight(store=store, as_of=AS_OF, runs=tuple(run_ids), work=work)
