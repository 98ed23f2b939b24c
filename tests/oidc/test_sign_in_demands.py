"""What the client asks about the sign-in: none shown (prompt=none), a fresh one
(prompt=login, max_age), a second factor (acr_values, a client that always requires it)."""

from __future__ import annotations

import json

import pyotp
from sqlalchemy import func, select

from asgi_client import TestClient
from oidc.conftest import (
    Rp,
    callback_params,
    exchange,
    id_claims,
    onward_target,
    sign_in_for,
    sign_in_through,
)
from support import Person, join, post_form, set_policy, text_of
from twofold.core.audit_events import AuditEventType
from twofold.core.policy import TwoFactorPolicy
from twofold.otp.clock import FixedClock
from twofold.services.runtime import Runtime
from twofold.store.models import AuditEvent, OidcGrant

MFA = "urn:twofold:acr:mfa"


def claims_for(client: TestClient, rp: Rp, url: str) -> dict[str, object]:
    code = callback_params(url, rp)["code"]
    return id_claims(client, exchange(client, rp, code).json()["id_token"])


def test_prompt_none_without_a_session_answers_login_required_without_a_page(
    client: TestClient, rp: Rp
) -> None:
    response = client.get(rp.authorize_url(prompt="none"))
    assert response.status_code == 303
    params = callback_params(response.headers["location"], rp)
    assert params["error"] == "login_required"
    assert params["state"] == rp.state


def test_prompt_none_with_a_good_session_gives_a_code(
    client: TestClient, rp: Rp, member: Person, clock: FixedClock
) -> None:
    sign_in_through(client, rp, member, clock)
    response = client.get(rp.authorize_url(prompt="none"))
    assert callback_params(response.headers["location"], rp)["code"]


def test_prompt_login_asks_a_signed_in_person_to_sign_in_again(
    client: TestClient, rp: Rp, member: Person, clock: FixedClock
) -> None:
    sign_in_through(client, rp, member, clock)
    clock.advance(120)
    response = client.get(rp.authorize_url(prompt="login"))
    assert response.headers["location"] == "/login?oidc=1"
    assert "Sign in to continue to" in text_of(client.get("/login?oidc=1"))
    again_at = clock.now()
    claims = claims_for(client, rp, onward_target(sign_in_for(client, member, clock)))
    assert claims["auth_time"] == int(again_at.timestamp())


def test_max_age_asks_again_only_when_the_sign_in_is_older(
    client: TestClient, rp: Rp, member: Person, clock: FixedClock
) -> None:
    signed_in_at = clock.now()
    sign_in_through(client, rp, member, clock)
    clock.advance(200)
    recent = client.get(rp.authorize_url(max_age="300"))
    assert claims_for(client, rp, recent.headers["location"])["auth_time"] == int(
        signed_in_at.timestamp()
    )
    old = client.get(rp.authorize_url(max_age="100"))
    assert old.headers["location"] == "/login?oidc=1"


def test_prompt_none_when_a_fresh_sign_in_is_needed_is_login_required(
    client: TestClient, rp: Rp, member: Person, clock: FixedClock
) -> None:
    sign_in_through(client, rp, member, clock)
    clock.advance(200)
    response = client.get(rp.authorize_url(prompt="none", max_age="100"))
    assert callback_params(response.headers["location"], rp)["error"] == "login_required"


def test_asking_for_mfa_leads_a_person_without_2fa_to_set_it_up(
    client: TestClient, rp: Rp, password_member: Person, clock: FixedClock
) -> None:
    client.get(rp.authorize_url(acr_values=MFA))
    response = sign_in_for(client, password_member)
    assert response.status_code == 303
    assert response.headers["location"] == "/account/security/setup"
    setup = client.get("/account/security/setup")
    assert 'href="/oidc/decline"' in setup.text  # "Not now" tells the client
    secret = setup.text.split('data-copy="')[1].split('"')[0]
    code = pyotp.TOTP(secret).at(int(clock.now().timestamp()))
    codes = post_form(client, "/account/security/setup", {"code": code})
    assert codes.status_code == 200
    assert 'href="/oidc/continue"' in codes.text
    claims = claims_for(client, rp, onward_target(client.get("/oidc/continue")))
    assert claims["acr"] == MFA
    assert claims["amr"] == ["pwd", "otp", "mfa"]


def test_declining_the_2fa_setup_gives_the_client_access_denied(
    client: TestClient, rp: Rp, password_member: Person
) -> None:
    client.get(rp.authorize_url(acr_values=MFA))
    sign_in_for(client, password_member)
    response = client.get("/oidc/decline")
    params = callback_params(response.headers["location"], rp)
    assert params["error"] == "access_denied"
    assert params["state"] == rp.state


def test_a_client_that_requires_2fa_always_gets_mfa(
    client: TestClient, register: object, password_member: Person
) -> None:
    strict: Rp = register(name="Payroll", require_two_factor=True)  # type: ignore[operator]
    client.get(strict.authorize_url())
    response = sign_in_for(client, password_member)
    assert response.headers["location"] == "/account/security/setup"


def test_a_person_with_2fa_meets_the_mfa_demand_at_the_usual_prompt(
    client: TestClient, register: object, member: Person, clock: FixedClock
) -> None:
    strict: Rp = register(name="Payroll", require_two_factor=True)  # type: ignore[operator]
    callback = sign_in_through(client, strict, member, clock)
    claims = id_claims(client, exchange(client, strict, callback["code"]).json()["id_token"])
    assert claims["acr"] == MFA


# --- a second factor the organization does not offer ---------------------------------------


def refusals(runtime: Runtime) -> list[dict[str, object]]:
    with runtime.db() as db:
        rows = db.scalars(
            select(AuditEvent).where(AuditEvent.event == AuditEventType.OIDC_SIGN_IN_REFUSED.value)
        )
        return [json.loads(row.detail) for row in rows]


def grants(runtime: Runtime) -> int:
    with runtime.db() as db:
        return db.scalar(select(func.count()).select_from(OidcGrant)) or 0


def assert_told_unavailable(url: str, rp: Rp, runtime: Runtime) -> None:
    params = callback_params(url, rp)
    assert params["error"] == "access_denied"
    assert "two-factor authentication is not available" in params["error_description"]
    assert params["state"] == rp.state
    assert "code" not in params
    assert [event["reason"] for event in refusals(runtime)] == ["two_factor_unavailable"]
    assert grants(runtime) == 0


def test_asking_for_mfa_where_2fa_is_off_tells_the_client_access_denied(
    client: TestClient, rp: Rp, password_member: Person, runtime: Runtime
) -> None:
    set_policy(runtime, "acme", TwoFactorPolicy.OFF)
    client.get(rp.authorize_url(acr_values=MFA))
    assert_told_unavailable(onward_target(sign_in_for(client, password_member)), rp, runtime)


def test_a_client_requiring_2fa_where_it_is_off_gets_access_denied_at_once(
    client: TestClient, register: object, password_member: Person, runtime: Runtime
) -> None:
    set_policy(runtime, "acme", TwoFactorPolicy.OFF)
    plain: Rp = register(name="Wiki")  # type: ignore[operator]
    sign_in_through(client, plain, password_member)  # signed in, no second factor
    strict: Rp = register(name="Payroll", require_two_factor=True)  # type: ignore[operator]
    response = client.get(strict.authorize_url())
    assert response.status_code == 303  # no page: straight back to the client
    assert grants(runtime) == 1  # Wiki's only
    params = callback_params(response.headers["location"], strict)
    assert params["error"] == "access_denied"
    assert [event["reason"] for event in refusals(runtime)] == ["two_factor_unavailable"]


def test_mfa_is_still_set_up_where_another_organization_of_the_person_offers_it(
    client: TestClient, rp: Rp, password_member: Person, runtime: Runtime
) -> None:
    set_policy(runtime, "acme", TwoFactorPolicy.OFF)
    join(runtime, password_member, "default")  # optional there: setup is offered
    client.get(rp.authorize_url(acr_values=MFA))
    response = sign_in_for(client, password_member)
    assert response.headers["location"] == "/account/security/setup"
    assert refusals(runtime) == []


def test_a_person_who_kept_2fa_where_it_is_off_meets_the_mfa_demand(
    client: TestClient, rp: Rp, member: Person, clock: FixedClock, runtime: Runtime
) -> None:
    set_policy(runtime, "acme", TwoFactorPolicy.OFF)
    callback = sign_in_through(client, rp, member, clock, acr_values=MFA)
    assert (
        id_claims(client, exchange(client, rp, callback["code"]).json()["id_token"])["acr"] == MFA
    )
