"""Production answers only its own host names (TWOFOLD_ALLOWED_HOSTS, by default the base
URL's host) with a clear 400 to any other Host; /healthz and /readyz answer load balancers
whatever Host they use."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from asgi_client import TestClient
from support import make_person, snapshot, text_of
from twofold.crypto.passwords import PasswordHashingParams
from twofold.otp.clock import FixedClock
from twofold.services.runtime import Runtime, build_runtime
from twofold.settings import Settings
from twofold.store.db import make_engine
from twofold.web.app import create_app

ATTACKER = "attacker.example"
CONFIGURED = "https://id.example.org"


def browser_at(runtime: Runtime, host: str, scheme: str = "http") -> TestClient:
    """A browser whose every request carries `Host: host`."""
    return TestClient(
        create_app(runtime=runtime, mail_worker=False),
        base_url=f"{scheme}://{host}",
        follow_redirects=False,
    )


def production(settings: Settings, **changes: object) -> Settings:
    return settings.model_copy(
        update={
            "env": "production",
            "base_url": CONFIGURED,
            "smtp_host": "smtp.invalid",  # never contacted: the tests deliver mail themselves
            **changes,
        }
    )


@pytest.fixture
def prod_runtime(settings: Settings, clock: FixedClock) -> Iterator[Runtime]:
    built = build_runtime(
        production(settings),
        clock=clock,
        hashing=PasswordHashingParams.for_tests(),
        apply_migrations=False,
    )
    yield built
    built.engine.dispose()


def test_production_refuses_a_foreign_host_with_a_clear_400_and_does_nothing(
    prod_runtime: Runtime,
) -> None:
    make_person(prod_runtime, "alice", email="alice@example.org")
    before = snapshot(prod_runtime)
    with browser_at(prod_runtime, ATTACKER, "https") as attacker:
        page = attacker.get("/password/forgot")
        sent = attacker.post("/password/forgot", data={"email": "alice@example.org"})
    assert page.status_code == 400
    assert "This address is not served here" in text_of(page)
    assert page.headers["x-frame-options"] == "DENY"
    assert sent.status_code == 400
    assert snapshot(prod_runtime) == before  # no link, no queued mail, no audit event


@pytest.mark.parametrize("host", ["id.example.org", "ID.Example.org", "id.example.org:443"])
def test_production_answers_its_own_host_name(prod_runtime: Runtime, host: str) -> None:
    with browser_at(prod_runtime, host, "https") as client:
        assert client.get("/login").status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_checks_answer_whatever_the_host(prod_runtime: Runtime, path: str) -> None:
    with browser_at(prod_runtime, "10.0.0.7:8000") as probe:
        response = probe.get(path)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_allowed_hosts_lists_every_name_served(settings: Settings, clock: FixedClock) -> None:
    configured = production(settings, allowed_hosts=" id.example.org, login.example.org ")
    built = build_runtime(
        configured, clock=clock, hashing=PasswordHashingParams.for_tests(), apply_migrations=False
    )
    try:
        for host, status in [("login.example.org", 200), ("id.example.org", 200), (ATTACKER, 400)]:
            with browser_at(built, host, "https") as client:
                assert client.get("/login").status_code == status, host
    finally:
        built.engine.dispose()


def test_development_answers_any_host_unless_allowed_hosts_is_set(
    runtime: Runtime, settings: Settings
) -> None:
    with browser_at(runtime, ATTACKER) as client:
        assert client.get("/login").status_code == 200
    checked = dataclasses.replace(
        runtime, settings=settings.model_copy(update={"allowed_hosts": "localhost"})
    )
    with browser_at(checked, ATTACKER) as client:
        assert client.get("/login").status_code == 400
    with browser_at(checked, "localhost:8000") as client:
        assert client.get("/login").status_code == 200


# --- readiness -----------------------------------------------------------------------------


def test_readyz_says_ok_when_the_database_answers(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "migrations": "ok"}


def test_readyz_says_503_when_the_database_does_not_answer(runtime: Runtime) -> None:
    unreachable = make_engine("postgresql+psycopg://twofold@127.0.0.1:1/twofold")
    cut_off = dataclasses.replace(runtime, engine=unreachable)
    try:
        with TestClient(create_app(runtime=cut_off, mail_worker=False)) as client:
            response = client.get("/readyz")
            alive = client.get("/healthz")
    finally:
        unreachable.dispose()
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.headers["retry-after"]
    assert alive.status_code == 200  # the process itself is fine
