"""Hand-written golden cases (tests/cases/golden_cases.yaml), each run against both the SQL
golden calculator and the plain-Python reference: every rule and priority of docs/definitions.md."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

import reference
from auditor.gate.cases import build_events
from auditor.golden.calculator import compute_golden, connect
from docs_support import anchors
from golden_support import events_table, golden_options, iso_to_ms, sql_aggregates, sql_sessions

CASES_FILE = Path(__file__).parent / "cases" / "golden_cases.yaml"
DEFINITIONS = Path(__file__).resolve().parents[1] / "docs" / "definitions.md"
CASES = yaml.safe_load(CASES_FILE.read_text(encoding="utf-8"))
DEFAULT_BASE = "2025-03-20T14:00:00Z"
DEFAULT_DIMS = ("cdn", "device")
DEFAULT_ATTRS = {"cdn": "c1", "device": "web"}
CASE_KEYS = {"id", "rule", "events", "expect", "options", "window_minutes", "dims", "base",
             "aggregates"}


def options_of(case: dict) -> reference.Options:
    return reference.Options(**case.get("options", {}))


def expected_sessions(case: dict, dims: tuple[str, ...]) -> list[dict]:
    window_ms = case.get("window_minutes", 60) * 60_000
    default_window = iso_to_ms(case.get("base", DEFAULT_BASE)) // window_ms * window_ms
    facts = list(reference.FACTS)
    if options_of(case).ebvs_min_wait_ms:
        facts.insert(3, "ebvs_short")
    rows = []
    for sid, given in sorted(case["expect"].items()):
        if given is None:
            continue
        given = dict(given)
        window = given.pop("window_start", None)
        row = {"session_id": sid,
               "window_start": iso_to_ms(window) if window else default_window,
               **{d: given.pop(d, DEFAULT_ATTRS.get(d)) for d in dims},
               **{f: given.pop(f, 1 if f == "attempt" else 0) for f in facts}}
        assert not given, f"unknown expected fact(s) {sorted(given)} in case {case['id']}"
        rows.append(row)
    return rows


def expected_aggregates(case: dict, dims: tuple[str, ...]) -> list[dict]:
    window_ms = case.get("window_minutes", 60) * 60_000
    default_window = iso_to_ms(case.get("base", DEFAULT_BASE)) // window_ms * window_ms
    components = ["attempts", "plays", "ebvs", "vsf", "vpf", "vst_ms_sum", "play_ms",
                  "stall_ms", "bitrate_kbps_ms"]
    if options_of(case).ebvs_min_wait_ms:
        components.insert(3, "ebvs_short")
    rows = []
    for given in case["aggregates"]:
        given = dict(given)
        window = given.pop("window_start", None)
        row = {"window_start": iso_to_ms(window) if window else default_window,
               **{d: given.pop(d, DEFAULT_ATTRS.get(d)) for d in dims},
               **{c: given.pop(c, 0) for c in components}}
        assert not given, f"unknown expected component(s) {sorted(given)} in case {case['id']}"
        rows.append(row)
    return rows


def run_sql(case: dict, con):
    dims = tuple(case.get("dims", DEFAULT_DIMS))
    table = events_table(build_events(case), dims)
    result = compute_golden(table, dims=dims, window_minutes=case.get("window_minutes", 60),
                            options=golden_options(options_of(case)), with_sessions=True,
                            con=con)
    return sql_sessions(result), sql_aggregates(result)


def run_reference(case: dict, con=None):
    dims = tuple(case.get("dims", DEFAULT_DIMS))
    sessions = reference.compute_sessions(build_events(case), dims,
                                          window_minutes=case.get("window_minutes", 60),
                                          options=options_of(case))
    return sessions, reference.aggregate(sessions, dims)


IMPLEMENTATIONS = {"sql": run_sql, "reference": run_reference}


@pytest.fixture(scope="module")
def con():
    """One DuckDB connection for every case: also proves a connection can be reused."""
    connection = connect()
    yield connection
    connection.close()


def test_case_file_is_well_formed():
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    sections = anchors(DEFINITIONS.read_text(encoding="utf-8"))
    for case in CASES:
        assert set(case) <= CASE_KEYS, (case["id"], set(case) - CASE_KEYS)
        assert case.get("rule") and case.get("events") and case.get("expect"), case["id"]
        # the rule starts with the sections of docs/definitions.md it tests: "#a #b: text"
        cited = re.match(r"((?:#[\w-]+ ?)+): ", case["rule"])
        assert cited, f"case {case['id']}: rule must start with '#section: '"
        unknown = set(cited[1].replace("#", " ").split()) - sections
        assert not unknown, f"case {case['id']} cites {sorted(unknown)}, not headings of {DEFINITIONS}"


@pytest.mark.parametrize("impl", sorted(IMPLEMENTATIONS))
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_golden_case(case: dict, impl: str, con):
    dims = tuple(case.get("dims", DEFAULT_DIMS))
    sessions, aggregates = IMPLEMENTATIONS[impl](case, con)
    assert sessions == expected_sessions(case, dims), case["rule"]
    if "aggregates" in case:
        assert aggregates == expected_aggregates(case, dims), case["rule"]
