"""Screenshots of the main pages for the README and docs, at desktop and phone widths.

With TWOFOLD_SCREENSHOTS=1 the PNGs go to docs/images/; otherwise the same pages are visited
and shot into pytest's tmp_path, so this test still checks that every page renders.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from browser.flows import (
    DESKTOP,
    PHONE,
    at_path,
    create_first_admin,
    enroll,
    enter_password,
    expect_enforced_setup,
    expect_security_page,
    sign_out,
)
from browser.operator_cli import Operator
from browser.server import Server

DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    if os.environ.get("TWOFOLD_SCREENSHOTS") == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        return DOCS_IMAGES
    return tmp_path


def shoot(page: Page, path: Path, *, keep_focus: bool = False) -> None:
    if not keep_focus:
        page.evaluate("document.activeElement && document.activeElement.blur()")
    page.screenshot(path=path, full_page=True, animations="disabled", caret="hide")
    assert path.stat().st_size > 5_000, f"{path.name} looks empty"


@pytest.mark.browser
def test_screenshots(page: Page, server: Server, shots: Path) -> None:
    create_first_admin(page, server.setup_url, "ada")
    shoot(page, shots / "setup-desktop.png")
    page.set_viewport_size(PHONE)
    shoot(page, shots / "setup-phone.png")
    page.set_viewport_size(DESKTOP)

    enroll(page)
    shoot(page, shots / "recovery-codes.png")
    page.get_by_role("link", name="I have saved these codes").click()
    expect(page).to_have_url(at_path("/account/security"))
    shoot(page, shots / "security-2fa-on.png")

    sign_out(page)
    page.goto("/login")
    shoot(page, shots / "sign-in.png")

    page.set_viewport_size(PHONE)
    enter_password(page, "ada")
    expect(page).to_have_url(at_path("/login/code"))
    shoot(page, shots / "code-prompt-phone.png", keep_focus=True)  # the code field has focus


@pytest.mark.browser
def test_policy_screenshots(page: Page, operator: Operator, shots: Path) -> None:
    # A member of an organization that requires 2FA, right after the password, on a phone.
    operator.create_org("northwind", "Northwind Traders", two_factor="required")
    operator.create_user("nadia", org="northwind")
    page.set_viewport_size(PHONE)
    enter_password(page, "nadia")
    expect_enforced_setup(page, "Northwind Traders")
    shoot(page, shots / "setup-enforced-phone.png")
    page.get_by_role("button", name="Sign out and do this later").click()
    expect(page).to_have_url(at_path("/login"))

    # A member who may still postpone: the countdown above their account page, on a laptop.
    operator.create_org("contoso", "Contoso")
    operator.create_user("omar", org="contoso")
    operator.set_policy("contoso", "--two-factor", "required", "--grace-days", "14")
    page.set_viewport_size(DESKTOP)
    enter_password(page, "omar")
    page.get_by_role("link", name="Not now").click()
    expect_security_page(page, two_factor_on=False)
    expect(page.locator(".grace-banner")).to_contain_text("14 days left")
    shoot(page, shots / "grace-banner-desktop.png")


@pytest.mark.browser
def test_api_docs_render_within_the_content_security_policy(page: Page, shots: Path) -> None:
    """/api/docs: Swagger UI from Twofold's own files, every operation listed; a script or
    style the CSP blocked would be a console error, which fails the test (conftest.page)."""
    page.goto("/api/docs")
    expect(page.locator(".opblock-summary-path", has_text="/v1/sign-in").first).to_be_visible()
    assert page.locator(".opblock").count() >= 16
    expect(page.get_by_role("button", name="Authorize")).to_be_visible()
    page.wait_for_load_state("networkidle")
    shoot(page, shots / "api-docs.png")
