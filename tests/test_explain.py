"""`auditor explain`: the drill-down of one gap, on the headline_ebvs fixture (batch EBVS +8%
from a share of one device x player-version slice's sessions losing first_frame; the slice
and the effect are read from the fixture's truth.json)."""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import run_cli

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "headline_ebvs"
CONFIG = str(FIXTURE / "audit.yaml")


@pytest.fixture(scope="module")
def drill():
    from auditor.config import load_config
    from auditor.explain import explain_metric
    return explain_metric(load_config(CONFIG), "batch", "ebvs_rate", max_sessions=100)


TRUTH = json.loads((FIXTURE / "truth.json").read_text())["faults"][0]
FAULT_SLICE = TRUTH["slice"]


def _effect(metric: str) -> dict:
    return next(e for e in TRUTH["effect"] if e["metric"] == metric)


def _fault_sessions() -> set[str]:
    rows = pq.read_table(FIXTURE / "batch_sessions.parquet").to_pandas()
    mask = True
    for dim, value in FAULT_SLICE.items():
        mask = mask & (rows[dim] == value)
    return set(rows[mask].session_id)


def test_top_slice_is_the_faulty_slice(drill):
    lost = int(_effect("plays")["slice_golden"] - _effect("plays")["slice_candidate"])
    assert drill.status == "fail" and drill.exit_code == 1 and drill.total.moved == "numerator"
    for loc in (drill.localization, drill.sessions.localization):
        top = loc.explanations[0]
        assert top.slice == FAULT_SLICE
        assert top.share_of_gap == pytest.approx(1.0) and top.num_delta == lost and top.den_delta == 0
        assert top.golden_value == pytest.approx(_effect("ebvs_rate")["slice_golden"])
        assert top.candidate_value == pytest.approx(_effect("ebvs_rate")["slice_candidate"])
        assert top.support == len(_fault_sessions()) and top.confidence > 0


def test_disagreeing_sessions_are_named_and_counted(drill):
    plays = _effect("plays")
    lost = int(plays["slice_golden"] - plays["slice_candidate"])   # sessions that lost first_frame
    s = drill.sessions
    assert lost > 0 and s.slices[0].disagreeing == s.overall.disagreeing == lost
    assert s.overall.golden_only == s.overall.pipeline_only == 0
    assert len(s.sessions) == lost and not s.truncated
    in_slice = _fault_sessions()
    for d in s.sessions:
        assert d.session_id in in_slice and d.slice_rank == 1
        assert all(d.dimensions[dim] == value for dim, value in FAULT_SLICE.items())
        assert (d.golden["ebvs"], d.pipeline["ebvs"]) == (0, 1)
        assert (d.golden["started"], d.pipeline["started"]) == (1, 0)
        assert d.golden["attempt"] == d.pipeline["attempt"] == 1


def test_cli_tables_and_json(capsys, tmp_path):
    import jsonschema
    from auditor.explain import explain_schema
    code, out, err = run_cli(capsys, "explain", "--config", CONFIG, "--pipeline", "batch",
                             "--metric", "ebvs_rate", "--sessions", "3")
    assert code == 1 and "\x1b[" not in out
    lost = int(_effect("plays")["slice_golden"] - _effect("plays")["slice_candidate"])
    assert all(f"{dim}={value}" in out for dim, value in FAULT_SLICE.items())
    assert f"{lost} disagree" in out and f"3 of {lost}" in out
    code, out, _ = run_cli(capsys, "explain", "--config", CONFIG, "--pipeline", "batch",
                           "--metric", "ebvs_rate", "--sessions", "3", "--depth", "2", "--json")
    report = json.loads(out)
    jsonschema.validate(report, explain_schema())
    assert code == 1 and report["status"] == "fail" and len(report["sessions"]["sessions"]) == 3
    assert report["localization"]["explanations"][0]["slice"] == FAULT_SLICE


def test_metric_without_gap_says_so(capsys):
    code, out, _ = run_cli(capsys, "explain", "--config", CONFIG, "--pipeline", "streaming",
                           "--metric", "ebvs_rate")
    assert code == 0 and "no gap" in out


@pytest.mark.parametrize("args, message", [
    (("--pipeline", "bach", "--metric", "ebvs_rate"), "did you mean 'batch'"),
    (("--pipeline", "batch", "--metric", "ebvs"), "did you mean 'ebvs_rate'"),
])
def test_unknown_names_exit_2_with_a_suggestion(capsys, args, message):
    code, out, err = run_cli(capsys, "explain", "--config", CONFIG, *args)
    assert code == 2 and message in err and "Traceback" not in err


def test_session_rows_missing_a_fact_exit_2(capsys, tmp_path):
    import shutil
    import yaml
    for name in ("events.parquet", "batch.parquet"):
        shutil.copy(FIXTURE / name, tmp_path / name)
    rows = pq.read_table(FIXTURE / "batch_sessions.parquet").drop(["ebvs"])
    pq.write_table(rows, tmp_path / "batch_sessions.parquet")
    config = yaml.safe_load((FIXTURE / "audit.yaml").read_text())
    config["pipelines"] = {"batch": {"path": "batch.parquet", "sessions": "batch_sessions.parquet"}}
    (tmp_path / "audit.yaml").write_text(yaml.safe_dump(config))
    code, _, err = run_cli(capsys, "explain", "--config", str(tmp_path / "audit.yaml"),
                           "--pipeline", "batch", "--metric", "ebvs_rate")
    assert code == 2 and "'ebvs'" in err and "batch_sessions.parquet" in err
