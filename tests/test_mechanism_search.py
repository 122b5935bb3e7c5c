"""The mechanism search on audited fixtures: the injected kind is named, with its parameter;
with it removed from the catalogue nothing is named (docs/mechanisms.md#the-search)."""
from __future__ import annotations

from pathlib import Path

import pytest

from auditor.audit import run_audit
from auditor.config import load_config
from auditor.golden.calculator import connect
from auditor.mechanisms import load_catalogue
from auditor.mechanisms.search import NO_MECHANISM, Fit, decide, search_slice

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PUBLISHED = ["attempts", "plays", "ebvs", "vsf", "vpf", "vst_ms_sum", "play_ms", "stall_ms", "bitrate_kbps_ms"]


@pytest.fixture(scope="module")
def audited():
    """(connection with batch's reconciliation in r_joined, config) per fixture."""
    done = {}

    def get(name):
        if name not in done:
            config = load_config(FIXTURES / name / "audit.yaml")
            con = connect()
            run_audit(config, con=con, explain=False)
            done[name] = (con, config)
        return done[name]
    yield get
    for con, _ in done.values():
        con.close()


def _search(audited, fixture, slice_, catalogue=None):
    con, config = audited(fixture)
    batch = config.pipeline("batch")
    return search_slice(con, slice_, dims=batch.dimensions or config.dimensions, grain_minutes=60,
                        golden_grain_minutes=60, components=PUBLISHED, options=config.golden_options,
                        catalogue=catalogue)


@pytest.mark.parametrize("fixture, slice_, kind", [
    ("duplicates", {"country": "br"}, "duplicates_not_removed"),
    ("preroll_exits", {"device": "smart_tv"}, "preroll_exit_not_ebvs"),
    ("seek_rebuffering", {"device": "web", "player_version": "8.6"}, "seek_stall_as_rebuffering"),
])
def test_the_injected_kind_is_named_exactly(audited, fixture, slice_, kind):
    finding = _search(audited, fixture, slice_)
    assert finding.status == "exact" and finding.named == kind
    assert finding.best.closure == pytest.approx(1.0)
    assert finding.summary.startswith("reproduced exactly by ")
    assert all(c["reproduced"] for c in finding.best.components.values())


@pytest.mark.parametrize("fixture, slice_, kind", [
    ("duplicates", {"country": "br"}, "duplicates_not_removed"),
    ("preroll_exits", {"device": "smart_tv"}, "preroll_exit_not_ebvs"),
])
def test_without_the_injected_kind_nothing_is_named(audited, fixture, slice_, kind):
    finding = _search(audited, fixture, slice_, catalogue=load_catalogue().without(kind))
    assert finding.named is None and finding.status in ("none", "ambiguous")
    assert NO_MECHANISM in finding.summary or finding.status == "ambiguous"


def test_a_slice_without_a_gap_has_no_finding(audited):
    assert _search(audited, "duplicates", {"country": "us"}) is None


def _fit(name, closure, n_params=0, exact=False):
    return Fit(name, {}, closure, exact, 0.0, n_params, name, {})


def test_decide_names_only_a_clear_winner():
    assert decide({}, [_fit("a", 0.97), _fit("b", 0.5)]).named == "a"
    assert decide({}, [_fit("a", 0.97), _fit("b", 0.95)]).status == "ambiguous"
    assert decide({}, [_fit("a", 1.0, exact=True), _fit("b", 0.96)]).named == "a"
    weak = decide({}, [_fit("a", 0.8), _fit("b", 0.1)])
    assert weak.status == "none" and weak.named is None and "closest: a, 80%" in weak.summary
    # parsimony: at equal closure the one without a parameter wins
    assert decide({}, [_fit("p", 0.99, n_params=1), _fit("q", 0.99)]).best.mechanism == "q"


@pytest.fixture(scope="module")
def duplicates_result():
    return run_audit(load_config(FIXTURES / "duplicates" / "audit.yaml"))


def test_run_audit_puts_the_finding_on_the_explanation(duplicates_result):
    result = duplicates_result
    batch = result.pipeline("batch")
    failing = [m for m in batch.metrics if m.failed]
    top = failing[0].explanations[0]
    assert top["slice"] == {"country": "br"}
    assert top["mechanism"]["mechanism"] == "duplicates_not_removed"
    assert top["mechanism"]["status"] == "exact"


def test_every_view_names_the_mechanism(duplicates_result):
    import jsonschema

    from auditor.render.html import render_html
    from auditor.render.json import render_json, report_schema
    from auditor.render.markdown import render_markdown
    import json
    said = "reproduced exactly by duplicate deliveries not removed"
    report = json.loads(render_json(duplicates_result))
    jsonschema.validate(report, report_schema())
    assert said in render_markdown(duplicates_result)
    html = render_html(duplicates_result)
    assert f'<p class="mechanism exact">Mechanism: <b>{said}' in html   # on the root-cause card


def test_explain_names_the_mechanism_in_text_and_json():
    import jsonschema

    from auditor.explain import explain_metric, explain_schema
    from auditor.render.explain import render_explain_json, render_explain_text
    import json
    drill = explain_metric(load_config(FIXTURES / "preroll_exits" / "audit.yaml"), "batch", "ebvs_rate")
    text = render_explain_text(drill)
    assert "Mechanism (device=smart_tv" in text
    assert "reproduced exactly by a pre-roll ad start taken as the video start" in text
    doc = json.loads(render_explain_json(drill))
    jsonschema.validate(doc, explain_schema())
    assert doc["mechanism"]["mechanism"] == "preroll_exit_not_ebvs"


def test_mechanisms_false_in_audit_yaml_turns_the_search_off(tmp_path):
    text = (FIXTURES / "duplicates" / "audit.yaml").read_text(encoding="utf-8")
    text = text.replace("events: events.parquet", f"events: {FIXTURES / 'duplicates' / 'events.parquet'}")
    for name in ("streaming", "batch_sessions", "batch"):
        text = text.replace(f"{name}.parquet", str(FIXTURES / "duplicates" / f"{name}.parquet"))
    (tmp_path / "audit.yaml").write_text(text + "mechanisms: false\n", encoding="utf-8")
    result = run_audit(load_config(tmp_path / "audit.yaml"))
    failing = [m for m in result.pipeline("batch").metrics if m.failed]
    assert failing and all("mechanism" not in e for m in failing for e in m.explanations)


def test_session_rows_prove_the_headline_exactly():
    """headline_ebvs: batch loses first_frame for 15% of firetv/4.0 sessions and publishes
    session rows; every session that differs is the mechanism's doing, so the share is
    counted, not fitted, and the reproduction is exact."""
    result = run_audit(load_config(FIXTURES / "headline_ebvs" / "audit.yaml"))
    ebvs = result.pipeline("batch").metric("ebvs_rate")
    top = ebvs.explanations[0]
    assert top["slice"] == {"device": "firetv", "player_version": "4.0"}
    finding = top["mechanism"]
    assert finding["status"] == "exact" and finding["mechanism"] == "missing_first_frame"
    assert finding["summary"] == "reproduced exactly by first_frame lost for 15% of that slice's sessions"
    evidence = finding["session_evidence"]
    assert evidence["differing"] == evidence["reproduced"] > 0
    # the fewest sessions that show it: one per distinct change of facts, each a play turned EBVS
    shown = evidence["sessions"]
    assert 1 <= len(shown) <= 5
    assert all(s["golden"]["started"] == 1 and s["pipeline"]["started"] == 0 and s["pipeline"]["ebvs"] == 1
               for s in shown)


@pytest.mark.parametrize("fixture, slice_, kind", [
    ("duplicates", {"country": "br"}, "duplicates_not_removed"),
    ("preroll_exits", {"device": "smart_tv"}, "preroll_exit_not_ebvs"),
    ("seek_rebuffering", {"device": "web", "player_version": "8.6"}, "seek_stall_as_rebuffering"),
])
def test_screening_on_a_sample_reaches_the_whole_searchs_finding(audited, monkeypatch, fixture, slice_, kind):
    """A slice over twice SAMPLE_SESSIONS is screened on a sample first; what the sample
    cannot rule out is fitted on the whole slice, so the finding is the same."""
    import auditor.mechanisms.search as search

    whole = _search(audited, fixture, slice_)
    kept = []
    contenders = search._contenders
    monkeypatch.setattr(search, "SAMPLE_SESSIONS", 40)      # the fixtures' slices are small
    monkeypatch.setattr(search, "SCREEN_MIN_TOUCHED", 5)
    monkeypatch.setattr(search, "_contenders", lambda m, s: kept.append(contenders(m, s)) or kept[-1])
    screened = _search(audited, fixture, slice_)
    assert kept and len(kept[0]) < len(load_catalogue())      # the screen ran and ruled some out
    assert screened.named == whole.named == kind and screened.status == whole.status
    assert screened.best == whole.best


def test_the_screen_keeps_what_a_sample_cannot_rule_out():
    from auditor.mechanisms.search import PLAUSIBLE, SCREEN_MIN_TOUCHED, _contenders

    cat = list(load_catalogue())[:6]

    def fit(closure, touched=1000):
        return Fit("x", {}, closure, False, 0.0, 0, "", {}, touched)
    screened = [fit(0.95), fit(0.1), None, fit(0.05), fit(0.2, touched=SCREEN_MIN_TOUCHED - 1), fit(PLAUSIBLE)]
    kept = _contenders(cat, screened)
    # the best three (0.95, 0.5, 0.2), what the sample never touched, what it touched too little
    assert kept == [cat[0], cat[2], cat[4], cat[5]]
    assert _contenders(cat, [fit(0.99), fit(0.98), fit(0.97), fit(0.96), fit(0.4), fit(0.45)]) == cat[:4]


def test_an_off_grid_watermark_is_found_by_narrowing_the_bracket():
    """streaming_watermark's pipeline cuts at 120 s; with 120 taken out of the grid the best
    grid value only brackets it, and narrowing must reach a watermark that reproduces the
    gap exactly (the smallest such value is reported: no event's lateness lies between it
    and 120 s)."""
    import dataclasses

    config = load_config(FIXTURES / "streaming_watermark" / "audit.yaml")
    streaming = config.pipeline("streaming")
    config = dataclasses.replace(config, pipelines=(streaming,), quality_rules=None)
    cat = load_catalogue()
    late = cat.get("late_events_dropped")
    without_120 = (5.0, 15.0, 30.0, 60.0, 300.0, 900.0)
    coarse = dataclasses.replace(late, param=dataclasses.replace(late.param, grid=without_120))
    cat = dataclasses.replace(cat, mechanisms=tuple(coarse if m is late else m for m in cat))
    con = connect()
    try:
        result = run_audit(config, con=con, explain=False)
        assert any(m.failed for m in result.pipelines[0].metrics)
        finding = search_slice(con, {}, dims=streaming.dimensions or config.dimensions, grain_minutes=60,
                               golden_grain_minutes=60, components=PUBLISHED, options=config.golden_options,
                               catalogue=cat)
    finally:
        con.close()
    assert finding.named == "late_events_dropped" and finding.status == "exact"
    assert 60 < finding.best.params["watermark_s"] <= 120
