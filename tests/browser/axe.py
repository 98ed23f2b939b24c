"""axe-core (npm, installed in tests/browser by `npm ci`) run inside the page by Playwright.

A page passes when axe finds no serious or critical violation. Without axe-core the checks
skip locally and fail under CI=true (require_or_skip)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from playwright.sync_api import Page, ViewportSize

from browser.flows import DESKTOP, PHONE
from support import require_or_skip

AXE_JS = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = {"serious", "critical"}


@cache
def axe_source() -> str:
    require_or_skip(AXE_JS.exists(), f"axe-core ({AXE_JS}; run `npm ci` in tests/browser)")
    return AXE_JS.read_text(encoding="utf-8")


def violations(page: Page) -> list[str]:
    """axe's serious and critical findings on the page as it is now, one line each."""
    # Evaluated through the DevTools protocol, so the page's Content-Security-Policy (which
    # allows no inline script) does not apply and stays on for everything else.
    # Once per document: a second width of the same page reuses it.
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(f"() => {{ {axe_source()}\n}}")
    results = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    found = []
    for violation in results["violations"]:
        if violation["impact"] not in BLOCKING:
            continue
        targets = [", ".join(node["target"]) for node in violation["nodes"]][:5]
        found.append(f"{violation['impact']}: {violation['id']} — {violation['help']} {targets}")
    return found


def check_accessible(page: Page, *, widths: tuple[ViewportSize, ...] = (DESKTOP, PHONE)) -> None:
    """No serious or critical axe violation at desktop and phone widths (then back to the
    width the page had)."""
    before = page.viewport_size
    problems = []
    for width in widths:
        page.set_viewport_size(width)
        problems += [f"{page.url} at {width['width']} px: {line}" for line in violations(page)]
    if before is not None:
        page.set_viewport_size(before)
    assert not problems, "\n".join(problems)
