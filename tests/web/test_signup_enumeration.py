"""Sign-up does not tell whether an address has an account: the answer is the same page, the
owner of a taken address is mailed instead, and no second account is made."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx2 as httpx
import pytest
from sqlalchemy import func, select

from asgi_client import TestClient
from smtp_server import SmtpServer, running_smtp_server
from support import STRONG_PASSWORD, csrf_token, make_org, make_person, text_of
from twofold.otp.clock import FixedClock
from twofold.services.runtime import Runtime
from twofold.store.models import AuthSession, User
from twofold.web.rendering import SESSION_COOKIE

ADDRESS = "sam@example.org"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        yield server


def submit(client: TestClient, login: str, email: str = ADDRESS) -> httpx.Response:
    token = csrf_token(client, "/signup/acme")
    return client.post(
        "/signup/acme",
        data={"login": login, "email": email, "password": STRONG_PASSWORD, "csrf_token": token},
    )


def comparable(response: httpx.Response) -> tuple[int, dict[str, str], str]:
    """Status, headers and body without what differs per request anyway (CSRF, date, the
    request id)."""
    headers = {
        name: value
        for name, value in response.headers.items()
        if name not in {"set-cookie", "date", "x-request-id"}
    }
    body = re.sub(r'name="csrf_token" value="[^"]+"', 'name="csrf_token" value=""', response.text)
    return response.status_code, headers, body


def accounts_with(runtime: Runtime, address: str) -> int:
    with runtime.db() as db:
        return int(db.scalar(select(func.count(User.id)).where(User.email == address)) or 0)


def test_a_taken_address_gets_the_same_answer_as_a_new_one(
    client: TestClient, runtime: Runtime
) -> None:
    make_org(runtime, "acme", signup_open=True)
    new = submit(client, "sam")
    taken = submit(client, "samuel")
    assert new.status_code == 200
    assert "Check your email" in text_of(new)
    assert comparable(taken) == comparable(new)
    assert client.cookies.get(SESSION_COOKIE) is None


def test_a_verified_owners_address_gets_the_same_answer_as_a_new_one(
    client: TestClient, runtime: Runtime
) -> None:
    make_org(runtime, "acme", signup_open=True)
    make_person(runtime, "bob", email="bob@example.org")
    new = comparable(submit(client, "sam", "sue@example.org"))
    taken = comparable(submit(client, "robert", "bob@example.org"))
    assert taken == (new[0], new[1], new[2].replace("sue@example.org", "bob@example.org"))


def test_the_owner_is_mailed_and_no_second_account_is_made(
    client: TestClient, runtime: Runtime, smtp: SmtpServer
) -> None:
    make_org(runtime, "acme", name="Acme Inc.", signup_open=True)
    bob = make_person(runtime, "bob", email="bob@example.org")
    submit(client, "robert", "Bob@Example.org")
    assert accounts_with(runtime, "bob@example.org") == 1
    with runtime.db() as db:
        assert db.scalar(select(User).where(User.login == "robert")) is None
        assert db.scalar(select(func.count(AuthSession.id))) == 0
    smtp.deliver(runtime)
    notice = smtp.only("someone tried to sign up with your address", "bob@example.org")
    assert "already belongs to your account bob" in notice.text
    assert "Acme Inc." in notice.text
    assert notice.link.endswith("/login")
    assert [r.recipients for r in smtp.received] == [("bob@example.org",)]
    assert bob.login == "bob"


def test_the_owner_is_told_at_most_once_a_minute(
    client: TestClient, runtime: Runtime, smtp: SmtpServer, clock: FixedClock
) -> None:
    make_org(runtime, "acme", signup_open=True)
    make_person(runtime, "bob", email="bob@example.org")
    for login in ("robert", "bobby", "roberto"):
        submit(client, login, "bob@example.org")
        smtp.deliver(runtime)
        clock.advance(20)
    assert len(smtp.received) == 1
    clock.advance(60)
    smtp.deliver(runtime)
    assert len(smtp.received) == 2  # the last attempt, once the minute has passed
