"""The scheduled report and the simulated fortnight behind its committed example.

The fortnight (auditor/synth/fortnight.py) is built once per session: its lifecycle is
checked window by window, the committed example (reports/history/) must be what
reports/history/regenerate.py writes from it, and the page must render in headless
Chromium without a console error or a network request, its charts visible.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "reports" / "history"
ROKU_EBVS = "batch/ebvs_rate/device=roku/higher"


def _regenerate_module():
    spec = importlib.util.spec_from_file_location("regenerate_history", EXAMPLE / "regenerate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def fortnight(tmp_path_factory):
    """(work folder with history.duckdb, output folder with report.html/json and runs/)."""
    from auditor.history import open_store
    from auditor.history.report import parse_period, write_scheduled_report
    from auditor.synth.fortnight import AS_OF, build_fortnight
    regen = _regenerate_module()
    work, out = tmp_path_factory.mktemp("fortnight-work"), tmp_path_factory.mktemp("fortnight-out")
    built = build_fortnight(work, runs_dir=out / "runs")
    since, until = parse_period(regen.SINCE, regen.UNTIL, now=AS_OF)
    with open_store(built.store) as store:
        write_scheduled_report(store, since=since, until=until, now=AS_OF,
                               out=out / "report.html", json_out=out / "report.json")
    for name in ("report.html", "report.json"):
        path = out / name
        path.write_text(path.read_text(encoding="utf-8").replace(built.store, "history.duckdb"), encoding="utf-8")
    return built, out


def statuses(fortnight, identity, at=None):
    from auditor.history import load_history, open_store
    built, _ = fortnight
    with open_store(built.store) as store:
        found = {f.identity: f for f in load_history(store, now=at or built.as_of)}
    return {w.window_ms: (w.status, w.provisional) for w in found[identity].windows}, found[identity]


def day(n: int) -> int:
    from auditor.synth.fortnight import PLAN
    return int(PLAN[n - 1].start.timestamp() * 1000)


@pytest.mark.slow
def test_the_fault_appears_recurs_is_fixed_and_regresses(fortnight):
    by_window, f = statuses(fortnight, ROKU_EBVS)
    assert [by_window[day(n)][0] for n in range(3, 15)] == [
        "new", "recurring",
        "not-observed",                      # day 5: batch published nothing; not a fix
        "recurring",
        "resolved-fixed", "resolved-fixed", "resolved-fixed",
        "regressed", "recurring", "recurring",
        "resolved-fixed", "resolved-fixed"]
    assert day(1) not in by_window and day(2) not in by_window     # nothing before its first sighting
    assert (f.windows_affected, f.streak, f.status, f.open) == (6, 0, "resolved-fixed", False)


@pytest.mark.slow
def test_a_window_missing_from_one_pipeline_is_its_own_finding(fortnight):
    by_window, f = statuses(fortnight, "batch/ebvs_rate/*/missing")
    assert by_window[day(5)] == ("new", False) and by_window[day(6)][0] == "resolved-fixed"


@pytest.mark.slow
def test_a_provisional_finding_that_disappears_on_a_rerun_is_not_resolved(fortnight):
    from datetime import timedelta
    from auditor.synth.fortnight import AS_OF
    built, _ = fortnight
    from auditor.history import load_history, open_store
    with open_store(built.store) as store:
        streaming = [f for f in load_history(store, now=AS_OF) if f.pipeline == "streaming"
                     and "device=android" in f.slice and f.metric == "play_minutes"]
    assert streaming, "the streaming fault was not seen"
    f = streaming[0]
    by_window = {w.window_ms: (w.status, w.provisional) for w in f.windows}
    assert by_window[day(11)] == ("new", False) and by_window[day(12)][0] == "recurring"
    # day 13 failed on its first run; the rerun after the late data is clean, and the
    # window is within streaming's 2-day horizon: not observed, not resolved, still open
    assert by_window[day(13)] == ("not-observed", True) and f.open
    # two days later the horizon has passed: the clean rerun now resolves it
    by_later = {w.window_ms: w.status for w in statuses(fortnight, f.identity, AS_OF + timedelta(days=2))[1].windows}
    assert by_later[day(13)] == "resolved-fixed"


@pytest.mark.slow
def test_the_definition_change_is_marked_once(fortnight):
    _, out = fortnight
    model = json.loads((out / "report.json").read_text())
    assert [c["window"] for c in model["definition_changes"]] == ["2025-03-11T00:00:00Z"]
    assert "definitions sha256:" in model["definition_changes"][0]["what"]


@pytest.mark.slow
def test_the_committed_example_is_current(fortnight):
    """reports/history/ is what reports/history/regenerate.py writes (run it after a change)."""
    _, out = fortnight
    for rel in ["report.html", "report.json",
                *sorted(str(p.relative_to(out)) for p in (out / "runs").rglob("*") if p.is_file())]:
        committed = EXAMPLE / rel
        assert committed.is_file(), f"{committed} is missing: run reports/history/regenerate.py"
        assert committed.read_text(encoding="utf-8") == (out / rel).read_text(encoding="utf-8"), \
            f"{committed} is stale: run reports/history/regenerate.py"
    extra = {str(p.relative_to(EXAMPLE / "runs")) for p in (EXAMPLE / "runs").rglob("*") if p.is_file()} - \
        {str(p.relative_to(out / "runs")) for p in (out / "runs").rglob("*") if p.is_file()}
    assert not extra, f"stale kept reports in reports/history/runs: {sorted(extra)}"


@pytest.mark.slow
def test_the_report_headline_and_links(fortnight):
    _, out = fortnight
    model = json.loads((out / "report.json").read_text())
    h = model["headline"]
    assert h["open"] >= 1 and h["new"] >= 3 and h["resolved"] >= 1
    assert model["windows"] == 14 and model["first_window"] == "2025-03-03T00:00:00Z"
    assert {r["report"] for r in model["runs"]} >= {"runs/2025-03-03/summary.md", "runs/2025-03-15-rerun/summary.md"}
    html = (out / "report.html").read_text()
    assert 'href="runs/2025-03-03/summary.md"' in html and "<script" not in html
    assert "history.duckdb" in html and str(fortnight[0].work) not in html


@pytest.mark.slow
@pytest.mark.browser
def test_the_report_renders_in_chromium_without_errors_or_network(fortnight, tmp_path):
    from browser_support import open_page
    _, out = fortnight
    shot = tmp_path / "history.png"
    with open_page(out / "report.html", shot) as (visit, page):
        assert visit.console_errors == [] and visit.page_errors == []
        assert visit.network == []
        assert page.locator("#headline").is_visible()
        heat = page.locator("svg.heat")
        assert heat.is_visible() and heat.bounding_box()["height"] > 100
        assert heat.locator("rect.c-fail").count() > 0
        charts = page.locator("svg.chart")
        assert charts.count() >= 2 * 2 * 9
        box = charts.first.bounding_box()
        assert box["width"] > 300 and box["height"] > 60
        assert charts.first.locator("path.line").count() == 2
        # headline and the status heatmap in the first screen
        assert page.locator("svg.heat").bounding_box()["y"] < 900
        # no horizontal scroll at 1280 px: a wide findings table scrolls inside its own box
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    assert shot.stat().st_size > 10_000


def test_report_cli_writes_html_and_json_with_user_text_escaped(workdir, golden_of, capsys):
    import pyarrow.parquet as pq
    from conftest import write_config
    from test_history import T14, T15, W14, faulty
    pq.write_table(faulty(golden_of(), windows=(W14,)), workdir / "batch.parquet")
    config = write_config(workdir, {"batch": {"path": "batch.parquet", "metrics": ["attempts"]}},
                          history="h.duckdb")
    for spec in (T14, T15):
        run_cli(capsys, "run", "--config", str(config), "-q", "--window", spec, "--out", str(workdir / spec[:13]))
    code, _, err = run_cli(capsys, "ack", "batch/attempts/cdn=fastly/higher", "--config", str(config),
                           "--reason", "<script>alert(1)</script> & co")
    assert code == 0, err
    code, out, err = run_cli(capsys, "report", "--config", str(config), "--since", "2025-03-20",
                             "--until", "2025-03-21", "--at", "2025-04-01", "--out", str(workdir / "r.html"),
                             "--json", str(workdir / "r.json"))
    assert code == 0, err
    assert out == "2 windows 2025-03-20T00:00:00Z to 2025-03-21T00:00:00Z: 0 open, 1 new, 1 resolved\n"
    html = (workdir / "r.html").read_text()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html
    model = json.loads((workdir / "r.json").read_text())
    (f,) = model["findings"]
    assert f["lifecycle"] == [{"status": "new", "windows": 1, "from": "2025-03-20T14:00:00Z",
                               "to": "2025-03-20T14:00:00Z"},
                              {"status": "resolved-fixed", "windows": 1, "from": "2025-03-20T15:00:00Z",
                               "to": "2025-03-20T15:00:00Z"}]
    assert [r["report"] for r in model["runs"]] == ["2025-03-20T14/report.html", "2025-03-20T15/report.html"]


@pytest.mark.parametrize("args, message", [
    (["--since", "soon"], "--since"),
    (["--since", "2025-03-20", "--until", "2025-03-19"], "the period is empty"),
    (["--until", "later"], "--until"),
])
def test_report_period_errors_name_the_option(workdir, capsys, args, message):
    from auditor.history import open_store
    open_store(str(workdir / "h.duckdb"), write=True).close()
    code, _, err = run_cli(capsys, "report", "--history", str(workdir / "h.duckdb"), "--out",
                           str(workdir / "r.html"), *args)
    assert code == 2 and message in err and "hint:" in err
    assert not (workdir / "r.html").exists()


def test_report_needs_an_output(workdir, capsys):
    code, _, err = run_cli(capsys, "report", "--history", str(workdir / "h.duckdb"))
    assert code == 2 and "--out" in err
