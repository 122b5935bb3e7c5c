"""``from auditor.generate import generate_events, write_events`` keeps working.

The generator lives in :mod:`auditor.synth.generate`; this name stays because
the README's Python snippets (and users' scripts) import it from here.
"""
from auditor.synth.generate import generate_events, write_events

__all__ = ["generate_events", "write_events"]
