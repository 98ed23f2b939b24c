"""Mistyped authentication codes: a clear message on /login/code, and the next try works."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from browser.flows import (
    at_path,
    create_first_admin,
    enroll,
    enter_code,
    enter_password,
    expect_security_page,
    sign_out,
    wrong_code,
)
from browser.server import Server

MISMATCH = "That code didn't match. Codes change every 30 seconds — try the newest one."
DIGITS_ONLY = "Enter the 6-digit code from your authenticator app, digits only."


@pytest.mark.browser
def test_wrong_code_and_letters_show_an_error_then_the_right_code_works(
    page: Page, server: Server
) -> None:
    create_first_admin(page, server.setup_url, "grace")
    phone, _codes = enroll(page)
    page.get_by_role("link", name="I have saved these codes").click()
    sign_out(page)
    enter_password(page, "grace")

    code_field = page.get_by_label("Authentication code")
    for typed, message in [(wrong_code(phone), MISMATCH), ("12ab56", DIGITS_ONLY)]:
        enter_code(page, typed)
        expect(page).to_have_url(at_path("/login/code"))
        expect(page.get_by_role("alert")).to_contain_text(message)
        expect(code_field).to_have_attribute("aria-invalid", "true")
        expect(code_field).to_have_attribute("aria-describedby", "form-error")
        expect(code_field).to_be_focused()

    enter_code(page, phone.next_code())
    expect_security_page(page, two_factor_on=True)
    expect(page.get_by_role("alert")).to_have_count(0)
