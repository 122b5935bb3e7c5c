"""Grain and dimension alignment: golden is cut or rolled up to what each pipeline publishes."""
from __future__ import annotations

import json

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from candidates import bump, rename
from conftest import run_cli, write_config


def test_coarser_grain_and_fewer_dimensions_reconcile_exactly(workdir, golden_of, capsys):
    # audit windows of 60 min at 4 dims; streaming publishes 5-min rows, batch hourly by cdn only
    pq.write_table(golden_of(minutes=5), workdir / "streaming.parquet")
    pq.write_table(golden_of(dims=("cdn",), minutes=60), workdir / "batch.parquet")
    config = write_config(workdir, {
        "streaming": {"path": "streaming.parquet", "grain": "5m"},
        "batch": {"path": "batch.parquet", "dimensions": ["cdn"]}})
    code, out, err = run_cli(capsys, "run", "--config", str(config), "--json", "-q",
                             "--window", "2025-03-20T14:00:00Z/PT2H")
    assert code == 0, err
    report = json.loads(out)
    assert report["golden"]["grain_minutes"] == 5
    streaming, batch = report["pipelines"]
    assert streaming["grain_minutes"] == 5 and batch["dimensions"] == ["cdn"]
    assert batch["rows"]["read"] == 6   # 3 cdns x 2 hours
    for p in (streaming, batch):
        for m in p["metrics"]:
            assert m["slice_counts"]["differing"] == 0 and m["num_diff"] == 0, (p["name"], m["metric"])
        assert p["rows"]["golden_only"] == p["rows"]["candidate_only"] == 0


def test_hourly_audit_of_a_5_minute_pipeline_finds_a_5_minute_fault(workdir, golden_of, capsys):
    g5 = golden_of(minutes=5)
    pq.write_table(bump(g5, "stall_ms", 10, 250), workdir / "streaming.parquet")
    config = write_config(workdir, {"streaming": {"path": "streaming.parquet", "grain": "PT5M",
                                                  "metrics": ["rebuffering_ratio"]}})
    code, out, _ = run_cli(capsys, "run", "--config", str(config), "--json", "-q")
    assert code == 1
    m = json.loads(out)["pipelines"][0]["metrics"][0]
    assert m["moved"] == "both"            # stall_ms is in both the numerator and the denominator
    (s,) = m["slices"]
    assert s["window"] == g5.column("window_start")[10].as_py().strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_grain_that_cannot_be_aligned_is_an_error(workdir, golden_of, capsys):
    pq.write_table(golden_of(minutes=5), workdir / "p.parquet")
    for grain, text in (("7m", "7-minute rows"), ("2h", "120-minute rows")):
        config = write_config(workdir, {"p": {"path": "p.parquet", "grain": grain}})
        code, out, err = run_cli(capsys, "run", "--config", str(config))
        assert code == 2 and text in err and "pipelines.p.grain" in err and out == ""


def test_rows_off_the_declared_grain_are_an_error_not_a_silent_join(workdir, golden_of, capsys):
    pq.write_table(golden_of(minutes=5), workdir / "p.parquet")   # 5-minute rows, grain not declared
    config = write_config(workdir, {"p": {"path": "p.parquet"}})
    code, _, err = run_cli(capsys, "run", "--config", str(config))
    assert code == 2 and "off the 60-minute grain" in err and "pipelines.p.grain" in err


def test_mapped_columns_csv_and_final_ratios_only(workdir, golden_of, capsys):
    g = golden_of(dims=("cdn", "device"))
    con = duckdb.connect()
    con.register("g", g)
    ratios = con.sql("""SELECT strftime(window_start, '%Y-%m-%dT%H:%M:%SZ') AS hour, cdn AS cdn_name,
                        device, attempts AS n, CASE WHEN attempts > 0 THEN ebvs / attempts END AS ebvs_pct,
                        CASE WHEN plays > 0 THEN vpf / plays END AS vpf_rate FROM g""").to_arrow_table()
    pacsv.write_csv(ratios, workdir / "batch.csv")
    config = write_config(workdir, {"batch": {
        "path": "batch.csv", "dimensions": ["cdn", "device"],
        "columns": {"window_start": "hour", "cdn": "cdn_name", "attempts": "n", "ebvs_rate": "ebvs_pct"},
        "metrics": ["attempts", "ebvs_rate", "vpf_rate"]}})
    code, out, err = run_cli(capsys, "run", "--config", str(config), "--json", "-q")
    assert code == 0, err
    metrics = {m["metric"]: m for m in json.loads(out)["pipelines"][0]["metrics"]}
    assert metrics["attempts"]["published_as"] == "components"
    assert metrics["ebvs_rate"]["published_as"] == "value" and metrics["ebvs_rate"]["note"]
    assert metrics["ebvs_rate"]["candidate"] is None      # a window value cannot be rebuilt from ratios
    # a wrong published ratio in one slice fails, as a value difference
    values = ratios.column("ebvs_pct").to_pylist()
    values[0] = (values[0] or 0) + 0.01
    pacsv.write_csv(ratios.set_column(4, "ebvs_pct", pa.array(values)), workdir / "batch.csv")
    code, out, _ = run_cli(capsys, "run", "--config", str(config), "--json", "-q")
    assert code == 1
    m = {m["metric"]: m for m in json.loads(out)["pipelines"][0]["metrics"]}["ebvs_rate"]
    assert m["status"] == "fail" and m["slices"][0]["direction"] == "higher"
    assert m["slices"][0]["abs_diff"] == pytest.approx(0.01)


def test_candidate_window_start_as_epoch_ms_and_naive_timestamp(workdir, golden_of, capsys):
    g = golden_of()
    ms = pc.cast(pc.cast(g.column("window_start"), pa.timestamp("ms", tz="UTC")), pa.int64())
    pq.write_table(g.set_column(0, "window_start", ms), workdir / "a.parquet")
    naive = pc.cast(g.column("window_start"), pa.timestamp("us"))
    pq.write_table(rename(g.set_column(0, "window_start", naive), {"window_start": "ws"}), workdir / "b.parquet")
    config = write_config(workdir, {"a": {"path": "a.parquet"},
                                    "b": {"path": "b.parquet", "columns": {"window_start": "ws"}}})
    code, _, err = run_cli(capsys, "run", "--config", str(config), "-q")
    assert code == 0, err


def test_a_pipeline_with_no_dimensions_is_compared_on_window_totals(workdir, golden_of, capsys):
    pq.write_table(golden_of(dims=()), workdir / "totals.parquet")
    config = write_config(workdir, {"totals": {"path": "totals.parquet", "dimensions": []}})
    code, out, err = run_cli(capsys, "run", "--config", str(config), "--json", "-q",
                             "--window", "2025-03-20T14:00:00Z/PT2H")
    assert code == 0, err
    p = json.loads(out)["pipelines"][0]
    assert p["dimensions"] == [] and p["rows"]["read"] == 2
    assert all(m["slice_counts"]["compared"] == 2 for m in p["metrics"])
