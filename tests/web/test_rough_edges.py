"""Rough edges a new user met (issue 9), checked through the pages: what each page says."""

from __future__ import annotations

from fastapi.testclient import TestClient

from support import Person, post_form, text_of
from twofold.otp.clock import FixedClock

RECOVERY_BANNER = "You signed in with a recovery code"


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
