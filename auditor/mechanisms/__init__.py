"""Mechanisms: which known way of going wrong reproduces a pipeline's numbers (docs/mechanisms.md).

Owns the mechanism catalogue (``catalogue.py`` + rules/mechanisms.yaml and the
overlays in rules/mechanisms/), the variant evaluator that computes golden as
if a mechanism had acted on a slice (``variant.py``) and the search that fits
every catalogued mechanism to a gap and names the one that reproduces it
(``search.py``). It runs on the connection the golden calculator left its
tables on and imports only the golden layer and the foundation.

The variant evaluator, for declared deviations and other callers::

    golden_under(con, mechanism, params=None, *, slice=None, dims, grain_minutes,
                 golden_grain_minutes=None, window_ms_from=None, window_ms_to=None,
                 options=None, rules=None, catalogue=None) -> pyarrow.Table

``mechanism`` is a catalogue name (``"late_events_dropped"``) or a
:class:`Mechanism`; ``params`` maps its parameter by reported name and unit
(``{"watermark_s": 120}``, ``{"share": 0.15}``); ``slice`` a ``{dim: value}``
mapping (None: every session). It needs golden's tables on ``con`` (a
``compute_golden`` run with the same ``options``/``rules``, at window length
``golden_grain_minutes``) and returns ``r_golden``'s shape: ``window_ms`` on
``grain_minutes``, the ``dims``, the nine components. :class:`SliceVariants`
is the lower level: one slice, many evaluations, each as a delta table.
"""
from auditor.mechanisms.catalogue import Catalogue, Mechanism, Param, load_catalogue
from auditor.mechanisms.variant import SliceVariants, golden_under

__all__ = ["Catalogue", "Mechanism", "Param", "SliceVariants", "golden_under", "load_catalogue"]
