"""The definition fingerprint, rules folders as values, and the pieces of the gate that
do not need a git repository (tests/test_gate.py runs it end to end)."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditor.audit import run_audit
from auditor.config import load_config
from auditor.errors import ConfigError
from auditor.gate.changes import load_manifest
from auditor.golden import GoldenOptions, RulesFolder, compute_golden, connect, load_options
from auditor.golden.fingerprint import fingerprint, normalize_file, normalize_sql
from auditor.golden.metrics import load_catalogue
from auditor.golden.sqlfiles import packaged_rules_dir
from conftest import AUDIT_DIMS, write_config

STAGE = (Path(packaged_rules_dir()) / "golden" / "03_live.sql").read_text()
_TOKEN = re.compile(r"'(?:[^']|'')*'|\S+")


@given(st.lists(st.sampled_from(["\n", "  ", "\t", " -- a comment\n", "\n/* block\ncomment */\n"]),
                min_size=1, max_size=200), st.randoms())
def test_comments_and_whitespace_between_tokens_do_not_count(gaps, rnd):
    tokens = _TOKEN.findall(STAGE.split("CREATE", 1)[1])
    text = "CREATE"
    for tok in tokens:
        text += rnd.choice(gaps) + tok
    assert normalize_sql(text) == normalize_sql("CREATE " + " ".join(tokens))


def test_a_changed_token_counts_and_literals_are_kept_verbatim():
    assert normalize_sql("SELECT a  FROM t -- x") == normalize_sql("SELECT a\nFROM t")
    assert normalize_sql("SELECT a FROM t") != normalize_sql("SELECT b FROM t")
    assert normalize_sql("SELECT '--  not a comment'") == "SELECT '--  not a comment'"
    assert normalize_sql("WHERE et = 3") != normalize_sql("WHERE et = 4")


def test_yaml_descriptions_do_not_count_data_does():
    base = "metrics:\n  m: {numerator: ebvs, unit: ratio, description: one}\n"
    assert normalize_file("metrics.yaml", base) == normalize_file(
        "metrics.yaml", "# a comment\nmetrics:\n  m:\n    unit: ratio\n    numerator: ebvs\n    description: two\n")
    assert normalize_file("metrics.yaml", base) != normalize_file("metrics.yaml", base.replace("ebvs", "vsf"))


def test_fingerprint_is_the_same_however_the_folder_is_read_and_skips_non_definitions(tmp_path):
    copy = tmp_path / "rules"
    shutil.copytree(packaged_rules_dir(), copy, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    packaged = fingerprint()
    assert fingerprint(RulesFolder(root=str(copy))) == packaged
    assert "golden/05_session_facts.sql" in packaged.files and "options.yaml" in packaged.files
    assert not any(f.startswith("cases/") or f == "changes.yaml" for f in packaged.files)
    (copy / "changes.yaml").write_text("changes: [{metric: plays, direction: up, reason: r}]\n")
    (copy / "cases" / "definitions.yaml").write_text("[]\n")
    assert fingerprint(RulesFolder(root=str(copy))) == packaged
    options = copy / "options.yaml"
    options.write_text(options.read_text().replace("ebvs_min_wait_ms: 0", "ebvs_min_wait_ms: 1"))
    changed = fingerprint(RulesFolder(root=str(copy)))
    assert changed.digest != packaged.digest and changed.changed_files(packaged) == ["options.yaml"]


def test_report_json_says_which_definitions_produced_it(workdir, golden_of):
    pq.write_table(golden_of(), workdir / "batch.parquet")
    result = run_audit(load_config(write_config(workdir, {"batch": {"path": "batch.parquet"}})))
    assert result.definitions_fingerprint == fingerprint().digest
    own = workdir / "my_rules"
    own.mkdir()
    (own / "tolerances.yaml").write_text("metrics:\n  ebvs_rate: {relative: 0.01}\n")
    config = load_config(write_config(workdir, {"batch": {"path": "batch.parquet"}}, rules="my_rules"))
    assert dict(config.rules_in_use().overrides) == {"tolerances.yaml": str(own / "tolerances.yaml")}
    assert run_audit(config).definitions_fingerprint == fingerprint(config.rules_in_use()).digest \
        != fingerprint().digest


def test_head_reuses_base_load_and_dedup_with_identical_results(events_table):
    dims = AUDIT_DIMS
    fresh = compute_golden(events_table, dims=dims, with_sessions=True,
                           options=GoldenOptions(ebvs_min_wait_ms=1500))
    con = connect()
    compute_golden(events_table, dims=dims, with_sessions=True, con=con)
    reused = compute_golden(events_table, dims=dims, with_sessions=True, con=con, reuse_loaded=True,
                            options=GoldenOptions(ebvs_min_wait_ms=1500))
    assert reused.aggregates.equals(fresh.aggregates) and reused.sessions.equals(fresh.sessions)
    assert reused.stats == fresh.stats


def _folder(tmp_path: Path) -> Path:
    copy = tmp_path / "rules"
    shutil.copytree(packaged_rules_dir(), copy, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    return copy


def test_bad_definition_files_name_file_and_line(tmp_path, events_table):
    copy = _folder(tmp_path)
    (copy / "options.yaml").write_text("golden:\n  start_anchor: first_frame\n")
    with pytest.raises(ConfigError, match=r"options\.yaml:2.*start_anchor"):
        load_options(RulesFolder(root=str(copy)))
    metrics = copy / "metrics.yaml"
    metrics.write_text(metrics.read_text().replace("numerator: vsf", "numerator: vsff"))
    with pytest.raises(ConfigError, match=r"metrics\.yaml:\d+: metrics\.vsf_rate\.numerator"):
        load_catalogue(RulesFolder(root=str(copy)))
    stage = copy / "golden" / "07_aggregate.sql"
    stage.write_text(stage.read_text().replace("sum(started)", "sum(startd)"))
    line = next(i for i, t in enumerate(stage.read_text().splitlines(), 1) if "startd" in t)
    with pytest.raises(ConfigError, match=rf"07_aggregate\.sql:{line}: the SQL fails"):
        compute_golden(events_table, dims=AUDIT_DIMS, rules=RulesFolder(root=str(copy)),
                       options=load_options())


def test_manifest_errors_name_the_line(tmp_path):
    copy = _folder(tmp_path)
    (copy / "changes.yaml").write_text("changes:\n  - metric: ebvs_rat\n    direction: down\n    reason: r\n")
    with pytest.raises(ConfigError, match=r"(?s)changes\.yaml:2: changes\[0\]\.metric.*did you mean 'ebvs_rate'"):
        load_manifest(RulesFolder(root=str(copy)), AUDIT_DIMS, ["ebvs_rate"])
    (copy / "changes.yaml").write_text("changes:\n  - {metric: ebvs_rate, direction: sideways, reason: r}\n")
    with pytest.raises(ConfigError, match=r"changes\.yaml:2.*direction"):
        load_manifest(RulesFolder(root=str(copy)), AUDIT_DIMS, ["ebvs_rate"])
