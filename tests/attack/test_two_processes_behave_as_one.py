"""Two `twofold serve` processes on one PostgreSQL and one Redis behave as one deployment
(issue 13, item 3; docs/deploy.md "Several machines"): a session signed in on one is
signed in on the other and signing out on either ends it; a TOTP step accepted by one is
refused by the other, also when both get it at the same moment; wrong codes alternated
between them lock the account after as many as on one server, and both see the lock; the
request-rate limits per address and per API key are counted once across both, in Redis.

The two servers (A and B) are started once for the module, on the real clock; each test
makes people of its own. Each browser sends its requests as a client address of its own
(X-Forwarded-For, with the servers trusting the loopback proxy), so the low per-address
limit counts each test's requests apart. Every limit used cannot end during the module:
the per-address limit is per hour, and an API key's minute starts at its first request
(`limits`' fixed window in Redis) and covers the dozen requests sent through it."""

from __future__ import annotations

import http.client
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from itertools import count
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import Engine

from attack.servers import Answer, Browser, describe, serve_many, until_answered
from attack.test_limits_under_concurrency import sign_in_with_password, wrong_code
from attack.test_verify_under_concurrency import new_key, verify
from support import Person, delete_redis_keys, make_person, settings_for
from twofold.core.lockout import FAILURES_PER_LOCK
from twofold.crypto.passwords import PasswordHashingParams
from twofold.otp.clock import SystemClock
from twofold.otp.secret import encode_secret
from twofold.services.runtime import Runtime, build_runtime

pytestmark = pytest.mark.attack

# TWOFOLD_RATE_LIMIT_PER_IP of both servers: low, and per hour so no window ends mid-test.
PER_ADDRESS = 20
# An API key's own limit (requests per minute) in the shared-limit test.
KEY_PER_MINUTE = 6
# Client addresses (TEST-NET-2), one per browser.
_ADDRESSES = (f"198.51.100.{n}" for n in count(1))


@dataclass(frozen=True)
class Deployment:
    a: str  # base URL of server process A
    b: str  # base URL of server process B
    runtime: Runtime  # the test's own view of the shared database, on the real clock

    @property
    def both(self) -> tuple[str, str]:
        return (self.a, self.b)

    def alternately(self, index: int) -> str:
        """A for even requests, B for odd ones."""
        return self.both[index % 2]


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory,
    module_postgres_url: str,
    postgres_engine: Engine,
    redis_server_url: str,
) -> Iterator[Deployment]:
    data_dir: Path = tmp_path_factory.mktemp("two-processes") / "data"
    runtime = build_runtime(
        settings_for(data_dir, module_postgres_url),
        clock=SystemClock(),
        hashing=PasswordHashingParams.for_tests(),
        apply_migrations=False,
        engine=postgres_engine,
    )
    prefix = f"test-{uuid.uuid4().hex}"
    env = {
        "TWOFOLD_REDIS_URL": redis_server_url,
        "TWOFOLD_REDIS_KEY_PREFIX": prefix,
        "TWOFOLD_RATE_LIMIT_PER_IP": f"{PER_ADDRESS}/hour",
        "TWOFOLD_TRUSTED_PROXIES": "127.0.0.1/32",
    }
    try:
        with serve_many(2, data_dir, module_postgres_url, env) as (a, b):
            yield Deployment(a.base_url, b.base_url, runtime)
    finally:
        delete_redis_keys(redis_server_url, prefix)


def browser() -> Browser:
    """A browser with a client address of its own."""
    return Browser(headers={"X-Forwarded-For": next(_ADDRESSES)})


def fresh_code(person: Person) -> str:
    """The code of the next step on the real clock: the enrollment used the current one, and
    the window accepts one step ahead."""
    assert person.secret is not None
    return pyotp.TOTP(encode_secret(person.secret)).at(time.time() + 30)


def submit_code(browser: Browser, server: str, token: str, code: str) -> Answer:
    return browser.request(server, "POST", "/login/code", {"code": code, "csrf_token": token})


@dataclass
class AtTheCodePrompt:
    """A person with an authenticator app, past the password on both processes: one
    browser at A's code prompt and one at B's, with each prompt's CSRF token."""

    person: Person
    on_a: Browser
    token_a: str
    on_b: Browser
    token_b: str


def at_the_code_prompt_of_both(deployment: Deployment, login: str) -> AtTheCodePrompt:
    a, b = deployment.both
    person = make_person(deployment.runtime, login, with_totp=True)
    on_a, on_b = browser(), browser()
    return AtTheCodePrompt(
        person,
        on_a,
        sign_in_with_password(on_a, a, person),
        on_b,
        sign_in_with_password(on_b, b, person),
    )


def ok(answer: Answer) -> bool:
    assert answer.status == 200, answer.body
    return bool(json.loads(answer.body)["ok"])


def get_json(base_url: str, path: str) -> dict[str, object]:
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        connection.request("GET", path)
        answer: dict[str, object] = json.loads(connection.getresponse().read())
        return answer
    finally:
        connection.close()


def test_a_session_from_one_process_works_on_the_other_and_signing_out_on_it_ends_both(
    deployment: Deployment,
) -> None:
    a, b = deployment.both
    ada = make_person(deployment.runtime, "ada", with_totp=True)
    person = browser()
    token = sign_in_with_password(person, a, ada)
    signed_in = submit_code(person, a, token, fresh_code(ada))
    assert signed_in.status == 303, signed_in.body
    assert signed_in.headers["location"] == "/account/security"

    on_b = person.request(b, "GET", "/account/security")
    assert on_b.status == 200, on_b.body
    assert "ada" in on_b.body
    assert person.request(a, "GET", "/account/security").status == 200

    # The same cookies, kept by someone who does not sign out (a second tab, a copied
    # cookie): signing out on B must end the session for them on A too.
    copy = Browser(headers=person.headers)
    copy.cookies = dict(person.cookies)
    signed_out = person.request(
        b, "POST", "/logout", {"csrf_token": person.csrf(b, "/account/security")}
    )
    assert signed_out.status == 303, signed_out.body
    assert signed_out.headers["location"] == "/login?notice=signed_out"
    for server in (a, b):
        stale = copy.request(server, "GET", "/account/security")
        assert stale.status == 303, stale.body
        assert stale.headers["location"].startswith("/login")


def test_a_code_accepted_by_one_process_is_refused_by_the_other(
    deployment: Deployment,
) -> None:
    a, b = deployment.both
    runtime = deployment.runtime
    bea = at_the_code_prompt_of_both(deployment, "bea")
    code = fresh_code(bea.person)
    accepted = submit_code(bea.on_a, a, bea.token_a, code)
    assert accepted.status == 303, accepted.body
    replayed = submit_code(bea.on_b, b, bea.token_b, code)
    assert replayed.status == 400, replayed.body
    assert "That code was used already." in replayed.body

    # Through the verify API with an organization key: the same.
    key = new_key(runtime, "app of cy")
    cy = make_person(runtime, "cy", with_totp=True)
    code = fresh_code(cy)
    assert ok(verify(a, key, "cy", code))
    assert not ok(verify(b, key, "cy", code))


def test_one_code_sent_to_both_processes_at_the_same_moment_is_accepted_once(
    deployment: Deployment,
) -> None:
    a, b = deployment.both
    runtime = deployment.runtime
    dot = at_the_code_prompt_of_both(deployment, "dot")
    code = fresh_code(dot.person)
    results = until_answered(
        [
            partial(submit_code, dot.on_a, a, dot.token_a, code),
            partial(submit_code, dot.on_b, b, dot.token_b, code),
        ]
    )
    assert sorted(answer.status for answer in results) == [303, 400], describe(results)
    refused = next(answer for answer in results if answer.status == 400)
    assert "That code was used already." in refused.body

    key = new_key(runtime, "app of eve")
    eve = make_person(runtime, "eve", with_totp=True)
    code = fresh_code(eve)
    answers = until_answered([partial(verify, server, key, "eve", code) for server in (a, b)])
    assert [ok(answer) for answer in answers].count(True) == 1, describe(answers)


def test_wrong_codes_alternated_between_the_processes_lock_as_on_one_and_both_see_the_lock(
    deployment: Deployment,
) -> None:
    # This browser's requests (3 for the password, the wrong codes, 2 more) stay under its
    # address's request-rate limit.
    assert FAILURES_PER_LOCK + 5 <= PER_ADDRESS
    flo = make_person(deployment.runtime, "flo", with_totp=True)
    person = browser()
    token = sign_in_with_password(person, deployment.a, flo)
    wrong = wrong_code(flo)
    statuses = [
        submit_code(person, deployment.alternately(i), token, wrong).status
        for i in range(FAILURES_PER_LOCK)
    ]
    # As on one server: FAILURES_PER_LOCK - 1 answers "wrong code", the last one locks.
    assert statuses == [400] * (FAILURES_PER_LOCK - 1) + [429]
    for server in deployment.both:
        refused = submit_code(person, server, token, fresh_code(flo))
        assert refused.status == 429, refused.body
        assert "Too many wrong codes" in refused.body
    # A new sign-in elsewhere meets the same lock.
    elsewhere = browser()
    token = sign_in_with_password(elsewhere, deployment.b, flo)
    refused = submit_code(elsewhere, deployment.b, token, fresh_code(flo))
    assert refused.status == 429, refused.body
    assert "Too many wrong codes" in refused.body


def test_request_rate_limits_are_counted_once_across_both_processes(
    deployment: Deployment,
) -> None:
    for server in deployment.both:
        assert get_json(server, "/readyz")["redis"] == "ok"

    # Per client address: alternated, the limit is reached after PER_ADDRESS requests in
    # all (each process counting on its own would let 2 * PER_ADDRESS through).
    person = browser()
    answers = [
        person.request(deployment.alternately(i), "GET", "/login") for i in range(2 * PER_ADDRESS)
    ]
    statuses = [answer.status for answer in answers]
    assert statuses == [200] * PER_ADDRESS + [429] * PER_ADDRESS, describe(answers)
    assert all(answer.headers.get("retry-after") for answer in answers[PER_ADDRESS:])
    # The limit is that address's: another one is served by both.
    other = browser()
    assert [other.request(server, "GET", "/login").status for server in deployment.both] == [
        200,
        200,
    ]

    # Per API key: its own requests per minute, counted once across both processes.
    key = new_key(deployment.runtime, "limited", per_minute=KEY_PER_MINUTE)
    answers = [
        verify(deployment.alternately(i), key, "nobody", "000000")
        for i in range(2 * KEY_PER_MINUTE)
    ]
    statuses = [answer.status for answer in answers]
    assert statuses == [200] * KEY_PER_MINUTE + [429] * KEY_PER_MINUTE, describe(answers)
    for refused in answers[KEY_PER_MINUTE:]:
        assert json.loads(refused.body)["error"] == "rate_limited"
        assert int(refused.headers["retry-after"]) >= 1
