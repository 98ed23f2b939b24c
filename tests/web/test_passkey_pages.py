"""Security keys and passkeys through the pages (issue #14): added from the security page,
offered first at the code prompt, passwordless from the login page; bad answers (garbage,
expired, replayed, another origin or RP id, an unknown key, a long name) are each a clear
error, store nothing and are never a 500."""

from __future__ import annotations

import html
import json
import re

import pytest
from sqlalchemy import select, update

from asgi_client import TestClient
from passkey_steps import set_passkeys
from soft_webauthn import SoftAuthenticator, b64url
from support import Person, post_form, sign_in, snapshot, text_of
from twofold.otp.clock import FixedClock
from twofold.services import users
from twofold.services.runtime import Runtime
from twofold.store.models import Organization
from twofold.web.rendering import REMEMBER_COOKIE, SESSION_COOKIE

SECURITY = "/account/security"
NEW = "/account/security/passkeys/new"
FINISH = "/account/security/passkeys/new/finish"
OPTIONS = re.compile(r'data-options="([^"]+)"')
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
UNCHANGED = ("audit_events", "webauthn_challenges", "throttles", "auth_sessions")


def plain(response: object) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", text_of(response)).split())  # type: ignore[arg-type]


def csrf_of(page: object) -> str:
    match = CSRF.search(page.text)  # type: ignore[attr-defined]
    assert match
    return match.group(1)


def start_adding(client: TestClient, person: Person, clock: FixedClock, name: str) -> tuple:
    """The first form; returns (the options on the ceremony page, its CSRF token)."""
    clock.advance(30)
    page = post_form(
        client, NEW, {"name": name, "password": person.password, "code": person.totp(clock)}
    )
    assert page.status_code == 200, plain(page)
    match = OPTIONS.search(page.text)
    assert match, plain(page)
    return html.unescape(match.group(1)), csrf_of(page)


def add_through_pages(
    client: TestClient, person: Person, clock: FixedClock, key: SoftAuthenticator, name: str
) -> None:
    options, token = start_adding(client, person, clock, name)
    done = client.post(
        FINISH, data={"csrf_token": token, "name": name, "response": key.register(options)}
    )
    assert done.status_code == 303, plain(done)
    assert done.headers["location"] == f"{SECURITY}?notice=passkey_added"


def prompt_options(client: TestClient) -> str:
    page = client.get("/login/passkey")
    assert page.status_code == 200, plain(page)
    options = client.post("/login/passkey/options", data={"csrf_token": csrf_of(page)})
    assert options.status_code == 200, options.text
    return options.text


@pytest.fixture
def alice_signed_in(
    client: TestClient, runtime: Runtime, clock: FixedClock, alice_with_totp: Person
) -> Person:
    sign_in(client, alice_with_totp, clock)
    return alice_with_totp


def test_a_key_is_added_listed_and_offered_first_at_the_next_sign_in(
    client: TestClient, runtime: Runtime, clock: FixedClock, alice_signed_in: Person
) -> None:
    key = SoftAuthenticator()
    add_through_pages(client, alice_signed_in, clock, key, "YubiKey")
    page = plain(client.get(f"{SECURITY}?notice=passkey_added"))
    assert "Security key or passkey added" in page
    assert "YubiKey" in page
    assert "Security key or device-bound passkey" in page

    client.cookies.clear()
    login = post_form(
        client, "/login", {"login": alice_signed_in.login, "password": alice_signed_in.password}
    )
    assert login.headers["location"] == "/login/code"
    assert client.get("/login/code").headers["location"] == "/login/passkey"
    prompt = client.get("/login/passkey")
    assert "Use your authenticator app instead" in plain(prompt)
    assert client.get("/login/code?other=1").status_code == 200
    options = client.post("/login/passkey/options", data={"csrf_token": csrf_of(prompt)})
    done = client.post(
        "/login/passkey",
        data={"csrf_token": csrf_of(prompt), "response": key.assertion(options.text)},
    )
    assert done.status_code == 303, plain(done)
    assert done.headers["location"] == SECURITY
    assert client.get(SECURITY).status_code == 200


def test_rename_and_remove(
    client: TestClient, runtime: Runtime, clock: FixedClock, alice_signed_in: Person
) -> None:
    add_through_pages(client, alice_signed_in, clock, SoftAuthenticator(), "YubiKey")
    with runtime.db() as db:
        [passkey] = users.passkeys_of(db, alice_signed_in.id)
    base = f"/account/security/passkeys/{passkey.id}"
    too_long = post_form(client, f"{base}/rename", {"name": "x" * 65})
    assert too_long.status_code == 400
    assert "1 to 64 characters" in plain(too_long)
    renamed = post_form(client, f"{base}/rename", {"name": "Blue key"})
    assert renamed.headers["location"] == f"{SECURITY}?notice=passkey_renamed"
    wrong = post_form(client, f"{base}/remove", {"password": "not it"})
    assert wrong.status_code == 400
    gone = post_form(client, f"{base}/remove", {"password": alice_signed_in.password})
    assert gone.headers["location"] == f"{SECURITY}?notice=passkey_removed"
    # Removing a method forgets every remembered browser: this one's cookie goes too.
    assert f'{REMEMBER_COOKIE}=""' in gone.headers["set-cookie"]
    with runtime.db() as db:
        assert users.passkeys_of(db, alice_signed_in.id) == []
    assert client.get(f"{base}/rename").status_code == 404


def test_the_first_form_refuses_a_long_name_and_a_wrong_code(
    client: TestClient, runtime: Runtime, clock: FixedClock, alice_signed_in: Person
) -> None:
    before = snapshot(runtime, skip=(*UNCHANGED, "users"))
    long_name = post_form(
        client,
        NEW,
        {"name": "x" * 65, "password": alice_signed_in.password, "code": "123456"},
    )
    assert long_name.status_code == 400
    assert "1 to 64 characters" in plain(long_name)
    wrong_code = post_form(
        client, NEW, {"name": "Key", "password": alice_signed_in.password, "code": "000000"}
    )
    assert wrong_code.status_code == 400
    assert 'id="code-error"' in wrong_code.text
    assert snapshot(runtime, skip=(*UNCHANGED, "users")) == before


def bent_registration(options: str, bend: str) -> str:
    key = SoftAuthenticator()
    if bend == "origin":
        return key.register(options, origin="https://evil.example")
    if bend == "rp_id":
        return key.register(options, rp_id="evil.example")
    if bend == "challenge":
        return key.register(options, challenge=b"z" * 32)
    if bend == "garbage":
        return '{"id": "x", "response": {"clientDataJSON": "!!"}}'
    if bend == "not json":
        return "{{{"
    return ""


@pytest.mark.parametrize("bend", ["origin", "rp_id", "challenge", "garbage", "not json", ""])
def test_a_bad_registration_answer_is_a_clear_error_and_stores_nothing(
    client: TestClient, runtime: Runtime, clock: FixedClock, alice_signed_in: Person, bend: str
) -> None:
    options, token = start_adding(client, alice_signed_in, clock, "Key")
    before = snapshot(runtime, skip=UNCHANGED)
    done = client.post(
        FINISH,
        data={"csrf_token": token, "name": "Key", "response": bent_registration(options, bend)},
    )
    assert done.status_code in (400, 401), plain(done)
    assert "Add a security key or passkey" in plain(done)
    assert snapshot(runtime, skip=UNCHANGED) == before


def test_a_registration_answer_twice_or_after_five_minutes_is_refused(
    client: TestClient, runtime: Runtime, clock: FixedClock, alice_signed_in: Person
) -> None:
    key = SoftAuthenticator()
    options, token = start_adding(client, alice_signed_in, clock, "Key")
    clock.advance(301)
    late = client.post(
        FINISH, data={"csrf_token": token, "name": "Key", "response": key.register(options)}
    )
    assert late.status_code == 400
    assert "expired or was used already" in plain(late)
    options, token = start_adding(client, alice_signed_in, clock, "Key")
    answer = key.register(options)
    first = client.post(FINISH, data={"csrf_token": token, "name": "Key", "response": answer})
    assert first.status_code == 303
    again = client.post(FINISH, data={"csrf_token": token, "name": "Key", "response": answer})
    assert again.status_code == 400
    with runtime.db() as db:
        assert len(users.passkeys_of(db, alice_signed_in.id)) == 1


@pytest.mark.parametrize("bend", ["origin", "rp_id", "unknown", "garbage", "replay", "missing"])
def test_a_bad_answer_at_the_prompt_is_a_clear_error(
    client: TestClient, runtime: Runtime, clock: FixedClock, alice_signed_in: Person, bend: str
) -> None:
    key = SoftAuthenticator()
    add_through_pages(client, alice_signed_in, clock, key, "YubiKey")
    client.cookies.clear()
    post_form(
        client, "/login", {"login": alice_signed_in.login, "password": alice_signed_in.password}
    )
    options = prompt_options(client)
    if bend == "origin":
        answer = key.assertion(options, origin="https://evil.example")
    elif bend == "rp_id":
        answer = key.assertion(options, rp_id="evil.example")
    elif bend == "unknown":
        stranger = SoftAuthenticator()
        stranger.register(
            json.dumps(
                {"rp": {"id": "localhost"}, "user": {"id": "eA"}, "challenge": b64url(b"c" * 32)}
            )
        )
        answer = stranger.assertion(options, credential_id=next(iter(stranger.credentials)))
    elif bend == "garbage":
        answer = "not json at all"
    elif bend == "replay":
        answer = key.assertion(options)
        token = csrf_of(client.get("/login/passkey"))
        client.post("/login/passkey", data={"csrf_token": token, "response": answer})
        client.cookies.clear()
        post_form(
            client, "/login", {"login": alice_signed_in.login, "password": alice_signed_in.password}
        )
    else:
        answer = ""
    before = snapshot(runtime, skip=UNCHANGED)
    page = client.get("/login/passkey")
    done = client.post("/login/passkey", data={"csrf_token": csrf_of(page), "response": answer})
    assert done.status_code == 400, plain(done)
    assert "Use your security key or passkey" in plain(done)
    assert snapshot(runtime, skip=UNCHANGED) == before


def test_passwordless_from_the_login_page_by_policy(
    client: TestClient, runtime: Runtime, clock: FixedClock, alice_signed_in: Person
) -> None:
    key = SoftAuthenticator()
    add_through_pages(client, alice_signed_in, clock, key, "Laptop")
    client.cookies.clear()
    login = client.get("/login")
    assert "Sign in with a passkey" not in login.text
    set_passkeys(runtime, "default", "passwordless")
    login = client.get("/login")
    assert 'autocomplete="username webauthn"' in login.text
    assert "Sign in with a passkey" in login.text
    token = csrf_of(login)
    options = client.post("/login/passkey/start", data={"csrf_token": token})
    assert options.status_code == 200
    assert json.loads(options.text)["userVerification"] == "required"
    done = client.post(
        "/login/passkey/finish", data={"csrf_token": token, "response": key.assertion(options.text)}
    )
    assert done.status_code == 303, plain(done)
    assert done.headers["location"] == SECURITY
    assert client.get(SECURITY).status_code == 200
    # Back to second-factor only: the login page says to type the password.
    client.cookies.clear()
    set_passkeys(runtime, "default", "second-factor")
    login = client.get("/login")
    token = csrf_of(login)
    options = client.post("/login/passkey/start", data={"csrf_token": token})
    refused = client.post(
        "/login/passkey/finish", data={"csrf_token": token, "response": key.assertion(options.text)}
    )
    assert refused.status_code == 400
    assert "not allowed for your account" in plain(refused)


def test_options_need_the_csrf_token(client: TestClient) -> None:
    assert client.post("/login/passkey/start", data={}).status_code == 403


def test_admins_and_operators_see_names_and_kinds_never_key_material(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    from passkey_steps import add_passkey
    from support import make_member, make_org
    from twofold.cli.users import method_line
    from twofold.core.policy import Role
    from twofold.store.models import User, WebAuthnCredential

    make_org(runtime, "acme")
    boss = make_member(runtime, "boss", "acme", role=Role.ADMIN, with_totp=True)
    bob = make_member(runtime, "bob", "acme", with_totp=True)
    clock.advance(30)
    add_passkey(runtime, clock, bob, SoftAuthenticator(), name="Blue key")
    add_passkey(runtime, clock, bob, SoftAuthenticator(backup_eligible=True), name="Phone")
    sign_in(client, boss, clock)
    page = plain(client.get(f"/admin/members/{bob.id}?org=acme"))
    assert "Blue key (security key or passkey)" in page
    assert "Phone (synced passkey)" in page
    with runtime.db() as db:
        user = db.get(User, bob.id)
        assert user is not None
        status = users.describe(db, runtime, user)
        keys = list(db.scalars(select(WebAuthnCredential)))
    lines = [method_line(m) for m in status.methods]
    assert len(lines) == 3
    assert lines[1].startswith("Blue key (security key or passkey), added ")
    for key in keys:
        assert b64url(key.credential_id) not in page
        assert b64url(key.public_key) not in page
        assert all(b64url(key.credential_id) not in line for line in lines)


def test_the_key_prompt_offers_to_remember_the_browser_where_the_organization_does(
    client: TestClient, runtime: Runtime, clock: FixedClock, alice_signed_in: Person
) -> None:
    key = SoftAuthenticator()
    add_through_pages(client, alice_signed_in, clock, key, "YubiKey")
    with runtime.db() as db:
        db.execute(
            update(Organization).where(Organization.slug == "default").values(remember_days=7)
        )
        db.commit()
    client.cookies.clear()
    person = alice_signed_in
    post_form(client, "/login", {"login": person.login, "password": person.password})
    prompt = client.get("/login/passkey")
    assert "Don't ask for a code on this browser for 7 days" in plain(prompt)
    options = client.post("/login/passkey/options", data={"csrf_token": csrf_of(prompt)})
    done = client.post(
        "/login/passkey",
        data={
            "csrf_token": csrf_of(prompt),
            "response": key.assertion(options.text),
            "remember": "1",
        },
    )
    assert done.headers["location"] == SECURITY
    remembered = client.cookies.get(REMEMBER_COOKIE)
    assert remembered
    session_cookie = client.cookies.get(SESSION_COOKIE)
    client.cookies.clear()
    client.cookies.set(REMEMBER_COOKIE, remembered)
    again = post_form(client, "/login", {"login": person.login, "password": person.password})
    assert again.headers["location"] == SECURITY  # neither key nor code asked this time
    assert client.cookies.get(SESSION_COOKIE) != session_cookie
