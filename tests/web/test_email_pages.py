"""Confirming and changing an email address through the pages."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2 as httpx
import pytest
from sqlalchemy import select

from asgi_client import TestClient
from smtp_server import SmtpServer, running_smtp_server
from support import (
    STRONG_PASSWORD,
    Person,
    csrf_token,
    make_person,
    post_form,
    sign_in,
    snapshot,
    text_of,
)
from twofold.core.policy import TwoFactorPolicy
from twofold.otp.clock import FixedClock
from twofold.services import organizations
from twofold.services.runtime import Runtime
from twofold.store.models import OutgoingEmail, User

ALICE = "alice@example.org"
NEW = "alice.new@example.org"
INVALID_LINK = "This link is not valid. It may have been used already or have expired."
WRONG_PASSWORD = "That is not your current password. Try again."
CODE_MISMATCH = "That code didn't match."


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        yield server


@pytest.fixture
def alice(runtime: Runtime) -> Person:
    return make_person(runtime, "alice", email=ALICE)


@pytest.fixture
def alice_2fa(runtime: Runtime, clock: FixedClock) -> Person:
    person = make_person(runtime, "alice", email=ALICE, with_totp=True)
    clock.advance(30)
    return person


def user_row(runtime: Runtime, login: str) -> User:
    with runtime.db() as db:
        user = db.scalar(select(User).where(User.login == login))
        assert user is not None
        return user


def unsent(runtime: Runtime) -> list[OutgoingEmail]:
    with runtime.db() as db:
        return list(db.scalars(select(OutgoingEmail).where(OutgoingEmail.sent_at.is_(None))))


def ask_for_change(
    client: TestClient, new: str, password: str, code: str | None = None
) -> httpx.Response:
    data = {"new_email": new, "password": password}
    if code is not None:
        data["code"] = code
    return post_form(client, "/account/email", data)


def verify_path(runtime: Runtime, smtp: SmtpServer, address: str) -> str:
    smtp.deliver(runtime)
    path = smtp.only("confirm your email address", address).path
    assert path.startswith("/email/verify/")
    return path


def test_sign_up_sends_a_link_and_the_address_counts_only_once_confirmed(
    client: TestClient, runtime: Runtime, smtp: SmtpServer
) -> None:
    with runtime.db() as db:
        organizations.create_organization(
            db,
            runtime,
            slug="club",
            name="Club",
            two_factor=TwoFactorPolicy.OPTIONAL,
            signup_open=True,
        )
        db.commit()
    response = post_form(
        client,
        "/signup/club",
        {"login": "newbie", "email": "newbie@example.org", "password": STRONG_PASSWORD},
    )
    assert response.status_code == 200
    refused = post_form(client, "/login", {"login": "newbie", "password": STRONG_PASSWORD})
    assert refused.status_code == 400
    assert "Open the confirmation link we emailed you first." in text_of(refused)
    path = verify_path(runtime, smtp, "newbie@example.org")
    assert user_row(runtime, "newbie").email_verified_at is None
    confirmed = post_form(client, path, {})
    assert confirmed.status_code == 200
    assert "Email address confirmed" in text_of(confirmed)
    assert user_row(runtime, "newbie").email_verified_at is not None
    signed_in = post_form(client, "/login", {"login": "newbie", "password": STRONG_PASSWORD})
    assert signed_in.status_code == 303
    page = text_of(client.get("/account/security"))
    assert "newbie@example.org" in page
    assert "(not confirmed yet)" not in page


def test_opening_the_link_shows_a_confirm_button_and_does_not_use_it(
    client: TestClient, runtime: Runtime, alice: Person, smtp: SmtpServer
) -> None:
    sign_in(client, alice)
    ask_for_change(client, NEW, alice.password)
    path = verify_path(runtime, smtp, NEW)
    client.cookies.clear()  # a mail scanner, without the person's cookies
    before = snapshot(runtime)
    for _ in range(2):
        page = client.get(path)
        assert page.status_code == 200
        assert f"Confirm that <strong>{NEW}</strong> belongs to the account" in page.text
        assert "Confirm email address" in text_of(page)
    assert snapshot(runtime) == before
    assert user_row(runtime, "alice").email == ALICE


def test_confirming_changes_the_address_and_tells_the_old_one(
    client: TestClient, runtime: Runtime, alice: Person, smtp: SmtpServer
) -> None:
    sign_in(client, alice)
    ask_for_change(client, NEW, alice.password)
    path = verify_path(runtime, smtp, NEW)
    smtp.clear()
    response = post_form(client, path, {})
    assert response.status_code == 200
    assert f"now go to <strong>{NEW}</strong>" in response.text
    assert user_row(runtime, "alice").email == NEW
    smtp.deliver(runtime)
    smtp.only("email address changed", ALICE)


def test_the_link_works_without_being_signed_in(
    client: TestClient, runtime: Runtime, alice: Person, smtp: SmtpServer
) -> None:
    sign_in(client, alice)
    ask_for_change(client, NEW, alice.password)
    path = verify_path(runtime, smtp, NEW)
    with TestClient(client.app, follow_redirects=False) as phone:
        assert post_form(phone, path, {}).status_code == 200
    assert user_row(runtime, "alice").email == NEW


def test_a_used_link_gets_a_clear_page_and_changes_nothing(
    client: TestClient, runtime: Runtime, alice: Person, smtp: SmtpServer
) -> None:
    sign_in(client, alice)
    ask_for_change(client, NEW, alice.password)
    path = verify_path(runtime, smtp, NEW)
    token = csrf_token(client, path)
    post_form(client, path, {})
    before = snapshot(runtime)
    assert client.get(path).status_code == 404
    again = client.post(path, data={"csrf_token": token})
    assert again.status_code == 404
    assert INVALID_LINK in text_of(again)
    assert snapshot(runtime) == before


def test_an_expired_link_gets_a_clear_page_and_changes_nothing(
    client: TestClient, runtime: Runtime, alice: Person, smtp: SmtpServer, clock: FixedClock
) -> None:
    sign_in(client, alice)
    ask_for_change(client, NEW, alice.password)
    path = verify_path(runtime, smtp, NEW)
    clock.advance(24 * 3600)
    before = snapshot(runtime, skip=("auth_sessions",))
    page = client.get(path)
    assert page.status_code == 404
    assert INVALID_LINK in text_of(page)
    token = csrf_token(client, "/login")
    assert client.post(path, data={"csrf_token": token}).status_code == 404
    assert snapshot(runtime, skip=("auth_sessions",)) == before
    assert user_row(runtime, "alice").email == ALICE


@pytest.mark.parametrize("forged", ["x", "A" * 43, "a" * 200])
def test_a_forged_link_gets_a_clear_page_and_changes_nothing(
    client: TestClient, runtime: Runtime, alice: Person, forged: str
) -> None:
    before = snapshot(runtime)
    page = client.get(f"/email/verify/{forged}")
    assert page.status_code == 404
    assert INVALID_LINK in text_of(page)
    token = csrf_token(client, "/login")
    assert client.post(f"/email/verify/{forged}", data={"csrf_token": token}).status_code == 404
    assert snapshot(runtime) == before


def test_another_persons_link_opened_while_signed_in_gets_a_clear_page_and_changes_nothing(
    client: TestClient, runtime: Runtime, alice: Person, smtp: SmtpServer
) -> None:
    bob = make_person(runtime, "bob", email="bob@example.org")
    sign_in(client, alice)
    ask_for_change(client, NEW, alice.password)
    path = verify_path(runtime, smtp, NEW)
    client.cookies.clear()
    sign_in(client, bob)
    token = csrf_token(client, "/account/security")
    before = snapshot(runtime)
    page = client.get(path)
    assert page.status_code == 404
    assert "for another account" in text_of(page)
    assert client.post(path, data={"csrf_token": token}).status_code == 404
    assert snapshot(runtime) == before


def test_confirming_needs_the_csrf_token(
    client: TestClient, runtime: Runtime, alice: Person, smtp: SmtpServer
) -> None:
    sign_in(client, alice)
    ask_for_change(client, NEW, alice.password)
    path = verify_path(runtime, smtp, NEW)
    before = snapshot(runtime)
    assert client.post(path, data={}).status_code == 403
    assert snapshot(runtime) == before


def test_the_email_page_needs_sign_in(client: TestClient) -> None:
    assert client.get("/account/email").headers["location"] == "/login"


def test_a_change_asks_for_the_password(
    client: TestClient, runtime: Runtime, alice: Person
) -> None:
    sign_in(client, alice)
    page = client.get("/account/email")
    assert 'name="password"' in page.text
    assert 'name="code"' not in page.text
    before = len(unsent(runtime))
    response = ask_for_change(client, NEW, "not my password at all")
    assert response.status_code == 400
    assert WRONG_PASSWORD in text_of(response)
    assert f'value="{NEW}"' in response.text
    assert len(unsent(runtime)) == before
    assert user_row(runtime, "alice").email == ALICE


def test_with_2fa_a_change_asks_for_the_code(
    client: TestClient, runtime: Runtime, alice_2fa: Person, clock: FixedClock
) -> None:
    sign_in(client, alice_2fa, clock)
    assert 'name="code"' in client.get("/account/email").text
    response = ask_for_change(client, NEW, alice_2fa.password)
    assert response.status_code == 400
    assert "Enter the code from your authenticator app." in text_of(response)


def test_a_wrong_code_is_refused_clearly_and_counted_toward_the_lock(
    client: TestClient, runtime: Runtime, alice_2fa: Person, clock: FixedClock
) -> None:
    sign_in(client, alice_2fa, clock)
    clock.advance(30)
    before = len(unsent(runtime))
    near = {alice_2fa.totp(clock, offset) for offset in (-1, 0, 1)}
    wrong = next(c for c in ("000000", "111111", "222222") if c not in near)
    response = ask_for_change(client, NEW, alice_2fa.password, wrong)
    assert response.status_code == 400
    assert CODE_MISMATCH in text_of(response)
    assert 'id="code-error"' in response.text
    assert user_row(runtime, "alice").failed_code_count == 1
    assert len(unsent(runtime)) == before


def test_ten_wrong_codes_lock_and_say_so(
    client: TestClient, runtime: Runtime, alice_2fa: Person, clock: FixedClock
) -> None:
    sign_in(client, alice_2fa, clock)
    clock.advance(30)
    near = {alice_2fa.totp(clock, offset) for offset in (-1, 0, 1)}
    wrong = next(c for c in ("000000", "111111", "222222") if c not in near)
    for _ in range(9):
        assert ask_for_change(client, NEW, alice_2fa.password, wrong).status_code == 400
    locked = ask_for_change(client, NEW, alice_2fa.password, wrong)
    assert locked.status_code == 429
    assert "Too many wrong codes" in text_of(locked)
    assert user_row(runtime, "alice").code_locked_until is not None


def test_the_right_code_sends_the_link_and_tells_the_old_address(
    client: TestClient, runtime: Runtime, alice_2fa: Person, smtp: SmtpServer, clock: FixedClock
) -> None:
    sign_in(client, alice_2fa, clock)
    clock.advance(30)
    smtp.deliver(runtime)
    smtp.clear()
    response = ask_for_change(client, NEW, alice_2fa.password, alice_2fa.totp(clock))
    assert response.status_code == 200
    assert f"We sent a confirmation link to {NEW}." in text_of(response)
    assert user_row(runtime, "alice").email == ALICE  # not yet: only when the link is used
    smtp.deliver(runtime)
    told = smtp.only("email address change requested", ALICE)
    assert NEW in told.text
    smtp.only("confirm your email address", NEW)


def test_an_address_another_account_uses_is_refused(
    client: TestClient, runtime: Runtime, alice: Person
) -> None:
    make_person(runtime, "bob", email="bob@example.org")
    sign_in(client, alice)
    before = len(unsent(runtime))
    response = ask_for_change(client, "bob@example.org", alice.password)
    assert response.status_code == 400
    assert "Another account uses that email address." in text_of(response)
    assert 'id="new_email-error"' in response.text
    assert len(unsent(runtime)) == before


def test_a_malformed_address_is_refused(
    client: TestClient, runtime: Runtime, alice: Person
) -> None:
    sign_in(client, alice)
    response = ask_for_change(client, "not an address", alice.password)
    assert response.status_code == 400
    assert 'id="new_email-error"' in response.text
    assert user_row(runtime, "alice").email == ALICE


def test_the_change_form_needs_its_csrf_token(
    client: TestClient, runtime: Runtime, alice: Person
) -> None:
    sign_in(client, alice)
    client.get("/account/email")
    before = snapshot(runtime)
    response = client.post("/account/email", data={"new_email": NEW, "password": alice.password})
    assert response.status_code == 403
    assert snapshot(runtime) == before
