"""Parity: golden on Spark (local[2]) gives DuckDB's numbers to the digit, from the same rules.

The hand-written golden cases run on Spark against their expected facts, the
hypothesis-generated sessions against the plain-Python reference, and `auditor run
--engine spark` on every curated fixture against the DuckDB run's report.json, field by
field. Sessions never interact, so the cases that share options run as one Spark job (each
case's session ids prefixed with its id): a Spark job has seconds of fixed cost, a case
milliseconds of work.
"""
from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reference
from auditor.gate.cases import build_events
from auditor.gate.report import gate_schema
from auditor.golden.calculator import compute_golden
from conftest import run_cli
from golden_support import events_table, golden_options, sql_aggregates, sql_sessions
from test_golden_cases import CASES, DEFAULT_DIMS, expected_sessions, options_of
from test_golden_differential import BASE, DIMS, OPTIONS, event_batches

pytestmark = pytest.mark.spark
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _groups() -> dict[tuple, list[dict]]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for case in CASES:
        key = (tuple(sorted(case.get("options", {}).items())), case.get("window_minutes", 60),
               tuple(case.get("dims", DEFAULT_DIMS)))
        groups[key].append(case)
    return groups


GROUPS = _groups()


def _prefixed(rows: list[dict], prefix: str) -> list[dict]:
    return [{**r, "session_id": None if r.get("session_id") is None else prefix + str(r["session_id"])}
            for r in rows]


@pytest.mark.parametrize("key", sorted(GROUPS, key=repr),
                         ids=[f"{len(GROUPS[k])}cases-" + ("-".join(f"{a}={b}" for a, b in k[0]) or "defaults")
                              + f"-{k[1]}m-{'.'.join(k[2])}" for k in sorted(GROUPS, key=repr)])
def test_golden_cases_on_spark(spark_session, key):
    cases = GROUPS[key]
    options, window_minutes, dims = key
    rows = [r for case in cases for r in _prefixed(build_events(case), case["id"] + "/")]
    table = events_table(rows, dims)
    opts = golden_options(options_of(cases[0]))
    on_spark = compute_golden(table, dims=dims, window_minutes=window_minutes, options=opts,
                              with_sessions=True, engine="spark")
    on_duckdb = compute_golden(table, dims=dims, window_minutes=window_minutes, options=opts,
                               with_sessions=True)
    spark_sessions = sql_sessions(on_spark)
    for case in cases:  # every case's expected facts, on Spark
        mine = [{**s, "session_id": s["session_id"].split("/", 1)[1]} for s in spark_sessions
                if s["session_id"].startswith(case["id"] + "/")]
        assert mine == expected_sessions(case, dims), (case["id"], case["rule"])
    assert on_spark.sessions.equals(on_duckdb.sessions)
    assert on_spark.aggregates.equals(on_duckdb.aggregates)  # same types, rows and order
    assert on_spark.stats == on_duckdb.stats


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                HealthCheck.data_too_large])
@given(batches=st.lists(event_batches(), min_size=6, max_size=6), options=OPTIONS,
       window_minutes=st.sampled_from([1, 5, 60]), only_window=st.one_of(st.none(), st.integers(-1, 6)))
def test_spark_agrees_with_reference_and_duckdb(spark_session, batches, options, window_minutes,
                                                only_window):
    """The differential test of tests/test_golden_differential.py on Spark: six of its
    batches per example (more makes hypothesis's generation the slow part), each batch's
    sessions kept apart by a prefix."""
    rows = [r for i, batch in enumerate(batches) for r in _prefixed(batch, f"b{i}/")]
    window_ms = window_minutes * 60_000
    start_ms = None if only_window is None else (BASE // window_ms + only_window) * window_ms
    start = None if start_ms is None else datetime.fromtimestamp(start_ms / 1000, timezone.utc)
    kwargs = dict(dims=DIMS, window_minutes=window_minutes, window_start=start,
                  options=golden_options(options), with_sessions=True)
    table = events_table(rows, DIMS)
    on_spark = compute_golden(table, engine="spark", **kwargs)
    expected = reference.compute_sessions(rows, DIMS, window_minutes, options, window_from_ms=start_ms,
                                          window_to_ms=None if start_ms is None else start_ms + window_ms)
    assert sql_sessions(on_spark) == expected
    assert sql_aggregates(on_spark) == reference.aggregate(expected, DIMS)
    assert on_spark.aggregates.equals(compute_golden(table, **kwargs).aggregates)


def test_generated_traffic_with_every_option_on_spark(spark_session):
    """Realistic sessions (pre-rolls, seeks, stalls, late and duplicated deliveries, every
    default dimension) with every named option off its default."""
    from auditor.golden.events import DEFAULT_DIMS as ALL_DIMS
    from auditor.synth.generate import generate_events

    options = reference.Options(start_anchor="any_frame", attribution="session_end",
                                inactivity_timeout_ms=30_000, ebvs_min_wait_ms=2_000)
    table = generate_events(1000, 11)
    kwargs = dict(dims=ALL_DIMS, window_minutes=5, options=golden_options(options), with_sessions=True)
    on_spark = compute_golden(table, engine="spark", **kwargs)
    on_duckdb = compute_golden(table, **kwargs)
    assert on_spark.sessions.num_rows > 600
    assert on_spark.sessions.equals(on_duckdb.sessions)
    assert on_spark.aggregates.equals(on_duckdb.aggregates)


def _report(path: Path, engine: str) -> dict:
    from auditor.audit import run_audit
    from auditor.config import load_config
    from auditor.render import render_json

    config = load_config(path, engine=engine)
    # the quality checks and the mechanism search are DuckDB-only (docs/spark.md): compare the rest
    config = dataclasses.replace(config, quality_rules=None, mechanisms=False)
    report = json.loads(render_json(run_audit(config)))
    report.pop("config", None)
    return report


def _diff(a, b, where="report.json") -> list[str]:
    if type(a) is not type(b):
        return [f"{where}: {a!r} != {b!r}"]
    if isinstance(a, dict):
        return [d for k in sorted(set(a) | set(b)) for d in _diff(a.get(k), b.get(k), f"{where}.{k}")]
    if isinstance(a, list):
        if len(a) != len(b):
            return [f"{where}: {len(a)} items != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _diff(x, y, f"{where}[{i}]")]
    return [] if a == b else [f"{where}: {a!r} != {b!r}"]


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.iterdir() if (p / "audit.yaml").exists()))
def test_every_fixture_reports_the_same_numbers_on_spark(spark_session, fixture):
    on_spark = _report(FIXTURES / fixture / "audit.yaml", "spark")
    on_duckdb = _report(FIXTURES / fixture / "audit.yaml", "duckdb")
    assert on_spark["golden"]["sessions"] > 0
    assert _diff(on_spark, on_duckdb) == []


def test_events_and_a_pipeline_from_the_spark_catalog(spark_session, tmp_path):
    """`events: {table: ...}` and a pipeline's `table:` read from the session's catalog (the
    batch pipeline's Hive warehouse): the same numbers as the files they were written from."""
    import yaml

    fixture = FIXTURES / "headline_ebvs"
    for db in ("raw", "wh"):
        spark_session.sql(f"CREATE DATABASE IF NOT EXISTS {db}")
    spark_session.read.parquet(str(fixture / "events.parquet")).write.mode("overwrite") \
        .saveAsTable("raw.player_events")
    spark_session.read.parquet(str(fixture / "batch.parquet")).write.mode("overwrite") \
        .saveAsTable("wh.qoe_hourly")
    data = yaml.safe_load((fixture / "audit.yaml").read_text(encoding="utf-8"))
    data["engine"] = "spark"
    data["events"] = {"table": "raw.player_events"}
    batch = data["pipelines"]["batch"]
    data["pipelines"]["batch"] = {"table": "wh.qoe_hourly",
                                  **{k: v for k, v in batch.items() if k != "path"}}
    for spec in data["pipelines"].values():
        for key in ("path", "sessions"):
            if key in spec:
                spec[key] = str(fixture / spec[key])
    config = tmp_path / "audit.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    from_catalog = _report(config, "spark")
    from_files = _report(fixture / "audit.yaml", "duckdb")
    differences = _diff(from_catalog, from_files)
    # only where the rows came from differs
    assert [d for d in differences if not d.startswith(("report.json.events:", "report.json.config:"))
            and ".source:" not in d] == []
    assert any(d.startswith("report.json.events:") for d in differences)


def test_gate_on_spark_gives_the_duckdb_gate_output(spark_session, capsys, tmp_path):
    """`auditor gate --engine spark`: both sides' golden, the definition cases and the
    matrix's example sessions on Spark; gate.json (every number, the matrix, the cases, the
    fault regression, the verdict) and gate.md equal the DuckDB gate's, field by field.
    The change moves metrics (exits shorter than 2 s are no EBVS), changes session facts
    without changing outcomes (a pre-roll's first frame starts the video) and breaks a
    definition case, so every part of the output has something in it."""
    from test_gate import commit, edit, rules_repo

    root = rules_repo(tmp_path)
    edit(root, "options.yaml", "ebvs_min_wait_ms: 0", "ebvs_min_wait_ms: 2000")
    edit(root, "options.yaml", "start_anchor: content_frame", "start_anchor: any_frame")
    commit(root)
    runs = {}
    for engine in ("duckdb", "spark"):
        out = tmp_path / engine
        code, md, err = run_cli(capsys, "gate", "--base", "HEAD~1", "--head", str(root / "rules"),
                                "--fixtures", "headline_ebvs", "--engine", engine, "--out", str(out))
        assert "Traceback" not in err and ("golden on Spark" in err) == (engine == "spark")
        report = json.loads((out / "gate.json").read_text(encoding="utf-8"))
        jsonschema.validate(report, gate_schema())
        runs[engine] = (code, md, report)
    (code, md, report), (s_code, s_md, s_report) = runs["duckdb"], runs["spark"]
    assert code == s_code == 1
    assert _diff(s_report, report, "gate.json") == []
    assert s_md == md
    matrix = s_report["reclassification"]
    assert matrix["reclassified"] > 0 and matrix["facts_changed"] > 0
    assert all(e["events"] for c in matrix["cells"] for e in c["examples"])
    assert all(e["events"] for e in matrix["facts_examples"])
    assert [c["status"] for c in s_report["cases"]].count("fail") >= 1
    assert s_report["faults"]


def test_explain_on_spark_gives_the_duckdb_drilldown(spark_session, capsys):
    """`auditor explain --engine spark` recomputes golden (with per-session facts, for the
    session drill-down) on Spark; the drill-down equals DuckDB's field by field, except the
    mechanism search, which runs on DuckDB only (off with engine spark, docs/spark.md)."""
    config = str(FIXTURES / "headline_ebvs" / "audit.yaml")
    drills = {}
    for engine in ("duckdb", "spark"):
        code, out, err = run_cli(capsys, "explain", "--config", config, "--pipeline", "batch",
                                 "--metric", "ebvs_rate", "--sessions", "20", "--json", "--engine", engine)
        assert code == 1, err
        drills[engine] = json.loads(out)
    on_duckdb, on_spark = drills["duckdb"], drills["spark"]
    assert on_duckdb.pop("mechanism") is not None and on_spark.pop("mechanism") is None
    assert on_spark["localization"]["explanations"] and on_spark["sessions"]["sessions"]
    assert _diff(on_spark, on_duckdb, "explain") == []


def test_gate_on_spark_names_the_file_and_line_of_sql_that_fails(spark_session, capsys, tmp_path):
    """A rules folder's SQL that does not parse is exit 2 naming its file and line on Spark too
    (the base runs first, so the broken side is the base here: the test stops at once)."""
    import shutil

    from auditor.golden.sqlfiles import packaged_rules_dir

    good, bad = tmp_path / "good", tmp_path / "bad"
    for folder in (good, bad):
        shutil.copytree(packaged_rules_dir(), folder, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    stage = bad / "golden" / "03_live.sql"
    stage.write_text(stage.read_text(encoding="utf-8").replace("GROUP BY sk;", "GROUP BY BY sk;", 1),
                     encoding="utf-8")
    line = next(i for i, text in enumerate(stage.read_text(encoding="utf-8").splitlines(), 1)
                if "GROUP BY BY" in text)
    code, out, err = run_cli(capsys, "gate", "--base", str(bad), "--head", str(good), "--fixtures", "clean",
                             "--engine", "spark", "--out", str(tmp_path / "out"))
    assert code == 2, err
    assert f"golden/03_live.sql:{line}" in err and "fails on Spark" in err
    assert not (tmp_path / "out").exists()


def test_a_damaged_events_file_is_exit_2_on_spark_naming_it(spark_session, capsys, tmp_path):
    """A Parquet file Spark cannot read is the data's fault: exit 2 naming the input, never a
    crash (exit 3) or a quiet pass, as on DuckDB."""
    import shutil

    good = tmp_path / "events" / "part-0.parquet"
    good.parent.mkdir()
    shutil.copy(Path(__file__).resolve().parents[1] / "fixtures" / "clean" / "events.parquet", good)
    (good.parent / "part-1.parquet").write_bytes(b"PAR1" + b"\x00" * 64)      # a truncated write
    code, out, err = run_cli(capsys, "golden", "--engine", "spark", "--events", str(good.parent),
                             "--out", str(tmp_path / "golden.parquet"))
    assert code == 2, err
    assert str(good.parent) in err and "events" in err
    assert not (tmp_path / "golden.parquet").exists()
