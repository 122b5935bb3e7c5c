"""Synthetic telemetry with known faults: the demo, the fixtures and the benchmarks.

Owns the traffic model (:mod:`.traffic`), the raw-event generator
(:mod:`.generate`), the fault catalogue (:mod:`.faults`), the simulated
streaming and batch pipelines (:mod:`.simulate`), a dataset on disk with its
``truth.json`` (:mod:`.dataset`), the curated scenarios (:mod:`.scenarios`)
and ``auditor demo`` (:mod:`.demo`). It is the top layer below the CLI: it
may use everything else, and nothing but the CLI imports it.
"""
from auditor.synth.generate import generate_events, write_events
from auditor.synth.scenarios import build_scenario

__all__ = ["build_scenario", "generate_events", "write_events"]
