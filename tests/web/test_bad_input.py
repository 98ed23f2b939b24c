"""Bad input of every kind gets a clear message or redirect — never a 500 or a stack
trace — and leaves stored data unchanged."""

from __future__ import annotations

import pytest

from apps import browser
from asgi_client import TestClient
from support import Person, csrf_token, post_form, sign_in, snapshot, text_of
from twofold.otp.clock import FixedClock
from twofold.services.runtime import Runtime
from twofold.web.rendering import SESSION_COOKIE

FORM_EXPIRED = "This form has expired"


def test_a_post_without_a_csrf_token_is_refused_and_changes_nothing(
    client: TestClient, alice: Person, runtime: Runtime
) -> None:
    client.get("/login")
    before = snapshot(runtime)
    response = client.post("/login", data={"login": "alice", "password": alice.password})
    assert response.status_code == 403
    assert FORM_EXPIRED in text_of(response)
    assert client.cookies.get(SESSION_COOKIE) is None
    assert snapshot(runtime) == before


def test_a_csrf_token_from_another_browser_is_refused(
    client: TestClient, alice: Person, runtime: Runtime
) -> None:
    with browser(runtime) as attacker:
        foreign = csrf_token(attacker, "/login")
    client.get("/login")
    response = client.post(
        "/login", data={"login": "alice", "password": alice.password, "csrf_token": foreign}
    )
    assert response.status_code == 403


def test_an_expired_csrf_token_is_refused(
    client: TestClient, alice: Person, clock: FixedClock
) -> None:
    token = csrf_token(client, "/login")
    clock.advance(5 * 3600)
    response = client.post(
        "/login", data={"login": "alice", "password": alice.password, "csrf_token": token}
    )
    assert response.status_code == 403
    assert "reload the page" in text_of(response)


def test_a_tampered_csrf_token_is_refused(client: TestClient, alice: Person) -> None:
    token = csrf_token(client, "/login")
    issued, mac = token.split(".")
    forged = f"{int(issued) + 1}.{mac}"
    response = client.post(
        "/login", data={"login": "alice", "password": alice.password, "csrf_token": forged}
    )
    assert response.status_code == 403


def test_a_forged_session_cookie_leads_to_the_sign_in_page(client: TestClient) -> None:
    for forged in ("x", "A" * 43, "not-a-token" * 30, ""):
        client.cookies.clear()
        client.cookies.set(SESSION_COOKIE, forged)
        response = client.get("/account/security")
        assert response.status_code == 303
        assert response.headers["location"] == "/login"


def test_an_expired_password_only_session_asks_for_the_password_again(
    client: TestClient, alice_with_totp: Person, clock: FixedClock, runtime: Runtime
) -> None:
    post_form(client, "/login", {"login": "alice", "password": alice_with_totp.password})
    token = csrf_token(client, "/login/code")
    clock.advance(11 * 60)
    before = snapshot(runtime, skip=("auth_sessions",))
    response = client.post(
        "/login/code", data={"code": alice_with_totp.totp(clock), "csrf_token": token}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/login?notice=expired"
    assert "Your sign-in expired" in text_of(client.get("/login?notice=expired"))
    assert snapshot(runtime, skip=("auth_sessions",)) == before


def test_missing_login_fields_get_a_message(client: TestClient) -> None:
    for data in ({}, {"login": "alice"}, {"password": "x"}, {"login": "  ", "password": ""}):
        response = post_form(client, "/login", data)
        assert response.status_code == 400
        assert "Enter your login name (or email) and your password." in text_of(response)


def test_oversized_fields_get_a_clear_answer(
    client: TestClient, alice: Person, runtime: Runtime
) -> None:
    before = snapshot(runtime, skip=("throttles", "audit_events"))
    long_login = post_form(client, "/login", {"login": "a" * 5000, "password": alice.password})
    assert long_login.status_code == 400
    long_password = post_form(client, "/login", {"login": "alice", "password": "p" * 10000})
    assert long_password.status_code == 400
    assert snapshot(runtime, skip=("throttles", "audit_events")) == before


def test_a_body_over_the_limit_is_refused_before_parsing(client: TestClient) -> None:
    token = csrf_token(client, "/login")
    response = client.post(
        "/login", data={"login": "x" * 70_000, "password": "y", "csrf_token": token}
    )
    assert response.status_code == 413
    assert "too large" in response.text


@pytest.mark.parametrize("code", ["12a456", "abcdef", "1234567890123", "١٢٣٤٥٦", "12345"])
def test_a_malformed_code_gets_a_message_and_is_not_counted(
    client: TestClient, alice_with_totp: Person, runtime: Runtime, code: str
) -> None:
    post_form(client, "/login", {"login": "alice", "password": alice_with_totp.password})
    before = snapshot(runtime)
    response = post_form(client, "/login/code", {"code": code})
    assert response.status_code == 400
    assert "digits only" in text_of(response)
    assert snapshot(runtime) == before


def test_an_empty_code_gets_a_message(client: TestClient, alice_with_totp: Person) -> None:
    post_form(client, "/login", {"login": "alice", "password": alice_with_totp.password})
    response = post_form(client, "/login/code", {"code": "   "})
    assert response.status_code == 400
    assert "Enter the 6-digit code" in text_of(response)
    response = post_form(client, "/login/recovery", {"code": ""})
    assert response.status_code == 400
    assert "Enter one of your recovery codes." in text_of(response)


def test_a_malformed_recovery_code_gets_a_message_and_is_not_counted(
    client: TestClient, alice_with_totp: Person, runtime: Runtime
) -> None:
    post_form(client, "/login", {"login": "alice", "password": alice_with_totp.password})
    before = snapshot(runtime)
    response = post_form(client, "/login/recovery", {"code": "not-a-code!"})
    assert response.status_code == 400
    assert "A recovery code has 16 letters and digits" in text_of(response)
    assert snapshot(runtime) == before


def test_the_code_prompt_without_a_password_step_goes_to_sign_in(client: TestClient) -> None:
    assert client.get("/login/code").headers["location"] == "/login"
    assert client.get("/login/recovery").headers["location"] == "/login"
    token = csrf_token(client, "/login")
    response = client.post("/login/code", data={"code": "123456", "csrf_token": token})
    assert response.headers["location"] == "/login"


def test_unknown_pages_and_methods_get_html_error_pages(client: TestClient) -> None:
    missing = client.get("/no/such/page")
    assert missing.status_code == 404
    assert "Page not found" in missing.text
    assert missing.headers["content-type"].startswith("text/html")
    wrong_method = client.put("/login")
    assert wrong_method.status_code == 405
    assert "Not allowed here" in wrong_method.text


def test_an_unknown_setup_link_is_a_clear_404(client: TestClient, runtime: Runtime) -> None:
    before = snapshot(runtime)
    response = client.get("/setup/not-a-real-token")
    assert response.status_code == 404
    assert "This link is not valid" in text_of(response)
    token = csrf_token(client, "/login")
    response = client.post(
        "/setup/not-a-real-token",
        data={"login": "mallory", "password": "a strong enough passphrase", "csrf_token": token},
    )
    assert response.status_code == 404
    assert snapshot(runtime) == before


def test_pages_carry_a_strict_content_security_policy(client: TestClient) -> None:
    headers = client.get("/login").headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"


def test_wrong_current_password_on_a_sensitive_form_changes_nothing(
    client: TestClient, alice_with_totp: Person, clock: FixedClock, runtime: Runtime
) -> None:
    sign_in(client, alice_with_totp, clock)
    before = snapshot(runtime, skip=("throttles", "audit_events", "auth_sessions"))
    for path in ("/account/security/disable", "/account/security/recovery-codes"):
        response = post_form(client, path, {"password": "definitely wrong"})
        assert response.status_code == 400
        response = post_form(client, path, {})
        assert response.status_code == 400
    assert snapshot(runtime, skip=("throttles", "audit_events", "auth_sessions")) == before
