"""Refresh tokens: only with offline_access, rotated at every use, a reused one ends the
whole grant, never beyond 30 days after the sign-in, and only while the person may still
sign in (active, a member, no password change, 2FA reset or sign-out everywhere since)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from asgi_client import TestClient
from oidc.conftest import ORG, Rp, exchange, id_claims, refresh, sign_in_through
from support import Person
from twofold.otp.clock import FixedClock
from twofold.services import organizations
from twofold.services.runtime import Runtime
from twofold.store.models import OidcGrant, User

OFFLINE = "openid profile offline_access"


def first_tokens(client: TestClient, rp: Rp, person: Person) -> dict[str, str]:
    code = sign_in_through(client, rp, person, scope=OFFLINE)["code"]
    body: dict[str, str] = exchange(client, rp, code).json()
    assert body["refresh_token"]
    return body


def grant_of(runtime: Runtime) -> OidcGrant:
    with runtime.db() as db:
        return db.scalars(select(OidcGrant)).one()


def test_a_refresh_gives_new_tokens_and_a_new_refresh_token(
    client: TestClient, rp: Rp, password_member: Person, clock: FixedClock
) -> None:
    first = first_tokens(client, rp, password_member)
    clock.advance(3000)
    response = refresh(client, rp, first["refresh_token"])
    assert response.status_code == 200, response.text
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    claims = id_claims(client, second["id_token"])
    assert claims["auth_time"] == id_claims(client, first["id_token"])["auth_time"]
    assert "nonce" not in claims
    assert refresh(client, rp, second["refresh_token"]).status_code == 200


def test_without_offline_access_there_is_no_refresh_token(
    client: TestClient, rp: Rp, password_member: Person
) -> None:
    body = exchange(client, rp, sign_in_through(client, rp, password_member)["code"]).json()
    assert "refresh_token" not in body


def test_a_reused_refresh_token_ends_the_whole_grant(
    client: TestClient, rp: Rp, password_member: Person, runtime: Runtime
) -> None:
    first = first_tokens(client, rp, password_member)
    second = refresh(client, rp, first["refresh_token"]).json()
    reused = refresh(client, rp, first["refresh_token"])
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    assert refresh(client, rp, second["refresh_token"]).json()["error"] == "invalid_grant"
    headers = {"Authorization": f"Bearer {second['access_token']}"}
    assert client.get("/oidc/userinfo", headers=headers).status_code == 401
    assert grant_of(runtime).revoked_reason == "refresh_token_reused"


def test_refresh_stops_thirty_days_after_the_sign_in(
    client: TestClient, rp: Rp, password_member: Person, clock: FixedClock
) -> None:
    token = first_tokens(client, rp, password_member)["refresh_token"]
    for _ in range(3):  # renewing does not push the end further
        clock.advance(timedelta(days=9).total_seconds())
        token = refresh(client, rp, token).json()["refresh_token"]
    clock.advance(timedelta(days=3, seconds=1).total_seconds())
    assert refresh(client, rp, token).json()["error"] == "invalid_grant"


def test_a_deactivated_account_gets_no_new_tokens(
    client: TestClient, rp: Rp, password_member: Person, runtime: Runtime
) -> None:
    token = first_tokens(client, rp, password_member)["refresh_token"]
    with runtime.db() as db:
        user = db.get(User, password_member.id)
        assert user is not None
        user.is_active = False
        db.commit()
    assert refresh(client, rp, token).json()["error"] == "invalid_grant"
    assert grant_of(runtime).revoked_reason == "account_inactive"


def test_someone_removed_from_the_organization_gets_no_new_tokens(
    client: TestClient, rp: Rp, password_member: Person, runtime: Runtime
) -> None:
    token = first_tokens(client, rp, password_member)["refresh_token"]
    with runtime.db() as db:
        user = db.get(User, password_member.id)
        assert user is not None
        organizations.remove_member(db, runtime, user, organizations.get_organization(db, ORG))
    # The removal itself ended the grant, in its own transaction.
    assert grant_of(runtime).revoked_reason == "removed_from_organization"
    assert refresh(client, rp, token).json()["error"] == "invalid_grant"
    assert grant_of(runtime).revoked_reason == "removed_from_organization"


def test_changed_credentials_end_refreshing(
    client: TestClient, rp: Rp, password_member: Person, runtime: Runtime, clock: FixedClock
) -> None:
    token = first_tokens(client, rp, password_member)["refresh_token"]
    clock.advance(60)
    with runtime.db() as db:  # what a password change, 2FA reset or "sign out everywhere" sets
        user = db.get(User, password_member.id)
        assert user is not None
        user.credentials_changed_at = clock.now()
        db.commit()
    response = refresh(client, rp, token)
    assert response.json()["error"] == "invalid_grant"
    assert "no longer valid" in response.json()["error_description"]
    assert grant_of(runtime).revoked_reason == "credentials_changed"


def test_a_refresh_token_works_only_for_its_own_client(
    client: TestClient, rp: Rp, register: object, password_member: Person, runtime: Runtime
) -> None:
    other: Rp = register(name="Nextcloud")  # type: ignore[operator]
    token = first_tokens(client, rp, password_member)["refresh_token"]
    assert refresh(client, other, token).json()["error"] == "invalid_grant"
    assert grant_of(runtime).revoked_at is None
    assert refresh(client, rp, token).status_code == 200
