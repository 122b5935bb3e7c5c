"""audit.yaml validation: every mistake is exit 2 with file:line, the key and a hint."""
from __future__ import annotations

import os

import pytest

from auditor.config import load_config
from auditor.errors import ConfigError

BASE = """\
events: events.parquet
window: {start: 2025-03-20T14:00:00Z, minutes: 60}
dimensions: [cdn, device]
pipelines:
  batch:
    path: batch.parquet
"""


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "events.parquet").write_bytes(b"")
    (tmp_path / "batch.parquet").write_bytes(b"")
    return tmp_path


def load(folder, text):
    (folder / "audit.yaml").write_text(text)
    return load_config(folder / "audit.yaml")


def error(folder, text) -> str:
    with pytest.raises(ConfigError) as exc:
        load(folder, text)
    assert exc.value.exit_code == 2
    return str(exc.value)


def test_valid_config_resolves_paths_against_its_folder(folder, monkeypatch):
    monkeypatch.chdir("/")
    config = load(folder, BASE + "    grain: 15m\n    dimensions: [cdn]\n    metrics: [attempts, ebvs_rate]\n"
                          "    tolerances: {ebvs_rate: {relative: 0.01}}\n")
    (p,) = config.pipelines
    assert config.events == str(folder / "events.parquet")
    assert p.source.path == str(folder / "batch.parquet")
    assert (p.grain_minutes, p.dimensions, p.metrics) == (15, ("cdn",), ("attempts", "ebvs_rate"))
    assert config.tolerance_rules.resolve("batch", "ebvs_rate", p.tolerances).relative == 0.01
    assert config.tolerance_rules.resolve("batch", "attempts", p.tolerances).exact


@pytest.mark.parametrize("text, expected", [
    (BASE + "    grian: 5m\n", ["audit.yaml:7", "pipelines.batch.grian", "unknown key 'grian'", "did you mean 'grain'?"]),
    (BASE.replace("window:", "windw:"), ["audit.yaml:2", "unknown key 'windw'", "did you mean 'window'?"]),
    (BASE + "    grain: soon\n", ["audit.yaml:7", "pipelines.batch.grain", "not a length of time", "hint: e.g."]),
    (BASE + "    dimensions: [cdn, isp]\n", ["audit.yaml:7", "['isp'] are not audit dimensions"]),
    (BASE + "    metrics: [ebvs_rat]\n", ["audit.yaml:7", "pipelines.batch.metrics[0]", "did you mean 'ebvs_rate'?"]),
    (BASE + "    tolerances: {attempts: {relative: -1}}\n", ["pipelines.batch.tolerances.attempts.relative",
                                                           "must be a number >= 0"]),
    (BASE + "    tolerances: {attempts: {statistical: {confidence: 0.99}}}\n",
     ["statistical tolerance applies to rates of session counts, not attempts", "ebvs_rate"]),
    (BASE + "    tolerances: {ebvs_rate: {statistical: {confidence: 99}}}\n", ["between 0 and 1"]),
    (BASE + "    columns: {attemps: n}\n", ["pipelines.batch.columns.attemps", "did you mean 'attempts'?"]),
    (BASE.replace("batch.parquet", "nothere.parquet"), ["audit.yaml:6", "no such file", "nothere.parquet",
                                                       "relative paths are resolved against the folder"]),
    (BASE.replace("path: batch.parquet", "path: out/*.parquet"), ["no file matches"]),
    (BASE + "    duckdb: x.duckdb\n", ["give exactly one source", "['path', 'duckdb']"]),
    (BASE.replace("path: batch.parquet", "url: sqlite://"), ["needs exactly one of table or query"]),
    (BASE.replace("path: batch.parquet", "url: ${NOT_SET_ANYWHERE}\n    table: t"),
     ["audit.yaml:6", "environment variable NOT_SET_ANYWHERE is not set", "export NOT_SET_ANYWHERE"]),
    (BASE.replace("minutes: 60", "minutes: -5"), ["window.minutes", "positive"]),
    (BASE.replace("2025-03-20T14:00:00Z", "yesterday"), ["window.start", "not an ISO-8601 time"]),
    (BASE.replace("[cdn, device]", "[cdn, cdn]"), ["dimensions", "repeat"]),
    (BASE.replace("[cdn, device]", "7"), ["audit.yaml:3", "expected a list of names"]),
    ("events: events.parquet\npipelines: {}\n", ["pipelines must map each pipeline"]),
    ("pipelines: {a: {path: batch.parquet}}\n", ["missing required key 'events'"]),
    (BASE + "  batch:\n    path: x\n", ["audit.yaml:7", "key 'batch' appears twice"]),
    ("events: [unclosed\n", ["not valid YAML"]),
    (BASE + "golden: {start_anchor: sometimes}\n", ["golden.start_anchor", "content_frame or any_frame"]),
    (BASE + "quality: {engine: gx}\n", ["audit.yaml:7", "quality.engine", "unknown engine 'gx'",
                                        "builtin, great_expectations", "hint: engine: builtin"]),
    (BASE + "quality: {enabled: true, engine: [builtin]}\n", ["quality.engine", "unknown engine ['builtin']"]),
    (BASE + "quality: {engin: builtin}\n", ["quality.engin", "did you mean 'engine'?"]),
])
def test_mistakes_name_file_line_key_and_hint(folder, text, expected):
    message = error(folder, text)
    for part in expected:
        assert part in message, message


@pytest.mark.parametrize("quality, rules_on, engine", [
    ("", True, "builtin"), ("quality: true\n", True, "builtin"), ("quality: {enabled: true}\n", True, "builtin"),
    ("quality: {engine: great_expectations}\n", True, "great_expectations"),
    ("quality: {engine: builtin}\n", True, "builtin"),
    ("quality: {enabled: false, engine: great_expectations}\n", False, "great_expectations"),
    ("quality: false\n", False, "builtin"),
])
def test_quality_engine_defaults_to_builtin_for_run(folder, quality, rules_on, engine):
    config = load(folder, BASE + quality)
    assert (config.quality_rules is not None, config.quality_engine) == (rules_on, engine)


def test_environment_variables_in_connection_strings(folder, monkeypatch):
    monkeypatch.setenv("QOE_DB", "postgresql+psycopg://me:pw@db:5432/qoe")
    config = load(folder, BASE.replace("path: batch.parquet", "url: ${QOE_DB}\n    table: qoe.hourly"))
    source = config.pipelines[0].source
    assert source.url == "postgresql+psycopg://me:pw@db:5432/qoe"
    assert source.describe() == "postgresql+psycopg://me:***@db:5432/qoe (table qoe.hourly)"


def test_rules_folder_overrides_shipped_tolerances(folder):
    (folder / "rules").mkdir()
    (folder / "rules" / "tolerances.yaml").write_text(
        "version: 1\ndefault: exact\nmetrics:\n  avg_bitrate_kbps: {relative: 0.001}\n"
        "pipelines:\n  batch:\n    default: {absolute: 2}\n")
    config = load(folder, BASE + "rules: rules\n")
    rules = config.tolerance_rules
    assert rules.resolve("batch", "attempts").absolute == 2
    assert rules.resolve("other", "avg_bitrate_kbps").relative == 0.001
    assert rules.resolve("other", "attempts").exact
    (folder / "rules" / "tolerances.yaml").write_text("pipelines:\n  nobody: {}\n")
    message = error(folder, BASE + "rules: rules\n")
    assert "tolerances.yaml: pipelines: " in message and "does not configure: ['nobody']" in message
    (folder / "rules" / "tolerances.yaml").write_text("metrics:\n  ebvs: {relative: 1}\n")
    assert "tolerances.yaml:2" in error(folder, BASE + "rules: rules\n")


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="audit config not found"):
        load_config(tmp_path / "nope.yaml")
    assert not os.path.exists(tmp_path / "nope.yaml")
