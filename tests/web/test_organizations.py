"""Organizations through the pages: enforced enrollment, grace, admins, switching."""

from __future__ import annotations

import re

import pyotp
import pytest
from sqlalchemy import select

from apps import browser
from asgi_client import TestClient
from support import (
    Person,
    csrf_token,
    join,
    make_member,
    make_org,
    post_form,
    set_policy,
    sign_in,
    snapshot,
    text_of,
)
from twofold.core.audit_events import AuditEventType
from twofold.core.policy import Role, TwoFactorPolicy
from twofold.otp.clock import FixedClock, unix_time
from twofold.services.runtime import Runtime
from twofold.store.models import AuditEvent, AuthSession
from twofold.web.rendering import SESSION_COOKIE

DAY = 24 * 3600
SETUP = "/account/security/setup"
CODE = "/login/code"
SECURITY = "/account/security"
SWITCH = "/account/organization"
KEY_ON_PAGE = re.compile(r'<code id="setup-key"[^>]*>([A-Z2-7 ]+)</code>')
SELECTED = re.compile(r'<option value="([^"]+)"\s*selected>')
OTHER_PAGES = (
    SECURITY,
    "/account/password",
    "/account/security/recovery-codes",
    "/account/security/disable",
)


# --- helpers ---------------------------------------------------------------------------


def password_step(client: TestClient, person: Person) -> str:
    """Post the password; returns where the browser is sent."""
    response = post_form(client, "/login", {"login": person.login, "password": person.password})
    assert response.status_code == 303, response.text
    return str(response.headers["location"])


def enroll_through_the_page(client: TestClient, clock: FixedClock) -> str:
    """Scan the key on the setup page and confirm it; returns the recovery-codes page text."""
    page = client.get(SETUP)
    assert page.status_code == 200
    match = KEY_ON_PAGE.search(page.text)
    assert match
    code = pyotp.TOTP(match.group(1).replace(" ", "")).at(unix_time(clock.now()))
    response = post_form(client, SETUP, {"code": code})
    assert response.status_code == 200, response.text
    return text_of(response)


def current_org(client: TestClient) -> str | None:
    """The organization the header's switcher shows as current."""
    match = SELECTED.search(client.get(SECURITY).text)
    return match.group(1) if match else None


def session_org_ids(runtime: Runtime, person: Person) -> list[int | None]:
    with runtime.db() as db:
        return list(
            db.scalars(select(AuthSession.organization_id).where(AuthSession.user_id == person.id))
        )


def events(runtime: Runtime, event: AuditEventType) -> list[AuditEvent]:
    with runtime.db() as db:
        return list(db.scalars(select(AuditEvent).where(AuditEvent.event == event.value)))


def disable_form_of(response_text: str) -> bool:
    return 'action="/account/security/disable"' in response_text


# --- enforced enrollment -------------------------------------------------------------------


def test_a_member_of_a_required_org_goes_to_setup_right_after_the_password(
    client: TestClient, runtime: Runtime
) -> None:
    make_org(runtime, "acme", TwoFactorPolicy.REQUIRED, name="Acme Inc.")
    bob = make_member(runtime, "bob", "acme")
    assert password_step(client, bob) == SETUP
    page = text_of(client.get(SETUP))
    assert "Acme Inc. requires two-factor authentication." in re.sub(r"<[^>]+>", "", page)
    assert "Set it up to continue." in page
    assert "Sign out and do this later" in page
    assert "Not now" not in page


@pytest.mark.parametrize("path", OTHER_PAGES)
def test_until_enrolled_every_other_page_leads_back_to_setup(
    client: TestClient, runtime: Runtime, path: str
) -> None:
    make_org(runtime, "acme", TwoFactorPolicy.REQUIRED)
    bob = make_member(runtime, "bob", "acme")
    password_step(client, bob)
    response = client.get(path)
    assert response.status_code == 303
    assert response.headers["location"] == SETUP


def test_once_enrolled_the_member_reaches_the_account(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    make_org(runtime, "acme", TwoFactorPolicy.REQUIRED)
    bob = make_member(runtime, "bob", "acme")
    password_step(client, bob)
    codes_page = enroll_through_the_page(client, clock)
    assert "I have saved these codes" in codes_page
    page = client.get(SECURITY)
    assert page.status_code == 200
    assert "On — you sign in" in text_of(page)


def test_a_policy_turned_required_catches_an_open_session_at_its_next_page(
    client: TestClient, runtime: Runtime
) -> None:
    make_org(runtime, "acme")
    bob = make_member(runtime, "bob", "acme")
    sign_in(client, bob)
    set_policy(runtime, "acme", TwoFactorPolicy.REQUIRED)
    assert client.get("/account/password").headers["location"] == SETUP


def test_sign_everyone_out_ends_the_open_session(client: TestClient, runtime: Runtime) -> None:
    make_org(runtime, "acme")
    bob = make_member(runtime, "bob", "acme")
    sign_in(client, bob)
    set_policy(runtime, "acme", TwoFactorPolicy.REQUIRED, sign_out_everyone=True)
    assert client.get(SECURITY).headers["location"] == "/login"
    assert password_step(client, bob) == SETUP


# --- grace period ------------------------------------------------------------------------


def grace_member(runtime: Runtime, clock: FixedClock, grace_days: int) -> Person:
    make_org(runtime, "acme", name="Acme Inc.")
    bob = make_member(runtime, "bob", "acme")
    clock.advance(60)
    set_policy(runtime, "acme", TwoFactorPolicy.REQUIRED, grace_days=grace_days)
    return bob


def test_during_grace_setup_is_offered_after_the_password_with_not_now(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    bob = grace_member(runtime, clock, grace_days=10)
    assert password_step(client, bob) == SETUP
    page = text_of(client.get(SETUP))
    assert "Not now" in page
    assert 'href="/account/security">Not now' in page
    assert "Sign out and do this later" not in page


def test_during_grace_pages_show_a_banner_with_the_days_left(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    bob = grace_member(runtime, clock, grace_days=10)
    clock.advance(3 * DAY + 3600)  # 6 days 23 hours left: a started day counts
    password_step(client, bob)
    page = client.get(SECURITY)
    assert page.status_code == 200
    words = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", text_of(page)))
    assert "Acme Inc. requires two-factor authentication." in words
    assert "You have 7 days left to set it up (until 2026-03-11 12:01 UTC)." in words
    assert "Set it up now" in words


def test_on_the_last_day_of_grace_the_banner_says_one_day(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    bob = grace_member(runtime, clock, grace_days=2)
    clock.advance(2 * DAY - 3600)
    password_step(client, bob)
    assert "You have 1 day left to set it up" in text_of(client.get(SECURITY))


def test_after_grace_ends_the_member_must_set_up(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    bob = grace_member(runtime, clock, grace_days=2)
    clock.advance(2 * DAY)
    assert password_step(client, bob) == SETUP
    assert "Not now" not in text_of(client.get(SETUP))
    assert client.get(SECURITY).headers["location"] == SETUP


def test_grace_changed_to_zero_applies_to_the_open_session_at_the_next_request(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    bob = grace_member(runtime, clock, grace_days=10)
    password_step(client, bob)
    assert client.get(SECURITY).status_code == 200
    set_policy(runtime, "acme", TwoFactorPolicy.REQUIRED, grace_days=0)
    response = client.get(SECURITY)
    assert response.status_code == 303
    assert response.headers["location"] == SETUP


def test_no_banner_without_a_grace_period(client: TestClient, runtime: Runtime) -> None:
    make_org(runtime, "acme")
    bob = make_member(runtime, "bob", "acme")
    sign_in(client, bob)
    assert "grace-banner" not in client.get(SECURITY).text


# --- administrators ------------------------------------------------------------------------


def test_an_org_admin_without_2fa_must_set_it_up_even_where_2fa_is_off(
    client: TestClient, runtime: Runtime
) -> None:
    make_org(runtime, "acme", TwoFactorPolicy.OFF)
    boss = make_member(runtime, "boss", "acme", role=Role.ADMIN)
    assert password_step(client, boss) == SETUP
    page = text_of(client.get(SETUP))
    assert "Administrators must use two-factor authentication." in page
    assert "Not now" not in page
    assert client.get(SECURITY).headers["location"] == SETUP


def test_a_superadmin_without_2fa_must_set_it_up(client: TestClient, runtime: Runtime) -> None:
    root = make_member(runtime, "root", "default", superadmin=True)
    assert password_step(client, root) == SETUP
    assert "Administrators must use two-factor authentication." in text_of(client.get(SETUP))
    assert client.get("/account/password").headers["location"] == SETUP


# --- turning 2FA off while something requires it -------------------------------------------


def test_security_page_of_a_blocked_user_explains_and_offers_no_disable_link(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    make_org(runtime, "acme", TwoFactorPolicy.REQUIRED, name="Acme Inc.")
    bob = make_member(runtime, "bob", "acme", with_totp=True)
    clock.advance(30)
    sign_in(client, bob, clock)
    page = client.get(SECURITY)
    assert "it is required for Acme Inc." in text_of(page)
    assert 'href="/account/security/disable"' not in page.text


def test_disable_page_of_a_blocked_user_shows_the_reason_and_no_form(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    make_org(runtime, "acme", TwoFactorPolicy.REQUIRED, name="Acme Inc.")
    bob = make_member(runtime, "bob", "acme", with_totp=True)
    clock.advance(30)
    sign_in(client, bob, clock)
    page = client.get("/account/security/disable")
    assert page.status_code == 200
    assert "You can't turn off two-factor authentication: it is required for Acme Inc." in text_of(
        page
    )
    assert not disable_form_of(page.text)


def test_disabling_for_a_blocked_user_is_refused_and_changes_nothing(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    make_org(runtime, "acme", TwoFactorPolicy.REQUIRED, name="Acme Inc.")
    make_org(runtime, "bank", TwoFactorPolicy.OFF, name="Bank")
    bob = make_member(runtime, "bob", "acme", with_totp=True)
    join(runtime, bob, "bank", Role.ADMIN)
    clock.advance(30)
    sign_in(client, bob, clock)
    before = snapshot(runtime, skip=("throttles", "audit_events"))
    token = csrf_token(client, SECURITY)
    response = client.post(
        "/account/security/disable", data={"password": bob.password, "csrf_token": token}
    )
    assert response.status_code == 400
    assert (
        "You can't turn off two-factor authentication: it is required for Acme Inc. "
        "and organization administrators." in text_of(response)
    )
    assert snapshot(runtime, skip=("throttles", "audit_events")) == before
    assert events(runtime, AuditEventType.TWO_FACTOR_DISABLED) == []


def test_a_refused_disable_shows_the_reason_without_the_form_again(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    make_org(runtime, "acme", TwoFactorPolicy.REQUIRED, name="Acme Inc.")
    bob = make_member(runtime, "bob", "acme", with_totp=True)
    clock.advance(30)
    sign_in(client, bob, clock)
    response = post_form(
        client, SECURITY, {"password": bob.password}, action="/account/security/disable"
    )
    assert response.status_code == 400
    assert not disable_form_of(response.text)


def test_an_admin_sees_admins_as_the_reason_2fa_stays_on(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    make_org(runtime, "acme", TwoFactorPolicy.OPTIONAL)
    boss = make_member(runtime, "boss", "acme", role=Role.ADMIN, with_totp=True)
    clock.advance(30)
    sign_in(client, boss, clock)
    page = client.get("/account/security/disable")
    assert "it is required for organization administrators" in text_of(page)
    assert not disable_form_of(page.text)


# --- the organization switcher ----------------------------------------------------------


def test_with_one_organization_the_header_names_it_without_a_switcher(
    client: TestClient, runtime: Runtime
) -> None:
    make_org(runtime, "acme", name="Acme Inc.")
    bob = make_member(runtime, "bob", "acme")
    sign_in(client, bob)
    page = client.get(SECURITY).text
    assert 'class="org-name"' in page
    assert "Acme Inc." in page
    assert f'action="{SWITCH}"' not in page


def test_with_two_organizations_the_header_offers_a_switcher_with_both(
    client: TestClient, runtime: Runtime
) -> None:
    make_org(runtime, "acme", name="Acme Inc.")
    make_org(runtime, "bank", name="The Bank")
    bob = make_member(runtime, "bob", "acme")
    join(runtime, bob, "bank")
    sign_in(client, bob)
    page = text_of(client.get(SECURITY))
    assert f'action="{SWITCH}"' in page
    assert '<option value="acme" selected>Acme Inc.</option>' in page
    assert '<option value="bank" >The Bank</option>' in page or (
        '<option value="bank">The Bank</option>' in page
    )
    assert current_org(client) == "acme"


def test_switching_to_an_optional_org_goes_to_the_account_and_makes_it_current(
    client: TestClient, runtime: Runtime
) -> None:
    make_org(runtime, "acme")
    make_org(runtime, "bank")
    bob = make_member(runtime, "bob", "acme")
    join(runtime, bob, "bank")
    sign_in(client, bob)
    response = post_form(client, SECURITY, {"organization": "bank"}, action=SWITCH)
    assert response.status_code == 303
    assert response.headers["location"] == SECURITY
    assert current_org(client) == "bank"


def test_switching_into_a_required_org_asks_for_the_code_then_makes_it_current(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    make_org(runtime, "bank", TwoFactorPolicy.REQUIRED, name="The Bank")
    bob = make_member(runtime, "bob", "default", with_totp=True)
    join(runtime, bob, "bank")
    clock.advance(30)
    sign_in(client, bob, clock)
    response = post_form(client, SECURITY, {"organization": "bank"}, action=SWITCH)
    assert response.status_code == 303
    assert response.headers["location"] == CODE
    assert client.get(SECURITY).headers["location"] == CODE
    prompt = client.get(CODE)
    assert prompt.status_code == 200
    assert 'action="/login/code"' in prompt.text
    clock.advance(30)
    response = post_form(client, CODE, {"code": bob.totp(clock)})
    assert response.status_code == 303
    assert response.headers["location"] == SECURITY
    assert current_org(client) == "bank"


def test_a_wrong_code_after_switching_keeps_the_prompt(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    make_org(runtime, "bank", TwoFactorPolicy.REQUIRED)
    bob = make_member(runtime, "bob", "default", with_totp=True)
    join(runtime, bob, "bank")
    clock.advance(30)
    sign_in(client, bob, clock)
    post_form(client, SECURITY, {"organization": "bank"}, action=SWITCH)
    clock.advance(30)
    near = {bob.totp(clock, offset) for offset in (-1, 0, 1)}
    wrong = next(c for c in ("000000", "111111", "222222") if c not in near)
    response = post_form(client, CODE, {"code": wrong})
    assert response.status_code == 400
    assert "That code didn't match" in text_of(response)
    assert client.get(SECURITY).headers["location"] == CODE


def test_switching_back_to_an_org_already_verified_does_not_ask_again(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    make_org(runtime, "acme", TwoFactorPolicy.REQUIRED)
    make_org(runtime, "bank", TwoFactorPolicy.REQUIRED)
    bob = make_member(runtime, "bob", "acme", with_totp=True)
    join(runtime, bob, "bank")
    clock.advance(30)
    sign_in(client, bob, clock)
    post_form(client, SECURITY, {"organization": "bank"}, action=SWITCH)
    clock.advance(30)
    post_form(client, CODE, {"code": bob.totp(clock)})
    for slug in ("acme", "bank", "acme"):
        response = post_form(client, SECURITY, {"organization": slug}, action=SWITCH)
        assert response.headers["location"] == SECURITY
        assert current_org(client) == slug


def test_the_code_prompt_is_not_offered_when_nothing_is_left_to_verify(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    bob = make_member(runtime, "bob", "default", with_totp=True)
    clock.advance(30)
    sign_in(client, bob, clock)
    assert client.get(CODE).headers["location"] == SECURITY


def test_switching_into_a_required_org_without_2fa_leads_to_setup(
    client: TestClient, runtime: Runtime
) -> None:
    make_org(runtime, "bank", TwoFactorPolicy.REQUIRED, name="The Bank")
    bob = make_member(runtime, "bob", "default")
    sign_in(client, bob)
    join(runtime, bob, "bank")  # added while signed in
    response = post_form(client, SETUP, {"organization": "bank"}, action=SWITCH)
    assert response.headers["location"] == SETUP
    page = re.sub(r"<[^>]+>", "", text_of(client.get(SETUP)))
    assert "The Bank requires two-factor authentication." in page
    assert client.get(SECURITY).headers["location"] == SETUP


def test_a_required_org_elsewhere_cannot_be_escaped_by_switching(
    client: TestClient, runtime: Runtime
) -> None:
    make_org(runtime, "bank", TwoFactorPolicy.REQUIRED, name="The Bank")
    bob = make_member(runtime, "bob", "default")
    join(runtime, bob, "bank")
    response = post_form(client, "/login", {"login": "bob", "password": bob.password})
    assert response.headers["location"] == SETUP
    response = post_form(client, SETUP, {"organization": "default"}, action=SWITCH)
    assert response.headers["location"] == SETUP
    assert client.get(SECURITY).headers["location"] == SETUP


@pytest.mark.parametrize("slug", ["acme", "nowhere", "", "default' OR '1'='1", "<script>x"])
def test_switching_to_a_foreign_or_forged_org_is_a_403_and_only_audited(
    client: TestClient, runtime: Runtime, slug: str
) -> None:
    make_org(runtime, "acme")
    make_org(runtime, "bank")
    bob = make_member(runtime, "bob", "bank")
    join(runtime, bob, "default")
    sign_in(client, bob)
    before = snapshot(runtime, skip=("audit_events",))
    audited = len(events(runtime, AuditEventType.ORGANIZATION_SWITCH_REFUSED))
    response = post_form(client, SECURITY, {"organization": slug}, action=SWITCH)
    assert response.status_code == 403
    assert "You are not a member of that organization." in text_of(response)
    assert "<script>x" not in response.text
    assert snapshot(runtime, skip=("audit_events",)) == before
    refused = events(runtime, AuditEventType.ORGANIZATION_SWITCH_REFUSED)
    assert len(refused) == audited + 1
    assert refused[-1].user_id == bob.id
    assert current_org(client) == "bank"


def test_a_switch_without_a_csrf_token_is_refused(client: TestClient, runtime: Runtime) -> None:
    make_org(runtime, "bank")
    bob = make_member(runtime, "bob", "default")
    join(runtime, bob, "bank")
    sign_in(client, bob)
    before = snapshot(runtime)
    response = client.post(SWITCH, data={"organization": "bank"})
    assert response.status_code == 403
    assert "This form has expired" in text_of(response)
    assert snapshot(runtime) == before


def test_a_switch_with_another_browsers_csrf_token_is_refused(
    client: TestClient, runtime: Runtime
) -> None:
    make_org(runtime, "bank")
    bob = make_member(runtime, "bob", "default")
    join(runtime, bob, "bank")
    sign_in(client, bob)
    with browser(runtime) as attacker:
        foreign = csrf_token(attacker, "/login")
    before = snapshot(runtime)
    response = client.post(SWITCH, data={"organization": "bank", "csrf_token": foreign})
    assert response.status_code == 403
    assert snapshot(runtime) == before
    assert current_org(client) == "default"


def test_a_switch_without_a_session_goes_to_sign_in(client: TestClient, runtime: Runtime) -> None:
    make_org(runtime, "bank")
    before = snapshot(runtime)
    response = post_form(client, "/login", {"organization": "bank"}, action=SWITCH)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert snapshot(runtime) == before


def test_a_password_only_session_cannot_switch(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    make_org(runtime, "bank")
    bob = make_member(runtime, "bob", "default", with_totp=True)
    join(runtime, bob, "bank")
    assert password_step(client, bob) == CODE
    before = snapshot(runtime)
    response = post_form(client, CODE, {"organization": "bank"}, action=SWITCH)
    assert response.headers["location"] == CODE
    assert snapshot(runtime) == before
    assert client.cookies.get(SESSION_COOKIE)
