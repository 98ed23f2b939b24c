"""acr phr (a security key or passkey, decision 0029): a client asking for it with
`acr_values`, an organization requiring it, and what the ID token then says.

Here "the person used their security key" is the service step the passkey prompt ends with,
`sessions.step_up(…, Method.HARDWARE_KEY)`, on the browser's session, and a registered key
is a `webauthn_credentials` row (tests/passkey_steps.py): these tests are about the rules.
tests/oidc/test_passkey_end_to_end.py does the same with real signed WebAuthn answers."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from asgi_client import TestClient
from oidc.conftest import (
    ORG,
    Rp,
    callback_params,
    exchange,
    id_claims,
    onward_target,
    sign_in_for,
)
from passkey_steps import give_key, use_key
from support import Person
from twofold.core.audit_events import AuditEventType
from twofold.otp.clock import FixedClock
from twofold.services.runtime import Runtime
from twofold.store.models import (
    AuditEvent,
    OidcGrant,
    Organization,
)

MFA = "urn:twofold:acr:mfa"
PHR = "urn:twofold:acr:phr"
PASSKEY_PROMPT = "/login/passkey"
ADD_PASSKEY = "/account/security/passkeys/new"


def set_org(runtime: Runtime, **values: object) -> None:
    with runtime.db() as db:
        organization = db.scalar(select(Organization).where(Organization.slug == ORG))
        assert organization is not None
        for name, value in values.items():
            setattr(organization, name, value)
        db.commit()


def claims_for(client: TestClient, rp: Rp, url: str) -> dict[str, object]:
    code = callback_params(url, rp)["code"]
    return id_claims(client, exchange(client, rp, code).json()["id_token"])


def refusals(runtime: Runtime) -> list[str]:
    with runtime.db() as db:
        rows = db.scalars(
            select(AuditEvent).where(AuditEvent.event == AuditEventType.OIDC_SIGN_IN_REFUSED.value)
        )
        return [json.loads(row.detail)["reason"] for row in rows]


def grants(runtime: Runtime) -> int:
    with runtime.db() as db:
        return db.scalar(select(func.count()).select_from(OidcGrant)) or 0


@pytest.fixture
def keyholder(runtime: Runtime, member: Person) -> Person:
    """A member of acme with an authenticator app and a security key."""
    give_key(runtime, member)
    return member


def test_discovery_lists_phr(client: TestClient, rp: Rp) -> None:
    assert PHR in client.get("/.well-known/openid-configuration").json()["acr_values_supported"]


def test_asking_for_phr_sends_a_code_sign_in_to_the_security_key_then_says_phr(
    client: TestClient, rp: Rp, keyholder: Person, clock: FixedClock, runtime: Runtime
) -> None:
    client.get(rp.authorize_url(acr_values=PHR))
    after_code = sign_in_for(client, keyholder, clock)
    assert after_code.status_code == 303
    assert after_code.headers["location"] == PASSKEY_PROMPT  # a code is not enough
    assert grants(runtime) == 0
    use_key(client, runtime)
    claims = claims_for(client, rp, onward_target(client.get("/oidc/continue")))
    assert claims["acr"] == PHR
    assert claims["amr"] == ["pwd", "otp", "hwk", "mfa"]


def test_a_session_that_used_its_key_meets_phr_at_once(
    client: TestClient, register: object, keyholder: Person, clock: FixedClock, runtime: Runtime
) -> None:
    plain: Rp = register(name="Wiki")  # type: ignore[operator]
    client.get(plain.authorize_url())
    sign_in_for(client, keyholder, clock)
    use_key(client, runtime)
    strict: Rp = register(name="Payroll")  # type: ignore[operator]
    response = client.get(strict.authorize_url(acr_values=PHR))
    assert claims_for(client, strict, response.headers["location"])["acr"] == PHR


def test_phr_satisfies_a_request_for_mfa(
    client: TestClient, rp: Rp, keyholder: Person, clock: FixedClock, runtime: Runtime
) -> None:
    client.get(rp.authorize_url())
    sign_in_for(client, keyholder, clock)
    use_key(client, runtime)
    response = client.get(rp.authorize_url(acr_values=MFA))
    assert claims_for(client, rp, response.headers["location"])["acr"] == PHR


def test_asking_for_mfa_alone_does_not_ask_for_the_key(
    client: TestClient, rp: Rp, keyholder: Person, clock: FixedClock
) -> None:
    client.get(rp.authorize_url(acr_values=MFA))
    claims = claims_for(client, rp, onward_target(sign_in_for(client, keyholder, clock)))
    assert claims["acr"] == MFA  # phr only when it was met


def test_asking_for_phr_without_a_key_leads_to_adding_one(
    client: TestClient, rp: Rp, member: Person, clock: FixedClock, runtime: Runtime
) -> None:
    client.get(rp.authorize_url(acr_values=PHR))
    response = sign_in_for(client, member, clock)
    assert response.status_code == 303
    assert response.headers["location"] == ADD_PASSKEY
    assert grants(runtime) == 0
    assert refusals(runtime) == []


def test_asking_for_phr_where_keys_are_off_tells_the_client_access_denied(
    client: TestClient, rp: Rp, member: Person, clock: FixedClock, runtime: Runtime
) -> None:
    set_org(runtime, passkeys="off")
    client.get(rp.authorize_url(acr_values=PHR))
    params = callback_params(onward_target(sign_in_for(client, member, clock)), rp)
    assert params["error"] == "access_denied"
    assert "security key or passkey is required" in params["error_description"]
    assert params["state"] == rp.state
    assert "code" not in params
    assert refusals(runtime) == ["security_key_unavailable"]
    assert grants(runtime) == 0


def test_prompt_none_asking_for_phr_of_a_code_session_is_interaction_required(
    client: TestClient, rp: Rp, keyholder: Person, clock: FixedClock, runtime: Runtime
) -> None:
    client.get(rp.authorize_url())
    sign_in_for(client, keyholder, clock)
    response = client.get(rp.authorize_url(prompt="none", acr_values=PHR))
    params = callback_params(response.headers["location"], rp)
    assert params["error"] == "interaction_required"
    assert grants(runtime) == 1  # the first sign-in's only


# --- the organization requires it -----------------------------------------------------------


def test_an_organization_requiring_keys_sends_a_code_sign_in_to_the_key(
    client: TestClient, rp: Rp, keyholder: Person, clock: FixedClock, runtime: Runtime
) -> None:
    set_org(runtime, phishing_resistant="all", phishing_resistant_since=runtime.now())
    client.get(rp.authorize_url())  # the client asks for nothing in particular
    response = sign_in_for(client, keyholder, clock)
    assert response.headers["location"] == PASSKEY_PROMPT
    use_key(client, runtime)
    claims = claims_for(client, rp, onward_target(client.get("/oidc/continue")))
    assert claims["acr"] == PHR


def test_an_organization_requiring_keys_of_admins_leaves_a_member_with_a_code(
    client: TestClient, rp: Rp, keyholder: Person, clock: FixedClock, runtime: Runtime
) -> None:
    set_org(runtime, phishing_resistant="admins", phishing_resistant_since=runtime.now())
    client.get(rp.authorize_url())
    claims = claims_for(client, rp, onward_target(sign_in_for(client, keyholder, clock)))
    assert claims["acr"] == MFA


def test_a_member_owing_a_key_is_sent_to_add_one_before_the_application(
    client: TestClient, rp: Rp, member: Person, clock: FixedClock, runtime: Runtime
) -> None:
    set_org(runtime, phishing_resistant="all", phishing_resistant_since=runtime.now())
    client.get(rp.authorize_url())
    response = sign_in_for(client, member, clock)
    assert response.headers["location"] == ADD_PASSKEY
    assert grants(runtime) == 0
