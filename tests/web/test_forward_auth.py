"""GET /auth/forward and the sign-in at /login?rd=…: each status and header a proxy relies
on, the organization's policy and `require=mfa`, and the domain cookie."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from asgi_client import TestClient
from support import join, make_member, make_org, post_form, sign_in, text_of
from twofold.core.audit_events import AuditEventType
from twofold.core.policy import TwoFactorPolicy
from twofold.otp.clock import FixedClock
from twofold.services.runtime import Runtime
from twofold.settings import Settings
from twofold.store.models import AuditEvent
from twofold.web.rendering import DOMAIN_COOKIE, SESSION_COOKIE

APP = "https://app.example.com/dash?x=1&y=2"
FORWARDED = {
    "X-Forwarded-Method": "GET",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "app.example.com",
    "X-Forwarded-Uri": "/dash?x=1&y=2",
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "allowed_redirect_hosts": "app.example.com, http://testserver",
            "cookie_domain": "example.com",
        }
    )


@pytest.fixture
def people(runtime: Runtime) -> None:
    make_org(runtime, "acme", TwoFactorPolicy.REQUIRED)
    make_org(runtime, "beta", TwoFactorPolicy.OPTIONAL)
    make_org(runtime, "calm", TwoFactorPolicy.OFF)


def test_signed_out_is_401_for_nginx(client: TestClient) -> None:
    response = client.get("/auth/forward")
    assert response.status_code == 401
    assert "x-twofold-user" not in response.headers


def test_signed_out_with_redirect_is_302_to_sign_in_with_the_original_url(
    client: TestClient, runtime: Runtime
) -> None:
    response = client.get("/auth/forward?redirect=1&org=beta&require=mfa", headers=FORWARDED)
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == (
        runtime.public_url() + "/login"
    )
    assert parse_qs(location.query) == {"rd": [APP], "org": ["beta"], "require": ["mfa"]}


@pytest.mark.parametrize(
    "forged",
    [
        {**FORWARDED, "X-Forwarded-Host": "evil.example"},
        {**FORWARDED, "X-Forwarded-Proto": "http"},
        {**FORWARDED, "X-Forwarded-Host": "user@app.example.com"},
        {**FORWARDED, "X-Forwarded-Uri": "evil"},
        {**FORWARDED, "X-Forwarded-Proto": "javascript"},
        {},
    ],
)
def test_redirect_names_only_an_allowed_original_url(
    client: TestClient, runtime: Runtime, forged: dict[str, str]
) -> None:
    response = client.get("/auth/forward?redirect=1", headers=forged)
    assert response.status_code == 302
    assert response.headers["location"] == runtime.public_url() + "/login"


def test_signed_in_answers_200_with_who_it_is(
    client: TestClient, runtime: Runtime, clock: FixedClock, people: None
) -> None:
    person = make_member(runtime, "carol", "beta", with_totp=True)
    clock.advance(30)
    sign_in(client, person, clock)
    response = client.get("/auth/forward")
    assert response.status_code == 200
    assert response.headers["x-twofold-user"] == "carol"
    assert response.headers["x-twofold-email"] == ""
    assert response.headers["x-twofold-organization"] == "beta"
    assert response.headers["x-twofold-amr"] == "pwd,otp,mfa"
    assert response.headers["cache-control"] == "no-store"


def test_password_only_in_an_optional_org_passes_until_mfa_is_required(
    client: TestClient, runtime: Runtime, people: None
) -> None:
    person = make_member(runtime, "dave", "beta")
    sign_in(client, person)
    response = client.get("/auth/forward?org=beta")
    assert response.status_code == 200
    assert response.headers["x-twofold-amr"] == "pwd"
    assert client.get("/auth/forward?org=beta&require=mfa").status_code == 401
    assert client.get("/auth/forward?require=mfa&redirect=1").status_code == 302


def test_policy_off_passes_with_a_password_and_refuses_mfa_that_cannot_be_had(
    client: TestClient, runtime: Runtime, people: None
) -> None:
    person = make_member(runtime, "erin", "calm")
    sign_in(client, person)
    assert client.get("/auth/forward?org=calm").status_code == 200
    refused = client.get("/auth/forward?org=calm&require=mfa&redirect=1")
    assert refused.status_code == 403
    assert "two-factor" in text_of(refused)


def test_not_a_member_is_a_403_page_never_a_redirect(
    client: TestClient, runtime: Runtime, clock: FixedClock, people: None
) -> None:
    person = make_member(runtime, "carol", "beta", with_totp=True)
    clock.advance(30)
    sign_in(client, person, clock)
    for org in ("acme", "nosuch", "x" * 200, "../../etc", "%00", "ÄÖ"):
        response = client.get("/auth/forward", params={"org": org, "redirect": "1"})
        assert response.status_code == 403, org
        assert "location" not in response.headers
        assert "not a member" in text_of(response)
        assert "x-twofold-user" not in response.headers


def test_required_policy_asks_for_a_code_in_that_org_once(
    client: TestClient, runtime: Runtime, clock: FixedClock, people: None
) -> None:
    # Member of acme (2FA required) and beta; signed in with a code in beta only.
    person = make_member(runtime, "fay", "beta", with_totp=True)
    join(runtime, person, "acme")
    clock.advance(30)
    sign_in(client, person, clock)
    assert client.get("/auth/forward?org=beta").status_code == 200
    # The session passed a code, but not for acme: a step-up satisfies it, so 401.
    assert client.get("/auth/forward?org=acme").status_code == 401
    # The sign-in link for acme asks for the code there, then returns to the application.
    started = client.get("/login", params={"rd": APP, "org": "acme"})
    assert started.headers["location"] == "/auth/continue"
    assert client.get("/auth/continue").headers["location"] == "/login/code"
    clock.advance(30)
    done = post_form(client, "/login/code", {"code": person.totp(clock)})
    assert done.headers["location"] == "/auth/continue"
    assert client.get("/auth/continue").headers["location"] == APP
    answered = client.get("/auth/forward?org=acme")
    assert answered.status_code == 200
    assert answered.headers["x-twofold-organization"] == "acme"
    # Without `org`, the current organization is acme now.
    assert client.get("/auth/forward").headers["x-twofold-organization"] == "acme"


def test_password_verified_only_is_401(
    client: TestClient, runtime: Runtime, clock: FixedClock, people: None
) -> None:
    person = make_member(runtime, "gus", "beta", with_totp=True)
    clock.advance(30)
    response = post_form(client, "/login", {"login": "gus", "password": person.password})
    assert response.headers["location"] == "/login/code"
    assert client.get("/auth/forward").status_code == 401


def test_sign_in_at_login_rd_returns_to_the_application(
    client: TestClient, runtime: Runtime, clock: FixedClock, people: None
) -> None:
    person = make_member(runtime, "hal", "beta", with_totp=True)
    clock.advance(30)
    started = client.get("/login", params={"rd": APP})
    assert started.headers["location"] == "/auth/continue"
    assert client.get("/auth/continue").headers["location"] == "/login?forward=1"
    page = client.get("/login?forward=1")
    assert "app.example.com" in text_of(page)
    response = post_form(
        client, "/login?forward=1", {"login": "hal", "password": person.password}, "/login"
    )
    assert response.headers["location"] == "/auth/continue"
    assert client.get("/auth/continue").headers["location"] == "/login/code"
    response = post_form(client, "/login/code", {"code": person.totp(clock)})
    assert response.headers["location"] == "/auth/continue"
    back = client.get("/auth/continue")
    assert back.status_code == 303
    assert back.headers["location"] == APP
    # Done: the pending sign-in is gone, and a signed-in /login?rd= goes straight back.
    assert client.get("/auth/continue").headers["location"] == "/"
    client.get("/login", params={"rd": APP})
    assert client.get("/auth/continue").headers["location"] == APP


def test_csp_form_action_allows_the_return_hosts(client: TestClient) -> None:
    policy = client.get("/login").headers["content-security-policy"]
    assert "form-action 'self' https://app.example.com http://testserver;" in policy


@pytest.mark.parametrize(
    "rd",
    [
        "https://evil.example/",
        "//app.example.com/",
        "/account/security",
        "https://app.example.com\\@evil.example/",
        "https://u@app.example.com/",
        "http://app.example.com/",
        "https://app.example.com/\r\n",
    ],
)
def test_a_refused_rd_is_ignored(client: TestClient, rd: str) -> None:
    response = client.get("/login", params={"rd": rd})
    assert response.status_code == 200
    assert "twofold_forward_rd" not in response.headers.get("set-cookie", "")


def test_not_a_member_at_the_sign_in_link_sees_a_page_and_it_is_recorded(
    client: TestClient, runtime: Runtime, people: None
) -> None:
    person = make_member(runtime, "ida", "beta")
    sign_in(client, person)
    client.get("/login", params={"rd": APP, "org": "acme"})
    refused = client.get("/auth/continue")
    assert refused.status_code == 403
    assert "not a member" in text_of(refused)
    with runtime.db() as db:
        event = db.scalar(
            select(AuditEvent).where(AuditEvent.event == AuditEventType.FORWARD_AUTH_REFUSED.value)
        )
        assert event is not None
        assert event.user_id == person.id


def test_domain_cookie_is_set_accepted_only_by_forward_and_cleared_at_sign_out(
    client: TestClient, runtime: Runtime, people: None
) -> None:
    person = make_member(runtime, "jo", "beta")
    response = post_form(client, "/login", {"login": "jo", "password": person.password})
    cookies = response.headers.get_list("set-cookie")
    domain_cookie = next(c for c in cookies if c.startswith(f"{DOMAIN_COOKIE}="))
    assert "Domain=example.com" in domain_cookie
    assert "HttpOnly" in domain_cookie
    host_cookie = next(c for c in cookies if c.startswith(f"{SESSION_COOKIE}="))
    assert "Domain" not in host_cookie
    token = client.cookies.get(SESSION_COOKIE)
    # A browser outside example.com (the test client) keeps no such cookie: read it here.
    sealed = domain_cookie.split(";")[0].partition("=")[2]
    assert token
    assert sealed
    assert token not in sealed
    client.cookies.clear()
    # The domain cookie alone: accepted by /auth/forward ...
    client.cookies.set(DOMAIN_COOKIE, sealed)
    assert client.get("/auth/forward").headers["x-twofold-user"] == "jo"
    # ... and by nothing else.
    assert client.get("/account/security").headers["location"] == "/login"
    # Its value is no console session cookie either.
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, sealed)
    assert client.get("/account/security").headers["location"].startswith("/login")
    assert client.get("/auth/forward").status_code == 401
    # A forged one is nothing.
    client.cookies.clear()
    client.cookies.set(DOMAIN_COOKIE, sealed[:-4] + "AAAA")
    assert client.get("/auth/forward").status_code == 401
    # Sign-out clears it and ends the session it carried.
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, token)
    out = post_form(client, "/account/security", {}, "/logout")
    cleared = [c for c in out.headers.get_list("set-cookie") if c.startswith(f"{DOMAIN_COOKIE}=")]
    assert cleared
    assert "Max-Age=0" in cleared[0]
    client.cookies.clear()
    client.cookies.set(DOMAIN_COOKIE, sealed)
    assert client.get("/auth/forward").status_code == 401


def test_no_domain_cookie_without_the_setting(
    client: TestClient, runtime: Runtime, people: None
) -> None:
    runtime.settings.cookie_domain = None
    person = make_member(runtime, "kim", "beta")
    response = post_form(client, "/login", {"login": "kim", "password": person.password})
    assert not any(
        c.startswith(f"{DOMAIN_COOKIE}=") for c in response.headers.get_list("set-cookie")
    )


@pytest.mark.parametrize(
    "query",
    [
        "?org=&require=&redirect=",
        "?org=%FF%FE&require=%00&redirect=%0d%0a",
        "?org=a&org=b&require=mfa&require=x",
        "?redirect=1&org=" + "y" * 5000,
        "?require=" + "mfa," * 1000,
    ],
)
def test_no_bad_query_parameter_is_a_500(client: TestClient, query: str) -> None:
    assert client.get("/auth/forward" + query, headers=FORWARDED).status_code in (302, 401)
    assert client.get("/login" + query.replace("org", "rd")).status_code == 200


def test_not_now_at_2fa_setup_ends_the_forward_sign_in_on_the_account_page(
    client: TestClient, runtime: Runtime, people: None
) -> None:
    # beta's policy is optional: only the proxy's `require=mfa` asks for a second factor.
    person = make_member(runtime, "kit", "beta")
    client.get("/login", params={"rd": APP, "org": "beta", "require": "mfa"})
    post_form(client, "/login?forward=1", {"login": "kit", "password": person.password}, "/login")
    assert client.get("/auth/continue").headers["location"] == "/account/security/setup"
    setup = client.get("/account/security/setup")
    assert 'href="/auth/decline"' in setup.text
    declined = client.get("/auth/decline")
    assert declined.headers["location"] == "/account/security?notice=forward_declined"
    assert 'twofold_forward_rd=""' in declined.headers["set-cookie"]
    account = client.get(declined.headers["location"])
    assert account.status_code == 200
    assert "stays closed to you" in text_of(account)
    # The sign-in for the application has ended: nothing carries the person back to it.
    assert client.get("/auth/continue").headers["location"] == "/"
    assert client.get("/auth/forward?org=beta&require=mfa").status_code == 401
    # Without an application's sign-in under way, "Not now" stays on the account.
    assert 'href="/account/security"' in client.get("/account/security/setup").text
