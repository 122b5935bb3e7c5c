"""Anti-drift: the README, --help and .ci/run stay true to the code."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from auditor.cli import cli
from auditor.golden.metrics import catalogue

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_has_help_and_is_in_the_readme(name):
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert len(result.output.splitlines()) > 5
    assert f"auditor {name}" in README, f"`auditor {name}` is not documented in README.md"


def test_top_level_help_and_version():
    out = subprocess.run([sys.executable, "-m", "auditor", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "Exit codes" in out.stdout
    out = subprocess.run([sys.executable, "-m", "auditor", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and re.search(r"\d+\.\d+", out.stdout)


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    command = ci[-1].strip()
    assert "pytest" in command
    assert command in README, "the last line of .ci/run must be the README's test command"


def test_every_metric_is_documented():
    spec = catalogue()
    assert {"attempts", "plays", "ebvs_rate", "vsf_rate", "vpf_rate", "video_start_time_ms",
            "rebuffering_ratio", "avg_bitrate_kbps", "play_minutes"} <= set(spec)
    for metric in spec.values():
        assert metric.description and metric.unit


def test_help_is_fast_without_heavy_imports():
    code = ("import sys; from auditor.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('great_expectations', 'sqlalchemy', 'pyspark') if m in sys.modules]\n"
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


def _readme_python_snippets() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_readme_python_snippets_run_verbatim(tmp_path):
    """Every ```python block of the README runs as printed, in a folder laid out as it assumes:
    an audit.yaml (a curated fixture's) and its events also under data/events/."""
    snippets = _readme_python_snippets()
    assert len(snippets) >= 3
    fixture = ROOT / "fixtures" / "headline_ebvs"
    for f in fixture.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    (tmp_path / "data" / "events").mkdir(parents=True)
    (tmp_path / "data" / "events" / "events.parquet").write_bytes((fixture / "events.parquet").read_bytes())
    for i, code in enumerate(snippets):
        out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
        assert out.returncode == 0, f"README python snippet {i + 1} failed:\n{code}\n{out.stderr}"
    assert (tmp_path / "reports" / "report.json").exists()
    assert (tmp_path / "out" / "headline" / "events.parquet").exists()
