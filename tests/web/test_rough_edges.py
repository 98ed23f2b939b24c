"""Rough edges a new user met (issue 9), checked through the pages: what each page says."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx2 as httpx

from asgi_client import TestClient
from support import Person, post_form, sign_in, text_of
from twofold.otp.clock import FixedClock
from twofold.services import sessions
from twofold.services.runtime import Runtime

RECOVERY_BANNER = "You signed in with a recovery code"


def words(response: httpx.Response) -> str:
    """The page's text as read: tags dropped, entities decoded, spaces collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", text_of(response)).split()).replace(" .", ".")


def sign_in_with_recovery_code(client: TestClient, person: Person) -> None:
    assert person.recovery_codes
    response = post_form(client, "/login", {"login": person.login, "password": person.password})
    assert response.headers["location"] == "/login/code"
    response = post_form(client, "/login/recovery", {"code": person.recovery_codes[0]})
    assert response.headers["location"] == "/account/security", response.text


def test_the_recovery_code_banner_goes_once_2fa_is_turned_off(
    client: TestClient, alice_with_totp: Person, clock: FixedClock
) -> None:
    sign_in_with_recovery_code(client, alice_with_totp)
    assert RECOVERY_BANNER in text_of(client.get("/account/security"))

    off = post_form(client, "/account/security/disable", {"password": alice_with_totp.password})
    assert off.headers["location"] == "/account/security?notice=disabled"
    page = text_of(client.get("/account/security?notice=disabled"))
    assert "Two-factor authentication is off." in page
    assert RECOVERY_BANNER not in page
    assert "recovery codes left" not in page.lower()


def test_a_session_ended_elsewhere_lands_on_sign_in_saying_why(
    client: TestClient, alice: Person, runtime: Runtime
) -> None:
    sign_in(client, alice)
    with runtime.db() as db:  # e.g. "sign everyone out" with a policy change
        sessions.end_other_sessions(db, alice.id, None, runtime.now())
        db.commit()
    response = client.get("/account/security")
    assert response.headers["location"] == "/login"
    page = text_of(client.get("/login"))
    assert "You were signed out. Your session was ended" in page
    assert "administrator signed everyone out" in page
    # Said once: the stale cookie is cleared with it.
    assert "You were signed out" not in text_of(client.get("/login"))


def test_signing_out_yourself_says_only_that(client: TestClient, alice: Person) -> None:
    sign_in(client, alice)
    response = post_form(client, "/account/security", {}, action="/logout")
    assert response.headers["location"] == "/login?notice=signed_out"
    page = text_of(client.get("/login?notice=signed_out"))
    assert "You are signed out." in page
    assert "Your session was ended" not in page
    assert "Your session was ended" not in text_of(client.get("/login"))


def wrong_code(person: Person, clock: FixedClock) -> str:
    valid = {person.totp(clock, offset) for offset in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)


def test_the_code_prompt_names_the_account_and_the_organization(
    client: TestClient, alice_with_totp: Person
) -> None:
    post_form(client, "/login", {"login": "alice", "password": alice_with_totp.password})
    page = words(client.get("/login/code"))
    assert "enter the code it shows for alice in Default organization." in page
    assert "requires two-factor authentication, and this session" not in page
    recovery = words(client.get("/login/recovery"))
    assert "for alice in Default organization." in recovery


def test_the_ninth_wrong_code_warns_and_the_tenth_locks_saying_until_when_and_who_unlocks(
    client: TestClient, alice_with_totp: Person, clock: FixedClock
) -> None:
    post_form(client, "/login", {"login": "alice", "password": alice_with_totp.password})
    wrong = wrong_code(alice_with_totp, clock)
    for attempt in range(1, 10):
        page = words(post_form(client, "/login/code", {"code": wrong}))
        assert ("the next wrong code locks" in page) == (attempt == 9), attempt
    assert "Careful: the next wrong code locks two-factor sign-in for 15 minutes." in page
    assert "the next wrong code locks" in words(client.get("/login/code"))

    locked = post_form(client, "/login/code", {"code": wrong})
    assert locked.status_code == 429
    page = words(locked)
    until = (clock.now() + timedelta(minutes=15)).strftime("%Y-%m-%d %H:%M")
    assert f"Two-factor sign-in for alice is locked until {until} UTC." in page
    assert "An administrator of Default organization can unlock it sooner: ask them." in page
    assert 'name="code"' not in locked.text
    assert "Open your authenticator app" not in page
    assert "Use a recovery code" not in page
    again = words(client.get("/login/code"))
    assert f"locked until {until} UTC" in again
    assert 'name="code"' not in again


def test_the_security_page_lists_ten_events_a_page_with_older_and_newer_links(
    client: TestClient, alice: Person, clock: FixedClock
) -> None:
    for _ in range(12):  # 12 sign-ins: 12 "Signed in" events, plus "Account created"
        client.cookies.clear()  # another browser, as far as the server can tell
        sign_in(client, alice)
        clock.advance(60)
    first = client.get("/account/security")
    assert first.text.count("<td>Signed in</td>") == 10
    assert "Older events →" in text_of(first)
    assert "← Newer events" not in text_of(first)
    second = client.get("/account/security?page=2")
    assert second.text.count("<td>Signed in</td>") == 2
    assert "<td>Account created</td>" in second.text
    assert "← Newer events" in text_of(second)
    assert "Older events →" not in text_of(second)
    assert "No older events." in text_of(client.get("/account/security?page=3"))
