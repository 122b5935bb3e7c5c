"""Catalogue of pipeline faults and the ``[PIPELINE/]KIND:SLICE[:PARAM]`` syntax.

A fault is a property of a *pipeline*, never of the raw events: the raw events
are the truth every pipeline reads, and a faulty pipeline computes something
else from them. Each kind says how a real pipeline goes wrong in one of three
ways (``mechanism``):

- ``events``: the pipeline sees a different set of events for the sessions in
  the slice (it loses, ignores or fails to deduplicate some); its numbers are
  the golden calculator applied to that view.
- ``option``: the pipeline implements another definition (a golden option of
  docs/definitions.md#named-options) for the sessions in the slice.
- ``facts``: the pipeline sessionises correctly but derives or joins the
  per-session facts wrongly.

A slice is a conjunction ``dim=value&dim=value`` of session attributes (1-3
dimensions) or ``*`` for every session.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from auditor.errors import ConfigError

PIPELINES = ("streaming", "batch")


@dataclass(frozen=True)
class FaultKind:
    name: str
    mechanism: str                        # "events" | "option" | "facts"
    description: str
    # (metric id of docs/definitions.md#metric-catalogue, "up"|"down"), main one first
    moves: tuple[tuple[str, str], ...]
    pipeline: str = "batch"               # default pipeline when the spec names none
    param_name: str | None = None
    param_default: float | None = None
    param_doc: str = ""

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(m for m, _ in self.moves)


KINDS: dict[str, FaultKind] = {k.name: k for k in (
    FaultKind("missing_first_frame", "events",
              "The pipeline loses `first_frame` events from the slice (e.g. its parser rejects "
              "that SDK version's payload), so started sessions turn into exits before video start.",
              (("ebvs_rate", "up"), ("plays", "down"), ("play_minutes", "down")),
              param_name="share", param_default=1.0,
              param_doc="share of the slice's sessions affected (0-1]"),
    FaultKind("late_events_dropped", "events",
              "A streaming watermark: events received more than PARAM seconds after their client "
              "time are dropped, so sessions whose tail arrives late lose it (end, heartbeats, "
              "sometimes the first frame or the whole session).",
              (("play_minutes", "down"), ("attempts", "down"), ("plays", "down")), pipeline="streaming",
              param_name="watermark_s", param_default=120.0,
              param_doc="allowed lateness in seconds"),
    FaultKind("preroll_exit_not_ebvs", "option",
              "Exits during pre-roll ads are not counted as EBVS: the pipeline treats the first "
              "ad start as the video start (start_anchor=any_frame on the slice).",
              (("ebvs_rate", "down"), ("plays", "up"), ("video_start_time_ms", "down"))),
    FaultKind("duplicates_not_removed", "facts",
              "Redelivered events are not deduplicated: the pipeline joins session facts to "
              "attempt events, so a session whose attempt arrived twice is counted twice.",
              (("attempts", "up"), ("plays", "up"), ("play_minutes", "up"))),
    FaultKind("seek_stall_as_rebuffering", "events",
              "Seek events are ignored, so the buffering after a seek counts as rebuffering.",
              (("rebuffering_ratio", "up"),)),
    FaultKind("fatal_error_as_ebvs", "facts",
              "Sessions that failed to start with a fatal error are counted as exits before "
              "video start (the pipeline's EBVS is simply 'did not start').",
              (("ebvs_rate", "up"), ("vsf_rate", "down"))),
    FaultKind("events_after_end_counted", "events",
              "The pipeline does not stop a session at `end`: stray heartbeats after it add play "
              "time, and a first frame reported after an exit turns the EBVS into a play.",
              (("play_minutes", "up"), ("ebvs_rate", "down"))),
    FaultKind("ad_time_in_startup", "events",
              "Pre-roll ad time is not subtracted from video start time (the pipeline ignores "
              "ad events before the first frame).",
              (("video_start_time_ms", "up"),)),
    FaultKind("session_end_attribution", "option",
              "Sessions are attributed to the window in which they end, not the one in which "
              "they start (attribution=session_end on the slice).",
              (("attempts", "down"), ("plays", "down"), ("play_minutes", "down"))),
    FaultKind("sessions_lost", "facts",
              "A share of the slice's sessions never reaches the published table (a failed "
              "task, a missing partition).",
              (("attempts", "down"), ("plays", "down"), ("play_minutes", "down")),
              param_name="share", param_default=0.1,
              param_doc="share of the slice's sessions lost (0-1]"),
    FaultKind("short_exits_not_ebvs", "option",
              "Exits sooner than PARAM seconds after the attempt are not counted as EBVS "
              "(ebvs_min_wait_ms on the slice).",
              (("ebvs_rate", "down"),), param_name="min_wait_s", param_default=2.0,
              param_doc="minimum wait in seconds"),
    FaultKind("bitrate_in_bps", "facts",
              "Bitrate is summed in bits per second, not kilobits, for the slice.",
              (("avg_bitrate_kbps", "up"),)),
)}


@dataclass(frozen=True)
class Fault:
    """One injected fault: which pipeline, what kind, where, how strong."""
    pipeline: str
    kind: str
    slice: tuple[tuple[str, str], ...] = ()    # () means every session
    param: float | None = None

    @property
    def spec(self) -> FaultKind:
        return KINDS[self.kind]

    @property
    def value(self) -> float | None:
        """The parameter, or the kind's default."""
        return self.spec.param_default if self.param is None else self.param

    def label(self) -> str:
        where = "&".join(f"{d}={v}" for d, v in self.slice) or "*"
        text = f"{self.pipeline}/{self.kind}:{where}"
        return text if self.param is None else f"{text}:{self.param:g}"

    def to_json(self) -> dict:
        k = self.spec
        return {
            "pipeline": self.pipeline, "kind": self.kind, "mechanism": k.mechanism,
            "slice": dict(self.slice),
            "params": {} if k.param_name is None else {k.param_name: self.value},
            "metrics": {m: d for m, d in k.moves}, "description": k.description, "spec": self.label(),
        }


_SPEC = re.compile(r"^(?:(?P<pipeline>[a-z_]+)/)?(?P<kind>[a-z_]+):(?P<slice>[^:]+)(?::(?P<param>[^:]+))?$")


def parse_fault(text: str, dims: tuple[str, ...] | None = None) -> Fault:
    """Parse ``[PIPELINE/]KIND:SLICE[:PARAM]``, e.g. ``batch/missing_first_frame:device=roku&player_version=5.2:0.3``."""
    m = _SPEC.match(text.strip())
    if not m:
        raise ConfigError(f"cannot parse fault {text!r}", key="--fault",
                          hint="use [PIPELINE/]KIND:SLICE[:PARAM], e.g. batch/missing_first_frame:device=roku:0.5")
    kind = m["kind"]
    if kind not in KINDS:
        raise ConfigError(f"unknown fault kind {kind!r}", key="--fault",
                          hint="known kinds: " + ", ".join(sorted(KINDS)))
    pipeline = m["pipeline"] or KINDS[kind].pipeline
    if pipeline not in PIPELINES:
        raise ConfigError(f"unknown pipeline {pipeline!r} in fault {text!r}", key="--fault",
                          hint="pipelines: " + ", ".join(PIPELINES))
    return Fault(pipeline, kind, parse_slice(m["slice"], dims), _parse_param(kind, m["param"]))


def parse_slice(text: str, dims: tuple[str, ...] | None = None) -> tuple[tuple[str, str], ...]:
    """``*`` or ``dim=value&dim=value`` (1-3 distinct dimensions), as sorted pairs."""
    text = text.strip()
    if text == "*":
        return ()
    pairs = []
    for part in text.split("&"):
        dim, eq, value = part.partition("=")
        dim, value = dim.strip(), value.strip()
        if not eq or not dim or not value:
            raise ConfigError(f"bad slice term {part!r}", key="--fault",
                              hint="a slice is * or dim=value&dim=value, e.g. device=roku&player_version=5.2")
        if dims is not None and dim not in dims:
            raise ConfigError(f"unknown dimension {dim!r} in slice", key="--fault",
                              hint="dimensions: " + ", ".join(dims))
        pairs.append((dim, value))
    if len({d for d, _ in pairs}) != len(pairs) or not 1 <= len(pairs) <= 3:
        raise ConfigError(f"a slice names 1-3 distinct dimensions, got {text!r}", key="--fault",
                          hint="e.g. device=roku&player_version=5.2")
    return tuple(sorted(pairs))


def _parse_param(kind: str, text: str | None) -> float | None:
    k = KINDS[kind]
    if text is None:
        return None
    if k.param_name is None:
        raise ConfigError(f"fault kind {kind!r} takes no parameter", key="--fault",
                          hint="drop the last :PARAM; `auditor generate --help` lists the kinds")
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"parameter of {kind!r} must be a number ({k.param_doc}), got {text!r}",
                          key="--fault", hint="`auditor generate --help` lists the kinds and their parameters") from None
    if value <= 0 or (k.param_name == "share" and value > 1):
        raise ConfigError(f"parameter of {kind!r} out of range: {k.param_doc}", key="--fault",
                          hint="`auditor generate --help` lists the kinds and their parameters")
    return value


def describe_kinds() -> str:
    """One line per kind, for --help and the README."""
    lines = []
    for k in KINDS.values():
        param = f" PARAM={k.param_name} ({k.param_doc}, default {k.param_default:g})" if k.param_name else ""
        moves = ", ".join(f"{m} {'+' if d == 'up' else '-'}" for m, d in k.moves)
        lines.append(f"{k.name} [{k.pipeline}]:{param} moves {moves}")
    return "\n".join(lines)
