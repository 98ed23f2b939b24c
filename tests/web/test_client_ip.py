"""The audit log, the sessions and the per-address throttle record the client's address by
the one rule (core.client_ip, applied by web.client_address): X-Forwarded-For counts only
from a peer in TWOFOLD_TRUSTED_PROXIES. On SQLite and PostgreSQL, pages and JSON API alike."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from apps import app_for
from asgi_client import TestClient
from support import STRONG_PASSWORD, Person, csrf_token, settings_for
from twofold.services.runtime import Runtime
from twofold.settings import Settings
from twofold.store.models import AuditEvent, AuthSession, Throttle

Connect = Callable[[tuple[str, int]], TestClient]

PROXY = ("10.0.0.5", 43210)
STRANGER = ("203.0.113.9", 43210)
TRUSTED = "10.0.0.0/8, 2001:db8:1::/48"


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Settings:
    """The shared fixture's settings, trusting TRUSTED unless a test passes None."""
    trusted = getattr(request, "param", TRUSTED)
    fixed = {"trusted_proxies": trusted} if trusted else {}
    return settings_for(tmp_path / "data", database_url, **fixed)


@pytest.fixture
def connect(runtime: Runtime) -> Iterator[Connect]:
    """A browser connecting from a given peer address."""
    opened: list[TestClient] = []

    def open_from(peer: tuple[str, int]) -> TestClient:
        browser = TestClient(app_for(runtime), follow_redirects=False, client=peer)
        opened.append(browser.__enter__())
        return browser

    yield open_from
    for browser in opened:
        browser.__exit__(None, None, None)


def fail_password(browser: TestClient, person: Person, forwarded_for: str | None) -> None:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    token = csrf_token(browser, "/login")
    response = browser.post(
        "/login",
        data={"login": person.login, "password": "wrong", "csrf_token": token},
        headers=headers,
    )
    assert response.status_code == 400, response.text


def recorded_addresses(runtime: Runtime) -> tuple[list[str | None], list[str]]:
    """The sign-in events' addresses in the audit log and the per-address throttle keys."""
    with runtime.db() as db:
        audit = list(
            db.scalars(
                select(AuditEvent.ip)
                .where(AuditEvent.event.like("sign_in%"))
                .order_by(AuditEvent.id)
            )
        )
        throttled = list(db.scalars(select(Throttle.key).where(Throttle.key.like("ip:%"))))
    return audit, sorted(throttled)


def test_a_trusted_proxy_names_the_client_in_the_audit_log_and_the_throttle(
    connect: Connect, runtime: Runtime, alice: Person
) -> None:
    browser = connect(PROXY)
    fail_password(browser, alice, "1.1.1.1, 198.51.100.7")  # the left-most one is forged
    assert recorded_addresses(runtime) == (["198.51.100.7"], ["ip:198.51.100.7"])


def test_a_chain_of_trusted_proxies_is_walked_to_the_client(
    connect: Connect, runtime: Runtime, alice: Person
) -> None:
    browser = connect(("2001:db8:1::2", 443))
    fail_password(browser, alice, "[2001:db8:ffff::7]:5555, 10.9.9.9, 2001:db8:1::99")
    assert recorded_addresses(runtime) == (["2001:db8:ffff::7"], ["ip:2001:db8:ffff::7"])


def test_an_untrusted_peer_is_recorded_whatever_it_forwards(
    connect: Connect, runtime: Runtime, alice: Person
) -> None:
    browser = connect(STRANGER)
    fail_password(browser, alice, "198.51.100.7")
    assert recorded_addresses(runtime) == (["203.0.113.9"], ["ip:203.0.113.9"])


@pytest.mark.parametrize("settings", [None], indirect=True)
def test_without_trusted_proxies_no_peer_forwards_anything(
    connect: Connect, runtime: Runtime, alice: Person
) -> None:
    for peer in (("127.0.0.1", 43210), PROXY):
        fail_password(connect(peer), alice, "198.51.100.7")
    assert recorded_addresses(runtime) == (
        ["127.0.0.1", "10.0.0.5"],
        ["ip:10.0.0.5", "ip:127.0.0.1"],
    )


def test_the_json_api_sees_the_same_client(
    connect: Connect, runtime: Runtime, alice: Person
) -> None:
    browser = connect(PROXY)
    response = browser.post(
        "/api/v1/sign-in",
        json={"login": alice.login, "password": STRONG_PASSWORD},
        headers={"X-Forwarded-For": "198.51.100.7"},
    )
    assert response.status_code == 200, response.text
    with runtime.db() as db:
        assert list(db.scalars(select(AuthSession.ip))) == ["198.51.100.7"]
    assert recorded_addresses(runtime)[0] == ["198.51.100.7"]
