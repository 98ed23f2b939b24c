"""POST /api/v1/verify with an organization API key: the answers an integrator sees, the
budget per (key, person), the hard stop, and every bad request answered in the one error
shape with nothing changed."""

from __future__ import annotations

from itertools import count

from sqlalchemy import select

from asgi_client import TestClient
from support import CapturingMailer, Person, make_member, make_org, make_person, snapshot
from twofold.core.audit_events import AuditEventType
from twofold.core.lockout import KEY_FAILURES_PER_PERSON, PERMANENT_LOCK_AT
from twofold.otp.clock import FixedClock
from twofold.services import api_keys, mail
from twofold.services.runtime import Runtime
from twofold.store.models import AuditEvent, User

VERIFY = "/api/v1/verify"
KEY_NUMBERS = count(1)


def new_key(runtime: Runtime, slug: str = "default", per_minute: int = 60) -> str:
    with runtime.db() as db:
        created = api_keys.create_key(
            db,
            runtime,
            slug,
            name=f"app {slug} {next(KEY_NUMBERS)}",
            requests_per_minute=per_minute,
        )
        return created.secret


def check(client: TestClient, key: str, user: str, code: str) -> dict[str, object]:
    response = client.post(VERIFY, json={"user": user, "code": code}, headers=bearer(key))
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def events(runtime: Runtime, event: AuditEventType) -> int:
    with runtime.db() as db:
        return len(list(db.scalars(select(AuditEvent.id).where(AuditEvent.event == event.value))))


def user_row(runtime: Runtime, person: Person) -> User:
    with runtime.db() as db:
        user = db.get(User, person.id)
        assert user is not None
        return user


def test_a_right_code_answers_ok_with_the_method_once(
    client: TestClient, runtime: Runtime, alice_with_totp: Person, clock: FixedClock
) -> None:
    key = new_key(runtime)
    code = alice_with_totp.totp(clock)
    assert check(client, key, "alice", code) == {"ok": True, "method": "totp"}
    assert check(client, key, "alice", code) == {"ok": False}  # the step is used up
    assert events(runtime, AuditEventType.API_KEY_VERIFIED) == 1


def test_a_recovery_code_answers_recovery_code_and_is_used_up(
    client: TestClient, runtime: Runtime, alice_with_totp: Person
) -> None:
    key = new_key(runtime)
    assert alice_with_totp.recovery_codes
    code = alice_with_totp.recovery_codes[0]
    assert check(client, key, "alice", code) == {"ok": True, "method": "recovery_code"}
    assert check(client, key, "alice", code) == {"ok": False}
    assert events(runtime, AuditEventType.RECOVERY_CODE_USED) == 1


def test_a_key_answers_for_a_non_member_exactly_as_for_an_unknown_login(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    make_org(runtime, "acme")
    outsider = make_member(runtime, "olga", "acme", with_totp=True)
    clock.advance(30)
    key = new_key(runtime, "default")
    code = outsider.totp(clock)
    assert check(client, key, "olga", code) == {"ok": False}
    assert check(client, key, "nobody-here", code) == {"ok": False}
    # The code was never evaluated: olga can still use it where she is a member.
    assert check(client, new_key(runtime, "acme"), "olga", code) == {"ok": True, "method": "totp"}


def test_ten_wrong_codes_stop_the_key_for_that_person_only(
    client: TestClient, runtime: Runtime, alice_with_totp: Person, clock: FixedClock
) -> None:
    leaked, other = new_key(runtime), new_key(runtime)
    for _ in range(KEY_FAILURES_PER_PERSON):
        assert check(client, leaked, "alice", "000000") == {"ok": False}
    assert check(client, leaked, "alice", alice_with_totp.totp(clock)) == {"ok": False}
    assert events(runtime, AuditEventType.API_KEY_LOCKED) == 1
    assert events(runtime, AuditEventType.API_KEY_CODE_FAILED) == KEY_FAILURES_PER_PERSON
    row = user_row(runtime, alice_with_totp)
    # The pages' lock is untouched: she signs in as before; another key still answers.
    assert row.failed_code_count == 0
    assert row.code_locked_until is None
    assert check(client, other, "alice", alice_with_totp.totp(clock)) == {
        "ok": True,
        "method": "totp",
    }
    # Her right code through another key starts every key's budget again.
    clock.advance(30)
    assert check(client, leaked, "alice", alice_with_totp.totp(clock)) == {
        "ok": True,
        "method": "totp",
    }


def test_wrong_codes_through_many_keys_reach_the_hard_stop(
    client: TestClient, runtime: Runtime, alice_with_totp: Person, clock: FixedClock
) -> None:
    keys = [new_key(runtime) for _ in range(PERMANENT_LOCK_AT // KEY_FAILURES_PER_PERSON)]
    for key in keys:
        for _ in range(KEY_FAILURES_PER_PERSON):
            check(client, key, "alice", "000000")
    row = user_row(runtime, alice_with_totp)
    assert row.key_failed_code_count == PERMANENT_LOCK_AT
    assert events(runtime, AuditEventType.SECOND_FACTOR_LOCKED) == 1
    fresh = new_key(runtime)
    assert check(client, fresh, "alice", alice_with_totp.totp(clock)) == {"ok": False}


def test_a_key_of_another_organization_does_not_answer_for_these_members(
    client: TestClient, runtime: Runtime, alice_with_totp: Person, clock: FixedClock
) -> None:
    make_org(runtime, "acme")
    assert check(client, new_key(runtime, "acme"), "alice", alice_with_totp.totp(clock)) == {
        "ok": False
    }


def test_the_key_is_rate_limited_with_retry_after(
    client: TestClient, runtime: Runtime, alice: Person
) -> None:
    """Its requests_per_minute, counted by services/rate_limits.py (more there, in
    tests/web/test_request_rate_limits.py); a window that cannot end within the test."""
    key = new_key(runtime, per_minute=3)
    for _ in range(3):
        check(client, key, "alice", "000000")
    refused = client.post(VERIFY, json={"user": "alice", "code": "1"}, headers=bearer(key))
    assert refused.status_code == 429
    assert refused.json()["error"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60


def test_bad_requests_answer_in_the_error_shape_and_change_nothing(
    client: TestClient, runtime: Runtime, alice_with_totp: Person, clock: FixedClock
) -> None:
    key = new_key(runtime)
    make_org(runtime, "acme")
    revoked = new_key(runtime, "acme")
    with runtime.db() as db:
        api_keys.revoke_key(db, runtime, api_keys.find_active_key(db, revoked).id)  # type: ignore[union-attr]
    code = alice_with_totp.totp(clock)
    good = {"user": "alice", "code": code}
    before = snapshot(runtime, skip=("api_keys",))
    cases = [
        (401, "missing_api_key", {}, good),
        (401, "invalid_api_key", bearer("tfk_not-a-key"), good),
        (401, "invalid_api_key", bearer(revoked), good),
        (401, "missing_api_key", {"Authorization": f"Basic {key}"}, good),
        (422, "invalid_request", bearer(key), "{not json"),
        (422, "invalid_request", bearer(key), {"user": "alice", "code": 123456}),
        (422, "invalid_request", bearer(key), {"user": ["alice"], "code": code}),
        (422, "invalid_request", bearer(key), {"user": "alice"}),
        (422, "invalid_request", bearer(key), {**good, "admin": True}),
        (422, "invalid_request", bearer(key), [good]),
        (422, "invalid_request", bearer(key), {"user": "alice", "code": "1" * 65}),
    ]
    for status, error, headers, body in cases:
        if isinstance(body, str):
            response = client.post(
                VERIFY, content=body, headers={**headers, "Content-Type": "application/json"}
            )
        else:
            response = client.post(VERIFY, json=body, headers=headers)
        assert response.status_code == status, (body, response.text)
        assert set(response.json()) == {"error", "message"}
        assert response.json()["error"] == error
        if status == 401:
            assert response.headers["WWW-Authenticate"] == "Bearer"
    huge = client.post(VERIFY, content=b'{"user": "' + b"a" * 70_000 + b'"}', headers=bearer(key))
    assert huge.status_code == 413
    assert snapshot(runtime, skip=("api_keys",)) == before
    assert check(client, key, "alice", code) == {"ok": True, "method": "totp"}


def test_creating_and_revoking_a_key_tells_the_admins_never_the_key(
    runtime: Runtime,
) -> None:
    make_org(runtime, "acme")
    admin = make_person(runtime, "ada", email="ada@example.com")
    from support import join
    from twofold.core.policy import Role

    join(runtime, admin, "acme", Role.ADMIN)
    with runtime.db() as db:
        created = api_keys.create_key(db, runtime, "acme", name="Billing")
        api_keys.revoke_key(db, runtime, created.key.id)
    mailer = CapturingMailer()
    mail.deliver_pending(runtime, mailer)
    subjects = [m["Subject"] for m in mailer.messages]
    assert any("API key 'Billing' created for" in s for s in subjects)
    assert any("API key 'Billing' revoked for" in s for s in subjects)
    assert all(created.secret not in m.as_string() for m in mailer.messages)
    assert events(runtime, AuditEventType.API_KEY_CREATED) == 1
    assert events(runtime, AuditEventType.API_KEY_REVOKED) == 1
