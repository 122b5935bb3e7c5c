"""`engine: spark` / `--engine spark` without what it needs fails closed (exit 2, the fix
in the hint), and audit.yaml's engine keys are checked. No Spark needed."""
from __future__ import annotations

import sys

import pytest

from conftest import run_cli, write_config


def test_golden_without_pyspark_exits_2_with_the_install_hint(capsys, monkeypatch, workdir):
    monkeypatch.setitem(sys.modules, "pyspark", None)  # import pyspark -> ImportError
    code, out, err = run_cli(capsys, "golden", "--engine", "spark", "--events",
                             str(workdir / "events.parquet"), "--out", str(workdir / "g.parquet"))
    assert code == 2, err
    assert "engine spark needs pyspark" in err and "pip install -e '.[spark]'" in err
    assert "Traceback" not in err and not (workdir / "g.parquet").exists()


def test_run_without_java_exits_2_with_a_hint(capsys, monkeypatch, workdir):
    pytest.importorskip("pyspark")
    from auditor.golden import spark as golden_spark

    monkeypatch.setattr(golden_spark, "_active_session", lambda: None)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.delenv("AUDITOR_SPARK_REMOTE", raising=False)
    monkeypatch.setenv("PATH", str(workdir))  # no java on it
    config = write_config(workdir, {"batch": {"path": "events.parquet"}})
    code, out, err = run_cli(capsys, "run", "--config", str(config), "--engine", "spark")
    assert code == 2, err
    assert "engine spark needs Java" in err and "default-jre-headless" in err


@pytest.mark.parametrize("top,message", [
    ({"engine": "presto"}, "engine must be duckdb or spark"),
    ({"engine": "spark", "quality": True}, "the data-quality checks run on the DuckDB engine only"),
    ({"engine": "spark", "quality": {"engine": "builtin"}}, "DuckDB engine only"),
    ({"engine": "spark", "mechanisms": True}, "the mechanism search runs on the DuckDB engine only"),
    ({"events": {"table": "raw.events"}}, "events from a catalog table are read by engine: spark"),
    ({"engine": "spark", "events": {"table": ""}}, "expected a table name"),
], ids=["unknown-engine", "quality-on-spark", "quality-mapping-on-spark", "mechanisms-on-spark", "table-on-duckdb",
        "empty-table-name"])
def test_engine_keys_are_checked(capsys, workdir, top, message):
    config = write_config(workdir, {"batch": {"path": "events.parquet"}}, **top)
    code, out, err = run_cli(capsys, "run", "--config", str(config))
    assert code == 2, err
    assert message in err and "hint:" in err


def test_engine_spark_turns_the_duckdb_only_quality_checks_and_mechanisms_off(workdir):
    from auditor.config import load_config

    config = write_config(workdir, {"batch": {"path": "events.parquet"}}, engine="spark")
    loaded = load_config(config)
    assert loaded.engine == "spark" and loaded.quality_rules is None and not loaded.mechanisms
    on_duckdb = load_config(config, engine="duckdb")  # --engine wins
    assert on_duckdb.quality_rules is not None and on_duckdb.mechanisms
    table = write_config(workdir, {"batch": {"path": "events.parquet"}}, engine="spark",
                         events={"table": "raw.events"})
    assert str(load_config(table).events) == "raw.events"


@pytest.mark.parametrize("args", [("--engine", "spark"), ("--config", "{config}")],
                         ids=["flag", "audit.yaml-engine"])
def test_gate_on_spark_without_pyspark_exits_2_before_any_work(capsys, monkeypatch, workdir, args):
    """`auditor gate --engine spark` (or audit.yaml's engine: spark) never falls back to
    DuckDB: without the extra it is exit 2 with the install hint, and writes nothing."""
    monkeypatch.setitem(sys.modules, "pyspark", None)
    config = write_config(workdir, {"batch": {"path": "events.parquet"}}, engine="spark")
    args = tuple(a.format(config=config) for a in args)
    code, out, err = run_cli(capsys, "gate", "--base", "rules-that-do-not-exist", "--fixtures", "none",
                             "--corpus", str(workdir / "events.parquet"), "--out", str(workdir / "g"),
                             *args)
    assert code == 2, err
    assert "engine spark needs pyspark" in err and "pip install -e '.[spark]'" in err
    assert not (workdir / "g").exists() and out == ""


def test_explain_on_spark_without_pyspark_exits_2(capsys, monkeypatch, workdir):
    monkeypatch.setitem(sys.modules, "pyspark", None)
    config = write_config(workdir, {"batch": {"path": "events.parquet"}})
    code, out, err = run_cli(capsys, "explain", "--config", str(config), "--pipeline", "batch",
                             "--metric", "ebvs_rate", "--engine", "spark")
    assert code == 2, err
    assert "engine spark needs pyspark" in err and "Traceback" not in err
