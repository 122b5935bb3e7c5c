"""report.html and summary.md as a reader meets them (issue 12): one card per root cause with
its symptoms grouped under it, no `null` or scientific notation in any report of the curated
scenarios, the unknown event types listed, detail collapsed, hostile values escaped, and the
team's own templates loaded from audit.yaml's `report: {templates: DIR}`. The browser half
(layout, network, console) is tests/test_report_browser.py."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml

from auditor.audit import run_audit
from auditor.config import load_config
from auditor.render import numbers, render_html, render_junit, render_markdown
from auditor.render.headline import headline_cards
from auditor.render.json import report_dict
from candidates import bump, find_row
from conftest import run_cli, write_config

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SCENARIOS = sorted(p.name for p in FIXTURES.iterdir() if (p / "audit.yaml").exists())
# 4.2e-05, 1e3 as a token of their own; not inside hex digests or session ids
SCIENTIFIC = re.compile(r"(?<![0-9A-Za-z_.-])\d+(\.\d+)?[eE][+-]?\d+(?![0-9A-Za-z])")


@lru_cache(maxsize=None)
def _audit(name: str):
    return run_audit(load_config(FIXTURES / name / "audit.yaml"))


@pytest.mark.parametrize("name", SCENARIOS)
def test_no_null_or_scientific_notation_in_any_report_of_the_scenarios(name, capsys):
    result = _audit(name)
    texts = {"report.html": render_html(result), "summary.md": render_markdown(result),
             "junit.xml": render_junit(result)}
    failing = [(p.name, m.metric) for p in result.pipelines for m in p.metrics if m.failed]
    if failing:   # and `auditor explain` of the first finding
        code, out, _ = run_cli(capsys, "explain", "--config", str(FIXTURES / name / "audit.yaml"),
                               "--pipeline", failing[0][0], "--metric", failing[0][1])
        assert code == 1
        texts["explain"] = out
    prose = [c["description"] for c in (result.quality or {}).get("checks", [])]
    for what, text in texts.items():
        for description in prose:   # the rules' own words ("... (or null)") are not values
            text = text.replace(description, "")
        # CSS, colours, and hex identifiers (session ids in `explain`) are not numbers
        text = re.sub(r"(?s)<style>.*?</style>|#[0-9a-fA-F]{3,8}\b|\b[0-9a-f]{12,}\b", "", text)
        assert not re.search(r"\bnull\b", text), (what, re.search(r".{60}\bnull\b.{20}", text))
        assert "e-0" not in text and "e+0" not in text, what
        assert not SCIENTIFIC.search(text), (what, SCIENTIFIC.search(text))


def test_one_card_per_cause_with_the_other_metrics_as_symptoms():
    result = _audit("headline_ebvs")
    report = report_dict(result)
    cards = headline_cards(report)
    assert len(cards) == 1
    card = cards[0]
    assert card.pipeline == "batch" and card.cause == {"device": "firetv", "player_version": "4.0"}
    assert card.lead.metric == "ebvs_rate" and card.slices[0].share == pytest.approx(1.0)
    failing = {m.metric for m in result.pipeline("batch").metrics if m.failed}
    assert {s.metric for s in card.metrics} == failing and len(card.metrics) == len(failing) > 3
    assert card.command.startswith("auditor explain --config ") and "--pipeline batch --metric ebvs_rate" in card.command
    md = render_markdown(result)
    assert md.count("\n### ") == 2   # the one card, then the verdicts
    assert "device=firetv & player_version=4.0" in md and card.command in md
    html = render_html(result)
    head = html.split('id="verdicts"')[0]
    assert head.count('class="card"') == 1 and card.command in head
    assert "Relative gap to golden" in head and head.count("<svg") >= 3


def test_cards_merge_narrower_slices_and_keep_causes_apart():
    """two_faults: batch's edgio fault and streaming's iOS fault are separate cards; a streaming
    metric explained by a narrower iOS slice joins the iOS card."""
    cards = headline_cards(report_dict(_audit("two_faults")))
    assert any(c.pipeline == "batch" and c.cause.get("cdn") == "edgio" for c in cards)
    assert any(c.pipeline == "streaming" and c.cause.get("device") == "ios" for c in cards)
    assert not any(c.pipeline == "batch" and c.cause.get("device") == "ios" for c in cards)
    for c in cards:   # a metric is shown once per cause (it may have two causes)
        assert len({s.metric for s in c.metrics}) == len(c.metrics), c


def test_play_minutes_in_minutes_in_the_page():
    result = _audit("headline_ebvs")
    m = result.pipeline("batch").metric("play_minutes")
    e = m.explanations[0]
    html = render_html(result)
    section = html.split(f'id="m-batch-play_minutes"')[1].split("</details>")[0]
    assert numbers.value(e["golden_value"], "minutes") in section
    assert numbers.value(e["golden_value"], "minutes").endswith(" min")
    assert numbers.value(e["golden_num"], "minutes") not in section   # play_ms never shown as minutes


def test_failing_checks_show_their_detail_and_passing_ones_are_collapsed():
    result = _audit("headline_ebvs")
    unknown = next(c for c in result.quality["checks"] if c["name"] == "unknown_event_types")
    assert unknown["status"] != "pass"
    types = unknown["details"]["top_raw_rows"]
    html = render_html(result)
    block = html.split('class="check is-warn"')[1].split("</div>")[0]
    for name, count in types.items():
        assert f">{name}</td><td class=\"n\">{numbers.count(count)}</td>" in block
    passing = html.split('id="data-quality"')[1].split("<details>")[1].split("</details>")[0]
    assert "checks pass" in passing and "duplicate_events" in passing
    md = render_markdown(result)
    line = next(x for x in md.splitlines() if x.startswith("- **unknown_event_types**"))
    assert all(f"{name} {numbers.count(count)}" in line for name, count in types.items())
    # the passing pipeline, leaf tables and per-window tables are collapsed too
    assert re.search(r"<details><summary><b>streaming</b> <span class=\"pass\">pass</span>", html)
    assert "differing slices at the published grain, by contribution" in html


# ---- hostile values -----------------------------------------------------------------------

LONG = "L" * 10_000
HOSTILE = {"fastly": "<script>alert('x')</script>", "akamai": 'say "hi" | or \'not\'\nnewline',
           "cloudfront": LONG}


@pytest.fixture
def hostile(workdir, events_table):
    """Events whose cdn values are markup, quotes, pipes, a newline and a 10 kB string; batch
    (by cdn only) is off in every one of them."""
    from auditor.golden.calculator import compute_golden
    cdn = [HOSTILE[v] for v in events_table.column("cdn").to_pylist()]
    events = events_table.set_column(events_table.schema.get_field_index("cdn"), "cdn", pa.array(cdn))
    late = pc.if_else(pc.equal(events["cdn"], HOSTILE["fastly"]),   # late_events warns in that slice
                      pc.add(events["ts"], pa.scalar(900_000, pa.duration("ms"))), events["received_at"])
    events = events.set_column(events.schema.get_field_index("received_at"), "received_at", late)
    pq.write_table(events, workdir / "events.parquet")
    batch = compute_golden(events, dims=("cdn",), window_minutes=60).aggregates
    for value, column, delta in ((HOSTILE["fastly"], "ebvs", 3), (HOSTILE["akamai"], "ebvs", 2),
                                 (LONG, "plays", -1)):
        batch = bump(batch, column, find_row(batch, cdn=value), delta)
    pq.write_table(batch, workdir / "batch.parquet")
    config = write_config(workdir, {'batch "<i>x</i>" | y': {"path": "batch.parquet", "dimensions": ["cdn"]}},
                          dimensions=["cdn", "device"])
    return run_audit(load_config(config), ["2025-03-20T14:00:00Z/PT1H"])


def test_hostile_values_are_escaped_in_html(hostile):
    html = render_html(hostile)
    assert "<script>" not in html and "&lt;script&gt;" in html and "<i>x</i>" not in html
    assert 'say "hi"' not in html and "say &#34;hi&#34;" in html
    assert LONG[:300] not in html and "L" * 100 + "…" in html, "a 10 kB value is clipped"


def test_hostile_values_do_not_break_markdown(hostile):
    md = render_markdown(hostile)
    assert LONG[:300] not in md
    # in a code span a value is shown literally (GitHub renders it as text); elsewhere escaped
    prose = re.sub(r"(`+).*?\1", "", md)
    assert "<script>" not in prose and "<i>" not in prose and '"&lt;i&gt;x&lt;/i&gt;" \\| y' in prose
    blocks, block = [], []
    for line in md.splitlines() + [""]:   # tables: runs of lines that start with a pipe
        if line.startswith("|"):
            block.append(line)
        elif block:
            blocks.append(block)
            block = []
    assert blocks
    for block in blocks:   # every row has its header's number of cells
        cells = {len(re.split(r"(?<!\\)\|", line)) for line in block}
        assert len(cells) == 1, block
    assert not any(line.startswith("newline") for line in md.splitlines())
    late = next(line for line in md.splitlines() if line.startswith("- **late_events**"))
    assert "cdn=&lt;script&gt;alert('x')&lt;/script&gt; 100%" in late
    cards = [line for line in md.splitlines() if line.startswith("### ") and "Verdicts" not in line]
    assert cards and all("`" in c for c in cards)
    assert max(len(line) for line in md.splitlines()) < 1000


def test_hostile_values_in_junit_and_explain_text(hostile, workdir, capsys):
    import xml.etree.ElementTree as ET
    ET.fromstring(render_junit(hostile).split("?>", 1)[1])
    code, out, _ = run_cli(capsys, "explain", "--config", str(workdir / "audit.yaml"), "--pipeline",
                           'batch "<i>x</i>" | y', "--metric", "ebvs_rate",
                           "--window", "2025-03-20T14:00:00Z/PT1H")
    assert code == 1 and "<script>alert('x')</script>" in out   # plain text: shown as it is


# ---- the team's own templates --------------------------------------------------------------

def _override(workdir, golden_of, templates: dict[str, str] | None, folder="mine"):
    pq.write_table(golden_of(), workdir / "batch.parquet")
    root = workdir / folder
    if templates is not None:
        root.mkdir()
        for name, text in templates.items():
            (root / name).write_text(text, encoding="utf-8")
    return write_config(workdir, {"batch": {"path": "batch.parquet"}}, report={"templates": folder})


def test_a_template_override_replaces_only_its_file(workdir, golden_of, capsys):
    config = _override(workdir, golden_of, {"summary.md.j2": "ours: {{ report.status }}, {{ cards | length }} cards\n"})
    code, out, err = run_cli(capsys, "run", "--config", str(config), "--out", str(workdir / "r"), "-q")
    assert code == 0, err
    assert out == (workdir / "r" / "summary.md").read_text().split("\n## Data quality")[0] + "\n" \
        or out.startswith("ours: pass, 0 cards")
    assert (workdir / "r" / "summary.md").read_text().startswith("ours: pass, 0 cards\n")
    assert "Relative gap to golden" in (workdir / "r" / "report.html").read_text()   # the shipped one


def test_a_broken_override_is_exit_2_naming_the_file(workdir, golden_of, capsys):
    config = _override(workdir, golden_of, {"report.html.j2": "{{ report.no_such_field }}\n"})
    code, _, err = run_cli(capsys, "run", "--config", str(config), "--out", str(workdir / "r"), "-q")
    assert code == 2 and "report template" in err and "no_such_field" in err and "hint:" in err
    assert not (workdir / "r").exists() or not list((workdir / "r").iterdir())


def test_a_missing_template_folder_is_a_config_error(workdir, golden_of, capsys):
    config = _override(workdir, golden_of, None, folder="nowhere")
    code, _, err = run_cli(capsys, "run", "--config", str(config))
    assert code == 2 and "report.templates" in err and "no such folder" in err
    data = yaml.safe_load(config.read_text())
    assert data["report"] == {"templates": "nowhere"}
