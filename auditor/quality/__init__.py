"""Data quality of the raw events (docs/quality.md).

Owns the expectation suite of ``rules/quality.yaml`` (:mod:`.rules`), the
counting stages on the golden tables (:mod:`.checks`), the verdict type
(:mod:`.outcome`) and the judges that turn counts into verdicts:
auditor's builtin one (:mod:`.judges`) or Great Expectations
(:mod:`.expectations`, the only module that imports GX). It may import the
golden calculator, never the comparison, rendering or synthetic-data code.
"""
from auditor.quality.checks import QualityReport, check_events, run_quality

__all__ = ["QualityReport", "check_events", "run_quality"]
