"""The API sign-in's limits under a burst through two server processes sharing one database
(SQLite file and PostgreSQL), as an attacker would send it: one challenge answered with the
right code twenty times at once gives one token. (The lock under a burst of wrong codes is
the page's own service, tested by test_limits_under_concurrency.)"""

from __future__ import annotations

import http.client
import json
from functools import partial
from urllib.parse import urlsplit

import pyotp
import pytest

from attack.servers import REQUEST_TIMEOUT, Answer, describe, serve_many, until_answered
from attack.test_limits_under_concurrency import count_events
from support import Person, make_person
from twofold.core.audit_events import AuditEventType
from twofold.otp.clock import SystemClock, unix_time
from twofold.otp.secret import encode_secret
from twofold.services.runtime import Runtime
from twofold.settings import Settings

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


def test_one_challenge_and_code_sent_twenty_times_at_once_give_one_token(
    live_runtime: Runtime, settings: Settings, database_url: str
) -> None:
    alice = make_person(live_runtime, "alice", with_totp=True)
    assert alice.secret is not None
    with serve_many(2, settings.data_dir, database_url) as servers:
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
