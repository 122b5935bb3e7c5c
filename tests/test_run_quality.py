"""Data quality inside `auditor run`: its own section in every report, the exit-code
contract (blocking checks only), and explanations annotated with their slice's rates."""
from __future__ import annotations

import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from auditor.golden.sqlfiles import read_rule
from candidates import bump
from conftest import run_cli, write_config


@pytest.fixture
def late_roku(workdir, events_table):
    """The events again, with every roku row received 15 minutes late (golden ignores
    received_at, so golden is unchanged; late_events fails, not blocking by default)."""
    roku = pc.fill_null(pc.equal(events_table.column("device"), "roku"), False)
    late = pc.if_else(roku, pc.add(events_table.column("ts"), pa.scalar(900_000, pa.duration("ms"))), events_table.column("received_at"))
    table = events_table.set_column(events_table.schema.get_field_index("received_at"), "received_at", late)
    pq.write_table(table, workdir / "events.parquet")
    return workdir


def _run(capsys, folder, pipelines, **top):
    config = write_config(folder, pipelines, **top)
    code, out, err = run_cli(capsys, "run", "--config", str(config), "--out", str(folder / "r"))
    report = json.loads((folder / "r" / "report.json").read_text())
    return code, out, err, report


def _blocking_rules(folder):
    rules = folder / "rules"
    rules.mkdir()
    text = read_rule("quality.yaml")
    late = text.index("  late_events:")
    text = text[:late] + text[late:].replace("blocking: false", "blocking: true", 1)
    (rules / "quality.yaml").write_text(text)
    return "rules"


def test_clean_audit_reports_quality_pass_in_every_format(workdir, golden_of, capsys):
    pq.write_table(golden_of(), workdir / "batch.parquet")
    code, out, err, report = _run(capsys, workdir, {"batch": {"path": "batch.parquet"}})
    assert code == 0, err
    q = report["quality"]
    assert q["status"] == "pass" and all(c["success"] for c in q["checks"])
    assert q["totals"]["rows"] == 2200 and q["totals"]["sessions"] == 400
    assert "## Data quality: pass" in out and "[quality] pass" in err
    html = (workdir / "r" / "report.html").read_text()
    assert html.count('id="data-quality"') == 1 and "14 of 14 checks pass" in html


def test_non_blocking_failure_is_a_warning_and_exits_0(late_roku, golden_of, capsys):
    pq.write_table(golden_of(), late_roku / "batch.parquet")
    code, out, _, report = _run(capsys, late_roku, {"batch": {"path": "batch.parquet"}})
    assert code == 0
    assert report["status"] == "pass" and report["quality"]["status"] == "warn"
    late = next(c for c in report["quality"]["checks"] if c["name"] == "late_events")
    assert late["status"] == "warn" and late["unexpected_count"] == 501 and late["denominator"] == 2200
    assert {"check": "late_events", "dimension": "device", "value": "roku", "unexpected_count": 501,
            "denominator": 501, "unit": "rows", "rate": 1.0} in report["quality"]["slices"]
    assert "## auditor run: PASS" in out and "## Data quality: warn" in out
    assert "| late_events | warn | 501 | 2,200 |" in out
    html = (late_roku / "r" / "report.html").read_text()
    assert '<span class="warn">warn</span>' in html


def test_summary_lists_slices_of_checks_that_did_not_pass(late_roku, golden_of, capsys):
    """summary.md is for CI logs and PR comments: the slices of failing or warning
    checks; those of passing checks stay in report.json and report.html."""
    events = pq.read_table(late_roku / "events.parquet")
    pq.write_table(pa.concat_tables([events, events.slice(0, 5)]), late_roku / "events.parquet")
    pq.write_table(golden_of(), late_roku / "batch.parquet")
    code, out, _, report = _run(capsys, late_roku, {"batch": {"path": "batch.parquet"}})
    assert code == 0
    status = {c["name"]: c["status"] for c in report["quality"]["checks"]}
    assert status["late_events"] == "warn" and status["duplicate_events"] == "pass"
    passing = [s for s in report["quality"]["slices"] if s["check"] == "duplicate_events"]
    assert passing  # 5 redelivered rows: a passing check with slice rates
    section = out.split("## Data quality")[1]
    assert "- **late_events**: " in section and "highest rates: device=roku 100%, " in section
    assert "duplicate_events 1" not in section and "| duplicate_events |" not in section
    assert f"their {len(passing)} slice rates are in report.json and report.html" in section
    html = (late_roku / "r" / "report.html").read_text()
    assert html.count("<tr><td>duplicate_events</td>") == len(passing)


def test_blocking_failure_exits_1_even_when_every_pipeline_agrees(late_roku, golden_of, capsys):
    pq.write_table(golden_of(), late_roku / "batch.parquet")
    code, out, _, report = _run(capsys, late_roku, {"batch": {"path": "batch.parquet"}},
                                rules=_blocking_rules(late_roku))
    assert code == 1
    assert report["status"] == "fail" and report["quality"]["status"] == "fail"
    assert all(m["status"] == "pass" for m in report["pipelines"][0]["metrics"])
    assert report["quality"]["rules"]["source"].endswith("rules/quality.yaml")
    assert "## auditor run: FAIL" in out and "## Data quality: fail" in out


def test_quality_false_skips_the_checks(late_roku, golden_of, capsys):
    pq.write_table(golden_of(), late_roku / "batch.parquet")
    for value in (False, {"enabled": False}):
        code, out, err, report = _run(capsys, late_roku, {"batch": {"path": "batch.parquet"}},
                                      rules=_blocking_rules(late_roku) if value is False else "rules",
                                      quality=value)
        assert code == 0 and report["quality"] is None
        assert "Data quality" not in out and "[quality]" not in err


@pytest.mark.parametrize("value,key", [("maybe", "quality"), ({"enabled": 1}, "quality.enabled"),
                                       ({"on": True}, "quality.on"), ({"engine": "gx"}, "quality.engine"),
                                       ({"engine": "Great Expectations"}, "quality.engine")])
def test_invalid_quality_key_exits_2_naming_file_line_and_key(workdir, golden_of, capsys, value, key):
    pq.write_table(golden_of(), workdir / "batch.parquet")
    config = write_config(workdir, {"batch": {"path": "batch.parquet"}}, quality=value)
    code, out, err = run_cli(capsys, "run", "--config", str(config))
    assert code == 2 and out == ""
    assert "audit.yaml:" in err and key in err


def test_invalid_quality_rules_exit_2_before_any_work(workdir, golden_of, capsys):
    pq.write_table(golden_of(), workdir / "batch.parquet")
    (workdir / "rules").mkdir()
    (workdir / "rules" / "quality.yaml").write_text("checks:\n  late_events: {threshold: 7}\n")
    config = write_config(workdir, {"batch": {"path": "batch.parquet"}}, rules="rules")
    code, _, err = run_cli(capsys, "run", "--config", str(config))
    assert code == 2 and "checks.late_events.threshold" in err and "[golden" not in err


def test_explanation_carries_its_slice_quality(late_roku, golden_of, capsys):
    """The batch pipeline over-counts EBVS on roku: the explanation is device=roku, and
    the report says that slice also has 100% late events (23% overall)."""
    golden = golden_of(dims=("cdn", "device"))
    batch = golden
    for i, device in enumerate(golden.column("device").to_pylist()):
        if device == "roku" and golden.column("attempts")[i].as_py() > golden.column("ebvs")[i].as_py():
            batch = bump(batch, "ebvs", i, 1)
    pq.write_table(batch, late_roku / "batch.parquet")
    code, out, _, report = _run(capsys, late_roku, {"batch": {"path": "batch.parquet",
                                                              "dimensions": ["cdn", "device"]}})
    assert code == 1
    metric = next(m for m in report["pipelines"][0]["metrics"] if m["metric"] == "ebvs_rate")
    top = metric["explanations"][0]
    assert top["slice"] == {"device": "roku"}
    late = top["quality"]["late_events"]
    assert late == {"rate": 1.0, "unexpected_count": 501, "denominator": 501, "unit": "rows",
                    "overall_rate": pytest.approx(501 / 2200), "notable": True}
    assert top["quality"]["duplicate_events"]["notable"] is False
    assert "this slice also has 100% late events (22.8% overall)" in out
    html = (late_roku / "r" / "report.html").read_text()
    assert "100% late events (22.8% overall)" in html


def test_explanation_rates_are_exact_for_a_conjunction(late_roku, golden_of, capsys):
    """Explanations at depth 2 are annotated with the rates of the conjunction."""
    golden = golden_of(dims=("cdn", "device"))
    rows = [i for i, (c, d) in enumerate(zip(golden.column("cdn").to_pylist(),
                                               golden.column("device").to_pylist()))
            if d == "roku" and c == "akamai"]
    batch = golden
    for i in rows:
        batch = bump(batch, "attempts", i, 2)
    pq.write_table(batch, late_roku / "batch.parquet")
    code, _, _, report = _run(capsys, late_roku, {"batch": {"path": "batch.parquet",
                                                            "dimensions": ["cdn", "device"],
                                                            "metrics": ["attempts"]}})
    assert code == 1
    (metric,) = report["pipelines"][0]["metrics"]
    top = metric["explanations"][0]
    assert top["slice"] == {"cdn": "akamai", "device": "roku"}
    events = pq.read_table(late_roku / "events.parquet")
    mask = pc.and_(pc.equal(events.column("cdn"), "akamai"), pc.equal(events.column("device"), "roku"))
    n = pc.sum(pc.cast(pc.fill_null(mask, False), pa.int64())).as_py()
    assert top["quality"]["late_events"]["denominator"] == n == top["quality"]["late_events"]["unexpected_count"]


def test_builtin_and_great_expectations_engines_write_the_same_report(late_roku, golden_of, capsys):
    """audit.yaml's quality.engine only changes who judges: every check, count, rate, success
    flag, status, slice, explanation annotation and the exit code are the same."""
    golden = golden_of(dims=("cdn", "device"))
    row = next(i for i, d in enumerate(golden.column("device").to_pylist()) if d == "roku")
    pq.write_table(bump(golden, "ebvs", row, 1), late_roku / "batch.parquet")
    pipelines = {"batch": {"path": "batch.parquet", "dimensions": ["cdn", "device"]}}
    rules = _blocking_rules(late_roku)
    runs = {}
    for name, quality in (("default", True), ("gx", {"engine": "great_expectations"})):
        code, out, err, report = _run(capsys, late_roku, pipelines, rules=rules, quality=quality)
        runs[name] = (code, out, report)
    (b_code, b_out, builtin), (g_code, g_out, gx) = runs["default"], runs["gx"]
    assert builtin["quality"].pop("engine") == "auditor builtin"
    assert gx["quality"].pop("engine").startswith("great_expectations 1.")
    assert b_code == g_code == 1
    assert builtin["quality"]["status"] == "fail"
    assert {c["name"]: c["status"] for c in builtin["quality"]["checks"] if c["status"] != "pass"} == {
        "late_events": "fail"}
    assert builtin == gx
    assert b_out == g_out
    explained = [e for m in builtin["pipelines"][0]["metrics"] for e in m.get("explanations", [])]
    assert explained and all("quality" in e for e in explained)


def test_default_run_never_imports_great_expectations(workdir, golden_of):
    """In a fresh process (the test process may have imported GX for other tests)."""
    pq.write_table(golden_of(), workdir / "batch.parquet")
    config = write_config(workdir, {"batch": {"path": "batch.parquet"}})
    code = ("import json, sys\nfrom auditor.cli import main\n"
            f"try:\n    main(['run', '--config', {str(config)!r}, '--quiet', '--out', {str(workdir / 'r')!r}])\n"
            "except SystemExit as exc:\n    print(json.dumps({'exit': exc.code, "
            "'gx': sorted(m for m in sys.modules if m.split('.')[0] == 'great_expectations')}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"exit": 0, "gx": []}, out.stderr
    report = json.loads((workdir / "r" / "report.json").read_text())
    assert report["quality"]["engine"] == "auditor builtin" and report["quality"]["status"] == "pass"
    assert len(report["quality"]["checks"]) == 14
