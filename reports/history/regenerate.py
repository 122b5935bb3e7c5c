"""Regenerate the committed example of the scheduled report: a simulated fortnight
(auditor/synth/fortnight.py) audited day by day into a history store, reported on.

    .venv/bin/python reports/history/regenerate.py            # rewrites reports/history/
    .venv/bin/python reports/history/regenerate.py --out DIR  # writes elsewhere (the test does)

tests/test_history_report.py checks that the committed files are what this writes."""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SINCE, UNTIL = "2025-03-03", "2025-03-17"


def regenerate(out: Path, *, progress=None) -> None:
    from auditor.history import open_store
    from auditor.history.report import parse_period, write_scheduled_report
    from auditor.synth.fortnight import AS_OF, build_fortnight

    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out / "runs", ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="auditor-fortnight-") as work:
        fortnight = build_fortnight(work, runs_dir=out / "runs", progress=progress)
        since, until = parse_period(SINCE, UNTIL, now=AS_OF)
        with open_store(fortnight.store) as store:
            write_scheduled_report(store, since=since, until=until, now=AS_OF,
                                   out=out / "report.html", json_out=out / "report.json")
    # the store lived in a temporary folder: name it as the docs do
    for name in ("report.html", "report.json"):
        path = out / name
        path.write_text(path.read_text(encoding="utf-8").replace(str(Path(work) / "history.duckdb"),
                                                                 "history.duckdb"), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write (default: reports/history/)")
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args(argv)
    regenerate(args.out, progress=None if args.quiet else (lambda m: print(m, file=sys.stderr)))
    print(f"wrote {args.out / 'report.html'} and {args.out / 'report.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
