"""Declared deviations (docs/deviations.md): a pipeline's known deviation from golden is
judged apart. The streaming_watermark fixture's pipeline drops events more than 120 s late:
a declared 120-s watermark turns its failure into a pass with the expected part reported,
a 60-s declaration still fails on the remainder. Both end to end through the CLI."""
from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
import yaml

from auditor.render.json import report_schema
from conftest import run_cli

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "streaming_watermark"


def _fixture_with(tmp_path: Path, deviations) -> Path:
    """The fixture's files with its audit.yaml, the streaming pipeline declaring ``deviations``."""
    folder = tmp_path / "fx"
    folder.mkdir()
    for name in ("events.parquet", "streaming.parquet", "batch.parquet", "batch_sessions.parquet"):
        shutil.copy(FIXTURE / name, folder / name)
    config = yaml.safe_load((FIXTURE / "audit.yaml").read_text())
    config["quality"] = False
    if deviations is not None:
        config["pipelines"]["streaming"]["deviations"] = deviations
    (folder / "audit.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return folder / "audit.yaml"


def _run(capsys, config: Path, out: Path):
    code, stdout, err = run_cli(capsys, "run", "--config", str(config), "--out", str(out), "--junit", "-q")
    report = json.loads((out / "report.json").read_text())
    jsonschema.validate(report, report_schema())
    return code, stdout, err, report


def _metrics(report, pipeline="streaming"):
    p = next(p for p in report["pipelines"] if p["name"] == pipeline)
    return p, {m["metric"]: m for m in p["metrics"]}


WATERMARK_120 = [{"mechanism": "late_events_dropped", "params": {"watermark_s": 120},
                  "reason": "the streaming job's watermark"}]


def test_the_fixture_fails_without_a_declaration():
    expected = json.loads((FIXTURE / "expected.json").read_text())
    assert expected["status"] == "fail"
    assert {f["metric"] for f in expected["findings"] if f["pipeline"] == "streaming"} >= {
        "play_minutes", "attempts", "plays"}


def test_declared_120s_watermark_turns_the_failure_into_a_pass(tmp_path, capsys):
    code, stdout, err, report = _run(capsys, _fixture_with(tmp_path, WATERMARK_120), tmp_path / "r")
    assert code == 0, err
    assert report["status"] == "pass"
    streaming, metrics = _metrics(report)
    assert streaming["status"] == "pass"
    assert [d["label"] for d in streaming["deviations"]] == ["late_events_dropped(watermark_s=120)"]
    play = metrics["play_minutes"]["deviation"]
    # the whole gap is expected: reproduced exactly, and it would fail without the declaration
    assert play["gap"] < 0 and play["expected_diff"] == pytest.approx(play["gap"])
    assert play["expected_share"] == pytest.approx(1.0) and play["remainder_diff"] == 0
    assert play["exact"] is True and play["status_without"] == "fail"
    assert metrics["play_minutes"]["golden"] == play["expected"] == play["candidate"]
    moved = [m for m, v in metrics.items() if v["deviation"]["status_without"] == "fail"]
    assert {"play_minutes", "attempts", "plays"} <= set(moved)
    # batch declares nothing: no split in its metrics
    batch, batch_metrics = _metrics(report, "batch")
    assert "deviations" not in batch and all("deviation" not in m for m in batch_metrics.values())
    # every view shows the expected part
    summary = (tmp_path / "r" / "summary.md").read_text()
    assert "auditor run: PASS" in summary and "streaming: declared deviations" in summary
    assert "late_events_dropped(watermark_s=120)" in summary and "reproduced exactly" in summary
    assert "FAIL without the declarations" in summary
    html = (tmp_path / "r" / "report.html").read_text()
    assert 'id="deviations-streaming"' in html and "expected part" in html
    assert "the streaming job&#39;s watermark" in html
    cases = {c.get("name"): c for c in ET.parse(tmp_path / "r" / "junit.xml").getroot()
             .iter("testcase") if c.get("classname") == "auditor.streaming"}
    assert cases["play_minutes"].find("failure") is None
    assert "reproduced exactly" in cases["play_minutes"].find("system-out").text


def test_declared_60s_watermark_still_fails_on_the_remainder(tmp_path, capsys):
    too_strict = [{"mechanism": "late_events_dropped", "params": {"watermark_s": 60}}]
    code, stdout, err, report = _run(capsys, _fixture_with(tmp_path, too_strict), tmp_path / "r")
    assert code == 1, err
    assert report["status"] == "fail"
    streaming, metrics = _metrics(report)
    assert streaming["status"] == "fail"
    play = metrics["play_minutes"]
    assert play["status"] == "fail"
    split = play["deviation"]
    # most of the gap is expected, but a 60-s cut drops events the pipeline kept
    assert 0.9 < split["expected_share"] < 1.0 and split["remainder_diff"] != 0
    assert split["exact"] is False
    # the judged comparison is the remainder: pipeline vs golden under the declaration
    assert play["golden"] == split["expected"] and play["diff"] == pytest.approx(split["remainder_diff"])
    # attempts lose the same sessions at 60 s and at 120 s: expected, and passing
    assert metrics["attempts"]["status"] == "pass" and metrics["attempts"]["deviation"]["exact"]
    # no catalogued mechanism reproduces the remainder on golden, so the search measured the
    # whole gap where the remainder is: the pipeline's watermark is 120 s, not the declared 60
    finding = play["explanations"][0]["mechanism"]
    assert finding["whole_gap"] is True and finding["status"] == "exact"
    assert finding["mechanism"] == "late_events_dropped" and finding["best"]["params"] == {"watermark_s": 120}
    assert finding["summary"] == ("the whole gap, declared part included: reproduced exactly by "
                                  "events arriving more than 120 s late dropped (a watermark)")
    summary = (tmp_path / "r" / "summary.md").read_text()
    row = next(line for line in summary.splitlines() if line.startswith("| play_minutes |") and "of the gap" in line)
    assert "**FAIL**" in row and "reproduced exactly" not in row
    cases = {c.get("name"): c for c in ET.parse(tmp_path / "r" / "junit.xml").getroot()
             .iter("testcase") if c.get("classname") == "auditor.streaming"}
    assert cases["play_minutes"].find("failure") is not None
    assert "the only part judged" in cases["play_minutes"].find("system-out").text


@pytest.mark.parametrize("deviations, key, message, hint", [
    ([{"mechanism": "late_event_dropped", "params": {"watermark_s": 120}}],
     "pipelines.streaming.deviations[0].mechanism", "unknown mechanism 'late_event_dropped'",
     "did you mean 'late_events_dropped'?"),
    ([{"mechanism": "late_events_dropped"}], "pipelines.streaming.deviations[0].params",
     "needs its parameter 'watermark_s'", "e.g. params: {watermark_s:"),
    ([{"mechanism": "late_events_dropped", "params": {"watermark": 120}}],
     "pipelines.streaming.deviations[0].params.watermark", "unknown key 'watermark'",
     "did you mean 'watermark_s'?"),
    ([{"mechanism": "late_events_dropped", "params": {"watermark_s": "2m"}}],
     "pipelines.streaming.deviations[0].params.watermark_s", "must be a number", "e.g. watermark_s:"),
    ([{"mechanism": "missing_first_frame", "params": {"share": 1.5}}],
     "pipelines.streaming.deviations[0].params.share", "share of sessions in (0, 1]", "share: 0.15"),
    ([{"mechanism": "bitrate_in_bps", "params": {"factor": 1000}}],
     "pipelines.streaming.deviations[0].params.factor", "takes no parameter", "drop params"),
    ([{"mechanism": "missing_first_frame", "slice": {"devices": "roku"}}],
     "pipelines.streaming.deviations[0].slice.devices", "unknown key 'devices'", "did you mean 'device'?"),
    ([{"mechanism": "missing_first_frame", "reasons": "x"}],
     "pipelines.streaming.deviations[0].reasons", "unknown key 'reasons'", "did you mean 'reason'?"),
    ({"mechanism": "late_events_dropped"}, "pipelines.streaming.deviations", "deviations is a list",
     "e.g. deviations: [{mechanism:"),
])
def test_bad_declarations_exit_2_naming_file_key_and_a_hint(tmp_path, capsys, deviations, key, message,
                                                            hint):
    config = _fixture_with(tmp_path, deviations)
    out = tmp_path / "r"
    code, stdout, err = run_cli(capsys, "run", "--config", str(config), "--out", str(out))
    assert code == 2, err
    assert f"{config}:" in err and key in err and message in err and hint in err
    assert "Traceback" not in err and not out.exists()


def test_a_sliced_declaration_is_judged_on_its_slice_only(tmp_path, capsys):
    # the watermark declared for Android alone: Android's part of the gap is expected,
    # every other device's late-event loss is the remainder, which fails
    android = [{"mechanism": "late_events_dropped", "params": {"watermark_s": 120},
                "slice": {"device": "android"}}]
    code, stdout, err, report = _run(capsys, _fixture_with(tmp_path, android), tmp_path / "r")
    assert code == 1, err
    streaming, metrics = _metrics(report)
    assert streaming["deviations"][0]["label"] == "late_events_dropped(watermark_s=120) on device=android"
    split = metrics["play_minutes"]["deviation"]
    assert 0 < split["expected_share"] < 1 and metrics["play_minutes"]["status"] == "fail"
    top = metrics["play_minutes"]["explanations"][0]["slice"]
    assert top.get("device") != "android"   # the remainder lies outside the declared slice


@pytest.mark.browser
def test_the_split_is_visible_in_a_real_browser(tmp_path, capsys):
    """report.html in headless Chromium (the system one): the declared-deviations section
    is rendered with one row per metric with a gap and the failing remainder marked."""
    from browser_support import open_page

    too_strict = [{"mechanism": "late_events_dropped", "params": {"watermark_s": 60}}]
    _run(capsys, _fixture_with(tmp_path, too_strict), tmp_path / "r")
    with open_page(tmp_path / "r" / "report.html") as (visit, page):
        heading = page.locator("#deviations-streaming")
        assert heading.is_visible() and heading.inner_text() == "streaming: declared deviations"
        table = page.locator("#deviations-streaming ~ div.scroll table").first
        rows = table.locator("tr")
        assert rows.count() == 1 + 9          # header + every metric (all have a gap)
        failing = [rows.nth(i).locator("td").first.inner_text() for i in range(1, rows.count())
                   if rows.nth(i).locator("td span.fail").count()]
        assert sorted(failing) == ["avg_bitrate_kbps", "play_minutes", "rebuffering_ratio"]
        heading.scroll_into_view_if_needed()
        page.screenshot(path=str(tmp_path / "deviations.png"))
        assert visit.console_errors == visit.page_errors == visit.network == []
    assert (tmp_path / "deviations.png").stat().st_size > 10_000


def test_two_declarations_on_disjoint_slices_over_separate_windows_reproduce_exactly(tmp_path):
    # two runs of windows (14:00 and 16:00, not contiguous) and two declared mechanisms on
    # different devices: their changes add up cell by cell, so the pipeline is reproduced
    from auditor.audit import run_audit
    from auditor.config import load_config
    from auditor.synth.dataset import write_dataset
    from auditor.synth.faults import parse_fault

    write_dataset(tmp_path, sessions=2000, seed=5, windows=3, batch_sessions=False, faults=[
        parse_fault("streaming/late_events_dropped:device=android:120"),
        parse_fault("streaming/missing_first_frame:device=roku")])
    config = yaml.safe_load((tmp_path / "audit.yaml").read_text())
    config["quality"] = False
    config["pipelines"]["streaming"]["deviations"] = [
        {"mechanism": "late_events_dropped", "params": {"watermark_s": 120}, "slice": {"device": "android"}},
        {"mechanism": "missing_first_frame", "slice": {"device": "roku"}}]
    (tmp_path / "audit.yaml").write_text(yaml.safe_dump(config))
    windows = ["2025-03-20T14:00:00Z/PT1H", "2025-03-20T16:00:00Z/PT1H"]
    result = run_audit(load_config(tmp_path / "audit.yaml"), windows)
    streaming = result.pipeline("streaming")
    assert streaming.status == "pass"
    moved = [m for m in streaming.metrics if m.deviation.gap]
    assert {"ebvs_rate", "plays", "play_minutes"} <= {m.metric for m in moved}
    assert all(m.deviation.exact and m.deviation.status_without == "fail" for m in moved)
    # one declaration alone leaves the other fault as the remainder
    config["pipelines"]["streaming"]["deviations"] = config["pipelines"]["streaming"]["deviations"][:1]
    (tmp_path / "audit.yaml").write_text(yaml.safe_dump(config))
    partial = run_audit(load_config(tmp_path / "audit.yaml"), windows).pipeline("streaming")
    ebvs = partial.metric("ebvs_rate")
    assert ebvs.failed and ebvs.explanations[0]["slice"].get("device") == "roku"
