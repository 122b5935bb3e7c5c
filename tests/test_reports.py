"""Report renderers: snapshots of summary.md and report.json (normalised; regenerate only
with --update-snapshots; a missing snapshot fails), the JSON Schema, HTML escaping, JUnit."""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pyarrow.parquet as pq
import pytest

from auditor.audit import run_audit
from auditor.config import load_config
from auditor.render import render_html, render_json, render_junit, render_markdown, write_reports
from auditor.render.json import report_schema
from candidates import bump, find_row
from conftest import write_config

SNAPSHOTS = Path(__file__).parent / "snapshots"


def normalise(text: str, folder: Path, version: str) -> str:
    """Paths, the version and the definition fingerprint (it changes with any rules edit,
    tests/test_fingerprint.py checks it) replaced by placeholders."""
    text = text.replace(str(folder), "<tmp>").replace(f'"{version}"', '"<version>"')
    return re.sub(r"sha256:[0-9a-f]{64}", "sha256:<fingerprint>", text)


def check_snapshot(request, name: str, text: str) -> None:
    path = SNAPSHOTS / name
    if request.config.getoption("--update-snapshots"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"snapshot {path} is missing: run pytest --update-snapshots on purpose"
    assert text == path.read_text(encoding="utf-8"), f"{name} changed; if on purpose, --update-snapshots"


@pytest.fixture
def audited(workdir, golden_of):
    """Two pipelines: streaming correct at 5 minutes, batch hourly by cdn/device with one
    injected EBVS error; a pipeline name that needs escaping everywhere."""
    pq.write_table(golden_of(minutes=5), workdir / "streaming.parquet")
    batch = golden_of(dims=("cdn", "device"))
    row = find_row(batch, cdn="fastly", device="roku")
    pq.write_table(bump(bump(batch, "ebvs", row, 3), "attempts", row, 1), workdir / "batch.parquet")
    config = write_config(workdir, {
        "streaming": {"path": "streaming.parquet", "grain": "5m"},
        "batch <b>&co</b>": {"path": "batch.parquet", "dimensions": ["cdn", "device"],
                             "metrics": ["attempts", "ebvs_rate", "play_minutes"]}})
    return run_audit(load_config(config), ["2025-03-20T14:00:00Z/PT2H"]), workdir


def test_report_json_snapshot_and_schema(audited, request):
    result, folder = audited
    text = render_json(result)
    report = json.loads(text)
    jsonschema.validate(report, report_schema())
    check_snapshot(request, "run.report.json", normalise(text, folder, result.auditor_version))


def test_summary_md_snapshot(audited, request):
    result, folder = audited
    check_snapshot(request, "run.summary.md", normalise(render_markdown(result), folder, result.auditor_version))


def test_html_is_self_contained_and_escapes_user_strings(audited):
    result, _ = audited
    html = render_html(result)
    assert "<b>&co</b>" not in html and "batch &lt;b&gt;&amp;co&lt;/b&gt;" in html
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert "ebvs_rate" in html and "FAIL" in html


def test_junit_one_case_per_pipeline_and_metric(audited):
    result, _ = audited
    root = ET.fromstring(render_junit(result).split("?>", 1)[1])
    cases = root.findall(".//testcase")
    assert len(cases) == sum(len(p.metrics) for p in result.pipelines) == 12
    failed = [(c.get("classname"), c.get("name")) for c in cases if c.find("failure") is not None]
    assert failed == [("auditor.batch <b>&co</b>", "attempts"), ("auditor.batch <b>&co</b>", "ebvs_rate")]
    assert root.get("failures") == "2"


def test_write_reports_writes_every_file_or_none(audited, monkeypatch):
    result, folder = audited
    written = write_reports(result, folder / "out", junit=True)
    assert sorted(p.name for p in written) == ["junit.xml", "report.html", "report.json", "summary.md"]

    def broken(_result, *_templates):
        raise RuntimeError("renderer bug")
    monkeypatch.setattr("auditor.render.render_html", broken)
    with pytest.raises(RuntimeError):
        write_reports(result, folder / "out2")
    assert not (folder / "out2").exists()


def test_write_reports_keeps_the_previous_set_when_a_write_fails_between_files(audited, monkeypatch):
    """The report set is replaced as one: a disk filling up after report.json is written
    leaves the previous report.json, summary.md and report.html, not a mix of runs."""
    from auditor import tables

    result, folder = audited
    write_reports(result, folder / "out")
    for path in (folder / "out").iterdir():
        path.write_text(f"previous {path.name}\n")
    before = {p.name: p.read_text() for p in (folder / "out").iterdir()}
    real, calls = tables._write_new, []

    def disk_full_after_one(path, content):
        calls.append(path.name)
        if len(calls) == 2:
            raise OSError(28, "No space left on device", str(path))
        real(path, content)
    monkeypatch.setattr(tables, "_write_new", disk_full_after_one)
    with pytest.raises(OSError):
        write_reports(result, folder / "out", junit=True)
    assert calls == ["report.json", "summary.md"]
    assert {p.name: p.read_text() for p in (folder / "out").iterdir()} == before


def test_json_has_no_nan(audited):
    result, _ = audited
    text = render_json(result)
    assert "NaN" not in text and "Infinity" not in text
    report = json.loads(text)
    assert report["window"] == {"start": "2025-03-20T14:00:00Z", "end": "2025-03-20T16:00:00Z"}


def test_html_explanations_show_their_numbers_and_escape_dimension_values(workdir, golden_of):
    """A hostile dimension value in a pipeline's rows reaches report.html's explanations escaped."""
    import pyarrow as pa
    import pyarrow.compute as pc
    hostile = "<img src=x onerror=alert(1)>"
    batch = golden_of(dims=("cdn", "device"))
    cdn = pc.if_else(pc.equal(batch.column("cdn"), "fastly"), hostile, batch.column("cdn"))
    batch = batch.set_column(batch.schema.get_field_index("cdn"), "cdn", pa.array(cdn.to_pylist(), pa.string()))
    pq.write_table(batch, workdir / "batch.parquet")
    config = write_config(workdir, {"batch": {"path": "batch.parquet", "dimensions": ["cdn", "device"],
                                              "metrics": ["ebvs_rate"]}})
    result = run_audit(load_config(config), ["2025-03-20T14:00:00Z/PT1H"])
    explanations = result.pipeline("batch").metric("ebvs_rate").explanations
    assert any(hostile in e["slice"].values() for e in explanations)
    html = render_html(result)
    assert hostile not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    first = explanations[0]
    assert f"{first['support']:,.0f}" in html and "numerator / denominator share" in html
