"""The security page: set up 2FA, recovery codes, regenerate, disable, change password."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pyotp

from apps import browser
from asgi_client import TestClient
from support import OTHER_STRONG_PASSWORD, Person, post_form, sign_in, text_of
from twofold.otp.clock import FixedClock, unix_time
from twofold.services.runtime import Runtime
from twofold.web.rendering import SESSION_COOKIE

KEY_ON_PAGE = re.compile(r'<code id="setup-key"[^>]*>([A-Z2-7 ]+)</code>')
CODE_ON_PAGE = re.compile(
    r"<li><code>([0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4})</code></li>"
)


def _setup_key(client: TestClient) -> str:
    page = client.get("/account/security/setup")
    assert page.status_code == 200
    match = KEY_ON_PAGE.search(page.text)
    assert match, "the setup key is shown as text"
    return match.group(1).replace(" ", "")


def test_setup_page_shows_a_qr_code_and_the_key_in_groups_of_four(
    client: TestClient, alice: Person
) -> None:
    sign_in(client, alice)
    page = client.get("/account/security/setup").text
    assert "<svg" in page
    assert 'aria-label="QR code' in page
    grouped = KEY_ON_PAGE.search(page)
    assert grouped
    groups = grouped.group(1).split(" ")
    assert len(groups) == 8
    assert all(len(group) == 4 for group in groups)
    assert 'autocomplete="one-time-code"' in page


def test_reopening_the_setup_page_shows_the_same_key(client: TestClient, alice: Person) -> None:
    sign_in(client, alice)
    assert _setup_key(client) == _setup_key(client)


def test_enrolling_shows_ten_recovery_codes_once_with_a_download(
    client: TestClient, alice: Person, clock: FixedClock
) -> None:
    sign_in(client, alice)
    key = _setup_key(client)
    code = pyotp.TOTP(key).at(unix_time(clock.now()))
    response = post_form(client, "/account/security/setup", {"code": code})
    assert response.status_code == 200
    page = text_of(response)
    codes = CODE_ON_PAGE.findall(response.text)
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert "This is the only time they are shown." in page
    download = re.search(r'href="data:text/plain;charset=utf-8,([^"]+)"', response.text)
    assert download
    text = unquote(download.group(1)).splitlines()
    assert text[-10:] == codes
    assert text[0] == "Twofold recovery codes for alice"
    assert text[1] == "Site: http://localhost:8000"
    assert text[2] == f"Made: {clock.now():%Y-%m-%d %H:%M} UTC (older codes no longer work)"
    assert 'download="twofold-recovery-codes.txt"' in response.text
    assert "I have saved these codes" in page
    assert response.headers["cache-control"] == "no-store"

    security = text_of(client.get("/account/security"))
    assert "On — you sign in" in security
    assert "Recovery codes left: <strong>10</strong>" in client.get("/account/security").text
    assert key not in security
    assert all(code not in security for code in codes)
    # the setup page is gone once 2FA is on: the key is never shown again
    assert client.get("/account/security/setup").headers["location"] == "/account/security"


def test_a_wrong_setup_code_keeps_2fa_off_and_shows_the_same_key(
    client: TestClient, alice: Person, clock: FixedClock
) -> None:
    sign_in(client, alice)
    key = _setup_key(client)
    right = pyotp.TOTP(key).at(unix_time(clock.now()))
    wrong = "000000" if right != "000000" else "111111"
    response = post_form(client, "/account/security/setup", {"code": wrong})
    assert response.status_code == 400
    assert "That code didn't match" in text_of(response)
    assert key.upper() in response.text.replace(" ", "")
    assert "Off —" in text_of(client.get("/account/security"))


def test_setup_code_with_letters_gets_a_message_not_an_error_page(
    client: TestClient, alice: Person
) -> None:
    sign_in(client, alice)
    _setup_key(client)
    response = post_form(client, "/account/security/setup", {"code": "12a456"})
    assert response.status_code == 400
    assert "digits only" in text_of(response)


def test_regenerating_needs_the_password_and_replaces_every_code(
    client: TestClient, alice_with_totp: Person, clock: FixedClock
) -> None:
    sign_in(client, alice_with_totp, clock)
    refused = post_form(client, "/account/security/recovery-codes", {"password": "not my password"})
    assert refused.status_code == 400
    assert "That is not your current password" in text_of(refused)
    response = post_form(
        client, "/account/security/recovery-codes", {"password": alice_with_totp.password}
    )
    new_codes = CODE_ON_PAGE.findall(response.text)
    assert len(new_codes) == 10
    assert "Your old recovery codes no longer work." in text_of(response)

    assert alice_with_totp.recovery_codes
    post_form(client, "/account/security", {}, action="/logout")
    post_form(client, "/login", {"login": "alice", "password": alice_with_totp.password})
    old = post_form(client, "/login/recovery", {"code": alice_with_totp.recovery_codes[1]})
    assert old.status_code == 400
    new = post_form(client, "/login/recovery", {"code": new_codes[0]})
    assert new.headers["location"] == "/account/security"


def test_disabling_needs_the_password_then_the_password_alone_signs_in(
    client: TestClient, alice_with_totp: Person, clock: FixedClock
) -> None:
    sign_in(client, alice_with_totp, clock)
    page = text_of(client.get("/account/security/disable"))
    assert "your password alone signs you in" in page
    refused = post_form(client, "/account/security/disable", {"password": "wrong password"})
    assert refused.status_code == 400
    assert "On — you sign in" in text_of(client.get("/account/security"))

    response = post_form(
        client, "/account/security/disable", {"password": alice_with_totp.password}
    )
    assert response.headers["location"] == "/account/security?notice=disabled"
    post_form(client, "/account/security", {}, action="/logout")
    response = post_form(client, "/login", {"login": "alice", "password": alice_with_totp.password})
    assert response.headers["location"] == "/account/security"


def test_changing_the_password_ends_the_other_sessions(
    client: TestClient, alice: Person, runtime: Runtime
) -> None:
    with browser(runtime) as other_browser:
        sign_in(other_browser, alice)
        sign_in(client, alice)
        response = post_form(
            client,
            "/account/password",
            {
                "current_password": alice.password,
                "new_password": OTHER_STRONG_PASSWORD,
                "confirm_password": OTHER_STRONG_PASSWORD,
            },
        )
        assert response.headers["location"] == "/account/security?notice=password_changed"
        assert client.get("/account/security").status_code == 200
        assert other_browser.get("/account/security").headers["location"] == "/login"
    post_form(client, "/account/security", {}, action="/logout")
    alice.password = OTHER_STRONG_PASSWORD
    sign_in(client, alice)


def test_a_weak_new_password_is_refused_with_a_reason(client: TestClient, alice: Person) -> None:
    sign_in(client, alice)
    for weak, reason in [
        ("short", "at least 10 characters"),
        ("password123", "easy to guess"),
        ("x" * 257, "at most 256 characters"),
    ]:
        response = post_form(
            client,
            "/account/password",
            {"current_password": alice.password, "new_password": weak, "confirm_password": weak},
        )
        assert response.status_code == 400, weak
        page = text_of(response).lower()
        assert reason in page or "common" in page, (weak, page[-600:])
    assert client.cookies.get(SESSION_COOKIE)
    post_form(client, "/account/security", {}, action="/logout")
    sign_in(client, alice)  # the old password still works
