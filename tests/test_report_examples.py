"""The committed example reports (reports/examples/) are what the code renders today, and the
demo's summary.md stays short enough for a CI log (at most 60 lines)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _make_examples():
    spec = importlib.util.spec_from_file_location("make_examples", ROOT / "reports" / "make_examples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_examples_are_current():
    make = _make_examples()
    for name in ("demo", "backfill"):
        for file, text in make.render(name).items():
            path = make.EXAMPLES / name / file
            assert path.exists(), f"{path} is missing: python reports/make_examples.py"
            assert path.read_text(encoding="utf-8") == text, \
                f"{path.relative_to(ROOT)} is stale: python reports/make_examples.py"


def test_demo_summary_fits_a_ci_log():
    lines = (ROOT / "reports" / "examples" / "demo" / "summary.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 60
    assert sum(line.startswith("### 1. ") for line in lines) == 1 and not any(
        line.startswith("### 2. ") for line in lines), "the demo has one cause"
