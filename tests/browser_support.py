"""Open a local HTML file in headless Chromium (the Debian package's binary, never a browser
download) and report what a reader would meet: console errors, network requests, a screenshot.

Shared by the tests of every HTML page auditor writes (marker ``browser``). Without Python
playwright or a system chromium the tests skip, saying which is missing."""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def chromium_path() -> str | None:
    """$AUDITOR_CHROMIUM, else the first on PATH."""
    return os.environ.get("AUDITOR_CHROMIUM") or next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


@dataclass
class PageVisit:
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)       # every URL the page asked for
    page_errors: list[str] = field(default_factory=list)

    @property
    def network(self) -> list[str]:
        """Requests that left the file: anything but the page itself and data: URLs."""
        return [u for u in self.requests[1:] if not u.startswith(("data:", "about:"))]


def require_chromium():
    """(playwright.sync_api, the chromium binary), or skip saying which is missing."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]' installs playwright")
    exe = chromium_path()
    if exe is None:
        pytest.skip("no system chromium: apt-get install -y chromium (.ci/run installs it)")
    return sync_api, exe


def launch(playwright, exe: str):
    """Headless Chromium from ``exe`` (a started playwright)."""
    return playwright.chromium.launch(executable_path=exe, headless=True, args=["--no-sandbox", "--disable-gpu"])


def watch(page) -> PageVisit:
    """Record what ``page`` meets from now on: console errors, page errors, requests."""
    visit = PageVisit()
    page.on("console", lambda m: visit.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: visit.page_errors.append(str(e)))
    page.on("request", lambda r: visit.requests.append(r.url))
    return visit


def open_page(path: Path, screenshot: Path | None = None, *, width: int = 1280, height: int = 900):
    """(PageVisit, playwright page) for ``path``; the caller closes nothing: use as a context manager."""
    return _Session(path, screenshot, width, height)


class _Session:
    def __init__(self, path: Path, screenshot: Path | None, width: int, height: int) -> None:
        self.path, self.screenshot, self.size = Path(path).resolve(), screenshot, (width, height)

    def __enter__(self):
        sync_api, exe = require_chromium()
        self._pw = sync_api.sync_playwright().start()
        self._browser = launch(self._pw, exe)
        context = self._browser.new_context(viewport={"width": self.size[0], "height": self.size[1]},
                                            offline=True)
        page = context.new_page()
        visit = watch(page)
        page.goto(self.path.as_uri(), wait_until="load")
        if self.screenshot is not None:
            page.screenshot(path=str(self.screenshot), full_page=False)
        return visit, page

    def __exit__(self, *exc) -> None:
        self._browser.close()
        self._pw.stop()
