"""Email in a real browser: password reset by link (which never gets around 2FA), confirming
a new address, and the person's own sessions and security events.

The server has no SMTP: it writes each message as an .eml file into its outbox, which the
tests read like a person reads their mail (browser.mailbox). One server for the module; each
test makes its own people, with their own addresses, so the tests do not depend on each other.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from browser.flows import (
    DESKTOP,
    PHONE,
    at_path,
    enter_code,
    enter_password,
    expect_security_page,
    finish_setup,
    shoot,
    sign_out,
)
from browser.mailbox import Mailbox
from browser.operator_cli import Operator
from browser.server import Server
from support import OTHER_STRONG_PASSWORD, STRONG_PASSWORD

RESET_SENT = (
    "If an account has this verified email address, we sent it a link to choose a new "
    "password. The link works for 30 minutes. Check your spam folder if nothing arrives."
)
LINK_REFUSED = (
    "This link is not valid. It may have been used already or have expired. Ask for a new one."
)
WRONG_PASSWORD = (
    "That login name or password is not right. Check both and try again. Just signed up? "
    "Open the confirmation link we emailed you first."
)
# Another browser on another device, so the two sessions are told apart on the security page.
IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)


def address_of(login: str) -> str:
    """The verified address `Operator.create_user` gives each person."""
    return f"{login}@example.test"


@contextmanager
def another_browser(
    chromium: Browser, server: Server, *, user_agent: str | None = None
) -> Iterator[Page]:
    """A second browser (its own cookies) on the module's server."""
    context = chromium.new_context(
        base_url=server.base_url, viewport=DESKTOP, user_agent=user_agent
    )
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def ask_for_reset_link(page: Page, address: str) -> None:
    """From the sign-in page: "Forgot your password?", type the address, send."""
    page.goto("/login")
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page).to_have_url(at_path("/password/forgot"))
    page.get_by_label("Email address").fill(address)
    page.get_by_role("button", name="Send the link").click()


def email_shown(page: Page) -> Locator:
    """The address the security page shows under "Password and email"."""
    section = page.get_by_role("region", name="Password and email")
    return section.locator("p", has_text="Email:").locator("strong")


def sessions_list(page: Page) -> Locator:
    """The rows under "Where you're signed in"."""
    return page.get_by_role("region", name="Where you're signed in").get_by_role("listitem")


def event_rows(page: Page, label: str) -> Locator:
    """The rows of "Recent security events" whose event is exactly `label`."""
    table = page.get_by_role("region", name="Recent security events").get_by_role("table")
    return table.get_by_role("row").filter(has=page.get_by_role("cell", name=label, exact=True))


def expect_signed_out(page: Page) -> None:
    """The next page view of a browser whose session was ended is the sign-in page."""
    page.goto("/account/security")
    expect(page).to_have_url(at_path("/login"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


@pytest.mark.browser
def test_password_reset_by_email_ends_at_the_code_prompt_and_keeps_2fa(
    page: Page, chromium: Browser, server: Server, operator: Operator, mailbox: Mailbox
) -> None:
    operator.create_user("rita")
    enter_password(page, "rita")
    expect_security_page(page, two_factor_on=False)
    page.get_by_role("link", name="Set up two-factor authentication").click()
    phone = finish_setup(page)  # TOTP code 1
    with another_browser(chromium, server) as left_open:
        # A session she left open on another computer.
        enter_password(left_open, "rita")
        enter_code(left_open, phone.next_code())  # TOTP code 2
        expect_security_page(left_open, two_factor_on=True)
        sign_out(page)

        # The answer is the same for an address no account has and for hers.
        ask_for_reset_link(page, "nobody@example.test")
        expect(page.get_by_role("status")).to_have_text(RESET_SENT)
        expect(page.get_by_label("Email address")).to_have_count(0)
        ask_for_reset_link(page, address_of("rita"))
        expect(page.get_by_role("status")).to_have_text(RESET_SENT)

        reset = mailbox.wait_for(address_of("rita"), subject="reset your password")
        assert "does not turn off two-factor authentication" in reset.text, reset.text
        link = reset.link_to("/password/reset/")
        assert mailbox.to("nobody@example.test") == []  # sent in order: it would be here now

        # Opening the link (twice, as a mail scanner might) only shows the form.
        for _ in range(2):
            page.goto(link)
            expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
            expect(page.get_by_text("For the account rita.")).to_be_visible()
        page.get_by_label("New password", exact=True).fill(OTHER_STRONG_PASSWORD)
        page.get_by_label("New password again").fill(OTHER_STRONG_PASSWORD)
        page.get_by_role("button", name="Set the new password").click()

        # The new password is set, but she is not signed in: the code is still asked for.
        expect(page).to_have_url(at_path("/login/code"))
        expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
        expect(page.get_by_role("navigation", name="Account")).to_have_count(0)
        page.goto("/account/security")
        expect(page).to_have_url(at_path("/login/code"))

        # The session left open elsewhere has ended.
        expect_signed_out(left_open)

    enter_code(page, phone.next_code())  # TOTP code 3, the last one
    expect_security_page(page, two_factor_on=True)
    expect(event_rows(page, "Password reset by email link")).to_have_count(1)
    changed = mailbox.wait_for(address_of("rita"), subject="password changed")
    assert "rita" in changed.text, changed.text
    sign_out(page)

    # The old password no longer works; the new one passes the password step.
    enter_password(page, "rita", STRONG_PASSWORD)
    expect(page).to_have_url(at_path("/login"))
    expect(page.get_by_role("alert")).to_have_text(WRONG_PASSWORD)
    enter_password(page, "rita", OTHER_STRONG_PASSWORD)
    expect(page).to_have_url(at_path("/login/code"))

    # The link worked once: opened again, it is refused clearly and shows no form.
    page.goto(link)
    expect(page.get_by_role("heading", name="That didn't work")).to_be_visible()
    expect(page.get_by_text(LINK_REFUSED)).to_be_visible()
    expect(page.get_by_label("New password", exact=True)).to_have_count(0)


@pytest.mark.browser
def test_a_new_email_address_counts_only_once_confirmed_from_its_link(
    page: Page, operator: Operator, mailbox: Mailbox
) -> None:
    old, new = address_of("vera"), "vera.new@example.test"
    operator.create_user("vera")
    enter_password(page, "vera")
    expect_security_page(page, two_factor_on=False)
    expect(email_shown(page)).to_have_text(old)

    page.get_by_role("link", name="Change email").click()
    expect(page).to_have_url(at_path("/account/email"))
    expect(page.get_by_label("Authentication code")).to_have_count(0)  # 2FA is off
    page.get_by_label("New email address").fill(new)
    page.get_by_label("Current password").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Send confirmation link").click()
    expect(page.get_by_role("status")).to_have_text(
        f"We sent a confirmation link to {new}. The address changes when you open it."
    )

    # The old address hears about it; the new one gets the link.
    requested = mailbox.wait_for(old, subject="email address change requested")
    assert new in requested.text, requested.text
    link = mailbox.wait_for(new, subject="confirm your email address").link_to("/email/verify/")

    # Opening the link asks for a press of Confirm: until then, nothing has changed.
    page.goto(link)
    expect(page.get_by_role("heading", name="Confirm your email address")).to_be_visible()
    expect(page.get_by_text(f"Confirm that {new} belongs to the account vera.")).to_be_visible()
    page.goto("/account/security")
    expect(email_shown(page)).to_have_text(old)

    page.goto(link)
    page.get_by_role("button", name="Confirm email address").click()
    expect(page.get_by_role("heading", name="Email address confirmed")).to_be_visible()
    page.get_by_role("link", name="Go to your account").click()
    expect_security_page(page, two_factor_on=False)
    expect(email_shown(page)).to_have_text(new)
    expect(event_rows(page, "Email address confirmed")).to_have_count(1)

    changed = mailbox.wait_for(old, subject="email address changed")
    assert new in changed.text, changed.text


@pytest.mark.browser
def test_changing_the_email_address_with_2fa_on_asks_for_the_code(
    page: Page, operator: Operator, mailbox: Mailbox
) -> None:
    new = "walt.new@example.test"
    operator.create_user("walt")
    enter_password(page, "walt")
    page.get_by_role("link", name="Set up two-factor authentication").click()
    phone = finish_setup(page)  # TOTP code 1

    # Password alone is not enough: the code is asked for, and nothing is sent.
    page.get_by_role("link", name="Change email").click()
    page.get_by_label("New email address").fill(new)
    page.get_by_label("Current password").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Send confirmation link").click()
    code = page.get_by_label("Authentication code")
    expect(code).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#code-error")).to_have_text("Enter the code from your authenticator app.")
    expect(page.get_by_label("New email address")).to_have_value(new)

    page.get_by_label("Current password").fill(STRONG_PASSWORD)
    code.fill(phone.next_code())  # TOTP code 2
    page.get_by_role("button", name="Send confirmation link").click()
    expect(page.get_by_role("status")).to_have_text(
        re.compile(f"^We sent a confirmation link to {re.escape(new)}\\.")
    )
    mailbox.wait_for(address_of("walt"), subject="email address change requested")
    confirmation = mailbox.wait_for(new, subject="confirm your email address")
    assert len(mailbox.to(new)) == 1  # only the second attempt sent a link

    page.goto(confirmation.link_to("/email/verify/"))
    page.get_by_role("button", name="Confirm email address").click()
    expect(page.get_by_role("heading", name="Email address confirmed")).to_be_visible()
    page.goto("/account/security")
    expect(email_shown(page)).to_have_text(new)


@pytest.mark.browser
def test_signing_out_another_session_or_all_others_from_the_security_page(
    page: Page, chromium: Browser, server: Server, operator: Operator
) -> None:
    operator.create_user("sam")
    enter_password(page, "sam")
    expect_security_page(page, two_factor_on=False)
    with another_browser(chromium, server, user_agent=IPHONE_SAFARI) as phone_browser:
        enter_password(phone_browser, "sam")
        expect_security_page(phone_browser, two_factor_on=False)

        # Two sessions: this one, marked, and the phone's, with a way to sign it out.
        page.reload()
        sessions = sessions_list(page)
        expect(sessions).to_have_count(2)
        this_one = sessions.filter(has_text="this browser")
        expect(this_one).to_have_count(1)
        expect(this_one).to_contain_text("Chrome on Linux")
        expect(this_one.get_by_role("button", name="Sign out")).to_have_count(0)
        on_the_phone = sessions.filter(has_text="Safari on iPhone")
        expect(on_the_phone).not_to_contain_text("this browser")

        on_the_phone.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(at_path("/account/security"))
        expect(page.get_by_role("status")).to_have_text("That session is signed out.")
        expect(sessions).to_have_count(1)
        expect(page.get_by_role("button", name="Sign out all other sessions")).to_have_count(0)
        expect_signed_out(phone_browser)

        # Signed in on the phone again, then "Sign out all other sessions" from the laptop.
        enter_password(phone_browser, "sam")
        expect_security_page(phone_browser, two_factor_on=False)
        page.reload()
        expect(sessions).to_have_count(2)
        page.get_by_role("button", name="Sign out all other sessions").click()
        expect(page.get_by_role("status")).to_have_text("All your other sessions are signed out.")
        expect(sessions).to_have_count(1)
        expect(sessions.first).to_contain_text("this browser")
        expect_signed_out(phone_browser)

    # This browser stays signed in, and its activity shows the three sign-ins.
    page.get_by_role("link", name="Change password").click()
    expect(page).to_have_url(at_path("/account/password"))
    page.goto("/account/security")
    expect(event_rows(page, "Signed in")).to_have_count(3)
    expect(event_rows(page, "Signed in").first).to_contain_text("127.0.0.1")


@pytest.mark.browser
def test_activity_and_reset_screenshots(
    page: Page, chromium: Browser, server: Server, operator: Operator, mailbox: Mailbox, shots: Path
) -> None:
    # The security page of someone signed in on a laptop and on a phone: docs/images.
    operator.create_user("tess")
    with another_browser(chromium, server, user_agent=IPHONE_SAFARI) as phone_browser:
        enter_password(phone_browser, "tess")
        expect_security_page(phone_browser, two_factor_on=False)
        enter_password(page, "tess")
        expect_security_page(page, two_factor_on=False)
        expect(sessions_list(page)).to_have_count(2)
        shoot(page, shots / "security-activity.png")
    sign_out(page)

    # The page a reset link opens, on a phone.
    ask_for_reset_link(page, address_of("tess"))
    link = mailbox.wait_for(address_of("tess"), subject="reset your password").link_to(
        "/password/reset/"
    )
    page.set_viewport_size(PHONE)
    page.goto(link)
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    shoot(page, shots / "reset-password-phone.png")
