"""Request-rate limits (decision 0023) as a client sees them: per address on every counted
path, per API key at the verify endpoint, per OIDC client at the token endpoint; counted per
process without Redis and shared through Redis; and Redis going away mid-way.

`limits` keeps its windows on the wall clock, so every limit here is one that cannot end
during a test (an hour, or a key's minute after a handful of requests): no test waits for a
window. The fallback's retry interval is on the runtime's clock, which the tests move."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from itertools import count

import pytest
from pydantic import SecretStr

from asgi_client import TestClient
from redis_proxy import RedisProxy
from support import STRONG_PASSWORD, Person, csrf_token
from twofold.core.errors import ConfigurationError
from twofold.core.rate_limits import REDIS_RETRY
from twofold.crypto.passwords import PasswordHashingParams
from twofold.otp.clock import FixedClock
from twofold.services import api_keys, oidc_clients
from twofold.services.runtime import Runtime, build_runtime
from twofold.web.app import create_app

VERIFY = "/api/v1/verify"
TOKEN = "/oidc/token"
NAMES = count(1)

RuntimeFactory = Callable[..., Runtime]


@pytest.fixture
def runtime_with(runtime: Runtime, clock: FixedClock) -> Iterator[RuntimeFactory]:
    """Another runtime (another server process, as far as limits go) on the test's database,
    with these settings."""
    made: list[Runtime] = []

    def make(**settings: str) -> Runtime:
        update: dict[str, object] = dict(settings)
        if "redis_url" in settings:
            update["redis_url"] = SecretStr(settings["redis_url"])
        built = build_runtime(
            runtime.settings.model_copy(update=update),
            clock=clock,
            hashing=PasswordHashingParams.for_tests(),
            apply_migrations=False,
            engine=runtime.engine,
        )
        made.append(built)
        return built

    yield make
    for built in made:
        built.request_limits.close()


@pytest.fixture
def browsers() -> Iterator[Callable[..., TestClient]]:
    """A browser on an app of its own for the runtime: two can be open at once."""
    with ExitStack() as stack:

        def open_browser(runtime: Runtime, address: str = "203.0.113.7") -> TestClient:
            app = create_app(runtime=runtime, mail_worker=False, purge_worker=False)
            return stack.enter_context(
                TestClient(app, follow_redirects=False, client=(address, 50000))
            )

        yield open_browser


def new_key(runtime: Runtime, per_minute: int) -> str:
    with runtime.db() as db:
        created = api_keys.create_key(
            db, runtime, "default", name=f"app {next(NAMES)}", requests_per_minute=per_minute
        )
        return created.secret


def new_client(runtime: Runtime) -> tuple[str, str]:
    with runtime.db() as db:
        created = oidc_clients.create_client(
            db,
            runtime,
            "default",
            name=f"app {next(NAMES)}",
            redirect_uris=["https://a.example/cb"],
        )
        assert created.secret is not None
        return created.client.client_id, created.secret


def token_request(browser: TestClient, client_id: str, secret: str) -> tuple[int, dict[str, str]]:
    """A code exchange with a code that does not exist: the client authenticates, the grant
    is refused (400) unless the rate limit answers first (429)."""
    response = browser.post(
        TOKEN,
        data={
            "grant_type": "authorization_code",
            "code": "no-such-code",
            "redirect_uri": "https://a.example/cb",
            "client_id": client_id,
            "client_secret": secret,
        },
    )
    return response.status_code, response.json()


# --- per address ---------------------------------------------------------------------------


def test_an_address_over_its_limit_gets_a_page_with_429_and_retry_after(
    runtime_with: RuntimeFactory, browsers: Callable[..., TestClient]
) -> None:
    browser = browsers(runtime_with(rate_limit_per_ip="3/hour"))
    assert [browser.get("/login").status_code for _ in range(3)] == [200, 200, 200]
    refused = browser.get("/login")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600
    assert "Too many requests" in refused.text
    assert refused.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in refused.headers["content-security-policy"]
    # Never counted: static files and the probes.
    for path in ("/static/style.css", "/healthz", "/readyz"):
        assert browser.get(path).status_code == 200, path


def test_each_address_has_its_own_count(
    runtime_with: RuntimeFactory, browsers: Callable[..., TestClient]
) -> None:
    limited = runtime_with(rate_limit_per_ip="2/hour")
    first = browsers(limited, "203.0.113.7")
    other = browsers(limited, "198.51.100.9")
    assert [first.get("/login").status_code for _ in range(3)] == [200, 200, 429]
    assert other.get("/login").status_code == 200


def test_off_turns_the_address_limit_off(
    runtime_with: RuntimeFactory, browsers: Callable[..., TestClient]
) -> None:
    browser = browsers(runtime_with(rate_limit_per_ip="off"))
    assert {browser.get("/login").status_code for _ in range(20)} == {200}


def test_the_api_answers_an_address_over_its_limit_in_its_error_shape(
    runtime_with: RuntimeFactory, browsers: Callable[..., TestClient]
) -> None:
    browser = browsers(runtime_with(rate_limit_per_ip="2/hour"))
    assert [browser.get("/api/v1/me/two-factor").status_code for _ in range(2)] == [401, 401]
    refused = browser.get("/api/v1/me/two-factor")
    assert refused.status_code == 429
    assert refused.json()["error"] == "rate_limited"
    assert "Too many requests" in refused.json()["message"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600


def test_oidc_endpoints_applications_read_answer_an_oauth_error(
    runtime_with: RuntimeFactory, browsers: Callable[..., TestClient]
) -> None:
    browser = browsers(runtime_with(rate_limit_per_ip="1/hour"))
    assert browser.get("/.well-known/openid-configuration").status_code == 200
    refused = browser.get("/oidc/userinfo")
    assert refused.status_code == 429
    assert refused.json()["error"] == "slow_down"
    assert "Retry-After" in refused.headers


def test_sign_in_pages_count_toward_the_address_limit(
    runtime_with: RuntimeFactory, browsers: Callable[..., TestClient], alice: Person
) -> None:
    browser = browsers(runtime_with(rate_limit_per_ip="3/hour"))
    token = csrf_token(browser, "/login")  # 1
    signed_in = browser.post(
        "/login", data={"login": "alice", "password": STRONG_PASSWORD, "csrf_token": token}
    )  # 2
    assert signed_in.status_code == 303
    assert browser.get("/account/security").status_code == 200  # 3
    assert browser.get("/account/security").status_code == 429


# --- per API key ---------------------------------------------------------------------------


def test_a_valid_api_key_is_counted_by_its_own_limit_not_the_address(
    runtime_with: RuntimeFactory, browsers: Callable[..., TestClient], alice: Person
) -> None:
    limited = runtime_with(rate_limit_per_ip="2/hour")
    browser = browsers(limited)
    key = new_key(limited, per_minute=4)
    auth = {"Authorization": f"Bearer {key}"}
    body = {"user": "alice", "code": "000000"}
    answers = [browser.post(VERIFY, json=body, headers=auth) for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429]
    refused = answers[-1]
    assert refused.json()["error"] == "rate_limited"
    assert "This API key sent too many requests" in refused.json()["message"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # Another key of the same application server has its own count.
    other = {"Authorization": f"Bearer {new_key(limited, per_minute=4)}"}
    assert browser.post(VERIFY, json=body, headers=other).status_code == 200


def test_requests_without_a_valid_key_are_counted_by_the_address(
    runtime_with: RuntimeFactory, browsers: Callable[..., TestClient]
) -> None:
    browser = browsers(runtime_with(rate_limit_per_ip="2/hour"))
    body = {"user": "alice", "code": "000000"}
    wrong = {"Authorization": "Bearer tfk_not-a-key"}
    statuses = [browser.post(VERIFY, json=body, headers=wrong).status_code for _ in range(2)]
    assert statuses == [401, 401]
    refused = browser.post(VERIFY, json=body)  # no key at all: the same address
    assert refused.status_code == 429
    assert refused.json()["error"] == "rate_limited"
    assert "Retry-After" in refused.headers


def test_using_a_key_records_when_it_was_last_used_to_the_minute(
    runtime: Runtime, client: TestClient, clock: FixedClock, alice: Person
) -> None:
    key = new_key(runtime, per_minute=100)
    auth = {"Authorization": f"Bearer {key}"}
    body = {"user": "alice", "code": "000000"}

    def last_used() -> object:
        with runtime.db() as db:
            found = api_keys.find_active_key(db, key)
            assert found is not None
            return found.last_used_at

    assert last_used() is None
    client.post(VERIFY, json=body, headers=auth)
    first = last_used()
    assert first == clock.now()
    clock.advance(30)
    client.post(VERIFY, json=body, headers=auth)
    assert last_used() == first  # within the minute the console shows: no write
    clock.advance(31)
    client.post(VERIFY, json=body, headers=auth)
    assert last_used() == clock.now()


# --- per OIDC client -----------------------------------------------------------------------


def test_an_oidc_client_over_its_limit_gets_an_oauth_error_with_429(
    runtime_with: RuntimeFactory, browsers: Callable[..., TestClient]
) -> None:
    limited = runtime_with(rate_limit_per_client="2/hour", rate_limit_per_ip="1/hour")
    browser = browsers(limited)
    client_id, secret = new_client(limited)
    # Past the address's limit: an authenticated client is counted by its own.
    assert token_request(browser, client_id, secret)[0] == 400
    assert token_request(browser, client_id, secret)[0] == 400
    response = browser.post(
        TOKEN,
        data={
            "grant_type": "authorization_code",
            "code": "x",
            "redirect_uri": "https://a.example/cb",
            "client_id": client_id,
            "client_secret": secret,
        },
    )
    assert response.status_code == 429
    assert response.json()["error"] == "slow_down"
    assert "too many token requests" in response.json()["error_description"]
    assert 1 <= int(response.headers["Retry-After"]) <= 3600
    # Another client has its own count.
    other_id, other_secret = new_client(limited)
    assert token_request(browser, other_id, other_secret)[0] == 400


def test_failed_client_authentication_is_counted_by_the_address(
    runtime_with: RuntimeFactory, browsers: Callable[..., TestClient]
) -> None:
    limited = runtime_with(rate_limit_per_client="100/hour", rate_limit_per_ip="2/hour")
    browser = browsers(limited)
    client_id, _secret = new_client(limited)
    assert token_request(browser, client_id, "wrong")[0] == 401
    assert token_request(browser, client_id, "wrong")[0] == 401
    status, body = token_request(browser, client_id, "wrong")
    assert status == 429
    assert body["error"] == "slow_down"


# --- per process without Redis, shared with it ---------------------------------------------


def test_without_redis_each_process_counts_on_its_own(
    runtime_with: RuntimeFactory, browsers: Callable[..., TestClient]
) -> None:
    one = browsers(runtime_with(rate_limit_per_ip="2/hour"))
    two = browsers(runtime_with(rate_limit_per_ip="2/hour"))
    assert [one.get("/login").status_code for _ in range(3)] == [200, 200, 429]
    assert [two.get("/login").status_code for _ in range(3)] == [200, 200, 429]
    assert two.get("/readyz").json() == {"status": "ok", "database": "ok", "migrations": "ok"}


def test_processes_sharing_redis_share_every_limit(
    runtime_with: RuntimeFactory,
    browsers: Callable[..., TestClient],
    redis_server_url: str,
    redis_prefix: str,
    alice: Person,
) -> None:
    shared = {
        "redis_url": redis_server_url,
        "redis_key_prefix": redis_prefix,
        "rate_limit_per_ip": "3/hour",
        "rate_limit_per_client": "2/hour",
    }
    first, second = runtime_with(**shared), runtime_with(**shared)
    one, two = browsers(first), browsers(second)
    # The address: 2 here and 1 there make 3.
    assert [one.get("/login").status_code for _ in range(2)] == [200, 200]
    assert two.get("/login").status_code == 200
    assert two.get("/login").status_code == 429
    assert one.get("/login").status_code == 429
    # An API key.
    auth = {"Authorization": f"Bearer {new_key(first, per_minute=3)}"}
    body = {"user": "alice", "code": "000000"}
    statuses = [b.post(VERIFY, json=body, headers=auth).status_code for b in (one, two, one, two)]
    assert statuses == [200, 200, 200, 429]
    # An OIDC client.
    client_id, secret = new_client(first)
    assert token_request(one, client_id, secret)[0] == 400
    assert token_request(two, client_id, secret)[0] == 400
    assert token_request(one, client_id, secret)[0] == 429
    assert one.get("/readyz").json() == {
        "status": "ok",
        "database": "ok",
        "migrations": "ok",
        "redis": "ok",
    }


# --- Redis going away ----------------------------------------------------------------------


def test_when_redis_goes_away_sign_in_goes_on_with_per_process_limits(
    runtime_with: RuntimeFactory,
    browsers: Callable[..., TestClient],
    redis_server_url: str,
    redis_prefix: str,
    clock: FixedClock,
    alice: Person,
    caplog: pytest.LogCaptureFixture,
) -> None:
    proxy = RedisProxy(redis_server_url)
    proxy.start()
    try:
        settings = {"redis_key_prefix": redis_prefix, "rate_limit_per_ip": "4/hour"}
        through_proxy = runtime_with(redis_url=proxy.url, **settings)
        direct = runtime_with(redis_url=redis_server_url, **settings)
        browser, other_process = browsers(through_proxy), browsers(direct)
        assert browser.get("/login").status_code == 200  # counted in Redis: 1
        assert other_process.get("/login").status_code == 200  # 2

        proxy.stop()
        caplog.set_level(logging.WARNING, logger="twofold.rate_limits")
        token = csrf_token(browser, "/login")
        signed_in = browser.post(
            "/login", data={"login": "alice", "password": STRONG_PASSWORD, "csrf_token": token}
        )
        assert signed_in.status_code == 303, signed_in.text
        assert browser.get("/account/security").status_code == 200
        # Counted in this process from the outage on: 3 so far, the 4th is its last.
        assert browser.get("/account/security").status_code == 200
        assert browser.get("/account/security").status_code == 429
        outage = [r for r in caplog.records if "not answering" in r.getMessage()]
        assert len(outage) == 1  # once, not per request
        assert proxy.url.rpartition("@")[2].removeprefix("redis://") in outage[0].getMessage()
        ready = browser.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {
            "status": "degraded",
            "database": "ok",
            "migrations": "ok",
            "redis": "not answering",
        }
        assert other_process.get("/login").status_code == 200  # Redis's count: 3

        proxy.start()  # Redis is back, on the same address
        clock.advance(REDIS_RETRY.total_seconds())
        assert browser.get("/account/security").status_code == 200  # Redis's count: 4
        assert other_process.get("/login").status_code == 429
        assert browser.get("/account/security").status_code == 429
        assert any("answers again" in r.getMessage() for r in caplog.records)
        assert browser.get("/readyz").json()["status"] == "ok"
    finally:
        proxy.stop()


def test_a_redis_that_never_answered_leaves_sign_in_working(
    runtime_with: RuntimeFactory, browsers: Callable[..., TestClient], alice: Person
) -> None:
    proxy = RedisProxy("redis://127.0.0.1:6379/0")
    proxy.start()
    proxy.stop()  # a port nothing listens on any more
    down = runtime_with(redis_url=proxy.url, rate_limit_per_ip="5/hour")
    browser = browsers(down)
    token = csrf_token(browser, "/login")
    signed_in = browser.post(
        "/login", data={"login": "alice", "password": STRONG_PASSWORD, "csrf_token": token}
    )
    assert signed_in.status_code == 303
    ready = browser.get("/readyz")
    assert (ready.status_code, ready.json()["redis"]) == (200, "not answering")


# --- settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:6379/0", "redis://:sekrit@/0", "redis://h:0/0", "redis://h:99999/0", "x"],
)
def test_a_malformed_redis_url_stops_the_start_without_repeating_it(
    runtime_with: RuntimeFactory, url: str
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        runtime_with(redis_url=url)
    assert "TWOFOLD_REDIS_URL must be an address such as" in refused.value.detail
    assert "sekrit" not in refused.value.detail
