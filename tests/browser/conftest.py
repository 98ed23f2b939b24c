"""Fixtures for the browser tests: one Chromium for all of them, one real server per module.

Chromium is Debian's, launched by Playwright: nothing is downloaded. The tests use its
headless shell (package chromium-headless-shell: the same Chromium build without the desktop
browser around it, the "old headless" mode Playwright itself picks for headless runs). It
costs about 40% less CPU per step and a seventh per new browser context than
`/usr/bin/chromium --headless`, and the browser tests were the largest part of the suite's
CPU (docs/development.md, "eighth pass").
Under CI=true a missing Chromium fails the run; locally the browser tests skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, expect, sync_playwright

from browser.flows import DESKTOP
from browser.mailbox import Mailbox
from browser.operator_cli import Operator
from browser.server import Server, running_server
from support import require_or_skip

CHROMIUM = Path("/usr/bin/chromium-headless-shell")
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

expect.set_options(timeout=5_000)


@pytest.fixture(scope="package")
def chromium() -> Iterator[Browser]:
    """One headless Chromium for every browser test.

    "package" is the browser tests' session: see __init__.py for why it must end with them.
    """
    require_or_skip(
        CHROMIUM.exists(), "Chromium's headless shell (apt-get install chromium-headless-shell)"
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A fresh server for each test module: its setup link is unused when the module starts."""
    with running_server(tmp_path_factory.mktemp("twofold-data")) as running:
        yield running


@pytest.fixture(scope="module")
def operator(server: Server) -> Operator:
    """`twofold …` commands against the module's server (its data directory)."""
    return Operator(server)


@pytest.fixture
def mailbox(server: Server) -> Mailbox:
    """The module's server outbox: what it mailed, read by this test."""
    return Mailbox(server.outbox)


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where screenshots go: docs/images/ with TWOFOLD_SCREENSHOTS=1, else a scratch folder
    (the pages are still visited and shot, so the test still checks that they render)."""
    if os.environ.get("TWOFOLD_SCREENSHOTS") == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        return DOCS_IMAGES
    return tmp_path


@pytest.fixture
def page(chromium: Browser, server: Server) -> Iterator[Page]:
    """A fresh browser profile (no cookies) at desktop size, on the module's server.

    A console error — a script error, or anything the Content-Security-Policy blocked —
    fails the test.
    """
    context = chromium.new_context(
        base_url=server.base_url, viewport=DESKTOP, accept_downloads=True
    )
    context.set_default_timeout(10_000)
    problems: list[str] = []
    documents: set[str] = set()

    def on_request(request: Request) -> None:
        if request.resource_type == "document":
            documents.add(request.url)

    def on_console(message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        url = message.location.get("url", "")
        if message.text.startswith("Failed to load resource") and url in documents:
            return  # a page answered 4xx on purpose, e.g. a refused code; the test checks it
        problems.append(f"console error: {message.text} ({url})")

    new_page = context.new_page()
    new_page.on("request", on_request)
    new_page.on("console", on_console)
    new_page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    try:
        yield new_page
    finally:
        context.close()
    assert not problems, "\n".join(problems)
