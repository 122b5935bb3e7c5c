"""auditor run end to end: exit codes, report contents, no partial reports."""
from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from candidates import bump, find_row
from conftest import WINDOW, run_cli, write_config


def _reports(out):
    return sorted(p.name for p in out.iterdir()) if out.exists() else []


def test_correct_pipeline_passes_with_zero_differences(workdir, golden_of, capsys):
    pq.write_table(golden_of(), workdir / "batch.parquet")
    config = write_config(workdir, {"batch": {"path": "batch.parquet"}})
    code, out, err = run_cli(capsys, "run", "--config", str(config), "--out", str(workdir / "r"))
    assert code == 0, err
    report = json.loads((workdir / "r" / "report.json").read_text())
    assert report["status"] == "pass"
    (batch,) = report["pipelines"]
    assert len(batch["metrics"]) == 9
    for m in batch["metrics"]:
        assert m["status"] == "pass" and m["slice_counts"]["differing"] == 0
        assert m["num_diff"] == 0 and m["den_diff"] in (0, None)
        assert m["golden_num"] == m["cand_num"] > 0
        assert m["explanations"] == []
    # golden_of() covers 14:00-16:00; the audited window is audit.yaml's 14:00 hour, so the
    # pipeline's 15:00 rows are read but lie outside it
    hours = [v.hour for v in golden_of().column("window_start").to_pylist()]
    assert set(hours) == {14, 15}
    assert batch["rows"] == {"read": len(hours), "outside_windows": hours.count(15),
                             "golden_only": 0, "candidate_only": 0}
    assert "auditor run: PASS" in out  # stdout is the summary; progress is on stderr
    assert "[golden 1/1]" in err and "[golden" not in out


def test_injected_error_fails_naming_pipeline_metric_and_direction(workdir, golden_of, capsys):
    golden = golden_of()
    pq.write_table(golden, workdir / "streaming.parquet")
    row = find_row(golden, window_start=pa.scalar(golden.column("window_start")[0]), device="roku")
    pq.write_table(bump(golden, "ebvs", row, 2), workdir / "batch.parquet")
    config = write_config(workdir, {"streaming": {"path": "streaming.parquet"},
                                    "batch": {"path": "batch.parquet"}})
    code, out, _ = run_cli(capsys, "run", "--config", str(config), "--out", str(workdir / "r"), "--junit")
    assert code == 1
    report = json.loads((workdir / "r" / "report.json").read_text())
    assert report["status"] == "fail"
    batch = next(p for p in report["pipelines"] if p["name"] == "batch")
    failed = [m for m in batch["metrics"] if m["status"] == "fail"]
    assert [m["metric"] for m in failed] == ["ebvs_rate"]
    m = failed[0]
    assert m["direction"] == "higher" and m["moved"] == "numerator"
    assert m["num_diff"] == 2 and m["den_diff"] == 0
    assert m["slice_counts"]["failed"] == 1
    assert m["slices"][0]["slice"]["device"] == "roku" and m["slices"][0]["moved"] == "numerator"
    # localized to a slice that contains the bumped row
    bumped = {d: golden.column(d)[row].as_py() for d in ("cdn", "device", "player_version", "country")}
    assert m["explanations"] and m["explanations"][0]["share_of_gap"] == pytest.approx(1.0)
    assert m["explanations"][0]["slice"].items() <= bumped.items()
    verdict = next(v for v in report["verdicts"] if v["metric"] == "ebvs_rate")
    assert verdict["off"] == ["batch"] and verdict["agree"] == ["streaming"]
    assert not verdict["candidates_agree_not_golden"]
    assert "### 1. batch ebvs_rate +" in out and "**Next:** `auditor explain" in out
    junit = (workdir / "r" / "junit.xml").read_text()
    assert junit.count("<testcase") == 18 and junit.count("<failure") == 1


def test_sessions_moved_between_slices_fail_even_with_intact_totals(workdir, golden_of, capsys):
    golden = golden_of()
    first = golden.column("window_start")[0]
    a = find_row(golden, window_start=pa.scalar(first), cdn="akamai")
    b = find_row(golden, window_start=pa.scalar(first), cdn="fastly")
    moved = bump(bump(golden, "attempts", a, -1), "attempts", b, +1)
    pq.write_table(moved, workdir / "batch.parquet")
    config = write_config(workdir, {"batch": {"path": "batch.parquet", "metrics": ["attempts"]}})
    code, out, _ = run_cli(capsys, "run", "--config", str(config), "--json")
    assert code == 1
    m = json.loads(out)["pipelines"][0]["metrics"][0]
    assert m["metric"] == "attempts" and m["diff"] == 0     # the window total is intact
    assert m["status"] == "fail" and m["slice_counts"]["failed"] == 2
    assert {s["direction"] for s in m["slices"]} == {"higher", "lower"}


def test_pipelines_that_agree_with_each_other_but_not_golden(workdir, golden_of, capsys):
    golden = golden_of()
    wrong = bump(golden, "vsf", find_row(golden, device="web"), 3)
    for name in ("streaming", "batch"):
        pq.write_table(wrong, workdir / f"{name}.parquet")
    config = write_config(workdir, {"streaming": {"path": "streaming.parquet"},
                                    "batch": {"path": "batch.parquet"}})
    code, out, _ = run_cli(capsys, "run", "--config", str(config), "--json", "-q")
    assert code == 1
    verdict = next(v for v in json.loads(out)["verdicts"] if v["metric"] == "vsf_rate")
    assert verdict["off"] == ["streaming", "batch"] and verdict["candidates_agree_not_golden"]
    assert "agree with each other but not with golden" in verdict["summary"]


def test_gaps_extra_rows_and_rows_outside_the_window(workdir, golden_of, capsys):
    golden = golden_of()                                  # two hours: 14:00 and 15:00
    dropped = golden.slice(1)                             # row 0 is in the 14:00 window
    extra = pa.table({c: [golden.column(c)[0].as_py()] for c in golden.column_names})
    extra = extra.set_column(extra.schema.get_field_index("cdn"), "cdn", pa.array(["new-cdn"]))
    pq.write_table(pa.concat_tables([dropped, extra.cast(golden.schema)]), workdir / "batch.parquet")
    config = write_config(workdir, {"batch": {"path": "batch.parquet", "metrics": ["attempts", "ebvs_rate"]}})
    code, out, _ = run_cli(capsys, "run", "--config", str(config), "--window", WINDOW, "--json", "-q")
    assert code == 1
    batch = json.loads(out)["pipelines"][0]
    outside = sum(1 for v in golden.column("window_start").to_pylist() if v.hour == 15)
    assert batch["rows"]["outside_windows"] == outside
    assert batch["rows"]["golden_only"] == 1 and batch["rows"]["candidate_only"] == 1
    attempts = batch["metrics"][0]
    assert attempts["diff"] == 0        # the row moved to a new slice: totals intact, slices not
    presences = {s["presence"] for s in attempts["slices"]}
    assert presences == {"golden_only", "candidate_only"}


def test_zero_denominator_slices_are_null_not_zero(workdir, golden_of, capsys):
    golden = golden_of()
    pq.write_table(golden, workdir / "batch.parquet")
    config = write_config(workdir, {"batch": {"path": "batch.parquet", "metrics": ["vpf_rate"]}})
    code, out, _ = run_cli(capsys, "run", "--config", str(config), "--json", "-q")
    assert code == 0
    # a slice with plays = 0 and a candidate that invents one failure there
    zero = next(i for i, p in enumerate(golden.column("plays").to_pylist()) if p == 0)
    pq.write_table(bump(golden, "vpf", zero, 1), workdir / "batch.parquet")
    code, out, _ = run_cli(capsys, "run", "--config", str(config), "--json", "-q")
    s = json.loads(out)["pipelines"][0]["metrics"][0]["slices"][0]
    assert s["golden"] is None and s["candidate"] is None     # 0/0 and 1/0: null, never 0
    assert s["golden_den"] == s["cand_den"] == 0 and s["num_diff"] == 1 and s["status"] == "fail"
    assert code == 1


@pytest.mark.parametrize("fault, message", [
    ("missing_column", "column 'ebvs' is missing (ebvs_rate needs 'ebvs', or a column with the final value"),
    ("duplicate_keys", "2 rows share the window"),
    ("nan", "NaN"),
])
def test_malformed_candidate_exits_2_and_writes_nothing(workdir, golden_of, capsys, fault, message):
    golden = golden_of()
    if fault == "missing_column":
        bad = golden.drop_columns(["ebvs"])
        spec = {"path": "batch.parquet", "metrics": ["ebvs_rate"]}
    elif fault == "duplicate_keys":
        bad = pa.concat_tables([golden, golden.slice(3, 1)])
        spec = {"path": "batch.parquet"}
    else:
        bad = golden.set_column(golden.schema.get_field_index("play_ms"), "play_ms",
                                pa.array([float("nan")] + golden.column("play_ms").to_pylist()[1:], pa.float64()))
        spec = {"path": "batch.parquet"}
    pq.write_table(bad, workdir / "batch.parquet")
    config = write_config(workdir, {"batch": spec})
    code, out, err = run_cli(capsys, "run", "--config", str(config), "--out", str(workdir / "r"), "--junit")
    assert code == 2
    assert message in err and "batch.parquet" in err and "Traceback" not in err
    assert out == "" and _reports(workdir / "r") == []


def test_bad_config_exits_2_with_file_line_and_hint(workdir, capsys):
    (workdir / "audit.yaml").write_text("events: events.parquet\npipelines:\n  batch:\n    pth: x.parquet\n")
    code, out, err = run_cli(capsys, "run", "--config", str(workdir / "audit.yaml"), "--out", str(workdir / "r"))
    assert code == 2 and out == "" and _reports(workdir / "r") == []
    assert "audit.yaml:4: pipelines.batch.pth: unknown key 'pth'" in err
    assert "did you mean 'path'?" in err


def test_backfill_range_reports_each_window(workdir, golden_of, capsys):
    golden = golden_of()
    second = next(i for i, v in enumerate(golden.column("window_start").to_pylist()) if v.hour == 15)
    pq.write_table(bump(golden, "plays", second, -1), workdir / "batch.parquet")
    config = write_config(workdir, {"batch": {"path": "batch.parquet", "metrics": ["plays"]}})
    code, out, err = run_cli(capsys, "run", "--config", str(config), "--json",
                             "--window", "2025-03-20T14:00:00Z/2025-03-20T16:00:00Z")
    assert code == 1
    report = json.loads(out)
    assert [w["start"] for w in report["windows"]] == ["2025-03-20T14:00:00Z", "2025-03-20T15:00:00Z"]
    plays = report["pipelines"][0]["metrics"][0]
    assert [w["status"] for w in plays["windows"]] == ["pass", "fail"]
    assert plays["windows"][1]["direction"] == "lower"
    # the same two windows given separately, and the first alone passes
    code, out, _ = run_cli(capsys, "run", "--config", str(config), "--json", "-q",
                           "--window", "2025-03-20T15:00:00Z/PT1H", "--window", WINDOW)
    assert code == 1 and len(json.loads(out)["windows"]) == 2
    code, _, _ = run_cli(capsys, "run", "--config", str(config), "-q", "--window", WINDOW)
    assert code == 0
