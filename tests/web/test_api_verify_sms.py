"""POST /api/v1/verify's SMS exchange through an organization API key: `{user, method:
"sms"}` texts a code and answers 202 with a challenge; `{user, challenge, code}` checks it,
once. The refusals that could tell whether a login exists or has a phone look alike; the
limits, the resend wait and a provider failure answer as documented; the challenge is
bound to its key and never written down."""

from __future__ import annotations

import json
import logging
from itertools import count

import pytest
from sqlalchemy import select

from asgi_client import TestClient
from support import (
    CapturingSms,
    Person,
    allow_sms,
    enroll_sms,
    join,
    make_member,
    make_org,
    make_person,
    snapshot,
)
from twofold.core.audit_events import AuditEventType
from twofold.core.lockout import KEY_FAILURES_PER_PERSON
from twofold.otp.clock import FixedClock
from twofold.services import api_keys, sms_codes
from twofold.services.runtime import Runtime
from twofold.store.models import AuditEvent, SmsChallenge, SmsRateWindow, User

VERIFY = "/api/v1/verify"
PHONE = "+447400123456"
KEY_NUMBERS = count(1)


def new_key(runtime: Runtime, slug: str = "default") -> str:
    with runtime.db() as db:
        return api_keys.create_key(
            db, runtime, slug, name=f"app {slug} {next(KEY_NUMBERS)}", requests_per_minute=1000
        ).secret


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def send(client: TestClient, key: str, user: str) -> tuple[int, dict[str, object], str | None]:
    """The first call: status, body, Retry-After."""
    response = client.post(VERIFY, json={"user": user, "method": "sms"}, headers=bearer(key))
    return response.status_code, response.json(), response.headers.get("Retry-After")


def challenge_for(client: TestClient, key: str, user: str) -> str:
    status, body, _ = send(client, key, user)
    assert status == 202, body
    assert set(body) == {"challenge", "expires_in"}
    assert body["expires_in"] == 300
    challenge = body["challenge"]
    assert isinstance(challenge, str)
    return challenge


def answer(client: TestClient, key: str, user: str, challenge: str, code: str) -> object:
    response = client.post(
        VERIFY, json={"user": user, "challenge": challenge, "code": code}, headers=bearer(key)
    )
    assert response.status_code == 200, response.text
    return response.json()


def events(runtime: Runtime, event: AuditEventType) -> list[AuditEvent]:
    with runtime.db() as db:
        return list(
            db.scalars(
                select(AuditEvent).where(AuditEvent.event == event.value).order_by(AuditEvent.id)
            )
        )


def wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


@pytest.fixture
def texts(runtime: Runtime) -> CapturingSms:
    return allow_sms(runtime)


@pytest.fixture
def bob(runtime: Runtime, texts: CapturingSms, clock: FixedClock) -> Person:
    """A member of the default organization whose phone is his only method; the hour of
    the enrollment's text is over."""
    person = make_person(runtime, "bob")
    enroll_sms(runtime, person, PHONE)
    clock.advance(3600)
    texts.messages.clear()
    return person


def test_send_then_the_right_code_answers_sms_once(
    client: TestClient, runtime: Runtime, texts: CapturingSms, bob: Person, clock: FixedClock
) -> None:
    key = new_key(runtime)
    challenge = challenge_for(client, key, "bob")
    assert len(texts.messages) == 1
    assert texts.messages[0][0] == PHONE
    code = texts.last_code(PHONE)
    assert answer(client, key, "bob", challenge, code) == {"ok": True, "method": "sms"}
    # Used up: the same code, again, is refused.
    assert answer(client, key, "bob", challenge, code) == {"ok": False}
    (verified,) = events(runtime, AuditEventType.API_KEY_VERIFIED)
    assert json.loads(verified.detail)["method"] == "sms"
    assert [json.loads(e.detail)["purpose"] for e in events(runtime, AuditEventType.SMS_SENT)] == [
        "enroll",
        "api",
    ]
    # `method` may be given with the code too.
    challenge = challenge_for_after_wait(client, clock, key, "bob")
    response = client.post(
        VERIFY,
        json={"user": "bob", "method": "sms", "challenge": challenge, "code": texts.last_code()},
        headers=bearer(key),
    )
    assert response.json() == {"ok": True, "method": "sms"}


def challenge_for_after_wait(client: TestClient, clock: FixedClock, key: str, user: str) -> str:
    clock.advance(sms_codes.RESEND_AFTER.total_seconds())
    return challenge_for(client, key, user)


def test_five_wrong_codes_kill_the_challenge_and_count_as_key_failures(
    client: TestClient, runtime: Runtime, texts: CapturingSms, bob: Person, clock: FixedClock
) -> None:
    key = new_key(runtime)
    challenge = challenge_for(client, key, "bob")
    code = texts.last_code()
    for _ in range(sms_codes.MAX_WRONG_TRIES):
        assert answer(client, key, "bob", challenge, wrong(code)) == {"ok": False}
    assert answer(client, key, "bob", challenge, code) == {"ok": False}
    assert len(events(runtime, AuditEventType.API_KEY_CODE_FAILED)) == sms_codes.MAX_WRONG_TRIES
    with runtime.db() as db:
        user = db.get(User, bob.id)
        assert user is not None
        assert user.key_failed_code_count == sms_codes.MAX_WRONG_TRIES
        assert user.failed_code_count == 0  # never the pages' timed lock
        assert user.code_locked_until is None
    # A malformed code is not a guess: not counted.
    challenge = challenge_for_after_wait(client, clock, key, "bob")
    assert answer(client, key, "bob", challenge, "12ab") == {"ok": False}
    assert len(events(runtime, AuditEventType.API_KEY_CODE_FAILED)) == sms_codes.MAX_WRONG_TRIES


def test_wrong_texted_codes_spend_the_key_budget_for_that_person(
    client: TestClient, runtime: Runtime, texts: CapturingSms, bob: Person, clock: FixedClock
) -> None:
    key, other = new_key(runtime), new_key(runtime)
    for _ in range(KEY_FAILURES_PER_PERSON // sms_codes.MAX_WRONG_TRIES):
        challenge = challenge_for_after_wait(client, clock, key, "bob")
        for _ in range(sms_codes.MAX_WRONG_TRIES):
            answer(client, key, "bob", challenge, wrong(texts.last_code()))
    assert len(events(runtime, AuditEventType.API_KEY_LOCKED)) == 1
    # The key no longer texts him nor checks his codes; another key still does.
    sent_before = len(texts.messages)
    clock.advance(30)
    assert send(client, key, "bob")[:2] == (200, {"ok": False})
    assert len(texts.messages) == sent_before
    challenge = challenge_for(client, other, "bob")
    assert answer(client, other, "bob", challenge, texts.last_code()) == {
        "ok": True,
        "method": "sms",
    }


def test_a_challenge_answers_only_through_its_own_key_and_for_its_own_person(
    client: TestClient, runtime: Runtime, texts: CapturingSms, bob: Person, clock: FixedClock
) -> None:
    carol = make_person(runtime, "carol")
    enroll_sms(runtime, carol, "+447400654321")
    make_org(runtime, "acme")
    allow_sms(runtime, "acme").messages = texts.messages
    runtime.sms = texts
    key, same_org, other_org = new_key(runtime), new_key(runtime), new_key(runtime, "acme")
    challenge = challenge_for(client, key, "bob")
    code = texts.last_code(PHONE)
    before = snapshot(runtime, skip=("api_keys",))
    assert answer(client, same_org, "bob", challenge, code) == {"ok": False}
    assert answer(client, other_org, "bob", challenge, code) == {"ok": False}
    assert answer(client, key, "carol", challenge, code) == {"ok": False}
    assert answer(client, key, "bob", challenge + "x", code) == {"ok": False}
    # Nothing was compared, so nothing was counted.
    assert snapshot(runtime, skip=("api_keys",)) == before
    assert answer(client, key, "bob", challenge, code) == {"ok": True, "method": "sms"}


def test_refusals_that_could_reveal_a_login_or_a_phone_look_alike(
    client: TestClient, runtime: Runtime, texts: CapturingSms, bob: Person, clock: FixedClock
) -> None:
    make_person(runtime, "dave", with_totp=True)  # a member without a phone
    make_org(runtime, "acme")
    outsider = make_member(runtime, "olga", "acme")
    allow_sms(runtime, "acme").messages = texts.messages
    runtime.sms = texts
    enroll_sms(runtime, outsider, "+447400999999")
    make_org(runtime, "nosms")
    nosms_member = make_member(runtime, "nina", "nosms")
    # bob is also a member of an organization that does not allow SMS.
    join(runtime, bob, "nosms")
    texts.messages.clear()
    key, nosms_key = new_key(runtime), new_key(runtime, "nosms")
    before = snapshot(runtime, skip=("api_keys",))
    answers = {
        login: client.post(VERIFY, json={"user": login, "method": "sms"}, headers=bearer(key))
        for login in ("nobody-here", "dave", "olga")
    }
    for login in ("bob", nosms_member.login):
        answers[f"nosms:{login}"] = client.post(
            VERIFY, json={"user": login, "method": "sms"}, headers=bearer(nosms_key)
        )
    for login, response in answers.items():
        assert response.status_code == 200, login
        assert response.json() == {"ok": False}, login
        assert response.headers["content-type"] == "application/json", login
    assert {len(r.content) for r in answers.values()} == {len(b'{"ok":false}')}
    assert texts.messages == []
    assert snapshot(runtime, skip=("api_keys",)) == before
    # The same key answers 202 for bob.
    assert send(client, key, "bob")[0] == 202


def test_the_resend_wait_answers_429_with_retry_after(
    client: TestClient, runtime: Runtime, texts: CapturingSms, bob: Person, clock: FixedClock
) -> None:
    key = new_key(runtime)
    challenge_for(client, key, "bob")
    clock.advance(12)
    status, body, retry = send(client, key, "bob")
    assert status == 429
    assert body["error"] == "sms_resend_too_soon"
    assert set(body) == {"error", "message"}
    assert retry == "18"
    assert len(texts.messages) == 1
    clock.advance(18)
    challenge_for(client, key, "bob")


def test_the_account_limit_answers_429_with_retry_after_until_the_window_ends(
    client: TestClient, runtime: Runtime, texts: CapturingSms, bob: Person, clock: FixedClock
) -> None:
    key = new_key(runtime)
    for _ in range(sms_codes.ACCOUNT_PER_HOUR):
        challenge_for(client, key, "bob")
        clock.advance(30)
    status, body, retry = send(client, key, "bob")
    assert status == 429
    assert body["error"] == "sms_limit_reached"
    assert retry == str(3600 - 30 * sms_codes.ACCOUNT_PER_HOUR)
    assert len(texts.messages) == sms_codes.ACCOUNT_PER_HOUR
    (refused,) = events(runtime, AuditEventType.SMS_LIMIT_REACHED)
    assert json.loads(refused.detail)["limit"] == "account"
    clock.advance(3600)
    challenge_for(client, key, "bob")


def test_a_provider_failure_is_503_audited_and_takes_no_slot(
    client: TestClient, runtime: Runtime, texts: CapturingSms, bob: Person
) -> None:
    key = new_key(runtime)
    texts.fail = "http 503"
    status, body, _ = send(client, key, "bob")
    assert status == 503
    assert set(body) == {"error", "message"}
    assert body["error"] == "sms_send_failed"
    (failed,) = events(runtime, AuditEventType.SMS_SEND_FAILED)
    assert json.loads(failed.detail)["reason"] == "http 503"
    assert json.loads(failed.detail)["purpose"] == "api"
    with runtime.db() as db:
        assert db.scalar(
            select(SmsRateWindow.count).where(SmsRateWindow.key == f"account:{bob.id}")
        ) == (0)
        assert not list(db.scalars(select(SmsChallenge).where(SmsChallenge.purpose == "api")))
    texts.fail = None
    challenge = challenge_for(client, key, "bob")  # no resend wait started
    assert answer(client, key, "bob", challenge, texts.last_code()) == {"ok": True, "method": "sms"}


def test_the_challenge_is_stored_as_a_digest_and_never_logged_or_audited(
    client: TestClient,
    runtime: Runtime,
    texts: CapturingSms,
    bob: Person,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    key = new_key(runtime)
    challenge = challenge_for(client, key, "bob")
    answer(client, key, "bob", challenge, wrong(texts.last_code()))
    answer(client, key, "bob", challenge, texts.last_code())
    with runtime.db() as db:
        stored = list(db.scalars(select(SmsChallenge.transaction_id).order_by(SmsChallenge.id)))
        details = " ".join(db.scalars(select(AuditEvent.detail)))
    assert stored == [None, sms_codes.transaction_digest(challenge)]
    assert challenge not in details
    assert challenge not in caplog.text
    assert PHONE not in details


def test_bad_bodies_are_422_in_the_error_shape_and_change_nothing(
    client: TestClient, runtime: Runtime, texts: CapturingSms, bob: Person
) -> None:
    key = new_key(runtime)
    challenge = challenge_for(client, key, "bob")
    before = snapshot(runtime, skip=("api_keys",))
    bodies: list[dict[str, object]] = [
        {"user": "bob", "challenge": challenge},
        {"user": "bob", "method": "sms", "challenge": challenge},
        {"user": "bob", "method": "email"},
        {"user": "bob", "method": "totp", "code": "123456"},
        {"user": "bob", "method": "sms", "code": "123456"},
        {"user": "bob", "method": "sms", "extra": True},
        {"user": "bob", "challenge": "", "code": "123456"},
        {"user": "bob", "challenge": "x" * 129, "code": "123456"},
        {"user": "bob", "challenge": 1, "code": "123456"},
        {"user": "bob"},
    ]
    for body in bodies:
        response = client.post(VERIFY, json=body, headers=bearer(key))
        assert response.status_code == 422, (body, response.text)
        assert set(response.json()) == {"error", "message"}
        assert response.json()["error"] == "invalid_request"
    assert snapshot(runtime, skip=("api_keys",)) == before
    assert len(texts.messages) == 1
    assert answer(client, key, "bob", challenge, texts.last_code()) == {"ok": True, "method": "sms"}
