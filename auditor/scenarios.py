"""``from auditor.scenarios import build_scenario`` keeps working.

The curated scenarios live in :mod:`auditor.synth.scenarios`; this name stays
because the README's Python snippets (and users' scripts) import it from here.
"""
from auditor.synth.scenarios import build_scenario

__all__ = ["build_scenario"]
