"""Several authenticators in a real browser (issue #12): the administrator — for whom 2FA is
required — adds a second authenticator app, signs in with it, moves off the old phone
without anyone's help, and cannot remove the last one."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from browser.axe import check_accessible
from browser.flows import (
    PhoneApp,
    at_path,
    create_first_admin,
    enroll,
    enter_code,
    enter_password,
    expect_security_page,
    read_setup_key,
    shoot,
    sign_out,
)
from browser.server import Server
from support import STRONG_PASSWORD


def authenticators_list(page: Page) -> list[str]:
    names = page.locator('ul[aria-labelledby="authenticators-heading"] li strong')
    return names.all_inner_texts()


@pytest.mark.browser
def test_add_a_second_authenticator_sign_in_with_it_and_move_off_the_old_phone(
    page: Page, server: Server, shots: Path
) -> None:
    create_first_admin(page, server.setup_url, "ada")
    old_phone, _codes = enroll(page)
    page.get_by_role("link", name="I have saved these codes").click()
    expect_security_page(page, two_factor_on=True)
    assert authenticators_list(page) == ["Authenticator app"]

    # Add "Work phone": the password and a code from the app she has, then the new key.
    page.get_by_role("link", name="Add an authenticator").click()
    expect(page).to_have_url(at_path("/account/security/authenticators/new"))
    check_accessible(page)
    page.get_by_label("Name").fill("Work phone")
    page.get_by_label("Current password").fill(STRONG_PASSWORD)
    page.get_by_label("Code from an authenticator you have, or a recovery code").fill(
        old_phone.next_code()
    )
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Add an authenticator: Work phone")).to_be_visible()
    new_phone = PhoneApp(read_setup_key(page))
    page.get_by_label("Authentication code").fill(new_phone.next_code())
    page.get_by_role("button", name="Confirm and add").click()
    expect_security_page(page, two_factor_on=True)
    expect(page.get_by_role("status")).to_contain_text("Authenticator added.")
    assert authenticators_list(page) == ["Authenticator app", "Work phone"]
    shoot(page, shots / "security-authenticators.png")

    # A code from either phone signs her in.
    sign_out(page)
    enter_password(page, "ada")
    enter_code(page, new_phone.next_code())
    expect_security_page(page, two_factor_on=True)
    sign_out(page)
    enter_password(page, "ada")
    enter_code(page, old_phone.next_code())
    expect_security_page(page, two_factor_on=True)

    # Moving phones: remove the old one (the password confirms it).
    page.get_by_role("link", name="Remove Authenticator app").click()
    check_accessible(page)
    page.get_by_label("Current password").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Remove “Authenticator app”").click()
    expect_security_page(page, two_factor_on=True)
    expect(page.get_by_role("status")).to_contain_text("Authenticator removed.")
    assert authenticators_list(page) == ["Work phone"]

    # The last one stays: 2FA is required for administrators. The page says how to move.
    page.get_by_role("link", name="Remove Work phone").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "This is your only authenticator, and two-factor authentication is required for "
        "platform administrators."
    )
    expect(page.get_by_role("link", name="add the new one first")).to_be_visible()
    expect(page.get_by_label("Current password")).to_have_count(0)

    # The old phone's codes no longer sign in; the new phone's do.
    page.get_by_role("link", name="Back to account security").click()
    sign_out(page)
    enter_password(page, "ada")
    # (any code of the old phone's: its authenticator is gone, so none is fresher than another)
    enter_code(page, old_phone.code_at_step(int(time.time() // 30)))
    expect(page.get_by_role("alert")).to_contain_text("didn't match")
    enter_code(page, new_phone.next_code())
    expect_security_page(page, two_factor_on=True)
