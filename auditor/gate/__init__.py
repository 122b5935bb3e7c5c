"""``auditor gate``: the CI gate on metric-definition changes (docs/gate.md).

Owns resolving the base and head rules folders (:mod:`.folders`: a git
revision read with ``git archive``, or a folder), the frozen corpus and its
content hashes (:mod:`.corpus`), the base-vs-head diff per metric, window and
slice (:mod:`.diff`, on the reconcile join and auditor.localize), the session
reclassification matrix (:mod:`.reclassify`), the declared-changes manifest
(:mod:`.changes`), the rules folder's definition cases (:mod:`.cases`), the
fault regression of the curated fixtures (:mod:`.regression`), the run
(:mod:`.run`) and its outputs (:mod:`.report`). The definition fingerprint
itself lives with the definitions (auditor.golden.fingerprint).

It sits above the comparison, rendering and synthetic-data layers and below
the CLI (tests/test_layers.py).
"""
from auditor.gate.report import gate_dict, render_json, render_markdown, write_gate_reports
from auditor.gate.run import GateResult, run_gate

__all__ = ["GateResult", "gate_dict", "render_json", "render_markdown", "run_gate", "write_gate_reports"]
