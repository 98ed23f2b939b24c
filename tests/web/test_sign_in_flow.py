"""Sign-in through the pages: password, then code or recovery code."""

from __future__ import annotations

from fastapi.testclient import TestClient
from support import Person, post_form, sign_in

from twofold.otp.clock import FixedClock


def test_password_only_account_goes_straight_to_the_security_page(
    client: TestClient, alice: Person
) -> None:
    response = post_form(client, "/login", {"login": "alice", "password": alice.password})
    assert response.status_code == 303
    assert response.headers["location"] == "/account/security"
    page = client.get("/account/security")
    assert "Off — your password alone signs you in." in page.text


def test_account_with_totp_is_asked_for_the_code_and_then_signed_in(
    client: TestClient, alice_with_totp: Person, clock: FixedClock
) -> None:
    response = post_form(client, "/login", {"login": "alice", "password": alice_with_totp.password})
    assert response.headers["location"] == "/login/code"
    assert client.get("/account/security").headers["location"] == "/login/code"
    code_page = client.get("/login/code")
    assert "Authentication code" in code_page.text
    assert "Use a recovery code" in code_page.text
    response = post_form(client, "/login/code", {"code": alice_with_totp.totp(clock)})
    assert response.headers["location"] == "/account/security"
    assert "On — you sign in" in client.get("/account/security").text


def test_sign_in_helper(client: TestClient, alice_with_totp: Person, clock: FixedClock) -> None:
    sign_in(client, alice_with_totp, clock)
