"""The admin console (/admin) in a real browser: an organization admin resets a member's 2FA
(who sets it up again only through the emailed link), unlocks, removes and invites members,
applies a 2FA policy after its preview, and exports the audit log.

One server for the module; each test makes its own organization, admin and members with the
CLI, so the tests do not depend on each other or on their order. Admins must use 2FA, so each
test's admin sets it up at their first sign-in (one TOTP code) and is then signed in for the
rest of the test: their second factor stays fresh, and the reset asks for no code again.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from browser.flows import (
    DESKTOP,
    PhoneApp,
    at_path,
    confirm_setup,
    enter_code,
    enter_password,
    expect_enforced_setup,
    expect_security_page,
    finish_setup,
    read_setup_key,
    shoot,
    sign_out,
    wrong_code,
)
from browser.mailbox import Mailbox
from browser.operator_cli import Operator
from browser.server import Server
from support import STRONG_PASSWORD

ADMINS_MUST = "Administrators must use two-factor authentication. Set it up to continue."
NO_REASON = "Say why you are resetting (it goes into the audit log)."
RESET_DONE = (
    "Two-factor authentication was reset. The member got an email with a link to set it up again."
)
LINK_REQUIRED = (
    "An administrator reset two-factor authentication for your account. Open the link we "
    "emailed you to set it up again"
)
REENROLL_NOTICE = (
    "An administrator reset two-factor authentication for your account. Scan the new key "
    "below. Set it up to continue."
)
SIGN_IN_FIRST = "Sign in first; then we'll take you back to the link you opened."
CODE_MISMATCH = "That code didn't match. Codes change every 30 seconds — try the newest one."
LINK_REFUSED = (
    "This link is not valid. It may have been used already or have expired. Ask for a new one."
)
LOCKED = "Too many wrong codes: two-factor sign-in is locked until"
NOT_AN_ADMIN = "The admin console is for organization administrators."
CSV_HEADER = ["time_utc", "event", "member", "actor", "ip", "user_agent", "detail"]
COLUMNS = ["Login", "Email", "Role", "2FA", "Codes left", "Locked", "Last sign-in"]


@contextmanager
def another_browser(chromium: Browser, server: Server) -> Iterator[Page]:
    """A second browser (its own cookies) on the module's server: the member's computer."""
    context = chromium.new_context(base_url=server.base_url, viewport=DESKTOP)
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def sign_in_new_admin(
    page: Page,
    operator: Operator,
    login: str,
    slug: str,
    name: str,
    *,
    two_factor: str = "optional",
) -> PhoneApp:
    """The operator makes an organization and its admin; the admin signs in and, being an
    admin, must set up 2FA at once (TOTP code 1). Ends on their security page."""
    operator.create_org(slug, name, two_factor=two_factor)
    operator.create_user(login, org=slug, role="admin")
    enter_password(page, login)
    expect(page).to_have_url(at_path("/account/security/setup"))
    expect(page.locator("main .notice")).to_have_text(ADMINS_MUST)
    return finish_setup(page)


def sign_in_member_with_2fa(member: Page, login: str) -> PhoneApp:
    """A member of an organization where 2FA is optional turns it on (TOTP code 1)."""
    enter_password(member, login)
    expect_security_page(member, two_factor_on=False)
    member.get_by_role("link", name="Set up two-factor authentication").click()
    return finish_setup(member)


def open_console(page: Page, organization: str) -> None:
    """/admin opens the members table of the admin's organization."""
    page.goto("/admin")
    expect(page).to_have_url(at_path("/admin/members"))
    expect(page.get_by_role("heading", name=f"{organization} — admin", level=1)).to_be_visible()


def admin_tab(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="Admin").get_by_role("link", name=name).click()


def member_row(page: Page, login: str) -> Locator:
    """The members table's row whose login is exactly `login`."""
    table = page.locator("table.members")
    return table.get_by_role("row").filter(has=page.get_by_role("link", name=login, exact=True))


def cell(row: Locator, column: str) -> Locator:
    return row.get_by_role("cell").nth(COLUMNS.index(column))


def open_member(page: Page, login: str) -> None:
    """From the members table: the member's own page."""
    member_row(page, login).get_by_role("link", name=login, exact=True).click()
    expect(page).to_have_url(re.compile(r"/admin/members/\d+\?"))
    expect(page.get_by_role("heading", name=login, exact=True, level=2)).to_be_visible()


def fact(page: Page, term: str) -> Locator:
    """The value next to `term` on a member's page."""
    return page.locator(f"dl.facts dt:text-is('{term}') + dd")


def sign_in_for_link(member: Page, login: str) -> None:
    """On the sign-in page a one-time link led to: password, Continue (keeps ?next=)."""
    expect(member).to_have_url(at_path("/login"))
    expect(member.get_by_role("status")).to_have_text(SIGN_IN_FIRST)
    member.get_by_label("Login name or email").fill(login)
    member.get_by_label("Password", exact=True).fill(STRONG_PASSWORD)
    member.get_by_role("button", name="Continue").click()


def expect_signed_out_at_next_page(member: Page) -> None:
    """The member's open page still shows; their next navigation is the sign-in page, which
    says they were signed out."""
    member.get_by_role("link", name="Change password").click()
    expect(member).to_have_url(at_path("/login"))
    expect(member.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(member.get_by_role("status")).to_contain_text("You were signed out.")


@pytest.mark.browser
def test_reset_2fa_lets_the_member_set_it_up_again_only_through_the_emailed_link(
    page: Page,
    chromium: Browser,
    server: Server,
    operator: Operator,
    mailbox: Mailbox,
    shots: Path,
) -> None:
    sign_in_new_admin(page, operator, "alice", "acme", "Acme Corp")
    operator.create_user("mia", org="acme")
    with another_browser(chromium, server) as member:
        old_phone = sign_in_member_with_2fa(member, "mia")  # mia's lost phone: code 1

        # Members table -> mia's page -> "Reset 2FA (lost phone)…": what will happen, first.
        open_console(page, "Acme Corp")
        expect(cell(member_row(page, "mia"), "2FA")).to_have_text("Enabled")
        open_member(page, "mia")
        page.get_by_role("link", name="Reset 2FA (lost phone)…").click()
        expect(page).to_have_url(re.compile(r"/admin/members/\d+/reset\?"))
        expect(
            page.get_by_role("heading", name="Reset two-factor authentication for mia")
        ).to_be_visible()
        consequences = page.locator(".warning li")
        expect(consequences).to_have_text(
            [
                (
                    "delete every second factor they have (authenticator apps, and their phone "
                    "for text messages with any code sent to it) and all their recovery codes,"
                ),
                "sign them out everywhere,",
                re.compile(r"^email them a link \(single use, 24 hours\)\. Only through that link"),
            ]
        )
        # Alice passed her second factor a moment ago: no code is asked for again.
        expect(page.get_by_label("Your authentication code")).to_have_count(0)

        # Without a reason: refused, with the reason field marked, and nothing changed.
        reset = page.get_by_role("button", name="Reset two-factor authentication")
        reset.click()
        reason = page.get_by_label("Reason")
        expect(reason).to_have_attribute("aria-invalid", "true")
        expect(reason).to_have_attribute("aria-describedby", "reason-error")
        expect(page.locator("#reason-error")).to_have_text(NO_REASON)
        member.reload()
        expect_security_page(member, two_factor_on=True)

        reason.fill("Lost her phone on the train; confirmed by calling her desk number.")
        reset.click()
        expect(page).to_have_url(re.compile(r"/admin/members/\d+\?"))
        expect(page.get_by_role("status")).to_have_text(RESET_DONE)
        expect(fact(page, "Two-factor")).to_have_text(
            "Reset — waiting for the member to set it up again"
        )
        expect(fact(page, "Recovery codes left")).to_have_text("0")

        # Mia was signed out everywhere.
        expect_signed_out_at_next_page(member)

        # Her password alone reaches only a page that sends her to the link: no QR code, no
        # key, no code field — a stolen password cannot enroll another phone.
        enter_password(member, "mia")
        expect(member).to_have_url(at_path("/account/security/setup"))
        expect(member.get_by_role("heading", name="Check your email", level=1)).to_be_visible()
        expect(member.locator("main")).to_contain_text(LINK_REQUIRED)
        expect(member.locator("main")).to_contain_text("(sent to mia@example.test)")
        expect(member.get_by_text("That didn't work")).to_have_count(0)
        expect(member.locator("main .error")).to_have_count(0)
        shoot(member, shots / "reenroll-wait.png")
        expect(member.locator("figure.qr")).to_have_count(0)
        expect(member.locator("#setup-key")).to_have_count(0)
        expect(member.get_by_label("Authentication code")).to_have_count(0)
        for path in ("/account/security", "/login/code"):
            member.goto(path)
            expect(member.locator("main")).to_contain_text(LINK_REQUIRED)
        sign_out(member)

        mail = mailbox.wait_for("mia@example.test", subject="set up two-factor authentication")
        assert "An administrator reset two-factor authentication" in mail.text, mail.text
        link = mail.link_to("/reenroll/")

        # The link, opened signed out, goes through sign-in and back to itself.
        member.goto(link)
        sign_in_for_link(member, "mia")
        expect(member).to_have_url(link)
        expect(member.locator("main .notice")).to_have_text(REENROLL_NOTICE)
        expect(member.locator("figure.qr svg")).to_be_visible()

        # The old phone's code does not match the new key.
        member.get_by_label("Authentication code").fill(old_phone.next_code())
        member.get_by_role("button", name="Confirm and turn on").click()
        expect(member.get_by_role("alert")).to_contain_text(CODE_MISMATCH)

        # A new phone: the key into the app, its code -> new recovery codes -> the account.
        new_phone = PhoneApp(read_setup_key(member))
        confirm_setup(member, new_phone)  # new phone: code 1
        member.get_by_role("link", name="I have saved these codes").click()
        expect_security_page(member, two_factor_on=True)
        sign_out(member)
        enter_password(member, "mia")
        enter_code(member, new_phone.next_code())  # new phone: code 2
        expect_security_page(member, two_factor_on=True)

        # The link worked once.
        member.goto(link)
        expect(member.get_by_role("heading", name="That didn't work")).to_be_visible()
        expect(member.get_by_text(LINK_REFUSED)).to_be_visible()
        expect(member.locator("figure.qr")).to_have_count(0)

    page.reload()
    expect(fact(page, "Two-factor")).to_have_text("Enabled")


@pytest.mark.browser
def test_unlocking_a_member_locked_by_wrong_codes_lets_them_sign_in(
    page: Page, chromium: Browser, server: Server, operator: Operator
) -> None:
    sign_in_new_admin(page, operator, "gina", "globex", "Globex")
    operator.create_user("leo", org="globex")
    with another_browser(chromium, server) as member:
        phone = sign_in_member_with_2fa(member, "leo")  # code 1
        sign_out(member)
        enter_password(member, "leo")
        for _ in range(10):
            enter_code(member, wrong_code(phone))
        expect(member.get_by_role("alert")).to_contain_text(LOCKED)
        expect(member.get_by_label("Authentication code")).to_have_count(0)

        open_console(page, "Globex")
        expect(cell(member_row(page, "leo"), "Locked")).to_have_text("Locked")
        expect(cell(member_row(page, "gina"), "Locked")).to_have_text("No")
        open_member(page, "leo")
        expect(fact(page, "Locked")).to_have_text(re.compile(r"^Yes, until \d{4}-\d\d-\d\d "))
        page.get_by_role("button", name="Unlock second factor").click()
        expect(page.get_by_role("status")).to_have_text("The member's second factor is unlocked.")
        expect(fact(page, "Locked")).to_have_text("No")
        expect(page.get_by_role("button", name="Unlock second factor")).to_have_count(0)

        # The code prompt he was left at takes his code again.
        member.goto("/login/code")
        enter_code(member, phone.next_code())  # code 2
        expect_security_page(member, two_factor_on=True)


@pytest.mark.browser
def test_removing_a_member_after_confirmation_signs_them_out(
    page: Page, chromium: Browser, server: Server, operator: Operator
) -> None:
    sign_in_new_admin(page, operator, "ian", "initech", "Initech")
    operator.create_user("max", org="initech")
    with another_browser(chromium, server) as member:
        enter_password(member, "max")
        expect_security_page(member, two_factor_on=False)

        open_console(page, "Initech")
        expect(page.get_by_text("2 members", exact=True)).to_be_visible()
        open_member(page, "max")
        page.get_by_role("link", name="Remove from Initech…").click()
        expect(page).to_have_url(re.compile(r"/admin/members/\d+/remove\?"))
        expect(page.get_by_role("heading", name="Remove max from Initech")).to_be_visible()
        expect(page.locator(".warning")).to_contain_text("signed out everywhere at once")

        # The confirmation page itself changes nothing.
        member.reload()
        expect_security_page(member, two_factor_on=False)

        page.get_by_role("button", name="Remove from Initech").click()
        expect(page).to_have_url(at_path("/admin/members"))
        expect(page.get_by_role("status")).to_have_text(
            "The member was removed from the organization and signed out."
        )
        expect(member_row(page, "max")).to_have_count(0)
        expect(member_row(page, "ian")).to_have_count(1)
        expect(page.get_by_text("1 member", exact=True)).to_be_visible()

        expect_signed_out_at_next_page(member)


@pytest.mark.browser
def test_an_invited_person_joins_and_sets_up_the_required_2fa(
    page: Page, chromium: Browser, server: Server, operator: Operator, mailbox: Mailbox
) -> None:
    sign_in_new_admin(page, operator, "uma", "umbrella", "Umbrella", two_factor="required")
    address = "nina@example.test"

    open_console(page, "Umbrella")
    admin_tab(page, "Invite")
    expect(page.get_by_role("heading", name="Invite someone to Umbrella")).to_be_visible()
    expect(page.get_by_text("then set up two-factor authentication")).to_be_visible()
    page.get_by_label("Email address").fill(address)
    page.get_by_label("Role").select_option("member")
    page.get_by_role("button", name="Send invitation").click()
    expect(page).to_have_url(at_path("/admin/members"))
    expect(page.get_by_role("status")).to_have_text("The invitation was sent.")

    invitation = mailbox.wait_for(address, subject="invited to Umbrella")
    link = invitation.link_to("/invite/")
    with another_browser(chromium, server) as newcomer:
        newcomer.goto(link)
        expect(newcomer.get_by_role("heading", name="Join Umbrella")).to_be_visible()
        expect(newcomer.locator("main")).to_contain_text(f"You were invited as {address}.")
        expect(newcomer.locator("main")).to_contain_text(
            "Umbrella requires two-factor authentication: you'll set it up next."
        )
        newcomer.get_by_label("Login name").fill("nina")
        newcomer.get_by_label("Password", exact=True).fill(STRONG_PASSWORD)
        newcomer.get_by_role("button", name="Join").click()

        expect_enforced_setup(newcomer, "Umbrella")
        finish_setup(newcomer)
        expect(newcomer.locator(".org-name")).to_have_text("Umbrella")

    page.reload()
    row = member_row(page, "nina")
    expect(cell(row, "Email")).to_have_text(address)
    expect(cell(row, "Role")).to_have_text("member")
    expect(cell(row, "2FA")).to_have_text("Enabled")
    expect(cell(row, "Codes left")).to_have_text("10")


@pytest.mark.browser
def test_policy_preview_changes_nothing_and_apply_signs_everyone_out(
    page: Page, chromium: Browser, server: Server, operator: Operator
) -> None:
    sign_in_new_admin(page, operator, "hal", "hooli", "Hooli")
    operator.create_user("hank", org="hooli")
    with another_browser(chromium, server) as member:
        enter_password(member, "hank")
        expect_security_page(member, two_factor_on=False)

        open_console(page, "Hooli")
        admin_tab(page, "2FA policy")
        expect(page.get_by_text("Now: optional.")).to_be_visible()
        page.get_by_label("Required — every member must have it").check()
        page.get_by_label("Grace period (days)").fill("3")
        page.get_by_label("Sign everyone out now").check()
        before = datetime.now(UTC)
        page.get_by_role("button", name="Show what will happen").click()
        after = datetime.now(UTC)

        grace_ends = "|".join({f"{t + timedelta(days=3):%Y-%m-%d}" for t in (before, after)})
        effect = page.locator(".warning")
        expect(effect.locator("p")).to_have_text(
            [
                "What will happen: 2FA becomes required for Hooli.",
                re.compile(
                    r"^1 of 2 members have no two-factor authentication yet\.\s+They may put off "
                    rf"setting it up until ({grace_ends}) \d\d:\d\d UTC; after that they can "
                    r"reach nothing until they do\.\s*$"
                ),
                "All 2 members will be signed out at once and must sign in again "
                "(you stay signed in here).",
            ]
        )
        # The choices are kept for the Apply button.
        expect(page.get_by_label("Required — every member must have it")).to_be_checked()
        expect(page.get_by_label("Grace period (days)")).to_have_value("3")
        expect(page.get_by_label("Sign everyone out now")).to_be_checked()

        # Only a preview: the policy is unchanged and Hank is still signed in.
        assert re.search(r"^hooli\s+optional\s+0\s", operator.run("org", "list"), re.M)
        member.reload()
        expect_security_page(member, two_factor_on=False)

        page.get_by_role("button", name="Apply this policy").click()
        # The admin who applied it stays signed in and sees the result.
        expect(page.get_by_text("The 2FA policy was applied.")).to_be_visible()
        # The audit log's table shows the policy before → after.
        admin_tab(page, "Audit log")
        expect(page.locator("table.events td.details").filter(has_text="Policy:")).to_have_text(
            ["Policy: optional (grace 0 days) → required (grace 3 days)"]
        )
        expect_signed_out_at_next_page(member)
        assert re.search(r"^hooli\s+required\s+3\s", operator.run("org", "list"), re.M)

        # Back in, Hank may put off the setup for the 3 days of grace.
        enter_password(member, "hank")
        expect(member.locator(".grace-banner")).to_contain_text("You have 3 days left")


@pytest.mark.browser
def test_audit_log_filtered_by_member_exports_as_csv(
    page: Page, chromium: Browser, server: Server, operator: Operator
) -> None:
    sign_in_new_admin(page, operator, "vera", "vandelay", "Vandelay Industries")
    operator.create_user("vic", org="vandelay")
    with another_browser(chromium, server) as member:
        sign_in_member_with_2fa(member, "vic")  # only someone with 2FA can have it reset
    operator.run("user", "reset-2fa", "vic", "--reason", "Phone dropped in the harbour", "--yes")

    open_console(page, "Vandelay Industries")
    admin_tab(page, "Audit log")
    expect(page).to_have_url(at_path("/admin/audit"))
    rows = page.locator("table.events tbody tr")
    expect(rows.filter(has_text="vera")).not_to_have_count(0)  # the admin's own events

    page.get_by_label("Member (login)").fill("vic")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"/admin/audit\?.*member=vic"))
    expect(page.locator("main p", has_text="Export CSV")).to_have_text("4 events · Export CSV")
    expect(rows).to_have_count(4)
    expect(rows.locator("td:nth-child(3)")).to_have_text(["vic"] * 4)
    # The reset's reason shows in the table, not only in the CSV.
    expect(rows.first.locator("td.details")).to_contain_text("Reason: Phone dropped in the harbour")
    expect(rows.locator("td:nth-child(2)")).to_have_text(
        [
            re.compile("reset", re.IGNORECASE),
            "Two-factor authentication turned on",
            "Signed in",
            "Account created",
        ]
    )

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export CSV").click()
    download = download_info.value
    assert download.suggested_filename == "twofold-audit-vandelay.csv"
    table = list(csv.reader(io.StringIO(download.path().read_text(encoding="utf-8"))))
    assert table[0] == CSV_HEADER, table[0]
    body = table[1:]
    assert [row[1] for row in body] == [
        "two_factor.reset_by_admin",
        "two_factor.enabled",
        "sign_in.succeeded",
        "user.created",
    ], body
    assert {row[2] for row in body} == {"vic"}, body
    assert "Phone dropped in the harbour" in body[0][6], body[0]


@pytest.mark.browser
def test_a_plain_member_opening_the_console_gets_a_403_page(page: Page, operator: Operator) -> None:
    operator.create_user("pat")
    enter_password(page, "pat")
    expect_security_page(page, two_factor_on=False)
    for path in ("/admin", "/admin/members", "/admin/audit.csv"):
        response = page.goto(path)
        assert response is not None
        assert response.status == 403, f"{path} answered {response.status}"
        expect(page.get_by_role("heading", name="That didn't work")).to_be_visible()
        expect(page.locator("main")).to_contain_text(NOT_AN_ADMIN)
        expect(page.locator("table")).to_have_count(0)


@pytest.mark.browser
def test_admin_console_screenshots(
    page: Page, chromium: Browser, server: Server, operator: Operator, shots: Path
) -> None:
    sign_in_new_admin(page, operator, "pepper", "stark", "Stark Industries")
    for login in ("happy", "rhodey", "peter", "wanda"):
        operator.create_user(login, org="stark")
    with another_browser(chromium, server) as member:
        sign_in_member_with_2fa(member, "rhodey")  # only someone with 2FA can have it reset
    operator.run("user", "reset-2fa", "rhodey", "--reason", "New phone", "--yes")
    with another_browser(chromium, server) as member:
        sign_in_member_with_2fa(member, "happy")

    # The policy tab: "required" with 14 days of grace, previewed before it is applied.
    open_console(page, "Stark Industries")
    admin_tab(page, "2FA policy")
    page.get_by_label("Required — every member must have it").check()
    page.get_by_label("Grace period (days)").fill("14")
    page.get_by_role("button", name="Show what will happen").click()
    expect(page.locator(".warning")).to_contain_text("3 of 5 members have no")
    shoot(page, shots / "admin-policy-preview.png")
    page.get_by_role("button", name="Apply this policy").click()
    expect(page.get_by_role("status")).to_have_text("The 2FA policy was applied.")

    # The members table with the adoption bar.
    admin_tab(page, "Members")
    expect(cell(member_row(page, "rhodey"), "2FA")).to_have_text("Reset — waiting for the member")
    expect(cell(member_row(page, "wanda"), "2FA")).to_contain_text("Not set up — grace until")
    expect(page.locator("svg.adoption-bar")).to_be_visible()
    shoot(page, shots / "admin-members.png")

    # The reset confirmation page.
    open_member(page, "happy")
    page.get_by_role("link", name="Reset 2FA (lost phone)…").click()
    page.get_by_label("Reason").fill("Lost his phone; confirmed by calling him back.")
    shoot(page, shots / "admin-reset.png")

    # The audit log.
    admin_tab(page, "Audit log")
    expect(page.locator("table.events tbody tr")).not_to_have_count(0)
    shoot(page, shots / "admin-audit.png")
