"""Password reset through the pages: the same answer for every address, a link that a mail
scanner cannot use up, and a reset that never signs in directly or turns 2FA off."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx2 as httpx
import pytest
from sqlalchemy import select

from apps import browser
from asgi_client import TestClient
from smtp_server import SmtpServer, running_smtp_server
from support import (
    OTHER_STRONG_PASSWORD,
    STRONG_PASSWORD,
    Person,
    csrf_token,
    make_person,
    post_form,
    sign_in,
    snapshot,
    text_of,
)
from twofold.core.words import translate
from twofold.otp.clock import FixedClock
from twofold.services import users
from twofold.services.runtime import Runtime
from twofold.store.models import OutgoingEmail, User
from twofold.web.pages.recovery_links import RESET_SENT
from twofold.web.rendering import SESSION_COOKIE

ALICE = "alice@example.org"
INVALID_LINK = "This link is not valid. It may have been used already or have expired."
CSRF_VALUE = re.compile(r'name="csrf_token" value="[^"]*"')


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


def forgot(client: TestClient, address: str) -> httpx.Response:
    return post_form(client, "/password/forgot", {"email": address}, action="/password/forgot")


def reset_path(client: TestClient, runtime: Runtime, smtp: SmtpServer, address: str) -> str:
    """Ask for a link on the page and read it from the message that arrives."""
    smtp.clear()
    assert forgot(client, address).status_code == 200
    smtp.deliver(runtime)
    path = smtp.only("reset your password", address).path
    assert path.startswith("/password/reset/")
    return path


def set_password(
    client: TestClient, path: str, new: str, confirm: str | None = None
) -> httpx.Response:
    return post_form(
        client, path, {"new_password": new, "confirm_password": new if confirm is None else confirm}
    )


def password_works(runtime: Runtime, login: str, password: str) -> bool:
    with runtime.db() as db:
        user = db.scalar(select(User).where(User.login == login))
        assert user is not None
        return runtime.hasher.verify(user.password_hash, password)


def queued(runtime: Runtime) -> list[OutgoingEmail]:
    with runtime.db() as db:
        return list(db.scalars(select(OutgoingEmail)))


def without_csrf(page: str) -> str:
    return CSRF_VALUE.sub("", page)


def test_the_sign_in_page_offers_forgot_your_password(client: TestClient) -> None:
    page = client.get("/login").text
    assert '<a href="/password/forgot">Forgot your password?</a>' in page
    form = client.get("/password/forgot")
    assert form.status_code == 200
    assert "Two-factor authentication stays on" in text_of(form)


def test_the_answer_is_the_same_for_a_verified_an_unknown_and_an_unverified_address(
    client: TestClient, runtime: Runtime, alice: Person
) -> None:
    with runtime.db() as db:
        users.create_user(
            db, runtime, login="carol", password=STRONG_PASSWORD, email="carol@example.org"
        )
        db.commit()
    answers = [
        forgot(client, address) for address in (ALICE, "nobody@example.org", "carol@example.org")
    ]
    assert {a.status_code for a in answers} == {200}
    assert len({without_csrf(a.text) for a in answers}) == 1
    assert translate(RESET_SENT) in text_of(answers[0])
    [message] = queued(runtime)
    assert message.recipient == ALICE


def test_asking_for_a_link_does_not_contact_the_mail_server(
    client: TestClient, runtime: Runtime, alice: Person, smtp: SmtpServer
) -> None:
    forgot(client, ALICE)
    assert smtp.received == []
    assert not runtime.settings.outbox_dir.exists()
    [message] = queued(runtime)
    assert message.sent_at is None


def test_an_empty_address_gets_a_message(client: TestClient, runtime: Runtime) -> None:
    response = forgot(client, "   ")
    assert response.status_code == 400
    assert "Enter the email address of your account." in text_of(response)
    assert queued(runtime) == []


def test_the_forgot_form_needs_its_csrf_token(
    client: TestClient, runtime: Runtime, alice: Person
) -> None:
    client.get("/password/forgot")
    response = client.post("/password/forgot", data={"email": ALICE})
    assert response.status_code == 403
    assert queued(runtime) == []


def test_opening_the_link_shows_the_form_and_does_not_use_it_up(
    client: TestClient, runtime: Runtime, alice: Person, smtp: SmtpServer
) -> None:
    path = reset_path(client, runtime, smtp, ALICE)
    before = snapshot(runtime)
    for _ in range(2):  # a mail scanner, then the person
        page = client.get(path)
        assert page.status_code == 200
        assert "Choose a new password" in text_of(page)
        assert "For the account <strong>alice</strong>" in page.text
        assert 'name="new_password"' in page.text
    assert snapshot(runtime) == before
    response = set_password(client, path, OTHER_STRONG_PASSWORD)
    assert response.status_code == 303


def test_a_weak_password_keeps_the_link_usable_and_changes_nothing(
    client: TestClient, runtime: Runtime, alice: Person, smtp: SmtpServer
) -> None:
    path = reset_path(client, runtime, smtp, ALICE)
    before = snapshot(runtime)
    response = set_password(client, path, "password123")
    assert response.status_code == 400
    assert 'id="new_password-error"' in response.text
    assert snapshot(runtime) == before
    assert client.get(path).status_code == 200
    assert set_password(client, path, OTHER_STRONG_PASSWORD).status_code == 303


def test_two_different_passwords_keep_the_link_usable_and_change_nothing(
    client: TestClient, runtime: Runtime, alice: Person, smtp: SmtpServer
) -> None:
    path = reset_path(client, runtime, smtp, ALICE)
    before = snapshot(runtime)
    response = set_password(client, path, OTHER_STRONG_PASSWORD, "a different passphrase here")
    assert response.status_code == 400
    assert "The two new passwords are not the same." in text_of(response)
    assert snapshot(runtime) == before
    assert password_works(runtime, "alice", STRONG_PASSWORD)
    assert client.get(path).status_code == 200


def test_with_2fa_a_reset_ends_at_the_code_prompt_and_2fa_stays_on(
    client: TestClient, runtime: Runtime, alice_2fa: Person, smtp: SmtpServer, clock: FixedClock
) -> None:
    path = reset_path(client, runtime, smtp, ALICE)
    response = set_password(client, path, OTHER_STRONG_PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/login/code"
    # a password-only session: the account is out of reach until the code is given
    for page in ("/account/security", "/account/email", "/account/password"):
        assert client.get(page).headers["location"] == "/login/code"
    with runtime.db() as db:
        assert users.has_two_factor(db, alice_2fa.id)
    response = post_form(client, "/login/code", {"code": alice_2fa.totp(clock)})
    assert response.headers["location"] == "/account/security"
    assert "On — you sign in" in text_of(client.get("/account/security"))


def test_without_2fa_a_reset_goes_to_sign_in_without_signing_in(
    client: TestClient, runtime: Runtime, alice: Person, smtp: SmtpServer
) -> None:
    path = reset_path(client, runtime, smtp, ALICE)
    response = set_password(client, path, OTHER_STRONG_PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?notice=password_reset"
    assert SESSION_COOKIE not in response.cookies
    assert client.get("/account/security").headers["location"] == "/login"
    notice = text_of(client.get("/login?notice=password_reset"))
    assert "Your new password is set and all sessions were signed out." in notice
    sign_in(client, Person(id=alice.id, login="alice", password=OTHER_STRONG_PASSWORD))


def test_a_reset_signs_out_every_other_browser_of_the_account(
    client: TestClient, runtime: Runtime, alice: Person, smtp: SmtpServer
) -> None:
    with browser(runtime) as laptop:
        sign_in(laptop, alice)
        assert laptop.get("/account/security").status_code == 200
        path = reset_path(client, runtime, smtp, ALICE)
        set_password(client, path, OTHER_STRONG_PASSWORD)
        assert laptop.get("/account/security").headers["location"] == "/login"


def test_a_used_link_gets_a_clear_page_and_changes_nothing(
    client: TestClient, runtime: Runtime, alice: Person, smtp: SmtpServer
) -> None:
    path = reset_path(client, runtime, smtp, ALICE)
    token = csrf_token(client, path)
    set_password(client, path, OTHER_STRONG_PASSWORD)
    before = snapshot(runtime)
    page = client.get(path)
    assert page.status_code == 404
    assert INVALID_LINK in text_of(page)
    again = client.post(
        path,
        data={
            "new_password": "yet another fine passphrase",
            "confirm_password": "yet another fine passphrase",
            "csrf_token": token,
        },
    )
    assert again.status_code == 404
    assert INVALID_LINK in text_of(again)
    assert snapshot(runtime) == before


def test_a_link_older_than_30_minutes_gets_a_clear_page_and_changes_nothing(
    client: TestClient, runtime: Runtime, alice: Person, smtp: SmtpServer, clock: FixedClock
) -> None:
    path = reset_path(client, runtime, smtp, ALICE)
    clock.advance(29 * 60 + 59)
    assert client.get(path).status_code == 200
    token = csrf_token(client, path)
    clock.advance(1)
    before = snapshot(runtime)
    assert client.get(path).status_code == 404
    response = client.post(
        path,
        data={
            "new_password": OTHER_STRONG_PASSWORD,
            "confirm_password": OTHER_STRONG_PASSWORD,
            "csrf_token": token,
        },
    )
    assert response.status_code == 404
    assert INVALID_LINK in text_of(response)
    assert snapshot(runtime) == before


@pytest.mark.parametrize("forged", ["x", "A" * 43, "Zm9yZ2Vk" * 6, "a" * 200])
def test_a_forged_link_gets_a_clear_page_and_changes_nothing(
    client: TestClient, runtime: Runtime, alice: Person, forged: str
) -> None:
    before = snapshot(runtime)
    page = client.get(f"/password/reset/{forged}")
    assert page.status_code == 404
    assert INVALID_LINK in text_of(page)
    token = csrf_token(client, "/login")
    response = client.post(
        f"/password/reset/{forged}",
        data={
            "new_password": OTHER_STRONG_PASSWORD,
            "confirm_password": OTHER_STRONG_PASSWORD,
            "csrf_token": token,
        },
    )
    assert response.status_code == 404
    assert snapshot(runtime) == before


def test_a_verification_link_does_not_work_as_a_reset_link(
    client: TestClient, runtime: Runtime, alice: Person, smtp: SmtpServer
) -> None:
    sign_in(client, alice)
    post_form(
        client,
        "/account/email",
        {"new_email": "alice.new@example.org", "password": alice.password},
    )
    smtp.deliver(runtime)
    verify = smtp.only("confirm your email address").path
    token = verify.rsplit("/", 1)[1]
    before = snapshot(runtime)
    assert client.get(f"/password/reset/{token}").status_code == 404
    assert snapshot(runtime) == before


def test_one_accounts_reset_link_changes_only_that_account(
    client: TestClient, runtime: Runtime, alice: Person, smtp: SmtpServer
) -> None:
    make_person(runtime, "bob", email="bob@example.org")
    path = reset_path(client, runtime, smtp, ALICE)
    assert "For the account <strong>alice</strong>" in client.get(path).text
    set_password(client, path, OTHER_STRONG_PASSWORD)
    assert password_works(runtime, "alice", OTHER_STRONG_PASSWORD)
    assert password_works(runtime, "bob", STRONG_PASSWORD)


def test_another_persons_link_opened_while_signed_in_gets_a_clear_page_and_changes_nothing(
    client: TestClient, runtime: Runtime, alice: Person, smtp: SmtpServer
) -> None:
    bob = make_person(runtime, "bob", email="bob@example.org")
    path = reset_path(client, runtime, smtp, ALICE)
    sign_in(client, bob)
    token = csrf_token(client, "/account/security")
    before = snapshot(runtime)
    page = client.get(path)
    assert page.status_code == 404
    assert "for another account" in text_of(page)
    response = client.post(
        path,
        data={
            "new_password": OTHER_STRONG_PASSWORD,
            "confirm_password": OTHER_STRONG_PASSWORD,
            "csrf_token": token,
        },
    )
    assert response.status_code == 404
    assert snapshot(runtime) == before
    assert client.get("/account/security").status_code == 200  # bob is still signed in


def test_the_reset_form_needs_its_csrf_token(
    client: TestClient, runtime: Runtime, alice: Person, smtp: SmtpServer
) -> None:
    path = reset_path(client, runtime, smtp, ALICE)
    client.get(path)
    before = snapshot(runtime)
    response = client.post(
        path,
        data={"new_password": OTHER_STRONG_PASSWORD, "confirm_password": OTHER_STRONG_PASSWORD},
    )
    assert response.status_code == 403
    assert snapshot(runtime) == before
