"""Remember this browser through the pages (decision 0028): the box on the code prompts only
where the organization offers it, the cookie's attributes, the sign-in without a code, the
lists and "Forget" on the security page and the admin's member page; and everything that
still asks for the code (an organization switch, forward-auth ?require=mfa)."""

from __future__ import annotations

import re

import httpx2 as httpx
import pytest
from sqlalchemy import select, update

from asgi_client import TestClient
from support import (
    Person,
    allow_sms,
    enroll_sms,
    join,
    make_member,
    make_org,
    make_person,
    post_form,
    text_of,
)
from twofold.core.audit_events import AuditEventType
from twofold.core.policy import Role, TwoFactorPolicy
from twofold.otp.clock import FixedClock
from twofold.services.runtime import Runtime
from twofold.settings import Settings
from twofold.store.models import AuditEvent, AuthSession, Organization, RememberedBrowser
from web.test_https import browser, set_cookies

COOKIE = "twofold_remember"
APP = "https://app.example.com/dash"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"allowed_redirect_hosts": "app.example.com"})


def set_days(runtime: Runtime, days: int, slug: str = "default") -> None:
    with runtime.db() as db:
        db.execute(update(Organization).where(Organization.slug == slug).values(remember_days=days))
        db.commit()


def password(client: TestClient, person: Person, path: str = "/login") -> httpx.Response:
    return post_form(client, path, {"login": person.login, "password": person.password}, "/login")


def code_step(
    client: TestClient, person: Person, clock: FixedClock, *, remember: bool
) -> httpx.Response:
    clock.advance(30)
    fields = {"code": person.totp(clock)} | ({"remember": "1"} if remember else {})
    return post_form(client, "/login/code", fields)


def sign_out(client: TestClient) -> None:
    """ "Sign out" from the page the session reaches (its account, or the code prompt)."""
    page = "/account/security"
    shown = client.get(page)
    if shown.status_code == 303:
        page = shown.headers["location"]
    assert post_form(client, page, {}, action="/logout").status_code == 303


def remembered_rows(runtime: Runtime) -> list[RememberedBrowser]:
    with runtime.db() as db:
        return list(db.scalars(select(RememberedBrowser)))


def events(runtime: Runtime, event: AuditEventType) -> list[AuditEvent]:
    with runtime.db() as db:
        return list(db.scalars(select(AuditEvent).where(AuditEvent.event == event.value)))


BOX = 'name="remember"'


def test_no_box_where_the_organization_remembers_nothing(
    client: TestClient, alice_with_totp: Person, clock: FixedClock, runtime: Runtime
) -> None:
    password(client, alice_with_totp)
    assert BOX not in text_of(client.get("/login/code"))
    assert BOX not in text_of(client.get("/login/recovery"))
    # Ticking it anyway (a crafted form) remembers nothing.
    response = code_step(client, alice_with_totp, clock, remember=True)
    assert response.headers["location"] == "/account/security"
    assert COOKIE not in set_cookies(response)
    assert remembered_rows(runtime) == []


def test_the_box_says_the_organizations_days_on_every_code_prompt(
    client: TestClient, alice_with_totp: Person, runtime: Runtime
) -> None:
    set_days(runtime, 14)
    password(client, alice_with_totp)
    for page in ("/login/code", "/login/recovery"):
        text = text_of(client.get(page))
        assert BOX in text, page
        assert "Don't ask for a code on this browser for 14 days" in text, page
        assert re.search(r'<label class="choice" for="remember">', text), page
    set_days(runtime, 1)
    assert "for 1 day<" in text_of(client.get("/login/code"))
    sign_out(client)
    allow_sms(runtime)
    bob = make_person(runtime, "bob")
    enroll_sms(runtime, bob)
    password(client, bob)
    assert "for 1 day<" in text_of(client.get("/login/sms"))


def test_the_cookie_is_httponly_lax_path_root_and_capped(
    client: TestClient, alice_with_totp: Person, clock: FixedClock, runtime: Runtime
) -> None:
    set_days(runtime, 7)
    password(client, alice_with_totp)
    response = code_step(client, alice_with_totp, clock, remember=True)
    cookie = set_cookies(response)[COOKIE]
    assert "httponly" in cookie
    assert cookie["samesite"].lower() == "lax"
    assert cookie["path"] == "/"
    assert cookie["max-age"] == str(30 * 86400)
    assert "secure" not in cookie  # http base URL
    assert "domain" not in cookie


def test_under_https_the_cookie_is_secure_and_host_prefixed(
    runtime: Runtime, alice_with_totp: Person, clock: FixedClock
) -> None:
    set_days(runtime, 7)
    with browser(runtime, "https://id.example.org", via="https://id.example.org") as client:
        password(client, alice_with_totp)
        response = code_step(client, alice_with_totp, clock, remember=True)
    cookie = set_cookies(response)[f"__Host-{COOKIE}"]
    assert "secure" in cookie
    assert "httponly" in cookie


def test_a_remembered_browser_signs_in_without_the_code_and_rotates(
    client: TestClient, alice_with_totp: Person, clock: FixedClock, runtime: Runtime
) -> None:
    set_days(runtime, 7)
    password(client, alice_with_totp)
    code_step(client, alice_with_totp, clock, remember=True)
    first = client.cookies[COOKIE]
    sign_out(client)
    assert client.cookies[COOKIE] == first  # signing out keeps it
    response = password(client, alice_with_totp)
    assert response.headers["location"] == "/account/security"
    rotated = set_cookies(response)[COOKIE]
    assert client.cookies[COOKIE] != first
    assert int(rotated["max-age"]) <= 30 * 86400
    page = text_of(client.get("/account/security"))
    assert "Remembered browsers" in page
    assert "this browser" in page
    with runtime.db() as db:
        session = db.scalars(select(AuthSession).order_by(AuthSession.id.desc())).first()
        assert session is not None
        assert session.amr == "pwd"


def test_refused_and_cleared_once_the_organization_sets_0(
    client: TestClient, alice_with_totp: Person, clock: FixedClock, runtime: Runtime
) -> None:
    set_days(runtime, 7)
    password(client, alice_with_totp)
    code_step(client, alice_with_totp, clock, remember=True)
    sign_out(client)
    set_days(runtime, 0)
    response = password(client, alice_with_totp)
    assert response.headers["location"] == "/login/code"
    cleared = set_cookies(response)[COOKIE]
    assert cleared["max-age"] == "0"
    assert COOKIE not in client.cookies


def test_a_wrong_password_never_touches_the_cookie(
    client: TestClient, alice_with_totp: Person, clock: FixedClock, runtime: Runtime
) -> None:
    set_days(runtime, 7)
    password(client, alice_with_totp)
    code_step(client, alice_with_totp, clock, remember=True)
    sign_out(client)
    kept = client.cookies[COOKIE]
    wrong = post_form(client, "/login", {"login": "alice", "password": "not it at all"})
    assert wrong.status_code == 401 or wrong.status_code == 400 or wrong.status_code == 200
    assert COOKIE not in set_cookies(wrong)
    assert client.cookies[COOKIE] == kept
    assert events(runtime, AuditEventType.REMEMBERED_BROWSER_USED) == []


def test_forget_one_and_forget_all_on_the_security_page(
    client: TestClient, alice_with_totp: Person, clock: FixedClock, runtime: Runtime
) -> None:
    set_days(runtime, 7)
    password(client, alice_with_totp)
    code_step(client, alice_with_totp, clock, remember=True)
    [row] = remembered_rows(runtime)
    page = text_of(client.get("/account/security"))
    assert f'action="/account/remembered/{row.id}/forget"' in page
    response = post_form(
        client, "/account/security", {}, action=f"/account/remembered/{row.id}/forget"
    )
    assert response.headers["location"] == "/account/security?notice=browser_forgotten"
    assert set_cookies(response)[COOKIE]["max-age"] == "0"  # it was this browser's own
    assert remembered_rows(runtime) == []
    assert "That browser is forgotten" in text_of(client.get(response.headers["location"]))
    # Another person's, or one gone already: not found.
    missing = post_form(
        client, "/account/security", {}, action=f"/account/remembered/{row.id}/forget"
    )
    assert missing.status_code == 404
    code_again = client.get("/account/security")
    assert code_again.status_code == 200
    post_form(client, "/account/security", {}, action="/account/remembered/forget-all")
    assert remembered_rows(runtime) == []


def test_forget_all_forgets_every_browser(
    client: TestClient, alice_with_totp: Person, clock: FixedClock, runtime: Runtime
) -> None:
    set_days(runtime, 7)
    for _ in range(2):
        password(client, alice_with_totp)
        code_step(client, alice_with_totp, clock, remember=True)
        client.cookies.delete(COOKIE)  # as if another browser
        sign_out(client)
    password(client, alice_with_totp)
    code_step(client, alice_with_totp, clock, remember=False)
    assert len(remembered_rows(runtime)) == 2
    response = post_form(client, "/account/security", {}, action="/account/remembered/forget-all")
    assert response.headers["location"] == "/account/security?notice=browsers_forgotten"
    assert remembered_rows(runtime) == []


def test_an_admin_forgets_a_members_remembered_browsers(
    runtime: Runtime, clock: FixedClock, alice_with_totp: Person
) -> None:
    set_days(runtime, 7)
    from apps import app_for

    boss = make_member(runtime, "boss", "default", role=Role.ADMIN, with_totp=True)
    with TestClient(app_for(runtime), follow_redirects=False) as member_browser:
        password(member_browser, alice_with_totp)
        code_step(member_browser, alice_with_totp, clock, remember=True)
    with TestClient(app_for(runtime), follow_redirects=False) as admin_browser:
        password(admin_browser, boss)
        code_step(admin_browser, boss, clock, remember=False)
        page = admin_browser.get(f"/admin/members/{alice_with_totp.id}?org=default")
        assert "Forget remembered browsers" in text_of(page)
        response = post_form(
            admin_browser,
            f"/admin/members/{alice_with_totp.id}?org=default",
            {},
            action=f"/admin/members/{alice_with_totp.id}/forget-browsers?org=default",
        )
        assert response.status_code == 303
        assert "notice=browsers_forgotten" in response.headers["location"]
    assert remembered_rows(runtime) == []
    [forgotten] = events(runtime, AuditEventType.REMEMBERED_BROWSER_FORGOTTEN)
    assert forgotten.actor_id == boss.id


def test_an_organization_switch_still_asks_for_the_code(
    client: TestClient, alice_with_totp: Person, clock: FixedClock, runtime: Runtime
) -> None:
    make_org(runtime, "acme", TwoFactorPolicy.REQUIRED)
    join(runtime, alice_with_totp, "acme")
    set_days(runtime, 7)
    set_days(runtime, 7, "acme")
    password(client, alice_with_totp)
    code_step(client, alice_with_totp, clock, remember=True)
    sign_out(client)
    assert password(client, alice_with_totp).headers["location"] == "/account/security"
    switched = post_form(
        client, "/account/security", {"organization": "acme"}, action="/account/organization"
    )
    assert switched.headers["location"] == "/login/code"


def test_forward_auth_require_mfa_still_asks_for_the_code(
    client: TestClient, alice_with_totp: Person, clock: FixedClock, runtime: Runtime
) -> None:
    set_days(runtime, 7)
    password(client, alice_with_totp)
    code_step(client, alice_with_totp, clock, remember=True)
    sign_out(client)
    kept = client.cookies[COOKIE]
    started = client.get("/login", params={"rd": APP, "require": "mfa"})
    assert started.headers["location"] == "/auth/continue"
    assert client.get("/auth/continue").headers["location"] == "/login?forward=1"
    response = password(client, alice_with_totp, "/login?forward=1")
    assert response.headers["location"] == "/auth/continue"
    assert client.get("/auth/continue").headers["location"] == "/login/code"
    assert client.cookies[COOKIE] == kept  # not tried, so neither used nor cleared
    assert events(runtime, AuditEventType.REMEMBERED_BROWSER_USED) == []
    # Without require=mfa, the remembered browser stands in for the organization's policy.
    sign_out(client)
    client.get("/login", params={"rd": APP})
    client.get("/auth/continue")
    response = password(client, alice_with_totp, "/login?forward=1")
    assert client.get("/auth/continue").headers["location"] == APP
    assert len(events(runtime, AuditEventType.REMEMBERED_BROWSER_USED)) == 1


def test_another_persons_sign_in_on_the_same_browser_is_asked_the_code(
    client: TestClient, alice_with_totp: Person, clock: FixedClock, runtime: Runtime
) -> None:
    set_days(runtime, 7)
    password(client, alice_with_totp)
    code_step(client, alice_with_totp, clock, remember=True)
    sign_out(client)
    bob = make_person(runtime, "bob", with_totp=True)
    assert password(client, bob).headers["location"] == "/login/code"


def test_a_password_change_here_clears_this_browsers_cookie_too(
    client: TestClient, alice_with_totp: Person, clock: FixedClock, runtime: Runtime
) -> None:
    set_days(runtime, 7)
    password(client, alice_with_totp)
    code_step(client, alice_with_totp, clock, remember=True)
    new = "another long passphrase for alice 77"
    changed = post_form(
        client,
        "/account/password",
        {
            "current_password": alice_with_totp.password,
            "new_password": new,
            "confirm_password": new,
        },
    )
    assert changed.headers["location"] == "/account/security?notice=password_changed"
    assert set_cookies(changed)[COOKIE]["max-age"] == "0"
    assert remembered_rows(runtime) == []
    sign_out(client)
    alice_with_totp.password = new
    assert password(client, alice_with_totp).headers["location"] == "/login/code"
