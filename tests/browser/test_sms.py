"""SMS in a real browser against a real server (issue #12): the organization allows text
messages, the first administrator sets up a phone from the setup page (the plain warning,
the resend wait shown), signs in with a code read from the outbox, and an earlier code is
refused, and an expired one too (the server's clock is real: the test moves the codes' times
6 minutes into the past in the server's database instead of waiting)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from browser.flows import (
    at_path,
    create_first_admin,
    enter_password,
    expect_security_page,
    sign_out,
)
from browser.operator_cli import Operator
from browser.server import Server
from browser.texts import Phone

NUMBER = "+447400123456"


def six_minutes_pass(data_dir: Path) -> None:
    """For the texted codes only: as if 6 minutes had passed since they were sent (codes
    last 5 minutes; the resend wait is 30 seconds)."""
    with sqlite3.connect(data_dir / "twofold.db") as database:
        database.execute(
            "UPDATE sms_challenges SET created_at = datetime(created_at, '-6 minutes'),"
            " expires_at = datetime(expires_at, '-6 minutes'),"
            " sent_at = datetime(sent_at, '-6 minutes')"
        )


@pytest.mark.browser
def test_set_up_a_phone_sign_in_with_a_texted_code_and_an_old_code_is_refused(
    page: Page, server: Server, operator: Operator
) -> None:
    operator.run("org", "policy", "default", "--methods", "totp,sms", "--yes")
    phone = Phone(server.outbox / "sms", NUMBER)
    create_first_admin(page, server.setup_url, "ada")

    # The setup page recommends the app and says plainly why text messages are weaker.
    expect(page.get_by_text(re.compile("SIM swap"))).to_be_visible()
    page.get_by_role("link", name="get codes by text message").click()
    expect(page.get_by_role("heading", name="Get codes by text message")).to_be_visible()
    page.get_by_label("Mobile phone number").fill("12345")
    page.get_by_role("button", name="Text me a code").click()
    expect(page.get_by_role("alert")).to_contain_text("country code")
    page.get_by_label("Mobile phone number").fill("+44 7400 123456")
    page.get_by_role("button", name="Text me a code").click()

    expect(page.get_by_role("heading", name="Confirm your phone")).to_be_visible()
    expect(page.locator("#resend-wait")).to_contain_text("You can ask for a new code in")
    expect(page.get_by_role("button", name="Send again")).to_be_disabled()
    page.get_by_label("Code from the text message").fill(phone.new_code(0))
    page.get_by_role("button", name="Confirm and turn on").click()
    expect(page.get_by_role("heading", name="Save your recovery codes")).to_be_visible()
    page.get_by_role("link", name="I have saved these codes").click()
    expect_security_page(page, two_factor_on=True)
    expect(page.get_by_text("Text messages to +44 7400 123456")).to_be_visible()

    # Signing in: the password, then a code texted on request.
    sign_out(page)
    enter_password(page, "ada")
    expect(page).to_have_url(at_path("/login/sms"))
    page.get_by_role("button", name=re.compile(r"^Send a")).click()
    expect(page.locator("#resend-wait")).to_contain_text("You can ask for a new code in")
    expect(page.get_by_role("status")).to_have_text("We sent a code to +44 •••• ••34 56.")
    sign_in_code = phone.new_code(1)
    page.get_by_label("Code from the text message").fill(sign_in_code)
    page.get_by_role("button", name="Verify").click()
    expect_security_page(page, two_factor_on=True)

    # That code is spent: a new sign-in does not take it again.
    sign_out(page)
    enter_password(page, "ada")
    expect(page).to_have_url(at_path("/login/sms"))
    page.get_by_label("Code from the text message").fill(sign_in_code)
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(at_path("/login/sms"))
    expect(page.get_by_role("alert")).to_contain_text("Ask for a new code")
    assert len(phone.texts()) == 2  # nothing more was sent

    # A code older than 5 minutes is refused too; a new one (the wait is over) works.
    six_minutes_pass(server.data_dir)
    page.get_by_role("button", name=re.compile(r"^Send a")).click()
    late_code = phone.new_code(2)
    six_minutes_pass(server.data_dir)
    page.get_by_label("Code from the text message").fill(late_code)
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("alert")).to_contain_text("That code has expired")
    page.get_by_role("button", name=re.compile(r"^Send a")).click()
    page.get_by_label("Code from the text message").fill(phone.new_code(3))
    page.get_by_role("button", name="Verify").click()
    expect_security_page(page, two_factor_on=True)
