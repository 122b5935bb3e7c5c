"""report.html in a real browser: headless Chromium (the system's, from Debian's `chromium`
package, driven by Python playwright; never a browser download). For the committed demo and
two-fault backfill examples (reports/examples/, kept current by tests/test_report_examples.py):
no console error and no network request, the headline card and the charts inside the first
1280x900 viewport, no horizontal scroll at 1280 px (screen and print), and the demo at most four
screens tall with every <details> closed. Screenshots go to $AUDITOR_ARTIFACTS (default: a
pytest temp folder) for a person to look at."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from browser_support import launch, require_chromium, watch

pytestmark = pytest.mark.browser

EXAMPLES = Path(__file__).resolve().parents[1] / "reports" / "examples"
WIDTH, HEIGHT = 1280, 900


@pytest.fixture(scope="module")
def browser():
    sync_api, exe = require_chromium()
    with sync_api.sync_playwright() as p:
        b = launch(p, exe)
        yield b
        b.close()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("AUDITOR_ARTIFACTS") or tmp_path_factory.mktemp("artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _open(browser, name: str):
    """The example page loaded offline; every request the page makes is recorded and refused."""
    page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
    visit = watch(page)
    page.route("**/*", lambda route: route.abort())
    page.set_content((EXAMPLES / name / "report.html").read_text(encoding="utf-8"), wait_until="load")
    return page, visit


def _trouble(visit) -> tuple[list[str], list[str]]:
    """(console and page errors, requests other than data: URLs) met so far."""
    return visit.console_errors + visit.page_errors, [u for u in visit.requests if not u.startswith("data:")]


def _box(page, selector: str):
    box = page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not rendered"
    return box


@pytest.mark.parametrize("name", ["demo", "backfill"])
def test_report_in_chromium(browser, artifacts, name):
    page, visit = _open(browser, name)
    try:
        page.screenshot(path=str(artifacts / f"report-{name}.png"))
        page.screenshot(path=str(artifacts / f"report-{name}-full.png"), full_page=True)
        assert _trouble(visit) == ([], [])
        # the headline: the first card whole, and the charts, inside the first viewport
        card = _box(page, "article.card")
        assert card["y"] >= 0 and card["y"] + card["height"] <= HEIGHT, card
        assert page.locator("article.card svg.chart").count() >= 1
        for i in range(page.locator("aside svg.chart").count()):
            box = page.locator("aside svg.chart").nth(i).bounding_box()
            assert box["y"] + box["height"] <= HEIGHT, (i, box)
        assert page.locator("aside svg.chart").count() == 2
        # no horizontal scroll at 1280 px, on screen and in print
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
        page.emulate_media(media="print")
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
        page.emulate_media(media="screen")
        closed = page.evaluate("[...document.querySelectorAll('details')].every(d => !d.open)")
        assert closed
        height = page.evaluate("document.documentElement.scrollHeight")
        print(f"{name}: {height} px tall with every <details> closed")
        if name == "demo":
            assert height <= 4 * HEIGHT, height
    finally:
        page.close()


def test_details_open_and_anchors_resolve(browser):
    """Every in-page link points at an element of the page; opening every <details> keeps
    the page free of horizontal scroll (wide tables scroll inside their box)."""
    page, visit = _open(browser, "demo")
    try:
        missing = page.evaluate("""[...document.querySelectorAll('a[href^="#"]')]
            .map(a => a.getAttribute('href').slice(1)).filter(id => !document.getElementById(id))""")
        assert missing == []
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
        assert _trouble(visit)[0] == []
    finally:
        page.close()
