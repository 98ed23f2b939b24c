"""Organizations' 2FA policies in the browser, set by the operator with `twofold org …`.

One server for the module; each test makes its own organizations and people with the CLI,
so the tests do not depend on each other or on their order.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, Page, expect

from browser.flows import (
    at_path,
    enter_code,
    enter_password,
    expect_current_organization,
    expect_enforced_setup,
    expect_optional_setup,
    expect_security_page,
    finish_setup,
    sign_out,
    switch_organization,
)
from browser.mailbox import Mailbox
from browser.operator_cli import Operator
from browser.server import Server
from support import STRONG_PASSWORD

SESSION_ENDED = re.compile(r"^You were signed out\. Your session was ended, .*administrator")
SIGNUP_CLOSED = "Sign-up is closed for this organization. Ask its administrator for an account."


def expect_sign_in_page(page: Page) -> None:
    expect(page).to_have_url(at_path("/login"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)


def sign_up(page: Page, mailbox: Mailbox, login: str) -> None:
    """On /signup/SLUG: fill in the form, press Create account, read "Check your email"
    (sign-up signs nobody in, so it cannot tell who has an account), confirm the address
    with the emailed link (an unconfirmed sign-up cannot sign in) and sign in."""
    address = f"{login}@example.test"
    page.get_by_label("Login name").fill(login)
    page.get_by_label("Email").fill(address)
    page.get_by_label("Password", exact=True).fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    page.get_by_role("link", name="Go to sign-in").click()
    enter_password(page, login)  # before confirming: refused like a wrong password
    expect(page.get_by_text("Open the confirmation link we emailed you first")).to_be_visible()
    page.goto(mailbox.wait_for(address, subject="confirm").link_to("/email/verify/"))
    page.get_by_role("button", name="Confirm email address").click()
    expect(page.get_by_role("heading", name="Email address confirmed")).to_be_visible()
    enter_password(page, login)


@pytest.mark.browser
def test_required_2fa_is_set_up_at_the_next_sign_in_before_anything_else(
    page: Page, operator: Operator
) -> None:
    operator.create_org("acme", "Acme Corp")
    operator.create_user("carol", org="acme")
    effect = operator.set_policy("acme", "--two-factor", "required")
    assert "1 of 1 member has no 2FA yet." in effect, effect

    # Right after the password: the setup page, which cannot be put off.
    enter_password(page, "carol")
    expect_enforced_setup(page, "Acme Corp")

    # Every other page leads back to it.
    for path in ("/account/security", "/account/password", "/account/security/recovery-codes"):
        page.goto(path)
        expect_enforced_setup(page, "Acme Corp")

    # Signing out is the only way out; the next sign-in lands on the setup page again.
    page.get_by_role("button", name="Sign out and do this later").click()
    expect_sign_in_page(page)
    enter_password(page, "carol")
    expect_enforced_setup(page, "Acme Corp")

    # Key -> code -> recovery codes -> "I have saved these codes" -> the account, with 2FA
    # on and no way to turn it off while Acme requires it.
    finish_setup(page)
    expect(page.get_by_text("it is required for Acme Corp.")).to_be_visible()
    expect(page.get_by_role("link", name="Disable two-factor authentication")).to_have_count(0)
    page.goto("/account/password")
    expect(page).to_have_url(at_path("/account/password"))


@pytest.mark.browser
def test_requiring_2fa_with_sign_out_everyone_ends_open_sessions(
    page: Page, chromium: Browser, server: Server, operator: Operator
) -> None:
    operator.create_org("globex", "Globex")
    operator.create_user("dave", org="globex")
    operator.create_user("olga")  # the default organization only: not a Globex member

    enter_password(page, "dave")
    expect_security_page(page, two_factor_on=False)
    bystander = chromium.new_context(base_url=server.base_url)
    try:
        other = bystander.new_page()
        enter_password(other, "olga")
        expect_security_page(other, two_factor_on=False)

        effect = operator.set_policy("globex", "--two-factor", "required", "--sign-out-everyone")
        assert "Signed out 1 session." in effect, effect

        # Dave's open page still shows; his next navigation finds him signed out, and why.
        page.get_by_role("link", name="Change password").click()
        expect_sign_in_page(page)
        expect(page.get_by_role("status")).to_have_text(SESSION_ENDED)

        # Someone outside Globex stays signed in.
        other.get_by_role("link", name="Change password").click()
        expect(other).to_have_url(at_path("/account/password"))
    finally:
        bystander.close()

    # Signing in again, Dave must now set up 2FA.
    enter_password(page, "dave")
    expect_enforced_setup(page, "Globex")


@pytest.mark.browser
def test_grace_period_lets_members_postpone_setup_until_it_ends(
    page: Page, operator: Operator
) -> None:
    operator.create_org("initech", "Initech")
    operator.create_user("erin", org="initech")
    before = datetime.now(UTC)
    operator.set_policy("initech", "--two-factor", "required", "--grace-days", "7")
    after = datetime.now(UTC)
    grace_ends = {f"{t + timedelta(days=7):%Y-%m-%d}" for t in (before, after)}

    # During the grace period: the setup page offers "Not now", with a countdown above it.
    enter_password(page, "erin")
    expect(page).to_have_url(at_path("/account/security/setup"))
    banner = page.locator(".grace-banner")
    countdown = re.compile(
        r"^\s*Initech requires two-factor authentication\.\s+You have 7 days left to set it up"
        rf"\s+\(until ({'|'.join(grace_ends)}) \d\d:\d\d UTC\)\.\s+Set it up now\s*$"
    )
    expect(banner).to_have_text(countdown)
    expect(page.get_by_role("button", name="Sign out and do this later")).to_have_count(0)
    expect(page.locator("main .notice")).to_have_count(0)

    # "Not now" reaches the account; every page keeps the countdown and a way to set it up.
    page.get_by_role("link", name="Not now").click()
    expect_security_page(page, two_factor_on=False)
    expect(banner).to_have_text(countdown)
    page.get_by_role("link", name="Change password").click()
    expect(page).to_have_url(at_path("/account/password"))
    expect(banner).to_have_text(countdown)
    banner.get_by_role("link", name="Set it up now").click()
    expect(page).to_have_url(at_path("/account/security/setup"))
    page.get_by_role("link", name="Not now").click()
    expect_security_page(page, two_factor_on=False)

    # The operator ends the grace period: the same open session's next page view is the
    # setup page that cannot be put off.
    operator.set_policy("initech", "--grace-days", "0")
    page.get_by_role("link", name="Change password").click()
    expect_enforced_setup(page, "Initech")
    expect(banner).to_have_count(0)


@pytest.mark.browser
def test_sign_up_sets_up_2fa_when_required_and_offers_it_when_optional(
    page: Page, operator: Operator, mailbox: Mailbox
) -> None:
    operator.create_org("umbrella", "Umbrella", two_factor="required", signup="open")
    operator.create_org("hooli", "Hooli", two_factor="optional", signup="open")

    # The sign-in page leads to sign-up, which lists the open organizations.
    page.goto("/login")
    page.get_by_role("link", name="Create an account").click()
    expect(page).to_have_url(at_path("/signup"))
    expect(page.get_by_role("link", name="Hooli")).to_be_visible()
    expect(page.get_by_role("link", name="Default organization")).to_have_count(0)

    # Required: from the form and the first sign-in to the setup page that cannot be put off.
    page.get_by_role("link", name="Umbrella").click()
    expect(page).to_have_url(at_path("/signup/umbrella"))
    expect(page.get_by_text("It requires two-factor authentication")).to_be_visible()
    sign_up(page, mailbox, "frank")
    expect_enforced_setup(page, "Umbrella")
    finish_setup(page)
    expect(page.locator(".org-name")).to_have_text("Umbrella")
    sign_out(page)

    # Optional: setup is offered, and its page has "Not now", which leaves 2FA off.
    page.goto("/signup/hooli")
    expect(page.get_by_text("It requires two-factor authentication")).to_have_count(0)
    sign_up(page, mailbox, "gwen")
    # Signed in after confirming the address: 2FA is offered on the security page.
    expect_security_page(page, two_factor_on=False)
    page.get_by_role("link", name="Set up two-factor authentication").click()
    expect_optional_setup(page)
    page.get_by_role("link", name="Not now").click()
    expect_security_page(page, two_factor_on=False)
    expect(page.get_by_role("link", name="Set up two-factor authentication")).to_be_visible()
    expect(page.locator(".org-name")).to_have_text("Hooli")


@pytest.mark.browser
def test_sign_up_for_a_closed_or_unknown_organization_is_refused(
    page: Page, operator: Operator
) -> None:
    operator.create_org("vault", "Vault")  # sign-up closed unless the operator opens it
    for slug in ("vault", "no-such-org"):
        response = page.goto(f"/signup/{slug}")
        assert response is not None
        assert response.status == 403, f"/signup/{slug} answered {response.status}"
        expect(page.locator("main")).to_contain_text(SIGNUP_CLOSED)
        expect(page.get_by_label("Login name")).to_have_count(0)
    page.goto("/signup")
    expect(page.get_by_role("link", name="Vault")).to_have_count(0)


@pytest.mark.browser
def test_switching_into_an_organization_that_requires_2fa_asks_for_the_code_again(
    page: Page, operator: Operator
) -> None:
    operator.create_org("alpha", "Alpha")  # 2FA optional
    operator.create_org("bravo", "Bravo", two_factor="required")
    operator.create_user("hana", org="alpha")
    operator.add_to_org("hana", "bravo")

    # Bravo requires 2FA, so Hana sets it up at her first sign-in (Alpha is current), then
    # signs in there again: password, then the code.
    enter_password(page, "hana")
    expect_enforced_setup(page, "Bravo")
    expect_current_organization(page, "alpha")
    phone = finish_setup(page)  # TOTP code 1
    sign_out(page)
    enter_password(page, "hana")
    enter_code(page, phone.next_code())  # TOTP code 2
    expect_security_page(page, two_factor_on=True)
    expect_current_organization(page, "alpha")

    # Into Bravo, which requires 2FA: the code again, though this session passed it in Alpha,
    # and nothing else is reachable until then.
    switch_organization(page, "Bravo")
    expect(page).to_have_url(at_path("/login/code"))
    expect(page.locator("main .notice")).to_have_text(
        re.compile(r"^Bravo requires two-factor authentication, and this session has not passed")
    )
    expect(page.locator("main")).to_contain_text("enter the code it shows for hana in Bravo.")
    page.goto("/account/security")
    expect(page).to_have_url(at_path("/login/code"))
    enter_code(page, phone.next_code())  # TOTP code 3
    expect_security_page(page, two_factor_on=True)
    expect_current_organization(page, "bravo")

    # Back to Alpha and into Bravo again: this session passed both, so no more codes.
    switch_organization(page, "Alpha")
    expect_security_page(page, two_factor_on=True)
    expect_current_organization(page, "alpha")
    switch_organization(page, "Bravo")
    expect_security_page(page, two_factor_on=True)
    expect_current_organization(page, "bravo")


@pytest.mark.browser
def test_switching_into_an_organization_that_requires_2fa_without_it_leads_to_setup(
    page: Page, operator: Operator
) -> None:
    operator.create_org("charlie", "Charlie")  # 2FA optional
    operator.create_org("delta", "Delta", two_factor="required")
    operator.create_user("ivan", org="charlie")

    enter_password(page, "ivan")
    expect_security_page(page, two_factor_on=False)
    operator.add_to_org("ivan", "delta")  # added while ivan is signed in
    page.reload()
    expect_current_organization(page, "charlie")

    switch_organization(page, "Delta")
    expect_enforced_setup(page, "Delta")
    expect_current_organization(page, "delta")
    page.goto("/account/security")
    expect_enforced_setup(page, "Delta")
