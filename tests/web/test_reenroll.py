"""After an admin reset: the password alone reaches nothing (the stolen-password case), and
the emailed /reenroll/ link — with the member's own sign-in — is the only way back."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import httpx2 as httpx
import pyotp
import pytest
from sqlalchemy import select

from apps import browser as another_browser
from asgi_client import TestClient
from support import (
    STRONG_PASSWORD,
    CapturingMailer,
    Person,
    csrf_token,
    post_form,
    sign_in,
    text_of,
)
from twofold.core.audit_events import AuditEventType
from twofold.core.policy import Role, TwoFactorPolicy
from twofold.otp.clock import FixedClock, unix_time
from twofold.otp.secret import encode_secret
from twofold.services import account, admin_scope, mail, member_actions, organizations, users
from twofold.services.runtime import ClientInfo, Runtime
from twofold.store.models import AuditEvent, User

SECURITY = "/account/security"
SETUP = "/account/security/setup"
KEY_ON_PAGE = re.compile(r'<code id="setup-key"[^>]*>([A-Z2-7 ]+)</code>')
# Links use the configured public URL (here the `serve` default), never the request's Host.
PUBLIC_URL = "http://localhost:8000"
REENROLL_LINK = re.compile(r"http://localhost:8000(/reenroll/[A-Za-z0-9_-]+)")
RESET_WORDS = "An administrator reset two-factor authentication for your account."


# --- helpers ---------------------------------------------------------------------------


def make_org(runtime: Runtime, slug: str, policy: TwoFactorPolicy) -> None:
    with runtime.db() as db:
        organizations.create_organization(
            db, runtime, slug=slug, name=slug.title(), two_factor=policy, signup_open=False
        )
        db.commit()


def member(
    runtime: Runtime,
    login: str,
    slug: str = "acme",
    *,
    role: Role = Role.MEMBER,
    with_totp: bool = True,
) -> Person:
    with runtime.db() as db:
        user = users.create_user(
            db,
            runtime,
            login=login,
            password=STRONG_PASSWORD,
            email=f"{login}@example.org",
            organization_slug=slug,
            role=role.value,
            email_verified=True,
        )
        db.commit()
        person = Person(id=user.id, login=user.login, password=STRONG_PASSWORD)
        if with_totp:
            pending = account.begin_totp_enrollment(db, runtime, user)
            person.secret = pyotp.TOTP(pending.secret_b32).byte_secret()
            code = pyotp.TOTP(pending.secret_b32).at(unix_time(runtime.now()))
            person.recovery_codes = account.confirm_totp_enrollment(
                db, runtime, user, code, ClientInfo()
            )
    return person


@contextmanager
def browser(runtime: Runtime) -> Iterator[TestClient]:
    with another_browser(runtime) as c:
        yield c


def words(response: httpx.Response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text_of(response)))


def reset_by(runtime: Runtime, by: Person, target: Person) -> str:
    """The admin resets the member's 2FA; returns the link's path."""
    with runtime.db() as db:
        actor = db.get(User, by.id)
        user = db.get(User, target.id)
        assert actor is not None
        assert user is not None
        scope = admin_scope.scope_of(db, actor)
        assert scope is not None
        link = member_actions.reset_two_factor(
            db, runtime, scope, user, reason="lost phone", client=None
        )
    assert link.startswith(f"{PUBLIC_URL}/reenroll/")
    return link.removeprefix(PUBLIC_URL)


def password_step(client: TestClient, person: Person, password: str | None = None) -> str:
    response = post_form(
        client, "/login", {"login": person.login, "password": password or person.password}
    )
    assert response.status_code == 303, response.text
    return str(response.headers["location"])


def key_of(response: httpx.Response) -> str:
    match = KEY_ON_PAGE.search(response.text)
    assert match, response.text
    return match.group(1).replace(" ", "")


def code_for(key: str, clock: FixedClock) -> str:
    return pyotp.TOTP(key).at(unix_time(clock.now()))


def two_factor_state(runtime: Runtime, person: Person) -> tuple[bool, bool]:
    """(has 2FA, reset still pending)"""
    with runtime.db() as db:
        user = db.get(User, person.id)
        assert user is not None
        return users.has_two_factor(db, person.id), user.two_factor_reset_at is not None


def events(runtime: Runtime, event: AuditEventType) -> list[AuditEvent]:
    with runtime.db() as db:
        return list(db.scalars(select(AuditEvent).where(AuditEvent.event == event.value)))


@pytest.fixture
def acme(runtime: Runtime) -> None:
    make_org(runtime, "acme", TwoFactorPolicy.OPTIONAL)


@pytest.fixture
def boss(runtime: Runtime, acme: None) -> Person:
    return member(runtime, "boss", role=Role.ADMIN)


@pytest.fixture
def bob(runtime: Runtime, clock: FixedClock, acme: None) -> Person:
    person = member(runtime, "bob")
    clock.advance(30)
    return person


@pytest.fixture
def link(runtime: Runtime, boss: Person, bob: Person) -> str:
    """Bob lost his phone; boss reset his 2FA. The path of the emailed link."""
    return reset_by(runtime, boss, bob)


def reenroll(client: TestClient, clock: FixedClock, link: str) -> httpx.Response:
    """Open the link (signed in), scan the key, confirm with a code."""
    page = client.get(link)
    assert page.status_code == 200, page.text
    response = post_form(client, link, {"code": code_for(key_of(page), clock)})
    assert response.status_code == 200, response.text
    return response


# --- the password alone reaches nothing ------------------------------------------------------


def test_after_a_reset_the_password_alone_leads_to_the_setup_page(
    client: TestClient, bob: Person, link: str
) -> None:
    assert password_step(client, bob) == SETUP


def test_after_a_reset_the_setup_page_refuses_with_the_reason(
    client: TestClient, bob: Person, link: str
) -> None:
    password_step(client, bob)
    response = client.get(SETUP)
    assert response.status_code == 403
    text = text_of(response)
    assert RESET_WORDS in text
    assert "Open the link we emailed you to set it up again" in text
    assert 'id="setup-key"' not in response.text


def test_after_a_reset_the_setup_page_says_how_long_the_link_works(
    client: TestClient, bob: Person, link: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wait page says the lifetime the link is issued with (REENROLL_LIFETIME), so the
    page and the link cannot disagree."""
    password_step(client, bob)
    assert "It works once, for 24 hours." in text_of(client.get(SETUP))
    monkeypatch.setattr(member_actions, "REENROLL_LIFETIME", timedelta(hours=48))
    text = text_of(client.get(SETUP))
    assert "It works once, for 48 hours." in text
    assert "24 hours" not in text


@pytest.mark.parametrize(
    "path",
    [
        SECURITY,
        "/account/password",
        "/account/email",
        "/account/security/recovery-codes",
        "/account/security/disable",
        "/admin",
        "/",
    ],
)
def test_after_a_reset_every_page_leads_to_the_setup_page(
    client: TestClient, bob: Person, link: str, path: str
) -> None:
    password_step(client, bob)
    response = client.get(path)
    assert response.status_code == 303
    assert response.headers["location"] in {SETUP, SECURITY}
    if response.headers["location"] == SECURITY:
        assert client.get(SECURITY).headers["location"] == SETUP


def test_after_a_reset_a_code_posted_to_the_setup_page_cannot_enroll(
    client: TestClient, runtime: Runtime, clock: FixedClock, bob: Person, link: str
) -> None:
    form_token = csrf_token(client, "/login")
    password_step(client, bob)
    # The owner opened the emailed link elsewhere: a key is pending. Someone holding only the
    # password (and even a valid code for that key) still cannot finish setup without the link.
    with runtime.db() as db:
        user = db.get(User, bob.id)
        assert user is not None
        pending = account.begin_totp_enrollment(db, runtime, user, via_reset_link=True)
    response = client.post(
        SETUP,
        data={"code": code_for(pending.secret_b32, clock), "csrf_token": form_token},
    )
    assert response.status_code == 403
    assert RESET_WORDS in text_of(response)
    assert two_factor_state(runtime, bob) == (False, True)


def test_after_a_reset_the_old_code_no_longer_signs_in(
    client: TestClient, clock: FixedClock, bob: Person, link: str
) -> None:
    assert password_step(client, bob) == SETUP  # no code prompt: the old secret is gone


# --- the link ------------------------------------------------------------------------------


def test_opening_the_link_signed_out_leads_to_sign_in_with_next(
    client: TestClient, link: str
) -> None:
    response = client.get(link)
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next={link}"


def test_the_sign_in_page_says_it_will_return_to_the_link(client: TestClient, link: str) -> None:
    page = client.get(f"/login?next={link}")
    assert page.status_code == 200
    assert f'name="next" value="{link}"' in page.text
    assert "Sign in first; then we'll take you back to the link you opened." in text_of(page)


def test_signing_in_returns_to_the_link(client: TestClient, bob: Person, link: str) -> None:
    response = post_form(
        client,
        f"/login?next={link}",
        {"login": bob.login, "password": bob.password, "next": link},
        action="/login",
    )
    assert response.status_code == 303
    assert response.headers["location"] == link


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example", "/account/email"])
def test_sign_in_does_not_follow_any_other_next(
    client: TestClient, bob: Person, link: str, target: str
) -> None:
    response = post_form(
        client, "/login", {"login": bob.login, "password": bob.password, "next": target}
    )
    assert response.headers["location"] == SETUP


def test_the_link_page_shows_a_new_key_and_qr_code(
    client: TestClient, bob: Person, link: str
) -> None:
    password_step(client, bob)
    page = client.get(link)
    assert page.status_code == 200
    assert (
        "An administrator reset two-factor authentication for your account. Scan the new key below."
        in words(page)
    )
    assert "<svg" in page.text
    assert bob.secret is not None
    assert key_of(page) != encode_secret(bob.secret)
    assert f'action="{link}"' in page.text


def test_a_valid_code_on_the_link_page_enrolls_and_shows_recovery_codes(
    client: TestClient, runtime: Runtime, clock: FixedClock, bob: Person, link: str
) -> None:
    password_step(client, bob)
    response = reenroll(client, clock, link)
    assert "Save your recovery codes" in text_of(response)
    assert len(re.findall(r"<li><code>[0-9a-z-]+</code></li>", response.text)) == 10
    assert two_factor_state(runtime, bob) == (True, False)
    [event] = events(runtime, AuditEventType.TWO_FACTOR_REENROLLED)
    assert event.user_id == bob.id


def test_after_reenrolling_the_account_works(
    client: TestClient, clock: FixedClock, bob: Person, link: str
) -> None:
    password_step(client, bob)
    reenroll(client, clock, link)
    page = client.get(SECURITY)
    assert page.status_code == 200
    assert "On — you sign in" in text_of(page)


def test_after_reenrolling_sign_in_asks_for_the_new_code(
    client: TestClient, clock: FixedClock, bob: Person, link: str
) -> None:
    password_step(client, bob)
    page = client.get(link)
    key = key_of(page)
    post_form(client, link, {"code": code_for(key, clock)})
    post_form(client, SECURITY, {}, action="/logout")
    clock.advance(30)
    assert password_step(client, bob) == "/login/code"
    assert bob.secret is not None
    old = pyotp.TOTP(encode_secret(bob.secret)).at(unix_time(clock.now()))
    assert post_form(client, "/login/code", {"code": old}).status_code == 400
    response = post_form(client, "/login/code", {"code": code_for(key, clock)})
    assert response.headers["location"] == SECURITY


def test_a_wrong_code_on_the_link_page_says_so_and_keeps_the_link(
    client: TestClient, runtime: Runtime, clock: FixedClock, bob: Person, link: str
) -> None:
    password_step(client, bob)
    page = client.get(link)
    near = {code_for(key_of(page), clock)}
    wrong = next(c for c in ("000000", "111111") if c not in near)
    response = post_form(client, link, {"code": wrong})
    assert response.status_code == 400
    assert "That code didn't match." in text_of(response)
    assert two_factor_state(runtime, bob) == (False, True)
    reenroll(client, clock, link)
    assert two_factor_state(runtime, bob) == (True, False)


def test_an_empty_code_on_the_link_page_says_what_to_enter(
    client: TestClient, bob: Person, link: str
) -> None:
    password_step(client, bob)
    response = post_form(client, link, {"code": "  "})
    assert response.status_code == 400
    assert "Enter the 6-digit code your app shows." in text_of(response)


def test_the_link_works_once(client: TestClient, clock: FixedClock, bob: Person, link: str) -> None:
    password_step(client, bob)
    reenroll(client, clock, link)
    response = client.get(link)
    assert response.status_code == 404
    assert "This link is not valid. It may have been used already or have expired." in text_of(
        response
    )


def test_a_used_link_cannot_reset_the_new_authenticator(
    client: TestClient, runtime: Runtime, clock: FixedClock, bob: Person, link: str
) -> None:
    password_step(client, bob)
    reenroll(client, clock, link)
    form_token = csrf_token(client, SECURITY)
    response = client.post(link, data={"code": "123456", "csrf_token": form_token})
    assert response.status_code == 404
    assert two_factor_state(runtime, bob) == (True, False)


def test_another_users_session_opening_the_link_is_refused(
    client: TestClient, runtime: Runtime, clock: FixedClock, bob: Person, link: str
) -> None:
    carol = member(runtime, "carol", with_totp=False)
    sign_in(client, carol)
    response = client.get(link)
    assert response.status_code == 403
    assert "This link is for another account." in text_of(response)
    assert 'id="setup-key"' not in response.text


def test_another_users_session_posting_to_the_link_changes_nothing(
    client: TestClient, runtime: Runtime, clock: FixedClock, bob: Person, link: str
) -> None:
    carol = member(runtime, "carol", with_totp=False)
    sign_in(client, carol)
    response = client.post(
        link, data={"code": "123456", "csrf_token": csrf_token(client, SECURITY)}
    )
    assert response.status_code == 403
    assert two_factor_state(runtime, bob) == (False, True)
    with browser(runtime) as bobs:
        password_step(bobs, bob)
        reenroll(bobs, clock, link)


@pytest.mark.parametrize("token", ["forged", "A" * 43, "x" * 400])
def test_a_forged_token_is_404(client: TestClient, bob: Person, link: str, token: str) -> None:
    assert client.get(f"/reenroll/{token}").status_code == 404
    password_step(client, bob)
    response = client.get(f"/reenroll/{token}")
    assert response.status_code == 404
    assert "This link is not valid." in text_of(response)


def test_the_link_expires_after_24_hours(
    client: TestClient, clock: FixedClock, bob: Person, link: str
) -> None:
    clock.advance(24 * 3600)
    password_step(client, bob)
    assert client.get(link).status_code == 404


# --- from the console to the member's email ------------------------------------------------


def test_from_the_console_reset_to_the_emailed_link_and_back(
    client: TestClient, runtime: Runtime, clock: FixedClock, boss: Person, bob: Person
) -> None:
    sign_in(client, boss, clock)
    response = post_form(client, f"/admin/members/{bob.id}/reset?org=acme", {"reason": "lost"})
    assert response.status_code == 303
    mailer = CapturingMailer()
    mail.deliver_pending(runtime, mailer)
    found = []
    for message in mailer.messages:
        part = message.get_body(("plain",))
        assert part is not None
        match = REENROLL_LINK.search(str(part.get_content()))  # type: ignore[attr-defined]
        if match:
            assert message["To"] == "bob@example.org"
            found.append(match.group(1))
    [path] = found
    with browser(runtime) as bobs:
        to_login = bobs.get(path)
        assert to_login.headers["location"] == f"/login?next={path}"
        back = post_form(
            bobs,
            to_login.headers["location"],
            {"login": bob.login, "password": bob.password, "next": path},
            action="/login",
        )
        assert back.headers["location"] == path
        assert "Save your recovery codes" in text_of(reenroll(bobs, clock, path))
        assert bobs.get(SECURITY).status_code == 200
    assert two_factor_state(runtime, bob) == (True, False)


def test_a_reset_member_of_an_organization_with_2fa_off_is_told_to_use_the_link(
    client: TestClient, runtime: Runtime, clock: FixedClock, boss: Person
) -> None:
    """2FA kept under an 'off' policy, then lost: the setup page must explain, not loop."""
    make_org(runtime, "quiet", TwoFactorPolicy.OPTIONAL)
    dora = member(runtime, "dora", "quiet")
    with runtime.db() as db:
        organizations.set_policy(
            db,
            runtime,
            organizations.get_organization(db, "quiet"),
            two_factor=TwoFactorPolicy.OFF,
            grace_days=None,
            sign_out_everyone=False,
        )
        db.commit()
    root = member(runtime, "root", "default")
    with runtime.db() as db:
        user = db.get(User, root.id)
        assert user is not None
        user.is_superadmin = True
        db.commit()
    path = reset_by(runtime, root, dora)
    assert password_step(client, dora) == SETUP
    response = client.get(SETUP)
    assert response.status_code == 403
    assert RESET_WORDS in text_of(response)
    assert client.get(path).status_code == 200  # the link itself works
