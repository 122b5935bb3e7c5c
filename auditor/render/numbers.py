"""The one number-format policy of every view (report.html, summary.md, junit.xml,
`auditor explain`, the gate's reports): a number a person reads is written here.

- **Units from the metric catalogue** (rules/metrics.yaml): a ``ratio`` is a
  percentage and its differences are percentage points (``pp``); ``ms``,
  ``kbps`` and ``minutes`` carry their unit; a ``count`` is a plain number.
  Values are already in metric units (``play_minutes`` divided by its
  ``divisor``); numerators and denominators are component sums (``play_ms``)
  and are labelled with their component's name by the caller.
- **Thousands separators** on every number of 1,000 or more.
- **Fixed significant digits**: ``SIG`` (4) for values, ``PCT_SIG`` (3) for
  percentages and shares, never fewer than the integer digits (77,284, not
  77,280); whole numbers stay whole.
- **No scientific notation**, however small or large.
- **Never ``null``**: a missing or undefined value is ``n/a``; callers that
  know why (a zero denominator) say so instead.
- **Shares outside 0-100% are explained** (:func:`share_note`): numerator and
  denominator moving in opposite directions, or a slice whose gap is larger
  than the whole because other slices offset it.

Pure functions of their arguments, no imports from the rest of auditor, so
every renderer (and the scheduled report) can share them.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

SIG = 4
PCT_SIG = 3
NA = "n/a"
MAX_DECIMALS = 12

# unit of the catalogue -> the suffix written after a value ("" for plain numbers)
UNIT_SUFFIX = {"count": "", "ms": " ms", "kbps": " kbps", "minutes": " min", "ratio": "%"}


def _finite(value: Any) -> float | int | None:
    """The value as a finite number, or None (None, NaN, inf, non-numbers)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def plain(value: Any, sig: int = SIG) -> str:
    """A number in positional notation: thousands separators, ``sig`` significant
    digits (never fewer than the integer digits), whole numbers without decimals,
    never scientific notation; ``n/a`` when there is no finite number."""
    x = _finite(value)
    if x is None:
        return NA
    if isinstance(x, int) or float(x).is_integer():
        return f"{int(x):,}"
    magnitude = math.floor(math.log10(abs(x)))
    decimals = min(MAX_DECIMALS, max(0, sig - 1 - magnitude))
    text = f"{Decimal(repr(x)):,.{decimals}f}"
    if text.strip("-0.") == "":   # not zero, but below MAX_DECIMALS: never a false "0"
        return "~0"
    return text


def signed(value: Any, sig: int = SIG) -> str:
    """:func:`plain` with an explicit sign (``+0`` for zero)."""
    text = plain(value, sig)
    return text if text in (NA, "~0") or text.startswith("-") else "+" + text


def _with(text: str, suffix: str) -> str:
    return text if text == NA else text + suffix


def pct(fraction: Any, sig: int = PCT_SIG) -> str:
    """A fraction as a percentage: 0.0814 -> ``8.14%``; ``n/a`` without a number."""
    x = _finite(fraction)
    return NA if x is None else _with(plain(x * 100, sig), "%")


def pct_setting(fraction: Any) -> str:
    """A configured rate (a threshold) as written, without false precision: 0.001 -> ``0.1%``."""
    x = _finite(fraction)
    if x is None:
        return NA
    text = f"{Decimal(repr(x)) * 100:,f}"
    return (text.rstrip("0").rstrip(".") if "." in text else text) + "%"


def signed_pct(fraction: Any, sig: int = PCT_SIG) -> str:
    x = _finite(fraction)
    return NA if x is None else _with(signed(x * 100, sig), "%")


def value(v: Any, unit: str, sig: int = SIG) -> str:
    """A metric value in its catalogue unit: ``9.104%``, ``2,296 ms``, ``77,284 min``."""
    if _finite(v) is None:
        return NA
    if unit == "ratio":
        return _with(plain(_finite(v) * 100, sig), "%")
    return _with(plain(v, sig), UNIT_SUFFIX.get(unit, f" {unit}"))


def delta(d: Any, unit: str, sig: int = SIG) -> str:
    """A difference of two values in the metric's unit: ``+0.7411 pp``, ``-644.7 min``."""
    x = _finite(d)
    if x is None:
        return NA
    if unit == "ratio":
        return _with(signed(x * 100, sig), " pp")
    return _with(signed(x, sig), UNIT_SUFFIX.get(unit, f" {unit}"))


def count(n: Any) -> str:
    """A whole number of things (rows, sessions, component sums): ``1,234``."""
    return plain(n)


def share(fraction: Any) -> str:
    """A share of a gap (1.0 = the whole gap): ``100%``, ``-3.2%``, ``412%``."""
    return pct(fraction)


def share_note(num_share: Any, den_share: Any = None) -> str | None:
    """Why a numerator/denominator split lies outside 0-100%, or None when it does not.

    The two parts add up to the slice's share of the gap; they fall outside 0-100%
    when the numerator and denominator pull the value in opposite directions."""
    n, d = _finite(num_share), _finite(den_share)
    if n is None or d is None or (0 <= n <= 1 and 0 <= d <= 1):
        return None
    return (f"numerator and denominator pull in opposite directions: the numerator alone "
            f"accounts for {pct(n)} of the gap, the denominator for {pct(d)}; "
            f"together {pct(n + d)}")


def gap_share_note(share_of_gap: Any) -> str | None:
    """Why a slice's share of the gap lies outside 0-100%, or None when it does not."""
    s = _finite(share_of_gap)
    if s is None or 0 <= s <= 1:
        return None
    if s > 1:
        return (f"this slice alone moves {pct(s)} of the gap: other slices move the other way "
                f"and offset {pct(s - 1)}")
    return "this slice moves against the overall gap (it offsets part of it)"


def slice_text(slice_: Mapping[str, Any]) -> str:
    """``device=firetv & player_version=4.0``; ``whole window`` for the empty slice; a
    missing value is ``(missing)``, never ``null``."""
    if not slice_:
        return "whole window"
    return " & ".join(f"{k}={'(missing)' if v is None else v}" for k, v in slice_.items())
