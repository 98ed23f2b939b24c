"""Sign-in through the pages: password, then the authentication code or a recovery code."""

from __future__ import annotations

from asgi_client import TestClient
from support import Person, make_person, post_form, sign_in, text_of
from twofold.otp.clock import FixedClock
from twofold.services.runtime import Runtime
from twofold.web.rendering import SESSION_COOKIE

UNKNOWN_OR_WRONG = "That login name or password is not right."


def test_password_only_account_goes_straight_to_the_security_page(
    client: TestClient, alice: Person
) -> None:
    response = post_form(client, "/login", {"login": "alice", "password": alice.password})
    assert response.status_code == 303
    assert response.headers["location"] == "/account/security"
    assert "Off — your password alone signs you in." in text_of(client.get("/account/security"))


def test_sign_in_by_email_works_like_by_login(client: TestClient, runtime: Runtime) -> None:
    person = make_person(runtime, "bob", email="Bob@Example.org")
    response = post_form(
        client, "/login", {"login": "bob@example.org", "password": person.password}
    )
    assert response.headers["location"] == "/account/security"


def test_account_with_totp_is_asked_for_the_code_and_then_signed_in(
    client: TestClient, alice_with_totp: Person, clock: FixedClock
) -> None:
    response = post_form(client, "/login", {"login": "alice", "password": alice_with_totp.password})
    assert response.headers["location"] == "/login/code"
    code_page = client.get("/login/code")
    assert "Authentication code" in text_of(code_page)
    assert 'autocomplete="one-time-code"' in text_of(code_page)
    assert 'inputmode="numeric"' in text_of(code_page)
    assert "Use a recovery code" in text_of(code_page)
    response = post_form(client, "/login/code", {"code": alice_with_totp.totp(clock)})
    assert response.headers["location"] == "/account/security"
    assert "On — you sign in" in text_of(client.get("/account/security"))


def test_a_password_only_session_reaches_nothing_but_the_code_prompt(
    client: TestClient, alice_with_totp: Person
) -> None:
    post_form(client, "/login", {"login": "alice", "password": alice_with_totp.password})
    for path in ("/account/security", "/account/security/disable", "/account/password"):
        response = client.get(path)
        assert response.status_code == 303
        assert response.headers["location"] == "/login/code"


def test_code_with_spaces_and_dashes_is_accepted(
    client: TestClient, alice_with_totp: Person, clock: FixedClock
) -> None:
    post_form(client, "/login", {"login": "alice", "password": alice_with_totp.password})
    code = alice_with_totp.totp(clock)
    response = post_form(client, "/login/code", {"code": f" {code[:3]}-{code[3:]} "})
    assert response.headers["location"] == "/account/security"


def test_wrong_code_shows_the_mismatch_message_and_allows_a_retry(
    client: TestClient, alice_with_totp: Person, clock: FixedClock
) -> None:
    post_form(client, "/login", {"login": "alice", "password": alice_with_totp.password})
    wrong = "000000" if alice_with_totp.totp(clock) != "000000" else "111111"
    response = post_form(client, "/login/code", {"code": wrong})
    assert response.status_code == 400
    assert "That code didn't match" in text_of(response)
    assert "turn on automatic time" in text_of(response)
    response = post_form(client, "/login/code", {"code": alice_with_totp.totp(clock)})
    assert response.headers["location"] == "/account/security"


def test_a_code_used_once_is_refused_at_the_next_sign_in(
    client: TestClient, alice_with_totp: Person, clock: FixedClock
) -> None:
    sign_in(client, alice_with_totp, clock)
    post_form(client, "/account/security", {}, action="/logout")
    post_form(client, "/login", {"login": "alice", "password": alice_with_totp.password})
    response = post_form(client, "/login/code", {"code": alice_with_totp.totp(clock)})
    assert response.status_code == 400
    assert "That code was used already" in text_of(response)


def test_unknown_login_and_wrong_password_get_the_same_message(
    client: TestClient, alice: Person
) -> None:
    unknown = post_form(client, "/login", {"login": "nobody", "password": alice.password})
    wrong = post_form(client, "/login", {"login": "alice", "password": "not the password"})
    assert unknown.status_code == wrong.status_code == 400
    assert UNKNOWN_OR_WRONG in text_of(unknown)
    assert UNKNOWN_OR_WRONG in text_of(wrong)


def test_repeated_wrong_passwords_are_slowed_down_not_locked(
    client: TestClient, alice: Person, clock: FixedClock
) -> None:
    for _ in range(4):
        post_form(client, "/login", {"login": "alice", "password": "not the password"})
    slowed = post_form(client, "/login", {"login": "alice", "password": alice.password})
    assert slowed.status_code == 429
    assert "wait" in text_of(slowed)
    clock.advance(60)
    response = post_form(client, "/login", {"login": "alice", "password": alice.password})
    assert response.headers["location"] == "/account/security"


def test_recovery_code_signs_in_once_and_shows_how_many_are_left(
    client: TestClient, alice_with_totp: Person
) -> None:
    assert alice_with_totp.recovery_codes
    code = alice_with_totp.recovery_codes[0]
    post_form(client, "/login", {"login": "alice", "password": alice_with_totp.password})
    response = post_form(client, "/login/recovery", {"code": code.upper()})
    assert response.headers["location"] == "/account/security"
    page = text_of(client.get("/account/security"))
    assert "You signed in with a recovery code" in page
    assert "You have 9 recovery codes left" in page
    assert "/account/security/recovery-codes" in page

    post_form(client, "/account/security", {}, action="/logout")
    post_form(client, "/login", {"login": "alice", "password": alice_with_totp.password})
    again = post_form(client, "/login/recovery", {"code": code})
    assert again.status_code == 400
    assert "was used already" in text_of(again)


def test_ten_wrong_codes_lock_the_second_factor_with_the_time_to_wait(
    client: TestClient, alice_with_totp: Person, clock: FixedClock
) -> None:
    post_form(client, "/login", {"login": "alice", "password": alice_with_totp.password})
    good = alice_with_totp.totp(clock)
    wrong = "123456" if good != "123456" else "654321"
    for _ in range(9):
        assert post_form(client, "/login/code", {"code": wrong}).status_code == 400
    locked = post_form(client, "/login/code", {"code": wrong})
    assert locked.status_code == 429
    assert "locked until 12:15 UTC" in text_of(locked)
    still_locked = post_form(client, "/login/code", {"code": good})
    assert still_locked.status_code == 429
    clock.advance(15 * 60)
    post_form(client, "/login", {"login": "alice", "password": alice_with_totp.password})
    response = post_form(client, "/login/code", {"code": alice_with_totp.totp(clock)})
    assert response.headers["location"] == "/account/security"


def test_session_cookie_is_http_only_lax_and_rotates_at_each_step(
    client: TestClient, alice_with_totp: Person, clock: FixedClock
) -> None:
    response = post_form(client, "/login", {"login": "alice", "password": alice_with_totp.password})
    set_cookie = response.headers["set-cookie"]
    assert "HttpOnly" in set_cookie
    assert "samesite=lax" in set_cookie.lower()
    first = client.cookies.get(SESSION_COOKIE)
    post_form(client, "/login/code", {"code": alice_with_totp.totp(clock)})
    second = client.cookies.get(SESSION_COOKIE)
    assert first
    assert second
    assert first != second
    # the password-step token no longer opens anything
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, first)
    assert client.get("/account/security").headers["location"] == "/login"


def test_sign_out_ends_the_session_on_the_server(client: TestClient, alice: Person) -> None:
    sign_in(client, alice)
    token = client.cookies.get(SESSION_COOKIE)
    response = post_form(client, "/account/security", {}, action="/logout")
    assert response.headers["location"] == "/login?notice=signed_out"
    assert token
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, token)
    assert client.get("/account/security").headers["location"] == "/login"


def test_every_signed_in_page_offers_sign_out(client: TestClient, alice: Person) -> None:
    sign_in(client, alice)
    for path in ("/account/security", "/account/security/setup", "/account/password"):
        assert 'action="/logout"' in text_of(client.get(path))


def test_while_locked_the_prompts_show_the_reason_instead_of_a_form(
    client: TestClient, alice_with_totp: Person, clock: FixedClock
) -> None:
    post_form(client, "/login", {"login": "alice", "password": alice_with_totp.password})
    wrong = "123456" if alice_with_totp.totp(clock) != "123456" else "654321"
    for _ in range(10):
        post_form(client, "/login/code", {"code": wrong})
    for path in ("/login/code", "/login/recovery"):
        page = client.get(path)
        assert "two-factor sign-in is locked until 12:15 UTC" in text_of(page)
        assert f'action="{path}"' not in page.text


def test_typing_the_email_instead_of_the_login_shares_the_same_throttle(
    client: TestClient, runtime: Runtime
) -> None:
    person = make_person(runtime, "erin", email="erin@example.org")
    for identifier in ("erin", "erin@example.org", "ERIN", "erin@example.org"):
        post_form(client, "/login", {"login": identifier, "password": "not the password"})
    slowed = post_form(client, "/login", {"login": "erin@example.org", "password": person.password})
    assert slowed.status_code == 429
