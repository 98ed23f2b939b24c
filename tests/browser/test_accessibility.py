"""Interface conventions, checked in the browser at phone width (360 px): labels, the code
fields' keyboard hints, the QR code's text alternative, focus, and nothing too wide or small;
and axe-core on every page, at desktop and phone widths. With TWOFOLD_SCREENSHOTS=1 two of the
pages it visits go to docs/images/: admin-members-phone.png and code-locked-phone.png."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from browser.axe import check_accessible
from browser.flows import (
    DESKTOP,
    PHONE,
    PhoneApp,
    at_path,
    confirm_setup,
    create_first_admin,
    enroll,
    enter_code,
    enter_password,
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

LARGE_TAP = 44  # px: text fields and main buttons
SMALL_TAP = 24  # px: any other control (WCAG 2.2, 2.5.8)
APP_CALLBACK = "https://grafana.axe.test/login/generic_oauth"


def visible(page: Page, selector: str) -> list[Locator]:
    matches = page.locator(selector)
    return [matches.nth(i) for i in range(matches.count()) if matches.nth(i).is_visible()]


def check_every_field_is_labelled(page: Page) -> None:
    fields = visible(page, "input:not([type=hidden]), select, textarea")
    assert fields, f"no form fields on {page.url}"
    for field in fields:
        field_id = field.get_attribute("id")
        assert field_id, f"a field without id on {page.url}"
        label = page.locator(f'label[for="{field_id}"]')
        expect(label).to_have_count(1)
        expect(label).to_be_visible()
        expect(field).to_have_accessible_name(label.inner_text().strip())


def check_code_field(field: Locator) -> None:
    expect(field).to_have_attribute("autocomplete", "one-time-code")
    expect(field).to_have_attribute("inputmode", "numeric")


def check_fits_a_phone(page: Page) -> None:
    """Nothing scrolls sideways at 360 px, and controls are big enough to tap."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width} px wide at {PHONE['width']} px"
    for control in visible(page, "input:not([type=hidden]), button.primary, .button"):
        box = control.bounding_box()
        assert box, control
        assert box["height"] >= LARGE_TAP, f"{control} is {box['height']} px high on {page.url}"
    for control in visible(page, "a, button"):
        box = control.bounding_box()
        assert box, control
        assert min(box["width"], box["height"]) >= SMALL_TAP - 0.5, (
            f"{control.inner_text()!r} is {box['width']:.0f}x{box['height']:.0f} px on {page.url}"
        )


@pytest.mark.browser
def test_forms_follow_the_interface_conventions(page: Page, server: Server) -> None:
    page.set_viewport_size(PHONE)

    page.goto(server.setup_url)
    check_every_field_is_labelled(page)
    expect(page.get_by_label("Login name")).to_be_focused()
    check_fits_a_phone(page)
    # The setup link works once, before any account exists: axe checks its page here.
    check_accessible(page)

    # A password too short: the error is next to the password field, and focus is there.
    page.get_by_label("Login name").fill("hopper")
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_role("button", name="Create administrator").click()
    password = page.get_by_label("Password", exact=True)
    expect(password).to_have_attribute("aria-invalid", "true")
    expect(password).to_be_focused()
    expect(page.get_by_label("Login name")).to_have_value("hopper")
    check_accessible(page)

    create_first_admin(page, server.setup_url, "hopper")
    check_every_field_is_labelled(page)
    check_code_field(page.get_by_label("Authentication code"))
    qr = page.locator("figure.qr")
    expect(qr).to_have_attribute("role", "img")
    expect(qr).to_have_attribute("aria-label", re.compile(r"\bQR code\b"))
    expect(page.get_by_role("img", name=re.compile("QR code"))).to_be_visible()
    qr_box = qr.locator("svg").bounding_box()
    assert qr_box, "no QR code drawn"
    assert qr_box["width"] >= 180, f"the QR code is only {qr_box['width']} px wide"
    expect(page.locator("#setup-key")).to_have_text(re.compile(r"^([A-Z2-7]{4} ){7}[A-Z2-7]{4}$"))
    check_fits_a_phone(page)

    enroll(page)
    check_fits_a_phone(page)
    page.get_by_role("link", name="I have saved these codes").click()
    check_fits_a_phone(page)
    sign_out(page)

    check_every_field_is_labelled(page)
    expect(page.get_by_label("Login name or email")).to_be_focused()
    check_fits_a_phone(page)

    enter_password(page, "hopper")
    expect(page).to_have_url(at_path("/login/code"))
    check_every_field_is_labelled(page)
    code = page.get_by_label("Authentication code")
    check_code_field(code)
    expect(code).to_be_focused()
    check_fits_a_phone(page)

    page.get_by_role("link", name="Use a recovery code").click()
    expect(page).to_have_url(at_path("/login/recovery"))
    check_every_field_is_labelled(page)
    recovery = page.get_by_label("Recovery code")
    expect(recovery).to_be_focused()
    expect(recovery).to_have_attribute("autocomplete", "off")  # letters too: not numeric
    check_fits_a_phone(page)


@pytest.mark.browser
def test_every_page_passes_axe_at_desktop_and_phone_widths(
    page: Page,
    chromium: Browser,
    server: Server,
    operator: Operator,
    mailbox: Mailbox,
    shots: Path,
) -> None:
    """axe-core finds no serious or critical violation on any page, at 1280 and 360 px."""
    operator.create_org("axe", "Axe Works", signup="open")
    operator.create_user("ada", org="axe", role="admin")
    operator.create_user("moe", org="axe")
    # Ada administers a second organization: the header's organization menu and the admin
    # console's organization picker show on her pages; two open organizations: /signup asks
    # which one.
    operator.create_org("axe-too", "Axe Too", signup="open")
    operator.run("user", "add-to-org", "ada", "axe-too", "--role", "admin")

    # Signed out: sign-in, forgotten password, sign-up, and the error pages.
    page.goto("/signup")
    expect(page.get_by_role("link", name="Axe Too")).to_be_visible()  # which organization
    check_accessible(page)
    for path in ("/login", "/password/forgot", "/signup/axe", "/no-such-page"):
        page.goto(path)
        check_accessible(page)

    # Sign-up: its error, "Check your email", and the emailed link's page before and after.
    page.goto("/signup/axe")
    page.get_by_label("Login name").fill("sam")
    page.get_by_label("Email").fill("sam@example.test")
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("alert")).to_be_visible()
    check_accessible(page)
    page.get_by_label("Password", exact=True).fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    check_accessible(page)
    page.goto(mailbox.wait_for("sam@example.test", subject="confirm").link_to("/email/verify/"))
    expect(page.get_by_role("heading", name="Confirm your email address")).to_be_visible()
    check_accessible(page)
    page.get_by_role("button", name="Confirm email address").click()
    expect(page.get_by_role("heading", name="Email address confirmed")).to_be_visible()
    check_accessible(page)
    page.goto("/password/reset/not-a-token")
    expect(page.get_by_role("heading", name="That didn't work")).to_be_visible()
    check_accessible(page)
    enter_password(page, "ada", "not her password")  # the sign-in page with an error
    expect(page.get_by_role("alert")).to_be_visible()
    check_accessible(page)
    page.goto("/password/forgot")
    page.get_by_label("Email").fill("moe@example.test")
    page.get_by_role("button", name=re.compile("Send")).click()
    check_accessible(page)
    page.goto(mailbox.wait_for("moe@example.test", subject="reset").link_to("/password/reset/"))
    check_accessible(page)

    # An administrator: the 2FA setup she cannot put off, her codes, her account pages.
    enter_password(page, "ada")
    expect(page).to_have_url(at_path("/account/security/setup"))
    check_accessible(page)
    page.get_by_label("Authentication code").fill("000000")
    page.get_by_role("button", name="Confirm and turn on").click()
    expect(page.get_by_role("alert")).to_be_visible()  # the setup page with an error
    check_accessible(page)
    phone = PhoneApp(read_setup_key(page))
    codes = confirm_setup(page, phone)
    check_accessible(page)  # the recovery codes
    page.get_by_role("link", name="I have saved these codes").click()
    for path in (
        "/account/security",
        "/account/password",
        "/account/email",
        "/account/security/recovery-codes",
        "/account/security/disable",
        "/account/security?page=2",  # the events' pager
    ):
        page.goto(path)
        check_accessible(page)
    page.goto("/account/password")
    page.get_by_role("button", name="Change password").click()  # every field's error
    check_accessible(page)

    # The security page with a connected application: a client registered by the operator,
    # and Ada's sign-in to it (the authorization answers her session at once with a code).
    registered = operator.run(
        "client", "create", "axe", "--name", "Grafana", "--redirect-uri", APP_CALLBACK
    )
    client_id = re.search(r"^client_id: (\S+)$", registered, re.M)
    assert client_id, registered
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id.group(1),
            "redirect_uri": APP_CALLBACK,
            "scope": "openid profile",
            "state": "axe",
        }
    )
    answer = page.request.get(f"/oidc/authorize?{query}", max_redirects=0)
    assert answer.status == 303, answer.text()
    assert answer.headers["location"].startswith(f"{APP_CALLBACK}?code="), answer.headers
    page.goto("/account/security")
    applications = page.get_by_role("region", name="Connected applications")
    expect(applications.get_by_role("button", name="Revoke Grafana")).to_be_visible()
    check_accessible(page)

    # The admin console.
    for path in (
        "/admin/members",
        "/admin/members?q=nobody",  # no member matches
        "/admin/members?org=axe-too",
        "/admin/policy",
        "/admin/audit",
        "/admin/invite",
    ):
        page.goto(path)
        check_accessible(page)
    expect(page.get_by_label("Organization").first).to_be_visible()  # two organizations

    # On a phone the members table fits: its 2FA column shows, its header is one line.
    page.set_viewport_size(PHONE)
    page.goto("/admin/members")
    table = page.locator("table.members")
    header = table.get_by_role("columnheader", name="2FA")
    expect(header).to_be_visible()
    wrap = page.locator(".table-wrap")
    assert wrap.evaluate("e => e.scrollWidth <= e.clientWidth"), "the members table is cut"
    heights = {box["height"] for h in table.locator("th").all() if (box := h.bounding_box())}
    assert max(heights) < 40, f"the header wraps: {heights}"
    page.set_viewport_size(DESKTOP)
    page.goto("/admin/policy")
    page.get_by_label("Required — every member must have it").check()
    page.get_by_role("button", name="Show what will happen").click()
    check_accessible(page)  # the preview
    page.goto("/admin/members")
    page.locator("table.members").get_by_role("link", name="moe", exact=True).click()
    check_accessible(page)  # a member's page
    member_page = page.url
    page.get_by_role("link", name=re.compile("^Remove from")).click()
    check_accessible(page)

    # An invitation: sent (the members page says so), the emailed link's page, its error; the
    # newcomer then changes their address: the page that says a link was sent, and the link's
    # page before and after confirming.
    page.goto("/admin/invite?org=axe")
    page.get_by_label("Email address").fill("ivy@example.test")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_role("status")).to_have_text("The invitation was sent.")
    check_accessible(page)
    newcomer = chromium.new_context(base_url=server.base_url, viewport=DESKTOP)
    try:
        ivy = newcomer.new_page()
        ivy.goto(mailbox.wait_for("ivy@example.test", subject="invited").link_to("/invite/"))
        expect(ivy.get_by_role("heading", name="Join Axe Works")).to_be_visible()
        check_accessible(ivy)
        ivy.get_by_label("Login name").fill("ivy")
        ivy.get_by_label("Password", exact=True).fill("short")
        ivy.get_by_role("button", name="Join").click()
        expect(ivy.get_by_label("Password", exact=True)).to_have_attribute("aria-invalid", "true")
        check_accessible(ivy)
        ivy.get_by_label("Password", exact=True).fill(STRONG_PASSWORD)
        ivy.get_by_role("button", name="Join").click()
        expect_security_page(ivy, two_factor_on=False)
        ivy.goto("/account/email")
        ivy.get_by_label("New email address").fill("ivy.new@example.test")
        ivy.get_by_label("Current password").fill(STRONG_PASSWORD)
        ivy.get_by_role("button", name="Send confirmation link").click()
        expect(ivy.get_by_role("status")).to_be_visible()
        check_accessible(ivy)
        confirm = mailbox.wait_for("ivy.new@example.test", subject="confirm your email address")
        ivy.goto(confirm.link_to("/email/verify/"))
        expect(ivy.get_by_role("heading", name="Confirm your email address")).to_be_visible()
        check_accessible(ivy)
        ivy.get_by_role("button", name="Confirm email address").click()
        expect(ivy.get_by_role("heading", name="Email address confirmed")).to_be_visible()
        check_accessible(ivy)
    finally:
        newcomer.close()

    # A member: 2FA optional, turned on, then reset by the operator; the page that waits for
    # the emailed link, and the link's page.
    member = chromium.new_context(base_url=server.base_url, viewport=DESKTOP)
    try:
        moe = member.new_page()
        enter_password(moe, "moe")
        check_accessible(moe)
        moe.goto("/account/security/setup")
        moe_phone = PhoneApp(read_setup_key(moe))
        confirm_setup(moe, moe_phone)
        page.goto(member_page)
        page.get_by_role("link", name="Reset 2FA (lost phone)…").click()
        check_accessible(page)
        operator.run("user", "reset-2fa", "moe", "--reason", "Lost phone", "--yes")
        moe.goto("/login")  # the reset ended his session: the sign-in page says so
        expect(moe.get_by_role("status")).to_contain_text("You were signed out.")
        check_accessible(moe)
        enter_password(moe, "moe")
        expect(moe.get_by_role("heading", name="Check your email")).to_be_visible()
        check_accessible(moe)
        # Mailed by the operator's command, whose links use the default address: the path.
        mail = mailbox.wait_for("moe@example.test", subject="set up two-factor authentication")
        moe.goto(urlsplit(mail.link_to("/reenroll/")).path)
        expect(moe.locator("figure.qr")).to_be_visible()
        check_accessible(moe)
    finally:
        member.close()

    # The members table on a phone, with members in every state (docs/admin.md).
    page.set_viewport_size(PHONE)
    page.goto("/admin/members?org=axe")
    expect(page.locator("table.members").get_by_role("link", name="ivy")).to_be_visible()
    shoot(page, shots / "admin-members-phone.png")
    page.set_viewport_size(DESKTOP)

    # Signed out ("You are signed out."), the code prompt, its error and the recovery prompt.
    sign_out(page)
    check_accessible(page)
    enter_password(page, "ada")
    check_accessible(page)
    enter_code(page, "12ab56")
    expect(page.get_by_role("alert")).to_be_visible()
    check_accessible(page)
    page.get_by_role("link", name="Use a recovery code").click()
    check_accessible(page)
    # Signed in with a recovery code: the security page's warning about it.
    page.get_by_label("Recovery code").fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_text("You signed in with a recovery code.")).to_be_visible()
    check_accessible(page)


@pytest.mark.browser
def test_the_code_prompts_last_try_and_lock_pass_axe(
    page: Page, operator: Operator, shots: Path
) -> None:
    """At 9 wrong codes the prompt warns that the next locks; at 10 it has no field and says
    until when, and that an administrator can unlock. Both pass axe; the lock is shot."""
    operator.create_org("bolt", "Bolt & Bar")
    operator.create_user("lin", org="bolt")
    enter_password(page, "lin")
    expect_security_page(page, two_factor_on=False)
    page.get_by_role("link", name="Set up two-factor authentication").click()
    phone = finish_setup(page)
    sign_out(page)
    enter_password(page, "lin")

    for _ in range(9):
        enter_code(page, wrong_code(phone))
    expect(page.locator("#last-try")).to_have_text(
        re.compile(r"^Careful: the next wrong code locks two-factor sign-in for 15 minutes\.")
    )
    check_accessible(page)

    enter_code(page, wrong_code(phone))
    expect(page.get_by_label("Authentication code")).to_have_count(0)
    main = page.locator("main")
    expect(main).to_contain_text(
        re.compile(r"Two-factor sign-in for lin is locked until \d{4}-\d\d-\d\d \d\d:\d\d UTC\.")
    )
    expect(main).to_contain_text("An administrator of Bolt & Bar can unlock it sooner: ask them.")
    check_accessible(page)
    page.goto("/login/recovery")
    expect(page.get_by_label("Recovery code")).to_have_count(0)
    check_accessible(page)

    page.set_viewport_size(PHONE)
    page.goto("/login/code")
    expect(main).to_contain_text("is locked until")
    shoot(page, shots / "code-locked-phone.png")
