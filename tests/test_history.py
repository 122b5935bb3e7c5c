"""The run history: what a run appends, finding identity, lifecycle, supersession, acks, migration."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from conftest import run_cli, write_config

HERE = Path(__file__).parent
T14, T15 = "2025-03-20T14:00:00Z/PT1H", "2025-03-20T15:00:00Z/PT1H"
W14, W15 = 1742479200000, 1742482800000
LATER = "2025-04-01T00:00:00Z"         # every window final


def faulty(golden: pa.Table, *, windows: tuple[int, ...], cdn: str = "fastly") -> pa.Table:
    """Golden with one extra attempt in every row of ``cdn`` in the given windows (ms)."""
    ws = pc.cast(golden.column("window_start"), pa.int64()).to_numpy() // 1000
    hit = pa.array([(int(w) in windows) and c == cdn
                    for w, c in zip(ws, golden.column("cdn").to_pylist())])
    attempts = pc.add(golden.column("attempts"), pc.cast(hit, pa.int64()))
    return golden.set_column(golden.schema.get_field_index("attempts"), "attempts",
                             pc.cast(attempts, golden.schema.field("attempts").type))


@pytest.fixture
def audit(workdir, golden_of):
    """audit(windows_with_fault, *window_specs, store=...) -> (exit code, stderr): one run of
    `auditor run --history` with the batch pipeline off for cdn=fastly in those windows."""
    import pyarrow.parquet as pq

    def run(capsys, fault_windows, *specs, store="h.duckdb", extra=()):
        pq.write_table(faulty(golden_of(), windows=tuple(fault_windows)), workdir / "batch.parquet")
        config = write_config(workdir, {"batch": {"path": "batch.parquet", "metrics": ["attempts"]}})
        args = ["run", "--config", str(config), "-q", "--history", str(workdir / store), *extra]
        for s in specs:
            args += ["--window", s]
        code, _, err = run_cli(capsys, *args)
        return code, err
    return run


def history_json(capsys, store, at=LATER):
    code, out, err = run_cli(capsys, "history", "--history", str(store), "--json", "--at", at)
    assert code == 0, err
    return json.loads(out)


def by_identity(doc):
    return {f["identity"]: f for f in doc["findings"]}


FASTLY = "batch/attempts/cdn=fastly/higher"


def test_a_finding_is_named_by_pipeline_metric_slice_direction_not_window_or_size(workdir, audit, capsys):
    code, err = audit(capsys, [W14, W15], T14, T15)
    assert code == 1, err
    doc = history_json(capsys, workdir / "h.duckdb")
    assert list(by_identity(doc)) == [FASTLY]
    f = doc["findings"][0]
    assert [w["status"] for w in f["windows"]] == ["new", "recurring"]
    assert (f["first_seen"], f["last_seen"], f["windows_affected"], f["streak"]) == \
        ("2025-03-20T14:00:00Z", "2025-03-20T15:00:00Z", 2, 2)
    assert f["status"] == "recurring" and f["open"] and len(f["id"]) == 10


def test_the_window_that_closes_the_gap_resolves_the_finding(workdir, audit, capsys):
    audit(capsys, [W14], T14)
    code, _ = audit(capsys, [W14], T15)          # the pipeline is fixed in the 15:00 window
    assert code == 0
    f = by_identity(history_json(capsys, workdir / "h.duckdb"))[FASTLY]
    assert [w["status"] for w in f["windows"]] == ["new", "resolved-fixed"]
    assert f["status"] == "resolved-fixed" and not f["open"] and f["streak"] == 0


def test_backfills_in_any_order_give_the_same_history(workdir, audit, capsys):
    audit(capsys, [W14], T14, store="a.duckdb")
    audit(capsys, [W14], T15, store="a.duckdb")
    audit(capsys, [W14], T15, store="b.duckdb")
    audit(capsys, [W14], T14, store="b.duckdb")
    audit(capsys, [W14], T14, T15, store="c.duckdb")
    a, b, c = (history_json(capsys, workdir / s) for s in ("a.duckdb", "b.duckdb", "c.duckdb"))
    assert a["findings"] == b["findings"] == c["findings"]
    assert [w["status"] for w in a["findings"][0]["windows"]] == ["new", "resolved-fixed"]


def test_a_rerun_supersedes_the_window_and_keeps_the_earlier_rows_marked(workdir, audit, capsys):
    from auditor.history import open_store
    audit(capsys, [W14, W15], T14, T15)
    code, _ = audit(capsys, [], T15)             # the 15:00 window rerun after the fix
    assert code == 0
    f = by_identity(history_json(capsys, workdir / "h.duckdb"))[FASTLY]
    assert [w["status"] for w in f["windows"]] == ["new", "resolved-fixed"]
    with open_store(str(workdir / "h.duckdb")) as store:
        runs = [r["run_id"] for r in store.query("SELECT run_id FROM runs ORDER BY recorded_ms")]
        kept = store.query("SELECT run_id, superseded_by FROM findings WHERE window_ms = :w", {"w": W15})
        results = store.query("SELECT count(*) AS n FROM window_results WHERE superseded_by IS NOT NULL")
    assert len(runs) == 2 and kept == [{"run_id": runs[0], "superseded_by": runs[1]}]
    assert results[0]["n"] == 1


def test_a_window_the_pipeline_did_not_publish_is_not_observed_not_fixed(workdir, audit, golden_of, capsys):
    import pyarrow.parquet as pq
    audit(capsys, [W14], T14)
    g = golden_of()
    only14 = g.filter(pc.equal(pc.cast(g.column("window_start"), pa.int64()), W14 * 1000))
    pq.write_table(faulty(only14, windows=(W14,)), workdir / "batch.parquet")
    code, _, err = run_cli(capsys, "run", "--config", str(workdir / "audit.yaml"), "-q", "--history",
                           str(workdir / "h.duckdb"), "--window", T15)
    assert code == 1, err                        # a missing window fails the audit ...
    doc = by_identity(history_json(capsys, workdir / "h.duckdb"))
    assert [w["status"] for w in doc[FASTLY]["windows"]] == ["new", "not-observed"]
    assert doc[FASTLY]["open"]                   # ... and does not resolve what it cannot see
    assert doc["batch/attempts/*/missing"]["status"] == "new"


def test_a_provisional_finding_that_disappears_on_a_rerun_is_not_resolved(workdir, audit, capsys):
    import yaml
    audit(capsys, [W14, W15], T14, T15)
    config = workdir / "audit.yaml"
    data = yaml.safe_load(config.read_text())
    audit(capsys, [W14], T15)                    # late data arrived: 15:00 rerun is clean
    # still within the 15:00 window's horizon (it ends 16:00, late_arrival 6h): not fixed
    data["pipelines"]["batch"]["late_arrival"] = "6h"
    config.write_text(yaml.safe_dump(data))
    from auditor.config import load_config
    assert load_config(config).pipeline("batch").late_arrival_minutes == 360
    code, _, err = run_cli(capsys, "run", "--config", str(config), "-q", "--history",
                           str(workdir / "h.duckdb"), "--window", T15)
    assert code == 0, err
    early = by_identity(history_json(capsys, workdir / "h.duckdb", at="2025-03-20T18:00:00Z"))[FASTLY]
    assert [(w["status"], w["provisional"]) for w in early["windows"]] == \
        [("new", False), ("not-observed", True)]
    assert early["open"]
    late = by_identity(history_json(capsys, workdir / "h.duckdb", at="2025-03-20T22:00:01Z"))[FASTLY]
    assert [w["status"] for w in late["windows"]] == ["new", "resolved-fixed"]


def test_lifecycle_walks_windows_new_recurring_not_observed_resolved_regressed():
    from auditor.history.lifecycle import draw_lifecycle
    hour = 3_600_000
    windows = [{"pipeline": "batch", "metric": "ebvs_rate", "window_ms": k * hour, "window_minutes": 60,
                "published_rows": 0 if k == 3 else 10, "late_arrival_ms": 0, "golden": 0.1,
                "candidate": 0.1} for k in range(1, 9)]
    found = [{"finding_id": "f", "pipeline": "batch", "metric": "ebvs_rate", "slice": "device=roku",
              "direction": "higher", "window_ms": k * hour, "golden": 0.1, "candidate": 0.1 + k / 100,
              "share_of_gap": 1.0, "moved": "numerator", "detail": "{}"} for k in (2, 4, 7, 8)]
    (f,) = draw_lifecycle(windows, found, now=100 * hour)
    assert [w.status for w in f.windows] == ["new", "not-observed", "recurring", "resolved-fixed",
                                             "resolved-fixed", "regressed", "recurring"]
    assert (f.windows_affected, f.streak, f.first_seen_ms, f.last_seen_ms) == (4, 2, 2 * hour, 8 * hour)
    assert f.worst["window_ms"] == 8 * hour and f.open


def test_history_text_lists_ids_statuses_and_acknowledgements(workdir, audit, capsys):
    audit(capsys, [W14, W15], T14, T15)
    fid = history_json(capsys, workdir / "h.duckdb")["findings"][0]["id"]
    code, out, err = run_cli(capsys, "ack", fid, "--reason", "known: <b>CDN</b> double counts",
                             "--history", str(workdir / "h.duckdb"))
    assert code == 0 and fid in out and FASTLY in out, err
    code, out, _ = run_cli(capsys, "history", "--history", str(workdir / "h.duckdb"), "--at", LATER)
    assert code == 0
    assert "1 finding, 1 open" in out and fid in out and "recurring" in out and FASTLY in out
    assert f"{fid} (holds): known: <b>CDN</b> double counts" in out


def test_acknowledged_findings_do_not_fail_the_run_until_the_ack_expires(workdir, audit, capsys):
    code, _ = audit(capsys, [W14], T14)
    assert code == 1
    until = (datetime.now(timezone.utc) + timedelta(days=3)).strftime("%Y-%m-%d")
    code, _, err = run_cli(capsys, "ack", FASTLY, "--reason", "CDN log replay, fix in QOE-7",
                           "--until", until, "--history", str(workdir / "h.duckdb"))
    assert code == 0, err
    code, err = audit(capsys, [W15], T15)
    assert code == 0 and f"acknowledged, not failing the run: {FASTLY}" in err
    doc = by_identity(history_json(capsys, workdir / "h.duckdb"))
    assert doc[FASTLY]["ack"] == {"reason": "CDN log replay, fix in QOE-7", "active": True,
                                  "until": f"{until}T00:00:00Z"}
    # expired: the same finding fails the run again
    from auditor.history import load_acks, open_store
    from auditor.history.ack import decide_exit
    from auditor.audit import run_audit
    from auditor.config import load_config
    result = run_audit(load_config(workdir / "audit.yaml"), [T15], per_window=True)
    with open_store(str(workdir / "h.duckdb")) as store:
        acks = load_acks(store)
    assert decide_exit(result, acks)[0] == 0
    assert decide_exit(result, acks, now=datetime.now(timezone.utc) + timedelta(days=4))[0] == 1


def test_an_ack_covers_only_its_own_finding(workdir, audit, capsys):
    audit(capsys, [W14], T14)
    run_cli(capsys, "ack", FASTLY, "--reason", "known", "--history", str(workdir / "h.duckdb"))
    import pyarrow.parquet as pq
    code, err = audit(capsys, [], T15)
    assert code == 0
    # a second, unacknowledged finding in the same metric keeps the run failing
    from auditor.history.ack import decide_exit
    from auditor.history.lifecycle import Ack
    from auditor.audit import run_audit
    from auditor.config import load_config
    g = pq.read_table(workdir / "batch.parquet")
    pq.write_table(faulty(faulty(g, windows=(W15,)), windows=(W15,), cdn="akamai"), workdir / "batch.parquet")
    result = run_audit(load_config(workdir / "audit.yaml"), [T15], per_window=True)
    from auditor.history.record import FindingKey
    fastly = FindingKey.of("batch", "attempts", {"cdn": "fastly"}, "higher")
    assert decide_exit(result, {fastly.id: Ack("known", None, 0)})[0] == 1


def test_ack_errors_name_the_problem(workdir, audit, capsys):
    audit(capsys, [W14], T14)
    store = str(workdir / "h.duckdb")
    code, _, err = run_cli(capsys, "ack", "batch/attempts/cdn=fastly/lower", "--reason", "x", "--history", store)
    assert code == 2 and "no finding" in err and f"did you mean '{FASTLY}'" in err
    code, _, err = run_cli(capsys, "ack", FASTLY, "--reason", "x", "--until", "2020-01-01", "--history", store)
    assert code == 2 and "--until" in err and "in the past" in err
    code, _, err = run_cli(capsys, "ack", FASTLY, "--reason", "x", "--until", "soon", "--history", store)
    assert code == 2 and "--until" in err and "hint:" in err
    code, _, err = run_cli(capsys, "history", "--history", str(workdir / "nope.duckdb"))
    assert code == 2 and "no history store" in err and "hint:" in err
    code, _, err = run_cli(capsys, "history")
    assert code == 2 and "--history" in err


def test_history_location_from_audit_yaml(workdir, golden_of, capsys):
    import pyarrow.parquet as pq
    pq.write_table(faulty(golden_of(), windows=(W14,)), workdir / "batch.parquet")
    config = write_config(workdir, {"batch": {"path": "batch.parquet", "metrics": ["attempts"]}},
                          history="store/h.duckdb")
    code, _, err = run_cli(capsys, "run", "--config", str(config), "-q")
    assert code == 2 and "store" in err and "folder does not exist" in err
    (workdir / "store").mkdir()
    code, _, err = run_cli(capsys, "run", "--config", str(config))
    assert code == 1 and "history: recorded run" in err and str(workdir / "store" / "h.duckdb") in err
    code, out, _ = run_cli(capsys, "history", "--config", str(config), "--json")
    assert code == 0 and FASTLY in out


def test_late_arrival_errors_name_the_key(workdir, capsys):
    config = write_config(workdir, {"batch": {"path": "events.parquet", "late_arrival": "soon"}})
    code, _, err = run_cli(capsys, "run", "--config", str(config))
    assert code == 2 and "pipelines.batch.late_arrival" in err and "hint:" in err


def test_an_old_schema_is_migrated_forward(workdir, capsys):
    """tests/history/schema_v1.sql is a store as the first release wrote it (schema 1)."""
    import duckdb
    from auditor.history import SCHEMA_VERSION, open_store
    store = workdir / "old.duckdb"
    con = duckdb.connect(str(store))
    con.execute((HERE / "history" / "schema_v1.sql").read_text())
    con.close()
    code, _, err = run_cli(capsys, "history", "--history", str(store))
    assert code == 2 and "schema version 1" in err and "migrated by the next" in err
    with open_store(str(store), write=True) as s:
        assert s.version() == SCHEMA_VERSION == 2
        assert s.query("SELECT late_arrival_ms FROM window_results") == [{"late_arrival_ms": 0}] * 2
    doc = history_json(capsys, store)
    (f,) = doc["findings"]
    assert f["identity"] == "batch/ebvs_rate/device=roku/higher"
    assert [w["status"] for w in f["windows"]] == ["new", "resolved-fixed"]


def test_a_store_from_a_newer_auditor_is_refused(workdir):
    import duckdb
    from auditor.errors import InputError
    from auditor.history import open_store
    con = duckdb.connect(str(workdir / "new.duckdb"))
    con.execute("CREATE TABLE history_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                "INSERT INTO history_meta VALUES ('schema_version', '99')")
    con.close()
    with pytest.raises(InputError, match="schema version 99"):
        open_store(str(workdir / "new.duckdb"), write=True)


def test_what_a_run_appends(workdir, audit, capsys):
    from auditor.history import open_store
    code, _ = audit(capsys, [W14], T14, extra=("--out", str(workdir / "out")))
    assert code == 1
    with open_store(str(workdir / "h.duckdb")) as store:
        (run,) = store.query("SELECT * FROM runs")
        results = store.query("SELECT * FROM window_results")
        (finding,) = store.query("SELECT * FROM findings")
        checks = store.query("SELECT check_name, status FROM quality_counts")
    from auditor import __version__
    assert run["auditor_version"] == __version__ and run["definitions_fingerprint"].startswith("sha256:")
    assert run["report_dir"] == str(workdir / "out") and run["status"] == "fail"
    assert json.loads(run["golden_options"])["start_anchor"] == "content_frame"
    assert [(r["metric"], r["window_ms"], r["status"]) for r in results] == [("attempts", W14, "fail")]
    assert results[0]["cand_num"] > results[0]["golden_num"] and results[0]["tolerance"] == "exact"
    assert (finding["slice"], finding["direction"], finding["moved"]) == ("cdn=fastly", "higher", "numerator")
    assert json.loads(finding["detail"])["share_of_gap"] == 1.0
    assert {"duplicate_events", "required_columns"} <= {c["check_name"] for c in checks}
