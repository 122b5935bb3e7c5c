"""Anti-drift: the README, --help and .ci/run stay true to the code."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from auditor.cli import cli
from auditor.golden.metrics import catalogue
from docs_support import anchors

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


def _section_tables(markdown: str, heading: str) -> list[list[list[str]]]:
    """The Markdown tables under ``heading`` (up to the next heading), as rows of cells
    without the header separator."""
    lines = markdown.split(f"\n{heading}\n", 1)[1].split("\n#", 1)[0].splitlines()
    tables: list[list[list[str]]] = []
    previous = ""
    for line in lines:
        if line.startswith("|"):
            if not previous.startswith("|"):
                tables.append([])
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(set(c) <= set("-: ") for c in cells):
                tables[-1].append(cells)
        previous = line
    return tables


def test_definitions_doc_documents_every_metric_of_the_catalogue():
    """docs/definitions.md#metric-catalogue states each metric of rules/metrics.yaml with the
    catalogue's numerator, denominator and unit, and its worked example computes every one:
    a metric added, renamed or redefined in the YAML alone fails here."""
    doc = (ROOT / "docs" / "definitions.md").read_text(encoding="utf-8")
    catalogue_table, *rest = _section_tables(doc, "### Metric catalogue")
    assert catalogue_table[0] == ["metric", "numerator", "denominator", "unit"]
    documented = {row[0].strip("`"): tuple(row[1:]) for row in catalogue_table[1:]}
    expected = {}
    for name, m in catalogue().items():
        numerator = f"`{m.numerator}`" if m.divisor == 1 else f"`{m.numerator} / {m.divisor}`"
        denominator = f"`{' + '.join(m.denominator)}`" if m.denominator else "-"
        expected[name] = (numerator, denominator, m.unit)
    assert documented == expected
    example = next(t for t in rest if t[0][0] == "metric")
    assert [row[0].strip("`") for row in example[1:]] == list(catalogue())


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


# ---- citations: every `docs/NAME.md#anchor` and every Markdown link resolves -------------

SCANNED_SUFFIXES = {".py", ".sql", ".yaml", ".yml", ".md", ".json", ".toml", ".j2", ".html", ".txt"}
SKIPPED_DIRS = {".git", ".venv", "__pycache__", ".pytest_cache", ".hypothesis", "node_modules"}
# a citation of one of the project's docs from anywhere: docs/definitions.md#window-grid
DOC_CITATION = re.compile(r"docs/([\w.-]+\.md)(?:#([\w-]+))?")
# a Markdown link target: [text](target) (no spaces; an optional "title" is not used here)
MD_LINK = re.compile(r"\]\(([^)\s]+)\)")
# the product owner's contracts are not part of the project: never cite them
OUTSIDE_SPEC = re.compile(r"(?<![\w/.-])(?:metrics|raw-events)\.md\b|shared/spec\b")
# outside docs/, interface.md must be docs/interface.md (or the text of a link, checked above)
BARE_INTERFACE = re.compile(r"(?<![\w/.\[-])interface\.md\b")


def project_files(root: Path) -> list[Path]:
    """The text files to scan (not this one: its examples of bad citations are on purpose)."""
    out = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info"))
        for name in sorted(files):
            path = Path(folder, name)
            rel = path.relative_to(root).parts
            if path.suffix in SCANNED_SUFFIXES or rel == (".ci", "run"):
                out.append(path)
    return [p for p in out if p != Path(__file__).resolve()]


def broken_citations(root: Path) -> list[str]:
    """``file:line: target (why)`` for every citation or relative link that does not resolve."""
    cache: dict[Path, set[str] | None] = {}

    def anchors_of(path: Path) -> set[str] | None:
        if path not in cache:
            cache[path] = anchors(path.read_text(encoding="utf-8")) if path.is_file() else None
        return cache[path]

    def check(target: Path, anchor: str | None, where: str, shown: str) -> str | None:
        if not target.exists():
            return f"{where}: {shown} (no such file)"
        if anchor and target.suffix == ".md" and anchor not in anchors_of(target):
            return f"{where}: {shown} (no heading with anchor #{anchor} in {target.relative_to(root)})"
        return None

    problems = []
    for path in project_files(root):
        text = path.read_text(encoding="utf-8", errors="replace")
        rel = path.relative_to(root)
        for lineno, line in enumerate(text.splitlines(), 1):
            where = f"{rel}:{lineno}"
            for m in DOC_CITATION.finditer(line):
                problems.append(check(root / "docs" / m[1], m[2], where, m[0]))
            if path.suffix != ".md":
                continue
            for m in MD_LINK.finditer(line):
                target = m[1]
                if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, mailto:, ...
                    continue
                file_part, _, anchor = target.partition("#")
                resolved = (path.parent / file_part).resolve() if file_part else path
                problems.append(check(resolved, anchor or None, where, target))
    return [p for p in problems if p]


def outside_spec_citations(root: Path) -> list[str]:
    """Mentions of the product owner's spec files (metrics.md, raw-events.md, interface.md
    outside docs/ unless written docs/interface.md)."""
    found = []
    for path in project_files(root):
        rel = path.relative_to(root)
        in_docs = rel.parts[0] == "docs"
        for lineno, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if OUTSIDE_SPEC.search(line) or (not in_docs and BARE_INTERFACE.search(line)):
                found.append(f"{rel}:{lineno}: {line.strip()}")
    return found


def test_every_cited_doc_anchor_exists():
    assert broken_citations(ROOT) == []


def test_nothing_cites_the_product_owners_spec_files():
    assert outside_spec_citations(ROOT) == []


def test_citation_checks_catch_a_wrong_anchor_and_a_spec_file(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "definitions.md").write_text(
        "# Title\n\n## Window grid\n\n```\n# not a heading\n```\n\n### Option `start_anchor`\n"
        "See [the grid](#window-grid) and [input](input.md#columns).\n", encoding="utf-8")
    (tmp_path / "mod.py").write_text(
        "# docs/definitions.md#window-grid is fine\n"
        "# docs/definitions.md#option-start_anchor is fine\n"
        "# docs/definitions.md#not-a-heading is wrong\n"
        "# see metrics.md 1.8 and interface.md\n", encoding="utf-8")
    assert anchors((tmp_path / "docs" / "definitions.md").read_text()) == {
        "title", "window-grid", "option-start_anchor"}
    assert sorted(broken_citations(tmp_path)) == [
        "docs/definitions.md:10: input.md#columns (no such file)",
        "mod.py:3: docs/definitions.md#not-a-heading (no heading with anchor #not-a-heading "
        "in docs/definitions.md)"]
    assert outside_spec_citations(tmp_path) == ["mod.py:4: # see metrics.md 1.8 and interface.md"]
