"""Curated audit scenarios: generated inputs with known faults and the findings they must yield.

``build_scenario(name, out_dir)`` writes one scenario (events, both pipelines'
outputs, batch session rows, ``truth.json``, ``audit.yaml``) plus
``expected.json``: the findings a correct audit reports, one per (pipeline,
metric) a fault moves, with its direction and the slice that must rank first.
``fixtures/make_fixtures.py`` regenerates the committed copies; ``auditor
demo`` builds ``headline_ebvs`` at a larger size.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from auditor.synth.dataset import Dataset, write_dataset
from auditor.errors import ConfigError
from auditor.synth.faults import parse_fault
from auditor.tables import write_text


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    faults: tuple[str, ...]        # fault specs, [PIPELINE/]KIND:SLICE[:PARAM]
    sessions: int = 3000
    seed: int = 20250320


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("clean", "No faults: both pipelines publish exactly the golden numbers; the audit "
             "passes with zero findings.", ()),
    Scenario("headline_ebvs", "Batch EBVS about 8% above golden: the batch pipeline loses "
             "first_frame events from a share of Fire TV sessions on player 4.0 (a version "
             "Android TV and Android phones run too), which turn into exits before video start.",
             ("batch/missing_first_frame:device=firetv&player_version=4.0:0.15",)),
    Scenario("streaming_watermark", "The streaming pipeline's watermark drops every event "
             "that arrives more than 120 s late, losing the tails of sessions that reconnect "
             "later (most of them on mobile devices). A declared 120-s watermark "
             "(docs/deviations.md) reproduces it exactly.",
             ("streaming/late_events_dropped:*:120",)),
    Scenario("seek_rebuffering", "The batch pipeline ignores seek events from web player 8.6, "
             "so buffering after seeks counts as rebuffering.",
             ("batch/seek_stall_as_rebuffering:device=web&player_version=8.6",)),
    Scenario("preroll_exits", "The batch pipeline counts the first pre-roll ad as the video "
             "start on smart TVs, so exits during pre-roll ads are not EBVS.",
             ("batch/preroll_exit_not_ebvs:device=smart_tv",)),
    Scenario("duplicates", "The batch pipeline does not deduplicate redelivered attempts from "
             "Brazil, counting those sessions twice.",
             ("batch/duplicates_not_removed:country=br",)),
    Scenario("two_faults", "Two pipelines, two faults: streaming drops late iOS events; batch "
             "counts start failures on the edgio CDN as EBVS.",
             ("streaming/late_events_dropped:device=ios:60", "batch/fatal_error_as_ebvs:cdn=edgio")),
)}


def expected_findings(dataset: Dataset) -> dict:
    """The findings a correct audit reports for a written dataset, from its truth.json."""
    findings = []
    for fault in dataset.truth["faults"]:
        for rank, effect in enumerate(fault["effect"]):
            if effect["direction"] in (None, "none"):
                continue
            findings.append({
                "pipeline": fault["pipeline"], "metric": effect["metric"],
                "direction": effect["direction"], "primary": rank == 0,
                "golden": effect["golden"], "candidate": effect["candidate"],
                "rel_diff": effect["rel_diff"], "top_slice": fault["slice"] or None,
                "fault": fault["spec"],
            })
    return {"status": "fail" if findings else "pass", "findings": findings}


def build_scenario(name: str, out_dir: str | Path, *, sessions: int | None = None,
                   seed: int | None = None) -> Dataset:
    """Write scenario ``name`` into ``out_dir`` (created), with ``expected.json``."""
    if name not in SCENARIOS:
        raise ConfigError(f"unknown scenario {name!r}", hint="scenarios: " + ", ".join(SCENARIOS))
    s = SCENARIOS[name]
    faults = [parse_fault(spec) for spec in s.faults]
    dataset = write_dataset(out_dir, sessions=s.sessions if sessions is None else sessions,
                            seed=s.seed if seed is None else seed, faults=faults)
    expected = {"scenario": name, "description": s.description, **expected_findings(dataset)}
    write_text(Path(out_dir) / "expected.json", json.dumps(expected, indent=2) + "\n")
    return dataset
