"""`auditor quality`: output, JSON file, and the exit-code contract."""
from __future__ import annotations

import json

import jsonschema
import pyarrow.parquet as pq
import pytest

import eventdata as ed
from auditor.cli import main
from auditor.quality.checks import check_events
from auditor.render.quality import render_html, render_markdown
from auditor.render.json import report_schema

QUALITY_SCHEMA = {"$defs": report_schema()["$defs"], "$ref": "#/$defs/quality"}   # report.json's quality section


def run(capsys, *args) -> tuple[int, str]:
    """The console script's behaviour: main() maps the command's result to the exit code."""
    code, out, _ = run_full(capsys, *args)
    return code, out


def run_full(capsys, *args) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(["quality", *args])
    captured = capsys.readouterr()
    return exc.value.code, captured.out, captured.err


def write(tmp_path, rows):
    path = tmp_path / "events.parquet"
    pq.write_table(ed.table(rows), path)
    return str(path)


def test_clean_events_exit_0_and_write_the_json(tmp_path, capsys):
    events = write(tmp_path, ed.clean(50))
    out = tmp_path / "q" / "quality.json"
    code, output = run(capsys, "--events", events, "--out", str(out), "--dims", "cdn")
    assert code == 0, output
    assert "data quality: PASS" in output
    data = json.loads(out.read_text())
    names = {c["name"] for c in data["checks"]}
    assert {"duplicate_events", "orphan_sessions", "unknown_event_types", "events_after_end",
            "late_events"} <= names
    assert all(c["success"] for c in data["checks"])


def test_a_failing_blocking_check_exits_1_and_a_warning_exits_0(tmp_path, capsys):
    rows = ed.clean(50)
    for r in rows[:40]:
        r["received_at"] = r["ts"] + 3_600_000           # late: a warning by default
    events = write(tmp_path, rows)
    code, output = run(capsys, "--events", events, "--json", "--dims", "cdn")
    assert code == 0, output
    data = json.loads(output)
    assert data["status"] == "warn"
    late = next(c for c in data["checks"] if c["name"] == "late_events")
    assert (late["unexpected_count"], late["success"], late["blocking"]) == (40, False, False)

    rules = tmp_path / "rules"
    rules.mkdir()
    from auditor.golden.sqlfiles import read_rule
    (rules / "quality.yaml").write_text(read_rule("quality.yaml").replace(
        "threshold: 0.05\n    blocking: false", "threshold: 0.05\n    blocking: true"))
    code, output = run(capsys, "--events", events, "--rules", str(rules), "--dims", "cdn")
    assert code == 1, output
    assert "FAIL  late_events" in output


def test_bad_rules_and_missing_events_exit_2(tmp_path, capsys):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "quality.yaml").write_text("checks:\n  late_events: {threshold: 2}\n")
    events = write(tmp_path, ed.clean(5))
    code, _, err = run_full(capsys, "--events", events, "--rules", str(rules))
    assert code == 2 and "checks.late_events.threshold" in err
    code, _, err = run_full(capsys, "--events", str(tmp_path / "none.parquet"))
    assert code == 2 and "no such file" in err


def test_markdown_and_html_sections_escape_values():
    rows = ed.clean(120)
    for r in rows:
        r["cdn"] = "<b>cdn|x</b>"
        r["received_at"] = r["ts"] + 900_000
    report = check_events(ed.table(rows), dims=("cdn",))
    md = render_markdown(report)
    assert md.startswith("## Data quality: warn") and "cdn=&lt;b&gt;cdn\\|x&lt;/b&gt;" in md
    assert "<b>" not in md
    html = render_html(report)
    assert "&lt;b&gt;cdn|x&lt;/b&gt;" in html and "<b>cdn" not in html


def test_builtin_engine_gives_the_same_result_as_great_expectations(tmp_path, capsys):
    """`auditor quality` judges itself by default (as `auditor run`); --engine great_expectations
    changes only the engine field."""
    rows = ed.clean(50)
    for r in rows[:40]:
        r["received_at"] = r["ts"] + 3_600_000           # late_events fails (a warning)
    events = write(tmp_path, rows)
    results = {}
    for engine in ("great_expectations", "builtin"):
        args = ["--events", events, "--json", "--dims", "cdn"] + (["--engine", engine] if engine == "great_expectations" else [])
        code, output = run(capsys, *args)
        data = json.loads(output)
        jsonschema.validate(data, QUALITY_SCHEMA)
        results[engine] = (code, data)
    (g_code, gx), (b_code, builtin) = results["great_expectations"], results["builtin"]
    assert gx.pop("engine").startswith("great_expectations 1.") and builtin.pop("engine") == "auditor builtin"
    assert g_code == b_code == 0 and builtin["status"] == "warn"
    assert builtin == gx
    with pytest.raises(jsonschema.ValidationError):     # the schema names the two judges
        jsonschema.validate({**builtin, "engine": "pandas"}, QUALITY_SCHEMA)


def test_unknown_engine_is_a_usage_error(tmp_path, capsys):
    code, out, err = run_full(capsys, "--events", write(tmp_path, ed.clean(5)), "--engine", "gx")
    assert code == 2 and out == "" and "--engine" in err and "builtin" in err
