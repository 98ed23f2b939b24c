"""The whole life of 2FA in a real browser against a real server: the first administrator
(created by the setup link) must set it up and can never turn it off; a member created by the
operator turns it on, signs in with a code and a recovery code, and turns it off again."""

from __future__ import annotations

import re

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
)
from browser.operator_cli import Operator
from browser.server import Server
from support import STRONG_PASSWORD

USED_UP = "That recovery code isn't valid, or it was used already. Each code works once."
ADMINS_KEEP_2FA = "Two-factor authentication stays on: it is required for platform administrators."


def spaced(code: str) -> str:
    """A 6-digit code the way people copy it: "123 456"."""
    return f"{code[:3]} {code[3:]}"


@pytest.mark.browser
def test_setup_sign_in_recovery_and_disable(page: Page, server: Server, operator: Operator) -> None:
    # The one-time link creates "ada", the platform administrator: she sets up 2FA at once
    # (no "Not now" for administrators) by typing the key into an app.
    create_first_admin(page, server.setup_url, "ada")
    expect(page.locator("main .notice")).to_have_text(
        "Administrators must use two-factor authentication. Set it up to continue."
    )
    expect(page.get_by_role("link", name="Not now")).to_have_count(0)
    _ada_phone, codes = enroll(page)  # ada's TOTP code 1
    expect(page.get_by_role("status")).to_have_text("Two-factor authentication is on.")

    # The download holds the same 10 codes, one per line.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download (.txt)").click()
    download = download_info.value
    assert download.suggested_filename == "twofold-recovery-codes.txt"
    lines = download.path().read_text(encoding="utf-8").splitlines()
    assert lines[-10:] == codes
    # It says whose codes they are, for which site, and when they were made.
    assert lines[0] == "Twofold recovery codes for ada"
    assert lines[1] == f"Site: {server.base_url}"
    assert re.fullmatch(
        r"Made: \d{4}-\d\d-\d\d \d\d:\d\d UTC \(older codes no longer work\)", lines[2]
    )

    # "Copy codes" puts the same text on the clipboard.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Copy codes").click()
    expect(page.locator("button.copy-button")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()").splitlines() == lines

    page.get_by_role("link", name="I have saved these codes").click()
    expect_security_page(page, two_factor_on=True)
    expect(page.get_by_text("Recovery codes left: 10 of 10.")).to_be_visible()

    # A platform administrator cannot turn 2FA off: no way to, and the page says why.
    expect(page.get_by_role("link", name="Disable two-factor authentication")).to_have_count(0)
    expect(page.get_by_text(ADMINS_KEEP_2FA)).to_be_visible()
    page.goto("/account/security/disable")
    expect(page.get_by_role("alert")).to_have_text(
        "You can't turn off two-factor authentication: it is required for platform administrators."
    )
    expect(page.get_by_label("Current password")).to_have_count(0)
    expect(page.get_by_role("button", name="Disable two-factor authentication")).to_have_count(0)
    sign_out(page)

    # The operator creates "bob", a member of the default organization (2FA optional).
    # His password alone signs him in, and he turns 2FA on from his security page.
    operator.create_user("bob")
    enter_password(page, "bob")
    expect_security_page(page, two_factor_on=False)
    page.get_by_role("link", name="Set up two-factor authentication").click()
    expect(page).to_have_url(at_path("/account/security/setup"))
    expect(page.get_by_role("link", name="Not now")).to_be_visible()
    phone, codes = enroll(page)  # bob's TOTP code 1
    expect(page.get_by_role("status")).to_have_text("Two-factor authentication is on.")
    page.get_by_role("link", name="I have saved these codes").click()
    expect_security_page(page, two_factor_on=True)
    expect(page.get_by_text("Recovery codes left: 10 of 10.")).to_be_visible()
    expect(page.get_by_text(ADMINS_KEEP_2FA)).to_have_count(0)
    sign_out(page)

    # Password, then the app's code (typed with a space).
    enter_password(page, "bob")
    expect(page.get_by_label("Authentication code")).to_be_focused()
    enter_code(page, spaced(phone.next_code()))  # TOTP code 2
    expect_security_page(page, two_factor_on=True)
    expect(page.get_by_text("You signed in with a recovery code")).to_have_count(0)
    sign_out(page)

    # Password, then a recovery code instead.
    recovery_code = codes[3]
    enter_password(page, "bob")
    page.get_by_role("link", name="Use a recovery code").click()
    expect(page).to_have_url(at_path("/login/recovery"))
    page.get_by_label("Recovery code").fill(recovery_code)
    page.get_by_role("button", name="Verify").click()
    expect_security_page(page, two_factor_on=True)
    notice = page.locator(".warning", has_text="You signed in with a recovery code.")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("You have 9 recovery codes left.")
    expect(page.get_by_text("Recovery codes left: 9 of 10.")).to_be_visible()
    sign_out(page)

    # The same recovery code again: refused, clearly, and the person stays on the page.
    enter_password(page, "bob")
    page.get_by_role("link", name="Use a recovery code").click()
    page.get_by_label("Recovery code").fill(recovery_code)
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(at_path("/login/recovery"))
    expect(page.get_by_role("alert")).to_have_text(USED_UP)
    expect(page.get_by_label("Recovery code")).to_have_attribute("aria-invalid", "true")

    # ...so they use the app instead, from the same sign-in.
    page.get_by_role("link", name="Use your authenticator app instead").click()
    enter_code(page, phone.next_code())  # TOTP code 3, the last one
    expect_security_page(page, two_factor_on=True)

    # Turning 2FA off takes the password and says what it means first.
    page.get_by_role("link", name="Disable two-factor authentication").click()
    expect(page).to_have_url(at_path("/account/security/disable"))
    expect(page.locator(".warning")).to_contain_text("your password alone signs you in")
    page.get_by_label("Current password").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Disable two-factor authentication").click()
    expect_security_page(page, two_factor_on=False)
    expect(page.get_by_role("status")).to_have_text(re.compile("Two-factor authentication is off"))
    sign_out(page)

    # Now the password alone signs in.
    enter_password(page, "bob")
    expect_security_page(page, two_factor_on=False)
