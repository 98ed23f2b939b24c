"""The authenticators on the security page (issue #12): listed by name, added with the
password and a current code, renamed, removed; the admin console and the CLI list them and
never show a secret."""

from __future__ import annotations

import re

import pyotp

from asgi_client import TestClient
from support import (
    STRONG_PASSWORD,
    Person,
    make_member,
    make_org,
    post_form,
    sign_in,
    snapshot,
    text_of,
)
from twofold.core.policy import Role, TwoFactorPolicy
from twofold.otp.clock import FixedClock, unix_time
from twofold.otp.secret import encode_secret
from twofold.services import users
from twofold.services.runtime import Runtime

SECURITY = "/account/security"
NEW = "/account/security/authenticators/new"
CONFIRM = "/account/security/authenticators/new/confirm"
SETUP_KEY = re.compile(r'id="setup-key"[^>]*>([A-Z2-7 ]+)<')


def plain(response: object) -> str:
    """The page's text as read: tags dropped, spaces collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", text_of(response)).split())  # type: ignore[arg-type]


def add_through_pages(client: TestClient, person: Person, clock: FixedClock, name: str) -> str:
    """Add an authenticator as a person does in the browser; returns its base32 key."""
    clock.advance(30)  # a step the person's app has not used yet
    response = post_form(
        client, NEW, {"name": name, "password": person.password, "code": person.totp(clock)}
    )
    assert response.status_code == 303, text_of(response)
    assert response.headers["location"] == CONFIRM
    page = client.get(CONFIRM)
    assert page.status_code == 200
    assert f"Add an authenticator: {name}" in text_of(page)
    match = SETUP_KEY.search(page.text)
    assert match, "no setup key on the confirm page"
    key = match.group(1).replace(" ", "")
    clock.advance(30)
    code = pyotp.TOTP(key).at(unix_time(clock.now()))
    done = post_form(client, CONFIRM, {"code": code})
    assert done.status_code == 303, text_of(done)
    assert done.headers["location"] == f"{SECURITY}?notice=authenticator_added"
    clock.advance(30)
    return key


def test_the_security_page_lists_the_authenticator_by_name(
    client: TestClient, clock: FixedClock, alice_with_totp: Person
) -> None:
    sign_in(client, alice_with_totp, clock)
    response = client.get(SECURITY)
    page = plain(response)
    assert "Authenticator app Authenticator app · added" in page
    assert "Add an authenticator" in page
    assert 'aria-label="Rename Authenticator app"' in response.text
    assert 'aria-label="Remove Authenticator app"' in response.text


def test_adding_a_second_authenticator_and_signing_in_with_it(
    client: TestClient, runtime: Runtime, clock: FixedClock, alice_with_totp: Person
) -> None:
    sign_in(client, alice_with_totp, clock)
    key = add_through_pages(client, alice_with_totp, clock, "Work phone")
    page = plain(client.get(f"{SECURITY}?notice=authenticator_added"))
    assert "Authenticator added." in page
    assert "Work phone Authenticator app · added" in page
    assert key not in page.replace(" ", "")  # shown during setup only

    client.cookies.clear()
    response = post_form(
        client, "/login", {"login": alice_with_totp.login, "password": STRONG_PASSWORD}
    )
    assert response.headers["location"] == "/login/code"
    code = pyotp.TOTP(key).at(unix_time(clock.now()))
    response = post_form(client, "/login/code", {"code": code})
    assert response.status_code == 303
    assert response.headers["location"] == SECURITY


def test_a_wrong_password_when_adding_says_so_and_changes_nothing(
    client: TestClient, runtime: Runtime, clock: FixedClock, alice_with_totp: Person
) -> None:
    sign_in(client, alice_with_totp, clock)
    before = snapshot(runtime, skip=("audit_events", "throttles", "users", "auth_sessions"))
    response = post_form(
        client,
        NEW,
        {"name": "Work phone", "password": "not it at all", "code": alice_with_totp.totp(clock)},
    )
    assert response.status_code == 400
    page = text_of(response)
    assert "That is not your current password." in page
    assert 'value="Work phone"' in page  # what was typed stays
    assert snapshot(runtime, skip=("audit_events", "throttles", "users", "auth_sessions")) == before


def test_a_missing_name_is_shown_next_to_the_name_field(
    client: TestClient, clock: FixedClock, alice_with_totp: Person
) -> None:
    sign_in(client, alice_with_totp, clock)
    response = post_form(
        client, NEW, {"name": " ", "password": STRONG_PASSWORD, "code": alice_with_totp.totp(clock)}
    )
    assert response.status_code == 400
    assert 'id="name-error"' in response.text
    assert "Give the authenticator a name" in text_of(response)


def test_renaming_through_the_page(
    client: TestClient, runtime: Runtime, clock: FixedClock, alice_with_totp: Person
) -> None:
    sign_in(client, alice_with_totp, clock)
    with runtime.db() as db:
        (only,) = users.methods_of(db, alice_with_totp.id)
    page = f"/account/security/authenticators/{only.id}/rename"
    response = post_form(client, page, {"name": "Pixel 9"})
    assert response.status_code == 303
    assert "Pixel 9 Authenticator app · added" in plain(client.get(SECURITY))
    refused = post_form(client, page, {"name": ""})
    assert refused.status_code == 400
    assert 'aria-invalid="true"' in refused.text


def test_anothers_authenticator_is_not_found(
    client: TestClient, runtime: Runtime, clock: FixedClock, alice_with_totp: Person
) -> None:
    make_org(runtime, "acme")
    bob = make_member(runtime, "bob", "acme", with_totp=True)
    with runtime.db() as db:
        (bobs,) = users.methods_of(db, bob.id)
    sign_in(client, alice_with_totp, clock)
    assert client.get(f"/account/security/authenticators/{bobs.id}/remove").status_code == 404
    assert client.get(f"/account/security/authenticators/{bobs.id}/rename").status_code == 404


def test_the_last_authenticator_under_a_required_policy_explains_how_to_move_phones(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    make_org(runtime, "bank", TwoFactorPolicy.REQUIRED, name="Bank")
    carol = make_member(runtime, "carol", "bank", with_totp=True)
    clock.advance(30)
    sign_in(client, carol, clock)
    with runtime.db() as db:
        (only,) = users.methods_of(db, carol.id)
    page = f"/account/security/authenticators/{only.id}/remove"
    shown = text_of(client.get(page))
    assert "required for Bank" in shown
    assert "add the new one first" in shown
    before = snapshot(runtime, skip=("audit_events", "throttles", "auth_sessions"))
    response = client.post(
        page,
        data={"password": STRONG_PASSWORD, "csrf_token": _csrf(client, SECURITY)},
    )
    assert response.status_code == 400
    assert snapshot(runtime, skip=("audit_events", "throttles", "auth_sessions")) == before


def test_moving_phones_under_a_required_policy_through_the_pages(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    make_org(runtime, "bank", TwoFactorPolicy.REQUIRED, name="Bank")
    carol = make_member(runtime, "carol", "bank", with_totp=True)
    clock.advance(30)
    sign_in(client, carol, clock)
    with runtime.db() as db:
        (old,) = users.methods_of(db, carol.id)
    add_through_pages(client, carol, clock, "New phone")
    response = post_form(
        client, f"/account/security/authenticators/{old.id}/remove", {"password": STRONG_PASSWORD}
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"{SECURITY}?notice=authenticator_removed"
    page = plain(client.get(SECURITY))
    assert "New phone Authenticator app · added" in page
    assert "Authenticator app Authenticator app · added" not in page


def test_the_admin_console_and_the_cli_list_methods_never_secrets(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    make_org(runtime, "acme")
    boss = make_member(runtime, "boss", "acme", role=Role.ADMIN, with_totp=True)
    bob = make_member(runtime, "bob", "acme", with_totp=True)
    clock.advance(30)
    sign_in(client, boss, clock)
    page = plain(client.get(f"/admin/members/{bob.id}?org=acme"))
    assert "Authenticator app (authenticator app)" in page
    assert bob.secret is not None
    assert encode_secret(bob.secret) not in page.replace(" ", "")


def _csrf(client: TestClient, path: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert match
    return match.group(1)
