"""API sign-in: password, then `mfa_required` and a short-lived single-use challenge, then
a bearer token that is stored hashed, revocable, expires like a browser session, and is
never accepted as a cookie (nor a cookie as a token)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from asgi_client import TestClient
from support import Person, api_sign_in, bearer, sign_in
from twofold.core.audit_events import AuditEventType
from twofold.crypto.tokens import token_digest
from twofold.otp.clock import FixedClock
from twofold.services.runtime import Runtime
from twofold.store.models import AuditEvent, AuthSession
from twofold.web.rendering import SESSION_COOKIE


def _password(client: TestClient, person: Person, password: str | None = None) -> dict[str, Any]:
    answer = client.post(
        "/api/v1/sign-in",
        json={"login": person.login, "password": password or person.password},
    )
    return {**answer.json(), "http": answer.status_code}


def test_a_person_without_2fa_gets_a_token_that_opens_their_status(
    client: TestClient, alice: Person
) -> None:
    token = api_sign_in(client, alice)
    status = client.get("/api/v1/me/two-factor", headers=bearer(token))
    assert status.status_code == 200
    assert status.json()["enabled"] is False


def test_a_person_with_2fa_gets_a_challenge_not_a_token(
    client: TestClient, alice_with_totp: Person
) -> None:
    first = _password(client, alice_with_totp)
    assert first["http"] == 200
    assert first["status"] == "mfa_required"
    assert first["token"] is None
    assert first["challenge"]
    # The challenge is not a token.
    refused = client.get("/api/v1/me/two-factor", headers=bearer(first["challenge"]))
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_token"


def test_the_challenge_works_once(
    client: TestClient, alice_with_totp: Person, clock: FixedClock
) -> None:
    challenge = _password(client, alice_with_totp)["challenge"]
    code = alice_with_totp.totp(clock)
    ok = client.post("/api/v1/sign-in/code", json={"challenge": challenge, "code": code})
    assert ok.status_code == 200
    assert ok.json()["status"] == "signed_in"
    clock.advance(30)
    again = client.post(
        "/api/v1/sign-in/code",
        json={"challenge": challenge, "code": alice_with_totp.totp(clock)},
    )
    assert again.status_code == 401
    assert again.json()["error"] == "invalid_challenge"


def test_the_challenge_expires_in_minutes(
    client: TestClient, runtime: Runtime, alice_with_totp: Person, clock: FixedClock
) -> None:
    challenge = _password(client, alice_with_totp)["challenge"]
    clock.advance(runtime.settings.password_session_minutes * 60 + 1)
    late = client.post(
        "/api/v1/sign-in/code",
        json={"challenge": challenge, "code": alice_with_totp.totp(clock)},
    )
    assert late.status_code == 401


def test_a_code_already_used_is_refused_as_at_the_page(
    client: TestClient, alice_with_totp: Person, clock: FixedClock
) -> None:
    code = alice_with_totp.totp(clock)
    first = client.post(
        "/api/v1/sign-in/code",
        json={"challenge": _password(client, alice_with_totp)["challenge"], "code": code},
    )
    assert first.status_code == 200
    replay = client.post(
        "/api/v1/sign-in/code",
        json={"challenge": _password(client, alice_with_totp)["challenge"], "code": code},
    )
    assert replay.status_code == 400
    assert replay.json()["error"] == "code_reused"


def test_wrong_codes_lock_the_second_factor_with_429(
    client: TestClient, alice_with_totp: Person, clock: FixedClock
) -> None:
    challenge = _password(client, alice_with_totp)["challenge"]
    answers = [
        client.post("/api/v1/sign-in/code", json={"challenge": challenge, "code": "000000"})
        for _ in range(10)
    ]
    assert [a.status_code for a in answers[:9]] == [400] * 9
    assert answers[9].status_code == 429
    assert answers[9].json()["error"] == "second_factor_locked"
    assert int(answers[9].headers["retry-after"]) > 0
    # Locked: even the right code is refused now.
    right = client.post(
        "/api/v1/sign-in/code", json={"challenge": challenge, "code": alice_with_totp.totp(clock)}
    )
    assert right.status_code == 429


def test_a_recovery_code_signs_in_once(client: TestClient, alice_with_totp: Person) -> None:
    assert alice_with_totp.recovery_codes
    code = alice_with_totp.recovery_codes[0]
    ok = client.post(
        "/api/v1/sign-in/recovery-code",
        json={"challenge": _password(client, alice_with_totp)["challenge"], "code": code},
    )
    assert ok.status_code == 200
    token = ok.json()["token"]
    status = client.get("/api/v1/me/two-factor", headers=bearer(token)).json()
    assert status["signed_in_with_recovery_code"] is True
    again = client.post(
        "/api/v1/sign-in/recovery-code",
        json={"challenge": _password(client, alice_with_totp)["challenge"], "code": code},
    )
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_recovery_code"


def test_a_wrong_password_is_400_and_audited_like_the_page(
    client: TestClient, runtime: Runtime, alice: Person
) -> None:
    refused = _password(client, alice, "not the password")
    assert refused["http"] == 400
    assert refused["error"] == "invalid_credentials"
    with runtime.db() as db:
        events = db.scalars(select(AuditEvent.event).where(AuditEvent.user_id == alice.id))
        assert AuditEventType.SIGN_IN_PASSWORD_FAILED.value in list(events)


def test_password_guessing_is_throttled_with_429(client: TestClient, alice: Person) -> None:
    statuses = [_password(client, alice, f"guess {n}")["http"] for n in range(12)]
    assert 429 in statuses
    throttled = client.post(
        "/api/v1/sign-in", json={"login": alice.login, "password": alice.password}
    )
    assert throttled.status_code == 429
    assert throttled.json()["error"] == "password_throttled"
    assert int(throttled.headers["retry-after"]) > 0


def test_the_token_is_stored_only_as_its_sha256(
    client: TestClient, runtime: Runtime, alice: Person
) -> None:
    token = api_sign_in(client, alice)
    with runtime.db() as db:
        session = db.scalar(select(AuthSession).where(AuthSession.user_id == alice.id))
        assert session is not None
        assert session.kind == "api"
        assert session.token_digest == token_digest(token)
        assert token.encode() not in session.token_digest


def test_sign_out_revokes_the_token(client: TestClient, alice: Person) -> None:
    token = api_sign_in(client, alice)
    assert client.post("/api/v1/sign-out", headers=bearer(token)).status_code == 204
    after = client.get("/api/v1/me/two-factor", headers=bearer(token))
    assert after.status_code == 401
    assert after.json()["error"] == "invalid_token"
    assert after.headers["www-authenticate"].startswith("Bearer")


def test_the_token_expires_like_a_browser_session(
    client: TestClient, runtime: Runtime, alice: Person, clock: FixedClock
) -> None:
    token = api_sign_in(client, alice)
    clock.advance(int(timedelta(hours=runtime.settings.session_hours).total_seconds()) + 1)
    assert client.get("/api/v1/me/two-factor", headers=bearer(token)).status_code == 401


def test_an_api_token_is_not_a_cookie_and_a_cookie_is_not_a_token(
    client: TestClient, alice: Person
) -> None:
    token = api_sign_in(client, alice)
    client.cookies.set(SESSION_COOKIE, token)
    assert client.get("/account/security").status_code == 303  # to the sign-in page
    client.cookies.clear()
    sign_in(client, alice)
    cookie = client.cookies.get(SESSION_COOKIE)
    assert cookie
    client.cookies.clear()
    refused = client.get("/api/v1/me/two-factor", headers=bearer(cookie))
    assert refused.status_code == 401


def test_no_token_is_401_in_the_error_shape(client: TestClient) -> None:
    answer = client.get("/api/v1/me/sessions")
    assert answer.status_code == 401
    assert answer.json()["error"] == "unauthenticated"
    assert set(answer.json()) == {"error", "message"}
