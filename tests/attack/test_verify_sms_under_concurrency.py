"""The verify endpoint's SMS exchange attacked through two `twofold serve` processes sharing
one database (SQLite file and PostgreSQL), the servers texting through the development
outbox: bursts of parallel sends for one person never text more than the per-account
hourly limit (5), and one right texted code sent 20 times at once is accepted exactly once.

The servers run on the real clock; between bursts the test moves the person's last API
code 31 seconds into the past (what the resend wait reads), rather than sleeping."""

from __future__ import annotations

import http.client
import json
import re
from datetime import timedelta
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import delete, func, select

from attack.servers import REQUEST_TIMEOUT, Answer, describe, serve_many, until_answered
from attack.test_limits_under_concurrency import count_events
from support import SMS_COUNTRIES, allow_sms, enroll_sms, make_person
from twofold.core.audit_events import AuditEventType
from twofold.services import api_keys, sms_codes
from twofold.services.runtime import Runtime
from twofold.settings import Settings
from twofold.store.models import SmsChallenge, SmsRateWindow

pytestmark = pytest.mark.attack

PHONE = "+447400123456"
ROUNDS = sms_codes.ACCOUNT_PER_HOUR + 3
SENDS_PER_ROUND = 10
CODE = re.compile(r"\b(\d{6})\b")


def post(base_url: str, key: str, body: dict[str, str]) -> Answer:
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(
        parts.hostname or "127.0.0.1", parts.port, timeout=REQUEST_TIMEOUT
    )
    try:
        connection.request(
            "POST",
            "/api/v1/verify",
            body=json.dumps(body),
            headers={
                "Host": parts.netloc,
                "Content-Type": "application/json",
                "Authorization": f"Bearer {key}",
            },
        )
        response = connection.getresponse()
        text = response.read().decode("utf-8", "replace")
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, text)
    finally:
        connection.close()


def outbox(settings: Settings) -> list[Path]:
    directory = settings.sms_outbox_dir
    return sorted(directory.glob("*.txt")) if directory.exists() else []


def resend_wait_over(runtime: Runtime, user_id: int) -> None:
    """The person's API codes, made 31 seconds earlier: the resend wait is over."""
    with runtime.db() as db:
        for challenge in db.scalars(
            select(SmsChallenge).where(
                SmsChallenge.user_id == user_id, SmsChallenge.purpose == "api"
            )
        ):
            challenge.created_at -= timedelta(seconds=31)
        db.commit()


def test_sms_sends_and_codes_hold_under_parallel_requests_through_two_servers(
    live_runtime: Runtime, settings: Settings, database_url: str
) -> None:
    allow_sms(live_runtime)  # the organization allows SMS (service layer); enrollment captured
    bob = make_person(live_runtime, "bob")
    enroll_sms(live_runtime, bob, PHONE)
    with live_runtime.db() as db:  # the enrollment's text is not the API's concern here
        db.execute(delete(SmsRateWindow))
        db.commit()
    with live_runtime.db() as db:
        key = api_keys.create_key(
            db, live_runtime, "default", name="vpn", requests_per_minute=1000
        ).secret
    env = {"TWOFOLD_SMS_ALLOWED_COUNTRIES": SMS_COUNTRIES, "TWOFOLD_SMS_PROVIDER": "outbox"}
    with serve_many(2, settings.data_dir, database_url, env) as served:
        servers = [s.base_url for s in served]
        sends = partial(post, key=key, body={"user": "bob", "method": "sms"})
        accepted: list[Answer] = []
        refused: list[Answer] = []
        for _round in range(ROUNDS):
            results = until_answered(
                [partial(sends, servers[i % 2]) for i in range(SENDS_PER_ROUND)]
            )
            ok = [a for a in results if a.status == 202]
            assert len(ok) <= 1, describe(results)  # the resend wait, under the row lock
            assert all(a.status in {202, 429} for a in results), describe(results)
            accepted += ok
            refused += [a for a in results if a.status == 429]
            resend_wait_over(live_runtime, bob.id)
        assert len(accepted) == sms_codes.ACCOUNT_PER_HOUR, describe(accepted + refused)
        errors = {json.loads(a.body)["error"] for a in refused}
        assert errors == {"sms_resend_too_soon", "sms_limit_reached"}
        assert all(int(a.headers["retry-after"]) >= 1 for a in refused)
        texts = outbox(settings)
        assert len(texts) == sms_codes.ACCOUNT_PER_HOUR
        # The newest text's code, sent 20 times at once with its challenge: accepted once.
        challenge = json.loads(accepted[-1].body)["challenge"]
        found = CODE.search(texts[-1].read_text(encoding="utf-8"))
        assert found
        body = {"user": "bob", "challenge": challenge, "code": found.group(1)}
        results = until_answered([partial(post, servers[i % 2], key, body) for i in range(20)])
        assert all(a.status == 200 for a in results), describe(results)
        oks = [a for a in results if json.loads(a.body)["ok"]]
        assert len(oks) == 1, describe(results)
        assert json.loads(oks[0].body) == {"ok": True, "method": "sms"}
        log = "".join(line for s in served for line in s.output)
    assert challenge not in log
    assert count_events(live_runtime, bob, AuditEventType.API_KEY_VERIFIED) == 1
    assert count_events(live_runtime, bob, AuditEventType.SMS_SENT) == 1 + len(accepted)
    with live_runtime.db() as db:
        window = db.scalar(
            select(SmsRateWindow.count).where(SmsRateWindow.key == f"account:{bob.id}")
        )
        assert window == sms_codes.ACCOUNT_PER_HOUR
        used = db.scalar(
            select(func.count())
            .select_from(SmsChallenge)
            .where(SmsChallenge.purpose == "api", SmsChallenge.used_at.is_not(None))
        )
        assert used == 1
