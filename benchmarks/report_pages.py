"""How big the reports are for a reader, and how long they take to render and to check in a
browser: report.html's height at 1280x900 with every <details> closed and its width, the
number of lines of summary.md, the HTML size, render time, and one browser check's time.

    python benchmarks/report_pages.py                          # the committed examples
    python benchmarks/report_pages.py --html OLD.html --summary OLD.md --label before

Needs playwright and the system Chromium (apt-get install -y chromium) for the page figures;
without them it prints the rest. Prints one Markdown table row per page.
"""
from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "reports" / "examples"


def measure_page(html: Path) -> tuple[int | None, int | None, float | None]:
    """(height px, scroll width px, seconds to launch, load and measure) at 1280x900."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None, None, None
    chromium = os.environ.get("AUDITOR_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    t0 = time.perf_counter()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.route("**/*", lambda route: route.abort())
        page.set_content(html.read_text(encoding="utf-8"), wait_until="load")
        height = page.evaluate("document.documentElement.scrollHeight")
        width = page.evaluate("document.documentElement.scrollWidth")
        browser.close()
    return height, width, time.perf_counter() - t0


def render_seconds(name: str, repeat: int) -> float:
    """Median seconds of render_html + render_markdown for an example's audit result."""
    import importlib.util
    import statistics
    import tempfile
    spec = importlib.util.spec_from_file_location("make_examples", ROOT / "reports" / "make_examples.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    from auditor.render import render_html, render_markdown
    with tempfile.TemporaryDirectory() as tmp:
        result = make._audit(name, Path(tmp) / "data")
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            render_html(result)
            render_markdown(result)
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", type=Path, help="measure this report.html instead of the examples")
    parser.add_argument("--summary", type=Path, help="its summary.md")
    parser.add_argument("--label", default="given")
    parser.add_argument("--repeat", type=int, default=5, help="render runs per example (median)")
    args = parser.parse_args()
    pages = [(args.label, args.html, args.summary, None)] if args.html else \
        [(n, EXAMPLES / n / "report.html", EXAMPLES / n / "summary.md", n) for n in ("demo", "backfill")]
    print("| page | height px (details closed) | screens at 900 px | width px | summary.md lines "
          "| report.html KB | render s (median) | browser check s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, html, summary, example in pages:
        height, width, seconds = measure_page(html)
        lines = len(summary.read_text(encoding="utf-8").splitlines()) if summary else None
        render = f"{render_seconds(example, args.repeat):.3f}" if example else "n/a"
        print(f"| {label} | {height or 'n/a'} | {height / 900:.1f} | {width or 'n/a'} | {lines or 'n/a'} | "
              f"{html.stat().st_size / 1024:.0f} | {render} | {seconds:.2f} |" if height else
              f"| {label} | n/a | n/a | n/a | {lines or 'n/a'} | {html.stat().st_size / 1024:.0f} | {render} | n/a |")


if __name__ == "__main__":
    main()
