"""Pipeline sources: files and globs, DuckDB tables and queries, SQL engines through SQLAlchemy."""
from __future__ import annotations

import json
import os

import duckdb
import pytest

from candidates import bump
from conftest import run_cli, write_config

PG_DSN = os.environ.get("AUDITOR_TEST_PG_DSN")


def test_glob_of_json_lines_files(workdir, golden_of, capsys):
    from auditor.tables import write_table
    g = golden_of()
    half = g.num_rows // 2
    (workdir / "out").mkdir()
    write_table(g.slice(0, half), workdir / "out" / "part-0.jsonl")
    write_table(g.slice(half), workdir / "out" / "part-1.jsonl")
    config = write_config(workdir, {"p": {"path": "out/*.jsonl"}})
    code, _, err = run_cli(capsys, "run", "--config", str(config), "-q")
    assert code == 0, err


def test_duckdb_table_and_query(workdir, golden_of, capsys):
    g = golden_of()
    db = duckdb.connect(str(workdir / "wh.duckdb"))
    db.register("g", bump(g, "attempts", 0, 1))
    db.execute('CREATE SCHEMA analytics; CREATE TABLE analytics."qoe hourly" AS SELECT * FROM g')
    db.close()
    config = write_config(workdir, {
        "table": {"duckdb": "wh.duckdb", "table": "analytics.qoe hourly", "metrics": ["attempts"]},
        "query": {"duckdb": "wh.duckdb", "metrics": ["attempts"],
                  "query": 'SELECT * REPLACE (attempts - CASE WHEN rowid = 0 THEN 1 ELSE 0 END AS attempts) '
                           'FROM analytics."qoe hourly"'}})
    code, out, err = run_cli(capsys, "run", "--config", str(config), "--json", "-q")
    assert code == 1, err
    report = json.loads(out)
    statuses = {p["name"]: p["status"] for p in report["pipelines"]}
    assert statuses == {"table": "fail", "query": "pass"}
    assert report["pipelines"][0]["source"].endswith("wh.duckdb (table analytics.qoe hourly)")


def test_missing_duckdb_table_is_an_input_error(workdir, capsys):
    duckdb.connect(str(workdir / "wh.duckdb")).close()
    config = write_config(workdir, {"p": {"duckdb": "wh.duckdb", "table": "nope"}})
    code, _, err = run_cli(capsys, "run", "--config", str(config))
    assert code == 2 and "wh.duckdb" in err and "nope" in err


def test_unreachable_sql_engine_is_an_input_error_without_the_password(workdir, capsys):
    config = write_config(workdir, {"p": {"url": "postgresql+psycopg://u:s3cret@127.0.0.1:1/db",
                                          "table": "t"}})
    code, _, err = run_cli(capsys, "run", "--config", str(config))
    assert code == 2 and "the query failed" in err
    assert "s3cret" not in err and "u:***@127.0.0.1:1/db" in err


def test_sql_source_over_sqlite_through_sqlalchemy(workdir, golden_of, capsys):
    """The same adapter on an engine that needs no server (SQLite ships with Python)."""
    import sqlalchemy as sa
    g = golden_of(dims=("cdn",)).to_pandas()
    g["window_start"] = g["window_start"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    engine = sa.create_engine(f"sqlite:///{workdir / 'q.sqlite'}")
    g.to_sql("qoe", engine, index=False)
    engine.dispose()
    config = write_config(workdir, {"p": {"url": f"sqlite:///{workdir / 'q.sqlite'}",
                                          "query": "SELECT * FROM qoe", "dimensions": ["cdn"]}})
    code, _, err = run_cli(capsys, "run", "--config", str(config), "-q")
    assert code == 0, err


@pytest.mark.postgres
@pytest.mark.skipif(not PG_DSN, reason="AUDITOR_TEST_PG_DSN is not set: no PostgreSQL server "
                                       "(.ci/run installs and starts one)")
def test_postgresql_table_and_query_against_a_real_server(workdir, golden_of, capsys, monkeypatch):
    import sqlalchemy as sa
    g = golden_of().to_pandas()
    engine = sa.create_engine(PG_DSN)
    with engine.begin() as conn:
        conn.execute(sa.text('DROP SCHEMA IF EXISTS "qoe out" CASCADE'))
        conn.execute(sa.text('CREATE SCHEMA "qoe out"'))
    g.to_sql("hourly", engine, schema="qoe out", index=False)
    bad = g.copy()
    bad.loc[0, "plays"] += 1
    bad.to_sql("hourly_bad", engine, schema="qoe out", index=False)
    with engine.connect() as conn:
        kind = conn.execute(sa.text("SELECT data_type FROM information_schema.columns WHERE "
                                    "table_name = 'hourly' AND column_name = 'window_start'")).scalar()
    engine.dispose()
    assert kind == "timestamp with time zone"
    monkeypatch.setenv("QOE_DSN", PG_DSN)
    config = write_config(workdir, {
        "good": {"url": "${QOE_DSN}", "table": "qoe out.hourly"},
        "bad": {"url": "${QOE_DSN}", "query": 'SELECT * FROM "qoe out".hourly_bad WHERE attempts > 0'}})
    code, out, err = run_cli(capsys, "run", "--config", str(config), "--json", "-q")
    assert code == 1, err
    report = json.loads(out)
    good, bad_p = report["pipelines"]
    assert good["status"] == "pass" and all(m["slice_counts"]["differing"] == 0 for m in good["metrics"])
    failed = [m["metric"] for m in bad_p["metrics"] if m["status"] == "fail"]
    assert set(failed) == {"plays", "vpf_rate", "video_start_time_ms"} and bad_p["metrics"][1]["direction"] == "higher"
    assert "postgresql+psycopg://" in good["source"]
