"""README promises about audit.yaml, the environment and command options that the other
tests never used: `golden:` and `mapping:` under `auditor run`, `${NAME}` in `path` and
`duckdb`, AUDITOR_THREADS / AUDITOR_MEMORY_LIMIT, `golden --out` as .csv/.json/.jsonl,
`explain --depth` capping slice depth, and the default of `explain --sessions`."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from conftest import AUDIT_DIMS, run_cli, write_config

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "headline_ebvs"


def _report(folder: Path) -> dict:
    return json.loads((folder / "report.json").read_text())


def _failed(report: dict) -> list[str]:
    return [m["metric"] for p in report["pipelines"] for m in p["metrics"] if m["status"] == "fail"]


# ---- golden: and mapping: in audit.yaml ---------------------------------------------------

OPTIONS = {"ebvs_min_wait_ms": 2000, "inactivity_timeout_ms": 30000}


def test_run_applies_the_golden_options_of_audit_yaml(workdir, events_table, capsys):
    """A pipeline that implements a 2 s EBVS wait and a 30 s inactivity timeout agrees with
    golden only when audit.yaml's `golden:` says so; report.json records the options."""
    from auditor.golden.calculator import GoldenOptions, compute_golden

    published = compute_golden(events_table, dims=AUDIT_DIMS, options=GoldenOptions(**OPTIONS)).aggregates
    pq.write_table(published, workdir / "batch.parquet")
    spec = {"batch": {"path": "batch.parquet", "metrics": ["attempts", "ebvs_rate", "play_minutes"]}}
    write_config(workdir, spec, golden=OPTIONS)
    code, _, err = run_cli(capsys, "run", "--config", str(workdir / "audit.yaml"), "--out", str(workdir / "r"), "-q")
    assert code == 0, err
    report = _report(workdir / "r")
    assert report["golden"]["options"] == {"start_anchor": "content_frame", "attribution": "session_start",
                                           **OPTIONS}
    write_config(workdir, spec)                     # the shipped defaults: both metrics move
    code, _, _ = run_cli(capsys, "run", "--config", str(workdir / "audit.yaml"), "--out", str(workdir / "r"), "-q")
    assert code == 1
    assert _failed(_report(workdir / "r")) == ["ebvs_rate", "play_minutes"]
    assert _report(workdir / "r")["golden"]["options"]["ebvs_min_wait_ms"] == 0


MAPPING = {"columns": {"session_id": "sid", "event_type": "kind"}, "event_types": {"play_start": "first_frame"}}


def test_run_reads_events_through_the_mapping_of_audit_yaml(workdir, events_table, golden_of, capsys):
    """Events with a deployment's own names (sid, kind, play_start) give golden's numbers to
    the digit through `mapping:`; each half of the mapping is needed."""
    renamed = events_table.rename_columns(
        [{"session_id": "sid", "event_type": "kind"}.get(c, c) for c in events_table.column_names])
    kind = pc.if_else(pc.equal(renamed["kind"], "first_frame"), "play_start", renamed["kind"])
    renamed = renamed.set_column(renamed.schema.get_field_index("kind"), "kind", kind)
    pq.write_table(renamed, workdir / "events.parquet")
    pq.write_table(golden_of(), workdir / "batch.parquet")
    config = str(workdir / "audit.yaml")

    write_config(workdir, {"batch": {"path": "batch.parquet"}}, mapping=MAPPING)
    code, _, err = run_cli(capsys, "run", "--config", config, "--out", str(workdir / "r"), "-q")
    assert code == 0, err
    assert all(m["num_diff"] == 0 for m in _report(workdir / "r")["pipelines"][0]["metrics"])

    write_config(workdir, {"batch": {"path": "batch.parquet"}}, mapping={"columns": MAPPING["columns"]})
    code, _, _ = run_cli(capsys, "run", "--config", config, "--out", str(workdir / "r"), "-q")
    assert code == 1 and "plays" in _failed(_report(workdir / "r"))   # play_start is not a first frame

    write_config(workdir, {"batch": {"path": "batch.parquet"}})
    code, _, err = run_cli(capsys, "run", "--config", config, "-q")
    assert code == 2 and "session_id" in err and "Traceback" not in err


# ---- ${NAME} in path and duckdb -----------------------------------------------------------

def test_environment_variables_in_path_and_duckdb(workdir, golden_of, capsys, monkeypatch, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("published")
    pq.write_table(golden_of(), elsewhere / "streaming.parquet")
    with duckdb.connect(str(elsewhere / "warehouse.duckdb")) as con:
        hourly = golden_of()  # noqa: F841 (read by DuckDB's replacement scan)
        con.execute("CREATE SCHEMA analytics")
        con.execute("CREATE TABLE analytics.qoe_hourly AS SELECT * FROM hourly")
    monkeypatch.setenv("QOE_OUT", str(elsewhere))
    monkeypatch.setenv("QOE_DB", "warehouse.duckdb")
    write_config(workdir, {"streaming": {"path": "${QOE_OUT}/streaming.parquet"},
                           "batch": {"duckdb": "${QOE_OUT}/${QOE_DB}", "table": "analytics.qoe_hourly"}})
    code, _, err = run_cli(capsys, "run", "--config", str(workdir / "audit.yaml"), "--out", str(workdir / "r"), "-q")
    assert code == 0, err
    sources = {p["name"]: p["source"] for p in _report(workdir / "r")["pipelines"]}
    assert str(elsewhere / "streaming.parquet") in sources["streaming"]
    assert str(elsewhere / "warehouse.duckdb") in sources["batch"] and "${" not in json.dumps(sources)
    monkeypatch.delenv("QOE_DB")
    code, _, err = run_cli(capsys, "run", "--config", str(workdir / "audit.yaml"), "-q")
    assert code == 2 and "QOE_DB is not set" in err and "audit.yaml:" in err and "pipelines.batch.duckdb" in err


# ---- AUDITOR_THREADS / AUDITOR_MEMORY_LIMIT ----------------------------------------------

def _settings_spy(monkeypatch, target: str) -> list[tuple[str, str]]:
    """Record DuckDB's threads and memory_limit on every connection ``target`` opens."""
    from auditor.golden import calculator

    seen: list[tuple[str, str]] = []
    real = calculator.connect

    def spy(*args, **kwargs):
        con = real(*args, **kwargs)
        seen.append(con.execute("SELECT current_setting('threads')::VARCHAR, "
                                "current_setting('memory_limit')").fetchone())
        return con
    monkeypatch.setattr(target, spy)
    return seen


def _memory_setting(limit: str) -> str:
    with duckdb.connect() as con:
        con.execute("SET memory_limit = ?", [limit])
        return con.execute("SELECT current_setting('memory_limit')").fetchone()[0]


def test_resource_variables_reach_duckdb_in_run_and_golden(workdir, golden_of, capsys, monkeypatch):
    pq.write_table(golden_of(), workdir / "batch.parquet")
    write_config(workdir, {"batch": {"path": "batch.parquet"}})
    run_seen = _settings_spy(monkeypatch, "auditor.audit.connect")
    code, _, err = run_cli(capsys, "run", "--config", str(workdir / "audit.yaml"), "-q")
    assert code == 0, err
    assert run_seen == [(str(duckdb.connect().execute("SELECT current_setting('threads')").fetchone()[0]),
                         _memory_setting("3GB"))]          # the defaults: every core, 3 GB

    monkeypatch.setenv("AUDITOR_THREADS", "1")
    monkeypatch.setenv("AUDITOR_MEMORY_LIMIT", "1500MB")
    run_seen.clear()
    code, _, err = run_cli(capsys, "run", "--config", str(workdir / "audit.yaml"), "-q")
    assert code == 0, err
    golden_seen = _settings_spy(monkeypatch, "auditor.golden.calculator.connect")
    code, _, err = run_cli(capsys, "golden", "--events", str(workdir / "events.parquet"),
                           "--dims", "cdn,device", "--out", str(workdir / "g.parquet"), "-q")
    assert code == 0, err
    assert run_seen == golden_seen == [("1", _memory_setting("1500MB"))]
    assert _memory_setting("1500MB") != _memory_setting("3GB")


@pytest.mark.parametrize("variable, value", [("AUDITOR_MEMORY_LIMIT", "lots"), ("AUDITOR_THREADS", "two"),
                                             ("AUDITOR_THREADS", "-1")])
def test_invalid_resource_variables_exit_2(workdir, capsys, monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    code, _, err = run_cli(capsys, "golden", "--events", str(workdir / "events.parquet"),
                           "--out", str(workdir / "g.parquet"), "-q")
    assert code == 2 and variable in err and "hint:" in err and "Traceback" not in err, err
    assert not (workdir / "g.parquet").exists()


# ---- golden --out as .csv / .json / .jsonl ------------------------------------------------

def _iso(value) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_golden_out_suffix_picks_the_format_with_the_same_rows(workdir, capsys):
    for suffix in ("parquet", "csv", "json", "jsonl"):
        code, _, err = run_cli(capsys, "golden", "--events", str(workdir / "events.parquet"),
                               "--dims", "cdn,device", "--out", str(workdir / f"g.{suffix}"), "-q")
        assert code == 0, err
    table = pq.read_table(workdir / "g.parquet")
    expected = [{**row, "window_start": _iso(row["window_start"])} for row in table.to_pylist()]
    assert len(expected) > 10 and list(expected[0]) == table.column_names
    as_json = json.loads((workdir / "g.json").read_text())
    as_jsonl = [json.loads(line) for line in (workdir / "g.jsonl").read_text().splitlines()]
    assert as_json == as_jsonl == expected
    with open(workdir / "g.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    typed = {name: type(value) for name, value in expected[0].items()}
    assert [{k: typed[k](v) if v != "" else None for k, v in row.items()} for row in rows] == expected
    assert not pa.types.is_timestamp(pa.csv.read_csv(workdir / "g.csv").schema.field("cdn").type)


# ---- explain --depth and --sessions -------------------------------------------------------

def _explain(capsys, config: str, *extra: str) -> dict:
    code, out, err = run_cli(capsys, "explain", "--config", config, "--pipeline", "batch",
                             "--metric", "ebvs_rate", "--json", "-q", *extra)
    assert code == 1, err
    return json.loads(out)


@pytest.mark.parametrize("depth", [1, 2])
def test_explain_depth_caps_the_dimensions_per_slice(capsys, depth):
    """The fixture's fault is a device x player_version slice: --depth 1 can only name
    device=firetv; --depth 2 names the slice itself. No slice ever has more than --depth."""
    report = _explain(capsys, str(FIXTURE / "audit.yaml"), "--depth", str(depth))
    for loc in (report["localization"], report["sessions"]["localization"]):
        slices = [e["slice"] for e in loc["explanations"]]
        assert slices and max(len(s) for s in slices) <= depth
        assert slices[0] == ({"device": "firetv"} if depth == 1 else
                             {"device": "firetv", "player_version": "4.0"})


@pytest.fixture(scope="module")
def many_disagreeing(tmp_path_factory) -> Path:
    """8% of every batch session loses its first_frame: about 100 disagreeing sessions."""
    from auditor.synth.dataset import write_dataset
    from auditor.synth.faults import parse_fault
    from auditor.synth.traffic import DIMENSIONS

    out = tmp_path_factory.mktemp("many")
    write_dataset(out, sessions=1500, seed=4, faults=[parse_fault("batch/missing_first_frame:*:0.08", DIMENSIONS)])
    return out / "audit.yaml"


def test_explain_lists_50_sessions_by_default(capsys, many_disagreeing):
    report = _explain(capsys, str(many_disagreeing))
    sessions = report["sessions"]
    assert sessions["overall"]["disagreeing"] > 50
    assert len(sessions["sessions"]) == sessions["listed_max"] == 50 and sessions["truncated"]
    report = _explain(capsys, str(many_disagreeing), "--sessions", "7")
    assert len(report["sessions"]["sessions"]) == 7
