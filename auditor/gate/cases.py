"""Definition cases carried by a rules folder (``cases/*.yaml``), run under head.

The format is the one of the project's own golden cases (tests/cases/):

    - id: short_exit_is_ebvs
      rule: "an exit before the first frame is an EBVS, however short"
      events:                         # one session "s1", or {session_id: [...]}
        - [0, attempt]                # [t ms after `base`, event_type, {extra columns}]
        - [900, end]
      expect:                         # session_id -> facts (unlisted: 0; attempt: 1); null = no row
        s1: {ebvs: 1}
      options: {ebvs_min_wait_ms: 0}  # optional: overrides of the folder's options.yaml
      aggregates: [...]               # optional: expected canonical rows

A case that fails under head fails the gate, unless the same change edits the
case: then head's version is what must pass, and the output shows the old
and new expectations side by side.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import duckdb
import pyarrow as pa

from auditor.errors import ConfigError
from auditor.golden import GoldenOptions, compute_golden
from auditor.golden.sqlfiles import RulesFolder
from auditor.yamldoc import load_yaml

CASE_KEYS = ("id", "rule", "events", "expect", "options", "window_minutes", "dims", "base", "aggregates")
DEFAULT_BASE = "2025-03-20T14:00:00Z"
DEFAULT_ATTRS = {"cdn": "c1", "device": "web"}
FACTS = ("attempt", "started", "ebvs", "vsf", "vpf", "vst_ms", "play_ms", "stall_ms", "bitrate_kbps_ms")
COMPONENTS = ("attempts", "plays", "ebvs", "vsf", "vpf", "vst_ms_sum", "play_ms", "stall_ms",
              "bitrate_kbps_ms")
_TS = pa.timestamp("ms", tz="UTC")
_COLUMNS = {"event_id": pa.string(), "session_id": pa.string(), "seq": pa.int64(), "ts": _TS,
            "received_at": _TS, "event_type": pa.string(), "bitrate_kbps": pa.int64(),
            "error_code": pa.string(), "fatal": pa.bool_(), "end_reason": pa.string()}


def iso_ms(text: str) -> int:
    value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return int(value.timestamp() * 1000)


@dataclass(frozen=True)
class Case:
    id: str
    file: str        # relative path in the rules folder
    where: str       # file:line
    data: Mapping[str, Any]


def load_cases(rules: RulesFolder) -> dict[str, Case]:
    """Every case of ``rules``'s cases/*.yaml by id (a repeated id is an error)."""
    out: dict[str, Case] = {}
    for rel in rules.files():
        if not (rel.startswith("cases/") and rel.endswith((".yaml", ".yml"))):
            continue
        doc = load_yaml(rules.path(rel), what="definition cases file")
        items = doc.data or []
        if not isinstance(items, list):
            raise doc.error((), "a cases file is a list of cases", "see docs/gate.md#definition-cases")
        for i, case in enumerate(items):
            if not isinstance(case, Mapping):
                raise doc.error((i,), "a case is a mapping with id, events and expect")
            doc.check_keys((i,), case, CASE_KEYS, required=("id", "events", "expect"))
            cid = str(case["id"])
            if cid in out:
                raise doc.error((i, "id"), f"case id {cid!r} is used twice (also {out[cid].where})")
            out[cid] = Case(cid, rel, doc.where((i,)), case)
    return out


def build_events(case: Mapping[str, Any], prefix: str = "") -> list[dict]:
    """The case's raw events as dicts, ``ts``/``received_at`` in epoch ms (session ids
    prefixed with ``prefix``). The project's own golden cases (tests/cases/) use it too."""
    base = iso_ms(case.get("base", DEFAULT_BASE))
    sessions = case["events"]
    if isinstance(sessions, list):
        sessions = {"s1": sessions}
    rows = []
    for sid, events in sessions.items():
        for pos, item in enumerate(events):
            t, kind, extra = (list(item) + [{}])[:3]
            event = {"session_id": f"{prefix}{sid}", "seq": pos, "event_type": kind,
                     "ts": None if t is None else base + t,
                     "received_at": None if t is None else base + t + 100, **DEFAULT_ATTRS}
            for key, value in (extra or {}).items():
                event[key] = value + base if key == "received_at" and value is not None else value
            event.setdefault("event_id", None if event["seq"] is None else f"e{event['seq']}")
            rows.append(event)
    return rows


def events_table(rows: list[dict], dims: tuple[str, ...]) -> pa.Table:
    columns = {**_COLUMNS, **{d: pa.string() for d in dims if d not in _COLUMNS}}
    return pa.table({n: pa.array([r.get(n) for r in rows], type=t) for n, t in columns.items()})


def _expected_sessions(case: Mapping[str, Any], dims: tuple[str, ...], short: bool) -> list[dict]:
    window_ms = int(case.get("window_minutes", 60)) * 60_000
    default_window = iso_ms(case.get("base", DEFAULT_BASE)) // window_ms * window_ms
    facts = list(FACTS[:3]) + (["ebvs_short"] if short else []) + list(FACTS[3:])
    rows = []
    for sid, given in sorted(case["expect"].items()):
        if given is None:
            continue
        given = dict(given or {})
        window = given.pop("window_start", None)
        row = {"session_id": str(sid), "window_start": iso_ms(window) if window else default_window,
               **{d: given.pop(d, DEFAULT_ATTRS.get(d)) for d in dims},
               **{f: given.pop(f, 1 if f == "attempt" else 0) for f in facts}}
        if given:
            raise ConfigError(f"unknown expected fact(s) {sorted(given)} in case {case['id']}")
        rows.append(row)
    return rows


def _plain(table: pa.Table) -> list[dict]:
    rows = table.to_pylist()
    for row in rows:
        if row.get("window_start") is not None:
            row["window_start"] = int(row["window_start"].timestamp() * 1000)
    return rows


@dataclass(frozen=True)
class CaseResult:
    id: str
    file: str
    where: str
    status: str                          # pass | fail
    changed: bool                        # this change edits the case
    expected: Mapping[str, Any]          # head's expectations
    base_expected: Mapping[str, Any] | None   # the base's, when the change edits them
    actual: list[dict]                   # head's session facts
    message: str

    @property
    def failed(self) -> bool:
        return self.status == "fail"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "file": self.file, "where": self.where, "status": self.status,
                "changed": self.changed, "expected": dict(self.expected),
                "base_expected": None if self.base_expected is None else dict(self.base_expected),
                "actual": self.actual, "message": self.message}


_SEP = "\x1f"   # between a case id and its session ids when cases share one golden run


def _setup(case: Case, options: GoldenOptions) -> tuple[tuple[str, ...], int, GoldenOptions]:
    data = case.data
    try:
        opts = dataclasses.replace(options, **(data.get("options") or {}))
    except TypeError as exc:
        raise ConfigError(f"case {case.id}: bad options: {exc}", file=case.where) from None
    return tuple(data.get("dims", ("cdn", "device"))), int(data.get("window_minutes", 60)), opts


def run_group(cases: list[Case], rules: RulesFolder, options: GoldenOptions,
              con: duckdb.DuckDBPyConnection, engine: str = "duckdb"
              ) -> dict[str, tuple[bool, list[dict], str]]:
    """Cases with the same dimensions, window length and options in one golden run (their
    sessions are independent) on ``engine``: case id -> (passes, head's session facts,
    what differs)."""
    dims, window_minutes, opts = _setup(cases[0], options)
    rows = [e for c in cases for e in build_events(c.data, prefix=c.id + _SEP)]
    result = compute_golden(events_table(rows, dims), dims=dims, window_minutes=window_minutes,
                            options=opts, with_sessions=True, con=con, rules=rules, engine=engine)
    facts: dict[str, list[dict]] = {c.id: [] for c in cases}
    for row in _plain(result.sessions):
        cid, _, sid = row["session_id"].partition(_SEP)
        facts[cid].append({**row, "session_id": sid})
    out = {}
    for case in cases:
        actual = sorted(facts[case.id], key=lambda r: r["session_id"])
        expected = _expected_sessions(case.data, dims, bool(opts.ebvs_min_wait_ms))
        problems = [] if actual == expected else [_difference(expected, actual)]
        if "aggregates" in case.data:   # such a case runs alone: the aggregate is its own
            if _plain(result.aggregates) != _expected_aggregates(case.data, dims, opts):
                problems.append("aggregates differ from the expected rows")
        out[case.id] = (not problems, actual, "; ".join(problems))
    return out


def _expected_aggregates(data: Mapping[str, Any], dims: tuple[str, ...], opts: GoldenOptions) -> list[dict]:
    short = ["ebvs_short"] if opts.ebvs_min_wait_ms else []
    components = [*COMPONENTS[:3], *short, *COMPONENTS[3:]]
    window_ms = int(data.get("window_minutes", 60)) * 60_000
    default_window = iso_ms(data.get("base", DEFAULT_BASE)) // window_ms * window_ms
    want = []
    for given in data["aggregates"]:
        given = dict(given)
        window = given.pop("window_start", None)
        want.append({"window_start": iso_ms(window) if window else default_window,
                     **{d: given.pop(d, DEFAULT_ATTRS.get(d)) for d in dims},
                     **{c: given.pop(c, 0) for c in components}})
    return want


def _difference(expected: list[dict], actual: list[dict]) -> str:
    want = {r["session_id"]: r for r in expected}
    got = {r["session_id"]: r for r in actual}
    parts = []
    for sid in sorted(set(want) | set(got)):
        w, g = want.get(sid), got.get(sid)
        if w is None or g is None:
            parts.append(f"{sid}: expected {'no row' if w is None else 'a row'}, got "
                         f"{'no row' if g is None else 'a row'}")
            continue
        diffs = [f"{k} {w[k]} -> {g.get(k)}" for k in w if w[k] != g.get(k)]
        if diffs:
            parts.append(f"{sid}: " + ", ".join(diffs))
    return "; ".join(parts) or "rows differ"


def run_cases(head: RulesFolder, base: RulesFolder, options: GoldenOptions,
              con: duckdb.DuckDBPyConnection, engine: str = "duckdb") -> list[CaseResult]:
    """Head's cases under head's definitions on ``engine`` (where the gate runs golden: a
    case checks the definitions as that engine computes them), each marked changed when
    the base's differs."""
    head_cases, base_cases = load_cases(head), load_cases(base)
    groups: dict[tuple, list[Case]] = {}
    for case in head_cases.values():
        dims, minutes, opts = _setup(case, options)
        key = (case.id,) if "aggregates" in case.data else (dims, minutes, opts)
        groups.setdefault(key, []).append(case)
    outcome = {cid: r for group in groups.values() for cid, r in run_group(group, head, options, con, engine).items()}
    out = []
    for cid, case in head_cases.items():
        ok, actual, problem = outcome[cid]
        old = base_cases.get(cid)
        changed = old is None or _case_body(old.data) != _case_body(case.data)
        out.append(CaseResult(
            id=cid, file=case.file, where=case.where, status="pass" if ok else "fail", changed=changed,
            expected=case.data["expect"],
            base_expected=old.data["expect"] if old is not None and changed else None,
            actual=actual, message="passes under head" if ok else f"fails under head: {problem}"))
    return out


def _case_body(data: Mapping[str, Any]) -> dict:
    return {k: v for k, v in data.items() if k != "rule"}
