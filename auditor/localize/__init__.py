"""Localization: the few slices that explain a metric's gap (docs/localization.md).

Owns the exact attribution of a gap to slices, numerator and denominator
(:mod:`.attribution`), the search entry point and its greedy fit
(:mod:`.search`), the exact-cover search used when golden is exact
(:mod:`.cover`) and the risk-based search for forecast expectations
(:mod:`.risk`). It works on plain tables of leaves and imports nothing of
the audit, the golden calculator or the renderers.
"""
from auditor.localize.search import Localization, localize

__all__ = ["Localization", "localize"]
