"""Audit windows: parsing ``--window`` specs and splitting ranges into aligned windows.

A spec is an ISO-8601 interval, ``START/DURATION`` (``2025-03-20T14:00:00Z/PT1H``)
or ``START/END``; a bare ``START`` means one window of the audit length. A
range is split into consecutive windows of the audit length; every window is
``[k*W, (k+1)*W)`` since the Unix epoch (docs/definitions.md#window-grid), so a range must start
and end on that grid.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from auditor.errors import ConfigError

_DURATION = re.compile(
    r"P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?", re.IGNORECASE)
_SHORT = re.compile(r"(?P<n>\d+)\s*(?P<unit>min|m|h|d)", re.IGNORECASE)
_UNIT_MINUTES = {"min": 1, "m": 1, "h": 60, "d": 1440}


@dataclass(frozen=True, order=True)
class Window:
    """One audited window ``[start, end)`` in UTC."""

    start: datetime
    end: datetime

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp() * 1000)

    @property
    def end_ms(self) -> int:
        return int(self.end.timestamp() * 1000)

    @property
    def minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)

    def label(self) -> str:
        return f"{iso(self.start)}/{iso(self.end)}"


def iso(value: datetime) -> str:
    """UTC time as ``2025-03-20T14:00:00Z`` (milliseconds only when present)."""
    value = value.astimezone(timezone.utc)
    spec = "milliseconds" if value.microsecond else "seconds"
    return value.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def ms_iso(ms: int) -> str:
    """Epoch milliseconds as :func:`iso` text."""
    return iso(datetime.fromtimestamp(ms / 1000, tz=timezone.utc))


def parse_time(text: str, *, key: str = "window") -> datetime:
    """An ISO-8601 time; a time without zone is UTC."""
    if isinstance(text, datetime):
        value = text
    else:
        try:
            value = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ConfigError(f"not an ISO-8601 time: {text!r}", key=key,
                              hint="e.g. 2025-03-20T14:00:00Z") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def parse_minutes(value: object, *, key: str = "grain") -> int:
    """A length in whole minutes: an int (minutes), ``5m``/``5min``/``1h``/``1d`` or ``PT5M``."""
    if isinstance(value, bool):
        raise ConfigError(f"not a length of time: {value!r}", key=key, hint="e.g. 60, 5m, 1h or PT1H")
    if isinstance(value, int):
        minutes = value
    else:
        text = str(value).strip()
        short = _SHORT.fullmatch(text)
        iso_match = _DURATION.fullmatch(text) if text.upper().startswith("P") else None
        if short:
            minutes = int(short["n"]) * _UNIT_MINUTES[short["unit"].lower()]
        elif iso_match and any(iso_match.groupdict().values()):
            parts = {k: int(v or 0) for k, v in iso_match.groupdict().items()}
            seconds = (parts["weeks"] * 7 * 86400 + parts["days"] * 86400 + parts["hours"] * 3600
                       + parts["minutes"] * 60 + parts["seconds"])
            if seconds % 60:
                raise ConfigError(f"{text!r} is not a whole number of minutes", key=key,
                                  hint="e.g. PT5M or PT1H")
            minutes = seconds // 60
        elif text.isdigit():
            minutes = int(text)
        else:
            raise ConfigError(f"not a length of time: {text!r}", key=key,
                              hint="e.g. 60 (minutes), 5m, 1h, 1d or PT1H")
    if minutes <= 0:
        raise ConfigError(f"a length of time must be positive, got {value!r}", key=key,
                          hint="e.g. 60 (minutes), 5m, 1h, 1d or PT1H")
    return minutes


WINDOW_HINT = ("e.g. --window 2025-03-20T14:00:00Z/PT1H (START/ISO-8601 duration), or a range "
               "2025-03-20T00:00:00Z/2025-03-21T00:00:00Z")


def parse_window_spec(spec: str, window_minutes: int) -> list[Window]:
    """``START``, ``START/DURATION`` or ``START/END`` -> aligned windows of ``window_minutes``."""
    text = spec.strip()
    start_text, _, rest = text.partition("/")
    try:
        start = parse_time(start_text, key="--window")
        if not rest:
            end = start + timedelta(minutes=window_minutes)
        elif rest.strip().upper().startswith("P"):
            end = start + timedelta(minutes=parse_minutes(rest, key="--window"))
        else:
            end = parse_time(rest, key="--window")
    except ConfigError as exc:
        raise ConfigError(f"{spec!r}: {exc.message}", key="--window", hint=WINDOW_HINT) from None
    return split_range(start, end, window_minutes, what=spec)


def check_on_grid(start: datetime, window_minutes: int, *, what: str) -> None:
    """Windows are ``[k*W, (k+1)*W)`` since the Unix epoch: a start must be on that grid."""
    if int(start.timestamp() * 1000) % (window_minutes * 60_000):
        raise ConfigError(f"{what} is not on the {window_minutes}-minute grid since the Unix epoch "
                          "(docs/definitions.md#window-grid)",
                          hint=f"start on a multiple of {window_minutes} minutes, e.g. a full hour for 60, "
                               "or change window.minutes in audit.yaml")


def split_range(start: datetime, end: datetime, window_minutes: int, *, what: str) -> list[Window]:
    if end <= start:
        raise ConfigError(f"window {what!r} ends before it starts", key="--window", hint=WINDOW_HINT)
    try:
        check_on_grid(start, window_minutes, what=f"window {what!r}")
        check_on_grid(end, window_minutes, what=f"window {what!r}")
    except ConfigError as exc:
        raise ConfigError(exc.message, key="--window", hint=exc.hint) from None
    step = timedelta(minutes=window_minutes)
    out, t = [], start
    while t < end:
        out.append(Window(t, t + step))
        t += step
    return out


def merge_windows(groups: Iterable[Sequence[Window]]) -> tuple[Window, ...]:
    """All windows of all specs, sorted, each once."""
    return tuple(sorted({w for group in groups for w in group}))


def contiguous_runs(windows: Sequence[Window]) -> list[tuple[Window, ...]]:
    """Group sorted windows into runs without gaps (one golden pass per run)."""
    runs: list[list[Window]] = []
    for w in windows:
        if runs and runs[-1][-1].end == w.start:
            runs[-1].append(w)
        else:
            runs.append([w])
    return [tuple(r) for r in runs]
