"""The verify endpoint attacked through two `twofold serve` processes sharing one database
(SQLite file and PostgreSQL): one TOTP step and one recovery code sent 20 times at once
succeed exactly once; 40 parallel wrong codes through one key evaluate exactly the
(key, person) budget; the per-key request limit holds across both processes (sharing one
Redis). One pair of
servers per database serves every scenario (a server start costs ~2 s of CPU)."""

from __future__ import annotations

import http.client
import json
import time
from functools import partial
from urllib.parse import urlsplit

import pyotp
import pytest

from attack.servers import (
    REQUEST_TIMEOUT,
    Answer,
    describe,
    serve_many,
    until_answered_counting_busy,
)
from attack.test_limits_under_concurrency import count_events, wrong_code
from support import Person, make_person
from twofold.core.audit_events import AuditEventType
from twofold.core.lockout import KEY_FAILURES_PER_PERSON
from twofold.otp.secret import encode_secret
from twofold.services import api_keys
from twofold.services.runtime import Runtime
from twofold.settings import Settings
from twofold.store.models import User

pytestmark = pytest.mark.attack


def verify(base_url: str, key: str, user: str, code: str) -> Answer:
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(
        parts.hostname or "127.0.0.1", parts.port, timeout=REQUEST_TIMEOUT
    )
    try:
        connection.request(
            "POST",
            "/api/v1/verify",
            body=json.dumps({"user": user, "code": code}),
            headers={
                "Host": parts.netloc,
                "Content-Type": "application/json",
                "Authorization": f"Bearer {key}",
            },
        )
        response = connection.getresponse()
        body = response.read().decode("utf-8", "replace")
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
    finally:
        connection.close()


def new_key(runtime: Runtime, name: str, per_minute: int = 1000) -> str:
    with runtime.db() as db:
        return api_keys.create_key(
            db, runtime, "default", name=name, requests_per_minute=per_minute
        ).secret


def burst(servers: list[str], key: str, user: str, codes: list[str]) -> tuple[list[Answer], int]:
    return until_answered_counting_busy(
        [partial(verify, servers[i % 2], key, user, code) for i, code in enumerate(codes)]
    )


def oks(results: list[Answer]) -> int:
    return sum(1 for a in results if a.status == 200 and json.loads(a.body)["ok"])


def test_verify_limits_hold_under_parallel_requests_through_two_servers(
    live_runtime: Runtime,
    settings: Settings,
    database_url: str,
    redis_server_url: str,
    redis_prefix: str,
) -> None:
    alice = make_person(live_runtime, "alice", with_totp=True)
    bob: Person = make_person(live_runtime, "bob", with_totp=True)
    key = new_key(live_runtime, "app")
    leaked = new_key(live_runtime, "leaked")
    limited = new_key(live_runtime, "limited", per_minute=15)
    assert alice.recovery_codes
    # The per-key request limit is shared through Redis (decision 0023).
    redis = {"TWOFOLD_REDIS_URL": redis_server_url, "TWOFOLD_REDIS_KEY_PREFIX": redis_prefix}
    with serve_many(2, settings.data_dir, database_url, redis) as served:
        servers = [s.base_url for s in served]
        # One recovery code, 20 times at once: used exactly once.
        results, _ = burst(servers, key, "alice", [alice.recovery_codes[0]] * 20)
        assert all(a.status == 200 for a in results), describe(results)
        assert oks(results) == 1, describe(results)
        # One TOTP step, 20 times at once: the next step (the enrollment used this one; the
        # window accepts one step ahead), used exactly once.
        assert bob.secret is not None
        code = pyotp.TOTP(encode_secret(bob.secret)).at(time.time() + 30)
        results, _ = burst(servers, key, "bob", [code] * 20)
        assert all(a.status == 200 for a in results), describe(results)
        assert oks(results) == 1, describe(results)
        # 40 wrong codes through one leaked key: exactly the budget is evaluated.
        results, _ = burst(servers, leaked, "alice", [wrong_code(alice)] * 40)
        assert all(a.status == 200 for a in results), describe(results)
        assert oks(results) == 0
        # 30 requests at once through a key allowed 15 a minute.
        results, busy = burst(servers, limited, "nobody", ["000000"] * 30)
        answered = [a for a in results if a.status == 200]
        refused = [a for a in results if a.status == 429]
        assert len(answered) + len(refused) == 30, describe(results)
        assert 15 - busy <= len(answered) <= 15, describe(results)
        assert all(int(a.headers["retry-after"]) >= 1 for a in refused)
    assert count_events(live_runtime, alice, AuditEventType.RECOVERY_CODE_USED) == 1
    assert count_events(live_runtime, bob, AuditEventType.API_KEY_VERIFIED) == 1
    # The 19 replays of the used recovery code count like wrong codes (as on the pages):
    # `key` stops answering for alice after 10 of them; the 40 wrong codes through `leaked`
    # are evaluated exactly 10 times. Each budget is one key's, each stopped once.
    assert (
        count_events(live_runtime, alice, AuditEventType.API_KEY_CODE_FAILED)
        == 2 * KEY_FAILURES_PER_PERSON
    )
    assert count_events(live_runtime, alice, AuditEventType.API_KEY_LOCKED) == 2
    with live_runtime.db() as db:
        user = db.get(User, alice.id)
        assert user is not None
        assert user.failed_code_count == 0
        assert user.code_locked_until is None
        assert user.key_failed_code_count == 2 * KEY_FAILURES_PER_PERSON
