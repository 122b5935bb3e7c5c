"""Generated datasets and curated scenarios: realism, determinism, the CLI, committed fixtures."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from auditor.golden import calculator as golden
from auditor.cli import main
from auditor.synth.dataset import write_dataset
from auditor.synth.faults import parse_fault
from auditor.synth.generate import generate_events
from auditor.synth.scenarios import SCENARIOS, build_scenario

FIXTURES = Path(__file__).parents[1] / "fixtures"


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def sessions():
    return golden.compute_golden(generate_events(20_000, 99), with_sessions=True).sessions.to_pandas()


def test_outcomes_are_in_realistic_ranges(sessions):
    s = sessions
    attempts, started = s.attempt.sum(), s.started.sum()
    assert 0.05 <= s.ebvs.sum() / attempts <= 0.15
    assert 0.01 <= s.vsf.sum() / attempts <= 0.02
    assert 1_000 <= s[s.started == 1].vst_ms.median() <= 6_000
    assert 0.003 <= s.stall_ms.sum() / (s.play_ms.sum() + s.stall_ms.sum()) <= 0.02
    assert 0 < s.vpf.sum() / started < 0.02
    assert 500 < s.bitrate_kbps_ms.sum() / s.play_ms.sum() < 8_000


def test_slow_devices_and_networks_lose_more_viewers_and_stall_more(sessions):
    by_device = sessions.groupby("device")
    ebvs = by_device.ebvs.sum() / by_device.attempt.sum()
    rebuf = by_device.stall_ms.sum() / (by_device.play_ms.sum() + by_device.stall_ms.sum())
    assert ebvs["smart_tv"] > ebvs["ios"] and ebvs["smart_tv"] > ebvs["appletv"]
    assert rebuf["smart_tv"] > 2 * rebuf["appletv"]
    by_country = sessions.groupby("country")
    country_ebvs = by_country.ebvs.sum() / by_country.attempt.sum()
    assert country_ebvs["in"] > country_ebvs["us"]


def test_same_seed_gives_byte_identical_dataset(tmp_path):
    faults = [parse_fault("missing_first_frame:device=roku:0.5"),
              parse_fault("late_events_dropped:device=android:60")]
    for name, seed in (("a", 4), ("b", 4), ("c", 5)):
        write_dataset(tmp_path / name, sessions=800, seed=seed, faults=faults)
    a, b, c = (_digests(tmp_path / n) for n in "abc")
    assert set(a) == {"events.parquet", "streaming.parquet", "batch.parquet",
                      "batch_sessions.parquet", "truth.json", "audit.yaml"}
    assert a == b
    assert a["events.parquet"] != c["events.parquet"] and a["truth.json"] != c["truth.json"]


def test_truth_describes_every_fault(tmp_path):
    ds = write_dataset(tmp_path, sessions=1500, seed=2,
                       faults=[parse_fault("fatal_error_as_ebvs:cdn=edgio&device=roku")])
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert truth == json.loads(json.dumps(ds.truth))
    (fault,) = truth["faults"]
    assert fault["pipeline"] == "batch" and fault["kind"] == "fatal_error_as_ebvs"
    assert fault["slice"] == {"cdn": "edgio", "device": "roku"}
    assert fault["metrics"] == {"ebvs_rate": "up", "vsf_rate": "down"}
    assert [e["metric"] for e in fault["effect"]] == ["ebvs_rate", "vsf_rate"]


def test_generate_command_writes_an_auditable_folder(tmp_path, capsys):
    out = tmp_path / "g"
    with pytest.raises(SystemExit) as done:
        main(["generate", "--sessions", "300", "--seed", "1", "--out", str(out),
              "--fault", "batch/missing_first_frame:device=roku&player_version=5.2:0.5",
              "--windows", "2", "--window-minutes", "30"])
    assert done.value.code == 0
    assert "events.parquet" in capsys.readouterr().out
    import yaml
    config = yaml.safe_load((out / "audit.yaml").read_text())
    assert config["window"] == {"start": "2025-03-20T14:00:00Z", "minutes": 30}
    assert config["pipelines"]["batch"] == {"path": "batch.parquet", "sessions": "batch_sessions.parquet"}
    windows = pq.read_table(out / "streaming.parquet")["window_start"].unique()
    assert len(windows) >= 2


@pytest.mark.parametrize("args, message", [
    (["--fault", "batch/bogus:*"], "unknown fault kind"),
    (["--fault", "missing_first_frame:colour=red"], "unknown dimension"),
    (["--sessions", "0"], "0"),
])
def test_generate_command_rejects_bad_input_with_exit_2(tmp_path, capsys, args, message):
    base = ["generate", "--sessions", "10", "--out", str(tmp_path / "x")]
    with pytest.raises(SystemExit) as done:
        main(base + args)
    assert done.value.code == 2
    assert message in capsys.readouterr().err


def test_events_only_skips_pipelines(tmp_path):
    ds = write_dataset(tmp_path, sessions=200, seed=1, events_only=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.parquet", "truth.json"]
    assert ds.files == {"events": "events.parquet"}


def test_headline_scenario_at_demo_size_is_an_8_percent_ebvs_gap(tmp_path):
    ds = build_scenario("headline_ebvs", tmp_path, sessions=10_000)
    expected = json.loads((tmp_path / "expected.json").read_text())
    main_finding = next(f for f in expected["findings"] if f["primary"])
    assert (main_finding["pipeline"], main_finding["metric"], main_finding["direction"]) == ("batch", "ebvs_rate", "up")
    assert 0.06 <= main_finding["rel_diff"] <= 0.10
    assert main_finding["top_slice"] == {"device": "firetv", "player_version": "4.0"}
    assert 250_000 <= ds.events_rows <= 400_000


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_committed_fixtures_are_what_the_script_makes(name, tmp_path):
    """Fixtures change on purpose: rerun fixtures/make_fixtures.py and commit."""
    build_scenario(name, tmp_path)
    assert _digests(FIXTURES / name) == _digests(tmp_path), (
        f"fixtures/{name} is stale: run .venv/bin/python fixtures/make_fixtures.py {name}")


def test_every_scenario_has_an_expected_outcome():
    for name, scenario in SCENARIOS.items():
        expected = json.loads((FIXTURES / name / "expected.json").read_text())
        assert expected["status"] == ("pass" if not scenario.faults else "fail")
        pipelines = {parse_fault(f).pipeline for f in scenario.faults}
        assert {f["pipeline"] for f in expected["findings"] if f["primary"]} == pipelines
