"""`auditor demo`: the headline scenario end to end, with nothing to configure.

Synthesizes telemetry in which the batch pipeline loses ``first_frame``
events from part of one device x player-version slice (batch EBVS about 8%
above golden), runs the full audit on it, writes the reports and checks that
the audit found exactly the injected fault.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from auditor.audit import run_audit
from auditor.config import load_config
from auditor.findings import AuditResult
from auditor.render import numbers, write_reports
from auditor.render.headline import explain_command
from auditor.render.json import report_dict
from auditor.synth.scenarios import build_scenario

SCENARIO = "headline_ebvs"
DEMO_SESSIONS = 10_000          # about 320k events: the whole demo runs in seconds


@dataclass(frozen=True)
class DemoOutcome:
    """What the demo did and whether the audit found the injected fault."""

    result: AuditResult
    expected: dict
    report_dir: Path
    events: int
    seconds: float
    found: bool
    top_slice: dict | None

    @property
    def exit_code(self) -> int:
        # a demo, not a gate: 0 when the audit found what was injected
        return 0 if self.found else 1


def run_demo(out_dir: str | Path, *, sessions: int = DEMO_SESSIONS, seed: int | None = None,
             progress: Callable[[str], None] | None = None) -> DemoOutcome:
    say = progress or (lambda _msg: None)
    out = Path(out_dir)
    data_dir, report_dir = out / "data", out / "report"
    t0 = time.perf_counter()
    say(f"generating the '{SCENARIO}' scenario ({sessions:,} sessions) in {data_dir}")
    dataset = build_scenario(SCENARIO, data_dir, sessions=sessions, seed=seed)
    expected = json.loads((data_dir / "expected.json").read_text(encoding="utf-8"))
    say("running the audit")
    result = run_audit(load_config(data_dir / "audit.yaml"), progress=say)
    write_reports(result, report_dir)
    found, top = check_findings(result, expected)
    return DemoOutcome(result=result, expected=expected, report_dir=report_dir,
                       events=dataset.events_rows,
                       seconds=time.perf_counter() - t0, found=found, top_slice=top)


def check_findings(result: AuditResult, expected: dict) -> tuple[bool, dict | None]:
    """Did the audit flag the injected pipeline and metric, with the injected slice on top?"""
    primary = next(f for f in expected["findings"] if f.get("primary"))
    metric = result.pipeline(primary["pipeline"]).metric(primary["metric"])
    if metric is None or not metric.failed or not metric.explanations:
        return False, None
    top = dict(metric.explanations[0]["slice"])
    return top == primary["top_slice"], top


def describe(outcome: DemoOutcome) -> str:
    """The short summary the command prints."""
    primary = next(f for f in outcome.expected["findings"] if f.get("primary"))
    metric = outcome.result.pipeline(primary["pipeline"]).metric(primary["metric"])
    total = metric.total if metric else None
    lines = [f"auditor demo: {outcome.events:,} events audited in {outcome.seconds:.1f} s",
             f"injected: {primary['fault']}"]
    if total is not None and total.golden is not None and total.candidate is not None:
        rel = total.candidate / total.golden - 1 if total.golden else None
        lines.append(f"found:    {primary['pipeline']} {primary['metric']} {numbers.value(total.candidate, metric.unit)} "
                     f"vs golden {numbers.value(total.golden, metric.unit)} ({numbers.signed_pct(rel)})")
    if outcome.top_slice is not None:
        share = metric.explanations[0].get("share_of_gap")
        where = numbers.slice_text(outcome.top_slice)
        lines.append(f"explained by: {where}" + (f" ({numbers.share(share)} of the gap)" if share is not None else ""))
        mechanism = metric.explanations[0].get("mechanism")
        if mechanism:
            lines.append(f"mechanism: {mechanism['summary']}")
    for v in outcome.result.verdicts:
        if v.off:
            lines.append(f"  {v.metric}: {v.summary}")
    lines.append("result:   " + ("the audit found the injected fault" if outcome.found
                                 else "the audit did NOT find the injected fault as expected"))
    if metric is not None and metric.failed:
        lines.append("next:     " + explain_command(report_dict(outcome.result), primary["pipeline"], primary["metric"]))
    lines.append(f"report:   {(outcome.report_dir / 'report.html').resolve()}")
    return "\n".join(lines) + "\n"
