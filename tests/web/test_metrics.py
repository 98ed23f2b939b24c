"""GET /metrics: who may read it (loopback, TWOFOLD_METRICS_ALLOWED, the bearer token, by
the client address the trusted proxies rule decides), what moves when people sign in and
applications verify codes, and that no label ever names a person."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from apps import app_for
from asgi_client import TestClient
from support import Person, make_person, post_form, settings_for
from twofold.core.lockout import FAILURES_PER_LOCK, KEY_FAILURES_PER_PERSON
from twofold.notify.mailer import Composed
from twofold.otp.clock import FixedClock
from twofold.services import mail
from twofold.services.runtime import Runtime
from twofold.settings import Settings
from web.test_api_verify import check, new_key

TOKEN = "metrics-token-0123456789abcdef"
LOOPBACK = ("127.0.0.1", 40001)
LOOPBACK_V6 = ("::1", 40001)
PROXY = ("10.0.0.5", 40002)
STRANGER = ("203.0.113.9", 40003)
ALLOWED_HOST = ("198.51.100.7", 40004)

Connect = Callable[[tuple[str, int]], TestClient]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Settings:
    """Trusting the proxies in 10.0.0.0/8, unless a test passes None (no proxy trusted)."""
    trusted = getattr(request, "param", "10.0.0.0/8")
    return settings_for(
        tmp_path / "data",
        database_url,
        **({"trusted_proxies": trusted} if trusted else {}),
        metrics_allowed="198.51.100.0/24",
        metrics_token=TOKEN,
    )


@pytest.fixture
def connect(runtime: Runtime) -> Iterator[Connect]:
    """A client connecting from a given peer address."""
    opened: list[TestClient] = []

    def open_from(peer: tuple[str, int]) -> TestClient:
        client = TestClient(app_for(runtime), follow_redirects=False, client=peer)
        opened.append(client.__enter__())
        return client

    yield open_from
    for client in opened:
        client.__exit__(None, None, None)


def scrape(client: TestClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_loopback_reads_the_metrics_and_a_stranger_gets_the_plain_not_found_page(
    connect: Connect,
) -> None:
    for peer in (LOOPBACK, LOOPBACK_V6):
        assert connect(peer).get("/metrics").status_code == 200
    refused = connect(STRANGER).get("/metrics")
    unknown = connect(STRANGER).get("/no-such-page")
    assert refused.status_code == unknown.status_code == 404
    assert refused.text == unknown.text
    assert "twofold_" not in refused.text


def test_an_allowed_network_reads_the_metrics_whatever_the_host_header(connect: Connect) -> None:
    response = connect(ALLOWED_HOST).get("/metrics", headers={"Host": "10.1.2.3:8000"})
    assert response.status_code == 200
    assert "twofold_http_requests_total" in response.text


def test_behind_a_trusted_proxy_the_forwarded_client_decides(connect: Connect) -> None:
    proxy = connect(PROXY)
    # The proxy itself is not allowed; the client it names is what counts.
    assert proxy.get("/metrics").status_code == 404
    assert proxy.get("/metrics", headers={"X-Forwarded-For": STRANGER[0]}).status_code == 404
    forwarded = {"X-Forwarded-For": ALLOWED_HOST[0]}
    assert proxy.get("/metrics", headers=forwarded).status_code == 200
    assert proxy.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 200
    # A stranger cannot name an allowed address: only the proxy's entry is believed.
    spoofed = {"X-Forwarded-For": f"{ALLOWED_HOST[0]}, {STRANGER[0]}"}
    assert proxy.get("/metrics", headers=spoofed).status_code == 404
    assert connect(STRANGER).get("/metrics", headers=forwarded).status_code == 404


@pytest.mark.parametrize("settings", [None], indirect=True)
def test_an_undeclared_proxy_on_loopback_does_not_make_its_clients_local(
    runtime: Runtime, connect: Connect
) -> None:
    assert not runtime.settings.proxy_trust
    local = connect(LOOPBACK)
    assert local.get("/metrics").status_code == 200
    relayed = local.get("/metrics", headers={"X-Forwarded-For": STRANGER[0]})
    assert relayed.status_code == 404


def test_the_bearer_token_opens_it_from_anywhere_and_a_wrong_one_does_not(
    connect: Connect,
) -> None:
    stranger = connect(STRANGER)
    for header in (f"Bearer {TOKEN}", f"bearer {TOKEN}"):
        assert stranger.get("/metrics", headers={"Authorization": header}).status_code == 200
    for header in (
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
        "Bearer ",
        f"Basic {TOKEN}",
        TOKEN,
    ):
        refused = stranger.get("/metrics", headers={"Authorization": header})
        assert refused.status_code == 404, header
    not_ascii = stranger.get("/metrics", headers={"Authorization": "Bearer métrique".encode()})
    assert not_ascii.status_code == 404


def test_requests_are_counted_by_route_template_and_status_never_by_path(
    connect: Connect,
) -> None:
    local = connect(LOOPBACK)
    before = scrape(local)
    secret_looking = "s3cr3t-T0ken-in-a-path"
    local.get(f"/invite/{secret_looking}")
    local.get(f"/nothing/here/{secret_looking}")
    local.request("BREW", "/login")
    after = scrape(local)
    text = local.get("/metrics").text
    assert secret_looking not in text
    counted = "twofold_http_requests_total"
    assert value(after, counted, method="GET", route="/invite/{token}", status="404") == (
        value(before, counted, method="GET", route="/invite/{token}", status="404") + 1
    )
    assert value(after, counted, method="GET", route="unmatched", status="404") == (
        value(before, counted, method="GET", route="unmatched", status="404") + 1
    )
    assert value(after, counted, method="other", route="/login", status="405") == (
        value(before, counted, method="other", route="/login", status="405") + 1
    )
    latency = "twofold_http_request_duration_seconds_count"
    assert value(after, latency, method="GET", route="/invite/{token}") > 0


def test_mounted_api_routes_carry_their_full_template(
    connect: Connect, runtime: Runtime, alice_with_totp: Person, clock: FixedClock
) -> None:
    local = connect(LOOPBACK)
    check(local, new_key(runtime), "alice", alice_with_totp.totp(clock))
    samples = scrape(local)
    assert value(
        samples, "twofold_http_requests_total", method="POST", route="/api/v1/verify", status="200"
    )


def test_sign_in_steps_and_lockouts_move_their_counters(
    connect: Connect, runtime: Runtime, alice_with_totp: Person, clock: FixedClock
) -> None:
    local = connect(LOOPBACK)
    browser = connect(STRANGER)
    before = scrape(local)
    post_form(browser, "/login", {"login": "alice", "password": "not the password"})
    post_form(browser, "/login", {"login": "alice", "password": alice_with_totp.password})
    good = alice_with_totp.totp(clock)
    wrong = "123456" if good != "123456" else "654321"
    assert post_form(browser, "/login/code", {"code": wrong}).status_code == 400
    assert post_form(browser, "/login/code", {"code": good}).status_code == 303
    after_first = scrape(local)

    def moved(samples: Samples, name: str, **labels: str) -> float:
        return value(samples, name, **labels) - value(before, name, **labels)

    password = "twofold_sign_in_password_total"
    second = "twofold_sign_in_second_factor_total"
    assert moved(after_first, password, outcome="refused") == 1
    assert moved(after_first, password, outcome="ok") == 1
    assert moved(after_first, second, method="totp", outcome="refused") == 1
    assert moved(after_first, second, method="totp", outcome="ok") == 1

    # Sign out, then wrong codes up to the lock: the last is counted as locked, and one
    # lockout starts.
    browser.cookies.clear()
    clock.advance(60)  # past the password throttle's wait for the one wrong password
    post_form(browser, "/login", {"login": "alice", "password": alice_with_totp.password})
    for _ in range(FAILURES_PER_LOCK):
        post_form(browser, "/login/code", {"code": wrong})
    after_lock = scrape(local)
    assert moved(after_lock, second, method="totp", outcome="refused") == FAILURES_PER_LOCK
    assert moved(after_lock, second, method="totp", outcome="locked") == 1
    assert moved(after_lock, "twofold_lockouts_total", kind="timed") == 1


def test_verify_outcomes_and_a_key_budget_lockout_are_counted(
    connect: Connect, runtime: Runtime, alice_with_totp: Person, clock: FixedClock
) -> None:
    local = connect(LOOPBACK)
    app = connect(STRANGER)
    before = scrape(local)
    key = new_key(runtime)
    assert check(app, key, "alice", alice_with_totp.totp(clock)) == {"ok": True, "method": "totp"}
    assert alice_with_totp.recovery_codes
    recovery = alice_with_totp.recovery_codes[0]
    assert check(app, key, "alice", recovery)["ok"] is True
    assert check(app, key, "nobody", "123456") == {"ok": False}
    leaked = new_key(runtime)
    for _ in range(KEY_FAILURES_PER_PERSON):
        check(app, leaked, "alice", "000000")
    after = scrape(local)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    verified = "twofold_api_verify_total"
    assert moved(verified, method="totp", outcome="ok") == 1
    assert moved(verified, method="recovery_code", outcome="ok") == 1
    assert moved(verified, method="totp", outcome="refused") == 1 + KEY_FAILURES_PER_PERSON
    assert moved("twofold_lockouts_total", kind="api_key") == 1
    assert key not in local.get("/metrics").text  # nor any part of a request's body


def test_no_label_names_a_person_an_address_or_a_code(
    connect: Connect, runtime: Runtime, clock: FixedClock
) -> None:
    distinctive = make_person(runtime, "zyxwvut-quokka", with_totp=True)
    clock.advance(30)
    browser = connect(("192.0.2.77", 40005))
    post_form(browser, "/login", {"login": distinctive.login, "password": "nope nope nope"})
    clock.advance(60)
    post_form(browser, "/login", {"login": distinctive.login, "password": distinctive.password})
    code = distinctive.totp(clock)
    post_form(browser, "/login/code", {"code": code})
    check(browser, new_key(runtime), distinctive.login, "000000")
    text = connect(LOOPBACK).get("/metrics").text
    for secret in (distinctive.login, "zyxwvut", "quokka", "192.0.2.77", code):
        assert secret not in text
    # Every label of ours is one of a few fixed words, a number or a route template.
    for family in text_string_to_metric_families(text):
        if not family.name.startswith("twofold_") or family.name == "twofold_build_info":
            continue
        for sample in family.samples:
            for name, label in sample.labels.items():
                if name == "route":
                    assert label == "unmatched" or label.startswith("/"), label
                else:
                    assert re.fullmatch(r"[a-z_]+|[A-Z]+|[0-9.+Inf]+", label), (name, label)


def test_the_mail_queue_depth_is_read_from_the_outbox_when_scraped(
    connect: Connect, runtime: Runtime, clock: FixedClock
) -> None:
    local = connect(LOOPBACK)
    assert value(scrape(local), "twofold_mail_queue_depth") == 0
    with runtime.db() as db:
        for number in range(3):
            mail.enqueue(
                db,
                runtime,
                kind=f"test_{number}",
                recipient=f"person{number}@example.org",
                composed=Composed(subject="Hello", text="Hello", html="<p>Hello</p>"),
            )
        db.commit()
    clock.advance(90)
    samples = scrape(local)
    assert value(samples, "twofold_mail_queue_depth") == 3
    assert value(samples, "twofold_mail_queue_oldest_seconds") == 90


def test_a_security_key_at_the_prompt_moves_the_passkey_counter(
    connect: Connect, runtime: Runtime, alice_with_totp: Person, clock: FixedClock
) -> None:
    from passkey_steps import add_passkey
    from soft_webauthn import SoftAuthenticator
    from web.test_passkey_pages import csrf_of

    key = SoftAuthenticator()
    add_passkey(runtime, clock, alice_with_totp, key)
    local = connect(LOOPBACK)
    browser = connect(STRANGER)
    before = scrape(local)
    post_form(browser, "/login", {"login": "alice", "password": alice_with_totp.password})
    prompt = browser.get("/login/passkey")
    options = browser.post("/login/passkey/options", data={"csrf_token": csrf_of(prompt)})
    data = {"csrf_token": csrf_of(prompt), "response": "garbage"}
    assert browser.post("/login/passkey", data=data).status_code == 400
    options = browser.post("/login/passkey/options", data={"csrf_token": csrf_of(prompt)})
    data["response"] = key.assertion(options.text)
    assert browser.post("/login/passkey", data=data).status_code == 303
    after = scrape(local)
    second = "twofold_sign_in_second_factor_total"
    for outcome in ("ok", "refused"):
        moved = value(after, second, method="passkey", outcome=outcome) - value(
            before, second, method="passkey", outcome=outcome
        )
        assert moved == 1, outcome
