"""The API sign-in's limits under a burst through two server processes sharing one database
(SQLite file and PostgreSQL), as an attacker would send it: one challenge answered with the
right code twenty times at once gives one token, and forty wrong codes at once are checked
exactly as often as the lock allows (the page's rule, test_limits_under_concurrency). Both
bursts go to one pair of servers: every server start costs CPU the whole suite pays for."""

from __future__ import annotations

import http.client
import json
from functools import partial
from urllib.parse import urlsplit

import pyotp
import pytest

from attack.servers import (
    REQUEST_TIMEOUT,
    Answer,
    describe,
    serve_many,
    until_answered,
    until_answered_counting_busy,
)
from attack.test_limits_under_concurrency import count_events, wrong_code
from support import Person, make_person
from twofold.core.audit_events import AuditEventType
from twofold.core.lockout import FAILURES_PER_LOCK
from twofold.otp.clock import SystemClock, unix_time
from twofold.otp.secret import encode_secret
from twofold.services.runtime import Runtime
from twofold.settings import Settings
from twofold.store.models import User

pytestmark = pytest.mark.attack


def post_json(base_url: str, path: str, body: dict[str, str]) -> Answer:
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(
        parts.hostname or "127.0.0.1", parts.port, timeout=REQUEST_TIMEOUT
    )
    try:
        connection.request(
            "POST",
            path,
            body=json.dumps(body),
            headers={"Host": parts.netloc, "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        text = response.read().decode("utf-8", "replace")
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, text)
    finally:
        connection.close()


def challenge_for(base_url: str, person: Person) -> str:
    answer = post_json(
        base_url, "/api/v1/sign-in", {"login": person.login, "password": person.password}
    )
    assert answer.status == 200, answer.body
    challenge: str = json.loads(answer.body)["challenge"]
    return challenge


def test_bursts_at_the_api_sign_in_give_one_token_and_check_only_ten_wrong_codes(
    live_runtime: Runtime, settings: Settings, database_url: str
) -> None:
    alice = make_person(live_runtime, "alice", with_totp=True)
    bob = make_person(live_runtime, "bob", with_totp=True)
    assert alice.secret is not None
    with serve_many(2, settings.data_dir, database_url) as servers:
        wrong = {"challenge": challenge_for(servers[0].base_url, bob), "code": wrong_code(bob)}
        guesses, busy = until_answered_counting_busy(
            [
                partial(post_json, servers[i % 2].base_url, "/api/v1/sign-in/code", wrong)
                for i in range(40)
            ]
        )
        challenge = challenge_for(servers[0].base_url, alice)
        # The next step's code: never the one enrollment used.
        code = pyotp.TOTP(encode_secret(alice.secret)).at(unix_time(SystemClock().now()) + 30)
        body = {"challenge": challenge, "code": code}
        results = until_answered(
            [
                partial(post_json, servers[i % 2].base_url, "/api/v1/sign-in/code", body)
                for i in range(20)
            ]
        )
    statuses = sorted(a.status for a in results)
    assert statuses.count(200) == 1, describe(results)
    # The others: the code already used (400), counted toward the lock like any replay (429
    # once locked), or a challenge already stepped up (401).
    assert all(s in {200, 400, 401, 429} for s in statuses), describe(results)
    tokens = {json.loads(a.body)["token"] for a in results if a.status == 200}
    assert len(tokens) == 1
    assert count_events(live_runtime, alice, AuditEventType.SIGN_IN_SUCCEEDED) == 1

    guessed = sorted(a.status for a in guesses)
    assert set(guessed) <= {400, 429}, describe(guesses)
    evaluated = count_events(
        live_runtime,
        bob,
        AuditEventType.SECOND_FACTOR_FAILED,
        AuditEventType.SECOND_FACTOR_CODE_REUSED,
    )
    assert evaluated == FAILURES_PER_LOCK, describe(guesses)
    # As on the page: nine "wrong code", the rest "locked" (fewer 400s only where a counted
    # attempt was answered busy and its retry found the lock).
    assert FAILURES_PER_LOCK - 1 - busy <= guessed.count(400) <= FAILURES_PER_LOCK - 1
    with live_runtime.db() as db:
        user = db.get(User, bob.id)
        assert user is not None
        assert user.failed_code_count == FAILURES_PER_LOCK
        assert user.code_locked_until is not None
