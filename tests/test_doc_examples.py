"""The worked examples of docs/definitions.md, read from the page and run against both the
SQL golden calculator and the plain-Python reference, so an example on the page cannot be
wrong. Each example is an HTML comment ``<!-- example {id: ..., options: {...}} -->`` (a YAML
flow mapping) followed by an event table and a fact table, and optionally the aggregate
row(s) (``aggregate: true``) and a metric table (``metrics: true``); the page's section
"How to read the examples" says how the tables are read."""
from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import yaml

from auditor.golden import connect
from auditor.golden.metrics import catalogue
from test_golden_cases import (CASE_KEYS, expected_aggregates, expected_sessions, run_reference,
                               run_sql)

DOC = Path(__file__).resolve().parents[1] / "docs" / "definitions.md"
MARKER = re.compile(r"^<!-- example (\{.*\}) -->$")
EXAMPLE_KEYS = {"id", "options", "window_minutes", "aggregate", "metrics"}


def _cell(text: str):
    text = text.strip().strip("`")
    if text == "":
        return ...  # not given: the case default
    if text == "null":
        return None
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return text


def _tables(lines: list[str]) -> list[list[dict]]:
    """The markdown tables in ``lines``, each as a list of {header: cell} rows."""
    tables, current = [], None
    for line in lines:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if current is None:
                current = {"header": cells, "rows": []}
            elif not all(re.fullmatch(r":?-+:?", c) for c in cells):
                current["rows"].append(dict(zip(current["header"], cells, strict=True)))
        elif current is not None:
            tables.append(current["rows"])
            current = None
    if current is not None:
        tables.append(current["rows"])
    return tables


def parse_examples(text: str) -> list[dict]:
    """Every example of the page as {meta, events, facts, aggregate, metrics}."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if MARKER.match(line)]
    examples = []
    for n, start in enumerate(starts):
        meta = yaml.safe_load(MARKER.match(lines[start])[1])
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        # an example's tables end at the next example or the next heading
        block = lines[start + 1:end]
        heading = next((i for i, line in enumerate(block) if line.startswith("#")), len(block))
        tables = _tables(block[:heading])
        wanted = 2 + bool(meta.get("aggregate")) + bool(meta.get("metrics"))
        assert len(tables) == wanted, f"example {meta.get('id')}: {len(tables)} tables, expected {wanted}"
        examples.append({"meta": meta, "events": tables[0], "facts": tables[1],
                         "aggregate": tables[2] if meta.get("aggregate") else None,
                         "metrics": tables[-1] if meta.get("metrics") else None})
    return examples


def to_case(example: dict) -> dict:
    """An example as a case of tests/cases/golden_cases.yaml (same defaults, same runner)."""
    meta = example["meta"]
    events: dict[str, list] = {}
    for row in example["events"]:
        values = {k: _cell(v) for k, v in row.items()}
        sid = values.pop("session", "s1")
        t, kind = values.pop("t"), values.pop("event_type")
        extra = {k: v for k, v in values.items() if v is not ...}
        events.setdefault(sid, []).append([t, kind, extra])
    expect = {}
    for row in example["facts"]:
        values = {k: _cell(v) for k, v in row.items()}
        sid = values.pop("session")
        expect[sid] = {k: v for k, v in values.items() if v is not ...}
    case = {"id": meta["id"], "rule": f"docs/definitions.md example {meta['id']}",
            "events": events, "expect": expect}
    for key in ("options", "window_minutes"):
        if key in meta:
            case[key] = meta[key]
    if example["aggregate"] is not None:
        case["aggregates"] = [{k: _cell(v) for k, v in row.items()} for row in example["aggregate"]]
    assert set(case) <= CASE_KEYS
    return case


EXAMPLES = parse_examples(DOC.read_text(encoding="utf-8"))
IDS = [e["meta"]["id"] for e in EXAMPLES]


@pytest.fixture(scope="module")
def con():
    connection = connect()
    yield connection
    connection.close()


def test_the_page_has_examples_with_unique_ids_and_known_keys():
    assert len(EXAMPLES) >= 20
    assert len(IDS) == len(set(IDS)), "example ids must be unique"
    for example in EXAMPLES:
        assert set(example["meta"]) <= EXAMPLE_KEYS, example["meta"]


@pytest.mark.parametrize("impl", ["sql", "reference"])
@pytest.mark.parametrize("example", EXAMPLES, ids=IDS)
def test_example_facts(example: dict, impl: str, con):
    case = to_case(example)
    dims = ("cdn", "device")
    sessions, aggregates = (run_sql(case, con) if impl == "sql" else run_reference(case))
    assert sessions == expected_sessions(case, dims), f"docs/definitions.md example {case['id']}"
    if "aggregates" in case:
        assert aggregates == expected_aggregates(case, dims), case["id"]


@pytest.mark.parametrize("example", [e for e in EXAMPLES if e["metrics"]],
                         ids=[e["meta"]["id"] for e in EXAMPLES if e["metrics"]])
def test_example_metric_values(example: dict, con):
    """The metric table: numerator and denominator from the aggregate row, the value as the
    catalogue computes it, to the decimals shown."""
    (row,) = [{k: _cell(v) for k, v in r.items()} for r in example["aggregate"]]
    shown = {r["metric"].strip("`"): r for r in example["metrics"]}
    assert set(shown) == set(catalogue())
    for name, metric in catalogue().items():
        given = shown[name]
        num = metric.numerator_value(row)
        den = metric.denominator_value(row)
        assert _cell(given["numerator"]) == num, name
        assert _cell(given["denominator"]) == (... if den is None else den), name
        value = metric.value(num, den)
        decimals = len(given["value"].partition(".")[2])
        assert math.isclose(round(value, decimals), float(given["value"])), (name, value)
