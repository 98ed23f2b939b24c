"""A remembered browser and OpenID Connect (decision 0028): it stands in for the
organization's own policy, and the client is told the truth (amr ["pwd"], acr pwd); a
client that asks for more — acr_values mfa, require-2FA, a fresh sign-in (prompt=login,
max_age) — gets the code asked, as without it."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from asgi_client import TestClient
from oidc.conftest import ORG, Rp, callback_params, exchange, id_claims, onward_target
from support import Person, post_form
from twofold.core.audit_events import AuditEventType
from twofold.otp.clock import FixedClock
from twofold.services.runtime import Runtime
from twofold.store.models import AuditEvent, Organization

COOKIE = "twofold_remember"
MFA = "urn:twofold:acr:mfa"


@pytest.fixture
def remembered(client: TestClient, runtime: Runtime, member: Person, clock: FixedClock) -> str:
    """The member signed in once with the box ticked, then signed out: their cookie."""
    with runtime.db() as db:
        db.execute(update(Organization).where(Organization.slug == ORG).values(remember_days=7))
        db.commit()
    post_form(client, "/login", {"login": member.login, "password": member.password})
    clock.advance(30)
    post_form(client, "/login/code", {"code": member.totp(clock), "remember": "1"})
    post_form(client, "/account/security", {}, action="/logout")
    return client.cookies[COOKIE]


def uses(runtime: Runtime) -> int:
    with runtime.db() as db:
        found = db.scalars(
            select(AuditEvent).where(
                AuditEvent.event == AuditEventType.REMEMBERED_BROWSER_USED.value
            )
        )
        return len(list(found))


def password_for_application(client: TestClient, member: Person) -> str:
    """The password at the sign-in page the application sent the person to; where the
    way back to the application leads next."""
    response = post_form(
        client, "/login?oidc=1", {"login": member.login, "password": member.password}, "/login"
    )
    assert response.headers["location"] == "/oidc/continue"
    onward = client.get("/oidc/continue")
    return onward.headers.get("location") or onward_target(onward)


def test_it_stands_in_for_the_policy_and_the_client_is_told_pwd(
    client: TestClient, rp: Rp, member: Person, runtime: Runtime, remembered: str
) -> None:
    client.get(rp.authorize_url())
    target = password_for_application(client, member)
    params = callback_params(target, rp)
    claims = id_claims(client, exchange(client, rp, params["code"]).json()["id_token"])
    assert claims["amr"] == ["pwd"]
    assert claims["acr"] != MFA
    assert uses(runtime) == 1
    assert client.cookies[COOKIE] != remembered  # rotated


@pytest.mark.parametrize(
    "asked",
    [
        {"acr_values": MFA},
        {"acr_values": "urn:twofold:acr:phr"},
        {"prompt": "login"},
        {"max_age": "3600"},
    ],
)
def test_a_client_asking_more_gets_the_code_asked(
    client: TestClient,
    rp: Rp,
    member: Person,
    runtime: Runtime,
    clock: FixedClock,
    remembered: str,
    asked: dict[str, str],
) -> None:
    client.get(rp.authorize_url(**asked))
    assert password_for_application(client, member) == "/login/code"
    assert uses(runtime) == 0
    assert client.cookies[COOKIE] == remembered  # neither used nor cleared
    clock.advance(30)
    done = post_form(client, "/login/code", {"code": member.totp(clock)})
    assert done.headers["location"] == "/oidc/continue"
    if asked.get("acr_values") == MFA:
        params = callback_params(onward_target(client.get("/oidc/continue")), rp)
        claims = id_claims(client, exchange(client, rp, params["code"]).json()["id_token"])
        assert claims["acr"] == MFA


def test_a_client_that_requires_2fa_gets_the_code_asked(
    client: TestClient,
    register: object,
    member: Person,
    runtime: Runtime,
    clock: FixedClock,
    remembered: str,
) -> None:
    strict: Rp = register(name="Payroll", require_two_factor=True)  # type: ignore[operator]
    client.get(strict.authorize_url())
    assert password_for_application(client, member) == "/login/code"
    assert uses(runtime) == 0
    clock.advance(30)
    post_form(client, "/login/code", {"code": member.totp(clock)})
    params = callback_params(onward_target(client.get("/oidc/continue")), strict)
    claims = id_claims(client, exchange(client, strict, params["code"]).json()["id_token"])
    assert claims["acr"] == MFA


def test_an_application_after_a_remembered_sign_in_asking_mfa_asks_again(
    client: TestClient, rp: Rp, member: Person, runtime: Runtime, remembered: str
) -> None:
    """Signed in on the remembered browser (amr pwd), an application wanting mfa sends the
    person to sign in again, and that sign-in does not use the remembered browser."""
    signed_in = post_form(client, "/login", {"login": member.login, "password": member.password})
    assert signed_in.headers["location"] == "/account/security"
    assert uses(runtime) == 1
    response = client.get(rp.authorize_url(acr_values=MFA))
    assert response.headers["location"] == "/login?oidc=1"
    assert password_for_application(client, member) == "/login/code"
    assert uses(runtime) == 1
