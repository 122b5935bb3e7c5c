"""auditor gate end to end on a throwaway git repository: commit the shipped rules,
change them, commit, and gate the change against the previous commit."""
from __future__ import annotations

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from auditor.gate.report import gate_schema
from auditor.golden.sqlfiles import packaged_rules_dir
from conftest import run_cli

CHANGE_EBVS = ("options.yaml", "ebvs_min_wait_ms: 0", "ebvs_min_wait_ms: 2000")
SHORT_EXIT_CASE = ("cases/definitions.yaml", "    - [800, end, {end_reason: exit}]\n  expect:\n    s1: {ebvs: 1}",
                   "    - [800, end, {end_reason: exit}]\n  expect:\n    s1: {ebvs_short: 1}")
DECLARE_EBVS = """version: 1
changes:
  - metric: ebvs_rate
    slice: all
    direction: down
    reason: exits shorter than 2 s are no longer <b>EBVS</b> | per PR 1
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository whose first commit holds a copy of the shipped rules folder."""
    return rules_repo(tmp_path)


def rules_repo(tmp_path: Path) -> Path:
    """:func:`repo` for tests elsewhere (tests/test_spark_parity.py)."""
    root = tmp_path / "repo"
    shutil.copytree(packaged_rules_dir(), root / "rules",
                    ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    git(tmp_path, "init", "-q", "-b", "main", str(root))
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "rules")
    return root


def edit(repo: Path, relpath: str, old: str | None, new: str) -> None:
    """Replace ``old`` by ``new`` in rules/relpath (``old`` None: write the file)."""
    path = repo / "rules" / relpath
    if old is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(new)
    else:
        text = path.read_text()
        assert old in text, (relpath, old)
        path.write_text(text.replace(old, new, 1))


def commit(repo: Path, message: str = "change") -> None:
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", message)


def gate(capsys, repo: Path, out: Path, *extra: str, base: str = "HEAD~1"):
    code, stdout, err = run_cli(capsys, "gate", "--base", base, "--head", str(repo / "rules"),
                                "--fixtures", "clean", "--out", str(out), "--junit", *extra)
    report = json.loads((out / "gate.json").read_text()) if (out / "gate.json").exists() else None
    if report is not None:
        jsonschema.validate(report, gate_schema())
    return code, stdout, err, report


def test_undeclared_definition_change_fails_with_movement_and_matrix(repo, tmp_path, capsys):
    edit(repo, *CHANGE_EBVS)
    commit(repo)
    code, md, err, report = gate(capsys, repo, tmp_path / "out")
    assert code == 1, err
    assert report["status"] == "fail" and report["data_affecting"]
    assert report["changed_files"] == ["options.yaml"]
    ebvs = next(m for m in report["metrics"] if m["metric"] == "ebvs_rate")
    assert ebvs["status"] == "moved" and ebvs["direction"] == "down"
    assert ebvs["declared"] == "undeclared"
    assert ebvs["cand_num"] < ebvs["golden_num"] and ebvs["golden_den"] == ebvs["cand_den"]
    unmoved = {m["metric"] for m in report["metrics"] if m["status"] == "unchanged"}
    assert {"attempts", "plays", "vsf_rate", "play_minutes"} <= unmoved
    (cell,) = report["reclassification"]["cells"]
    assert (cell["base"], cell["head"]) == ("ebvs", "short_exit")
    assert cell["sessions"] == ebvs["golden_num"] - ebvs["cand_num"]
    example = cell["examples"][0]
    assert example["events"][0]["event_type"] == "attempt"
    assert example["events"][-1]["t_ms"] < 2000   # a short exit
    assert "undeclared movement: ebvs_rate down" in md
    assert "| ebvs → short_exit |" in md
    assert md == (tmp_path / "out" / "gate.md").read_text()
    props = {p.get("name"): p.get("value")
             for p in ET.parse(tmp_path / "out" / "junit.xml").iter("property")}
    assert props["definitions_fingerprint"] == report["head"]["fingerprint"] != report["base"]["fingerprint"]
    assert props["corpus.fixtures.sha256"] == report["corpus"][0]["sha256"]
    # the shipped definition case that pins "a short exit is an EBVS" breaks too
    broken = [c for c in report["cases"] if c["status"] == "fail"]
    assert [c["id"] for c in broken] == ["short_exit_is_ebvs"] and not broken[0]["changed"]
    assert "definitions.yaml:" in broken[0]["where"]


def test_declared_change_with_its_case_edited_passes(repo, tmp_path, capsys):
    edit(repo, *CHANGE_EBVS)
    edit(repo, "changes.yaml", None, DECLARE_EBVS)
    edit(repo, *SHORT_EXIT_CASE)
    commit(repo)
    code, md, err, report = gate(capsys, repo, tmp_path / "out")
    assert code == 0, err + md
    (declaration,) = report["declarations"]
    assert declaration["status"] == "observed"
    assert declaration["observed"]["golden"] > declaration["observed"]["candidate"]
    case = next(c for c in report["cases"] if c["id"] == "short_exit_is_ebvs")
    assert case["status"] == "pass" and case["changed"]
    assert (case["base_expected"], case["expected"]) == ({"s1": {"ebvs": 1}}, {"s1": {"ebvs_short": 1}})
    assert md.startswith("## auditor gate: PASS")
    assert '| short_exit_is_ebvs | pass | yes |' in md
    # user-controlled text is escaped in both views
    assert "no longer &lt;b&gt;EBVS&lt;/b&gt; \\| per PR 1" in md
    html = (tmp_path / "out" / "gate.html").read_text()
    assert "&lt;b&gt;EBVS&lt;/b&gt;" in html and "<b>EBVS" not in html


def test_declared_change_that_does_not_happen_fails_as_stale(repo, tmp_path, capsys):
    edit(repo, *CHANGE_EBVS)
    edit(repo, *SHORT_EXIT_CASE)
    edit(repo, "changes.yaml", None, DECLARE_EBVS + """  - metric: vsf_rate
    slice: {device: roku}
    direction: up
    reason: not what this change does
""")
    commit(repo)
    code, md, err, report = gate(capsys, repo, tmp_path / "out")
    assert code == 1
    stale = [d for d in report["declarations"] if d["status"] == "stale"]
    assert [d["metric"] for d in stale] == ["vsf_rate"]
    assert "changes.yaml:7" in stale[0]["where"]
    assert any("declared vsf_rate up in device=roku, but it did not move" in p for p in report["problems"])


def test_declaration_inherited_from_base_is_not_checked_again(repo, tmp_path, capsys):
    edit(repo, *CHANGE_EBVS)
    edit(repo, "changes.yaml", None, DECLARE_EBVS)
    edit(repo, *SHORT_EXIT_CASE)
    commit(repo, "the ebvs change, merged")
    edit(repo, "metrics.yaml", "Sessions with an attempt event", "Sessions that sent an attempt event")
    commit(repo, "a later change to a description")
    code, md, err, report = gate(capsys, repo, tmp_path / "out")
    assert code == 0, md
    assert [d["metric"] for d in report["inherited_declarations"]] == ["ebvs_rate"]
    assert report["declarations"] == []


def test_comment_and_description_changes_are_no_data_affecting_change(repo, tmp_path, capsys):
    edit(repo, "golden/03_live.sql", "-- Stage 3:", "-- Stage 3 (reworded):\n--   more words here")
    edit(repo, "golden/07_aggregate.sql", "SELECT\n", "SELECT   \n\n")
    edit(repo, "metrics.yaml", "Sessions with an attempt event", "Sessions that sent an attempt event")
    commit(repo)
    code, md, err, report = gate(capsys, repo, tmp_path / "out")
    assert code == 0, md
    assert not report["data_affecting"]
    assert report["base"]["fingerprint"] == report["head"]["fingerprint"]
    assert report["cosmetic_files"] == ["golden/03_live.sql", "golden/07_aggregate.sql", "metrics.yaml"]
    assert "no data-affecting change" in report["headline"]
    assert all(m["status"] == "unchanged" for m in report["metrics"])


def test_bad_base_revision_is_a_usage_error(repo, tmp_path, capsys):
    code, md, err, report = gate(capsys, repo, tmp_path / "out", base="no-such-branch")
    assert code == 2 and report is None
    assert "base revision 'no-such-branch' does not exist" in err


def test_sql_syntax_error_names_the_file_and_line(repo, tmp_path, capsys):
    edit(repo, "golden/03_live.sql", "GROUP BY sk;", "GROUP BY BY sk;")
    commit(repo)
    code, md, err, report = gate(capsys, repo, tmp_path / "out")
    assert code == 2 and report is None
    line = next(i for i, text in enumerate((repo / "rules/golden/03_live.sql").read_text().splitlines(), 1)
                if "GROUP BY BY" in text)
    assert f"golden/03_live.sql:{line}" in err and "syntax error" in err


def test_unparsable_rules_file_names_the_file_and_line(repo, tmp_path, capsys):
    edit(repo, "metrics.yaml", "    numerator: plays\n", "    numerator: [plays\n")
    commit(repo)
    code, md, err, report = gate(capsys, repo, tmp_path / "out")
    assert code == 2
    assert "metrics.yaml:" in err


def test_the_working_tree_is_not_touched(repo, tmp_path, capsys):
    edit(repo, *CHANGE_EBVS)
    commit(repo)
    edit(repo, "tolerances.yaml", "default: exact", "default: exact  # uncommitted")
    before = (git(repo, "status", "--porcelain"), git(repo, "rev-parse", "HEAD"))
    gate(capsys, repo, tmp_path / "out")
    assert (git(repo, "status", "--porcelain"), git(repo, "rev-parse", "HEAD")) == before


def test_a_change_that_blinds_the_audit_to_a_curated_fault_fails_naming_it(repo, tmp_path, capsys):
    # golden would count the first pre-roll ad as the video start: what the faulty batch
    # pipeline of the preroll_exits fixture does, so the audit could no longer see that fault
    edit(repo, "options.yaml", "start_anchor: content_frame", "start_anchor: any_frame")
    edit(repo, "changes.yaml", None, """changes:
  - {metric: ebvs_rate, direction: down, reason: pre-roll exits are not EBVS}
  - {metric: plays, direction: up, reason: a pre-roll ad starts the video}
  - {metric: video_start_time_ms, direction: down, reason: startup ends at the ad}
  - {metric: vsf_rate, direction: any, reason: failures during the ad are after the start}
  - {metric: vpf_rate, direction: any, reason: failures during the ad are after the start}
  - {metric: rebuffering_ratio, direction: any, reason: stalls during ads}
  - {metric: avg_bitrate_kbps, direction: any, reason: playing time starts earlier}
  - {metric: play_minutes, direction: any, reason: playing time starts earlier}
""")
    commit(repo)
    code, stdout, err = run_cli(capsys, "gate", "--base", "HEAD~1", "--head", str(repo / "rules"),
                                "--fixtures", "preroll_exits", "--json")
    assert stdout, err
    report = json.loads(stdout)
    undeclared = [m["metric"] for m in report["metrics"] if m["declared"] == "undeclared"]
    assert undeclared == []
    (fault,) = report["faults"]
    assert fault["status"] == "blind" and fault["fault"] == "batch/preroll_exit_not_ebvs:device=smart_tv"
    assert code == 1
    assert any("no longer sees batch/preroll_exit_not_ebvs:device=smart_tv" in p for p in report["problems"])
    assert [c["id"] for c in report["cases"] if c["status"] == "fail"] == ["exit_during_preroll_is_ebvs"]


def test_curated_faults_are_seen_under_unchanged_rules(capsys, tmp_path):
    code, stdout, err = run_cli(capsys, "gate", "--base", packaged_rules_dir(), "--json")
    report = json.loads(stdout)
    assert code == 0, report["problems"]
    assert len(report["faults"]) == 7 and len(report["cases"]) == 4
    assert all(f["status"] == "seen" for f in report["faults"])


def test_config_supplies_corpus_fixtures_dimensions_and_the_rules_in_use(workdir, golden_of, capsys):
    import pyarrow.parquet as pq
    from conftest import AUDIT_DIMS, write_config
    pq.write_table(golden_of(), workdir / "batch.parquet")
    (workdir / "my_rules").mkdir()
    (workdir / "my_rules" / "tolerances.yaml").write_text("metrics:\n  ebvs_rate: {relative: 0.01}\n")
    config = write_config(workdir, {"batch": {"path": "batch.parquet"}}, rules="my_rules",
                          gate={"corpus": ["events.parquet"], "fixtures": "none"})
    code, stdout, err = run_cli(capsys, "gate", "--config", str(config), "--base", packaged_rules_dir(),
                                "--json")
    assert code == 0, err
    report = json.loads(stdout)
    (corpus,) = report["corpus"]
    assert corpus["path"] == str(workdir / "events.parquet") and corpus["origin"] == "corpus"
    assert report["dimensions"] == list(AUDIT_DIMS) and report["faults"] == []
    assert report["changed_files"] == ["tolerances.yaml"]   # audit.yaml's own tolerances are in use
    assert report["golden"]["sessions"] == 400
    assert all(m["status"] == "unchanged" for m in report["metrics"])


def test_a_base_from_before_options_yaml_runs_with_the_defaults(repo, tmp_path, capsys):
    options = (repo / "rules" / "options.yaml").read_text()
    git(repo, "rm", "-q", "rules/options.yaml")
    commit(repo, "a revision from before options.yaml")
    (repo / "rules" / "options.yaml").write_text(options)
    commit(repo, "options.yaml with the same defaults")
    code, md, err, report = gate(capsys, repo, tmp_path / "out")
    assert code == 0, err + md
    assert report["changed_files"] == ["options.yaml"]   # a new definition file ...
    assert all(m["status"] == "unchanged" for m in report["metrics"])   # ... that moves nothing
