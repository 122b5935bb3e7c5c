"""Regenerate the committed example reports under reports/examples/.

    python reports/make_examples.py           # rewrite them
    python reports/make_examples.py --check   # exit 1 when a committed file is stale

Two examples, each generated from seeded synthetic data (auditor.synth) in a temporary
folder, audited, and rendered with the shipped templates:

- ``demo/``: what `auditor demo` audits (the headline_ebvs scenario, 10,000 sessions, one
  hour): batch EBVS about 8% high in one device x player-version slice;
- ``backfill/``: a two-fault backfill (the two_faults scenario's faults over six hourly
  windows): streaming drops late iOS events, batch counts start failures on edgio as EBVS.

The temporary folder is written ``DATA`` in the outputs, the definitions fingerprint
``sha256:<fingerprint>`` (it changes with any edit of rules/) and the version ``VERSION``, so
the files change only when what a reader sees changes. tests/test_report_examples.py checks they are current.
"""
from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE / "examples"
FILES = ("report.html", "summary.md", "junit.xml")


def _audit(name: str, data: Path):
    from auditor.audit import run_audit
    from auditor.config import load_config
    from auditor.synth.dataset import write_dataset
    from auditor.synth.demo import SCENARIO
    from auditor.synth.faults import parse_fault
    from auditor.synth.scenarios import SCENARIOS, build_scenario

    if name == "demo":
        build_scenario(SCENARIO, data, sessions=10_000)
        return run_audit(load_config(data / "audit.yaml"))
    faults = [parse_fault(spec) for spec in SCENARIOS["two_faults"].faults]
    write_dataset(data, sessions=12_000, seed=SCENARIOS["two_faults"].seed, faults=faults, windows=6,
                  batch_sessions=False)
    return run_audit(load_config(data / "audit.yaml"), ["2025-03-20T14:00:00Z/2025-03-20T20:00:00Z"])


def render(name: str) -> dict[str, str]:
    """The example's files, normalised: {file name: text}."""
    from auditor.render import render_html, render_junit, render_markdown

    with tempfile.TemporaryDirectory(prefix="auditor-example-") as tmp:
        data = Path(tmp) / "data"
        result = _audit(name, data)
        texts = {"report.html": render_html(result), "summary.md": render_markdown(result),
                 "junit.xml": render_junit(result)}
        return {f: normalise(t, str(data), result.auditor_version) for f, t in texts.items()}


def normalise(text: str, data: str, version: str) -> str:
    text = text.replace(data, "DATA")
    text = re.sub(r"sha256:[0-9a-f]{64}", "sha256:<fingerprint>", text)
    return text.replace(f"auditor {version} ", "auditor VERSION ")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a committed file is stale")
    parser.add_argument("names", nargs="*", default=["demo", "backfill"])
    args = parser.parse_args(argv)
    stale = []
    for name in args.names:
        for file, text in render(name).items():
            path = EXAMPLES / name / file
            if args.check:
                if not path.exists() or path.read_text(encoding="utf-8") != text:
                    stale.append(str(path.relative_to(HERE.parent)))
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
                print(f"wrote {path.relative_to(HERE.parent)}", file=sys.stderr)
    if stale:
        print("stale: " + ", ".join(stale) + "\nrun: python reports/make_examples.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
