"""GET /auth/forward?require=phr and /login?rd=…&require=phr (decision 0029): a security
key or passkey, as `require=mfa` asks for a second factor.

A session that "used its security key" is given hwk by `sessions.step_up(…,
Method.HARDWARE_KEY)`, the service step the passkey prompt ends with (tests/passkey_steps.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from asgi_client import TestClient
from passkey_steps import give_key, use_key
from support import Person, make_member, make_org, sign_in, text_of
from twofold.core.policy import TwoFactorPolicy
from twofold.otp.clock import FixedClock
from twofold.services.forward_auth import Demand
from twofold.services.runtime import Runtime
from twofold.settings import Settings
from twofold.store.models import Organization

APP = "https://app.example.com/dash"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"allowed_redirect_hosts": "app.example.com"})


@pytest.fixture
def carol(runtime: Runtime, clock: FixedClock) -> Person:
    make_org(runtime, "beta", TwoFactorPolicy.OPTIONAL)
    person = make_member(runtime, "carol", "beta", with_totp=True)
    clock.advance(30)
    return person


@pytest.mark.parametrize(
    ("require", "mfa", "phr"),
    [
        ("", False, False),
        ("mfa", True, False),
        ("phr", True, True),
        ("mfa,phr", True, True),
        (" PHR ", True, True),
        ("hwk", True, False),  # unknown: a second factor, as before (not a key)
    ],
)
def test_require_is_read_into_the_demand(require: str, mfa: bool, phr: bool) -> None:
    demand = Demand.from_query("", require)
    assert (demand.require_mfa, demand.require_phr) == (mfa, phr)


def test_require_phr_is_401_until_the_session_used_its_key(
    client: TestClient, runtime: Runtime, clock: FixedClock, carol: Person
) -> None:
    give_key(runtime, carol)
    sign_in(client, carol, clock)
    assert client.get("/auth/forward?require=mfa").status_code == 200
    assert client.get("/auth/forward?require=phr").status_code == 401
    use_key(client, runtime)
    allowed = client.get("/auth/forward?require=phr")
    assert allowed.status_code == 200
    assert allowed.headers["x-twofold-amr"] == "pwd,otp,hwk,mfa"


def test_the_sign_in_link_with_require_phr_goes_to_the_key_prompt(
    client: TestClient, runtime: Runtime, clock: FixedClock, carol: Person
) -> None:
    give_key(runtime, carol)
    sign_in(client, carol, clock)
    start = client.get(f"/login?rd={APP}&require=phr")
    assert start.headers["location"] == "/auth/continue"
    assert client.get("/auth/continue").headers["location"] == "/login/passkey"


def test_the_sign_in_link_with_require_phr_and_no_key_goes_to_adding_one(
    client: TestClient, runtime: Runtime, clock: FixedClock, carol: Person
) -> None:
    sign_in(client, carol, clock)
    client.get(f"/login?rd={APP}&require=phr")
    assert client.get("/auth/continue").headers["location"] == "/account/security/passkeys/new"


def test_require_phr_where_keys_are_off_is_a_403_page(
    client: TestClient, runtime: Runtime, clock: FixedClock, carol: Person
) -> None:
    with runtime.db() as db:
        beta = db.scalar(select(Organization).where(Organization.slug == "beta"))
        assert beta is not None
        beta.passkeys = "off"
        db.commit()
    sign_in(client, carol, clock)
    refused = client.get("/auth/forward?org=beta&require=phr&redirect=1")
    assert refused.status_code == 403
    assert "requires a security key or passkey" in text_of(refused)
