"""Leaving the client's organization ends the person's sign-ins to its applications: the
removal revokes their grants at once, and userinfo answers only while they are a member."""

from __future__ import annotations

import json

from sqlalchemy import delete, select

from asgi_client import TestClient
from oidc.conftest import ORG, Rp, callback_params, exchange, sign_in_through
from support import Person, join, make_org
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import NotFound
from twofold.services import member_actions, organizations
from twofold.services.admin_scope import OPERATOR
from twofold.services.runtime import ClientInfo, Runtime
from twofold.store.models import AuditEvent, Membership, OidcClient, OidcGrant, User


def userinfo_status(client: TestClient, access_token: str) -> int:
    headers = {"Authorization": f"Bearer {access_token}"}
    response = client.get("/oidc/userinfo", headers=headers)
    if response.status_code == 401:
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    return response.status_code


def access_token(client: TestClient, rp: Rp, person: Person, *, signed_in: bool = False) -> str:
    """Sign in to the application (at once, when already signed in to Twofold)."""
    if signed_in:
        response = client.get(rp.authorize_url())
        code = callback_params(response.headers["location"], rp)["code"]
    else:
        code = sign_in_through(client, rp, person)["code"]
    body = exchange(client, rp, code).json()
    token: str = body["access_token"]
    return token


def reasons(runtime: Runtime) -> dict[str, str | None]:
    """Each grant's revocation reason, by application name."""
    with runtime.db() as db:
        rows = db.execute(
            select(OidcClient.name, OidcGrant.revoked_reason).join(
                OidcClient, OidcClient.id == OidcGrant.client_id
            )
        )
        return {str(name): reason for name, reason in rows}


def test_userinfo_refuses_someone_no_longer_in_the_organization(
    client: TestClient, rp: Rp, password_member: Person, runtime: Runtime
) -> None:
    token = access_token(client, rp, password_member)
    assert userinfo_status(client, token) == 200
    with runtime.db() as db:  # the membership gone, the grant not (yet) revoked
        db.execute(delete(Membership).where(Membership.user_id == password_member.id))
        db.commit()
    assert reasons(runtime) == {"Grafana": None}
    assert userinfo_status(client, token) == 401


def test_removing_a_member_ends_their_grants_for_that_organizations_applications(
    client: TestClient, rp: Rp, register: object, password_member: Person, runtime: Runtime
) -> None:
    make_org(runtime, "globex")
    join(runtime, password_member, "globex")
    other: Rp = register(name="Globex wiki", org="globex")  # type: ignore[operator]
    acme_token = access_token(client, rp, password_member)
    globex_token = access_token(client, other, password_member, signed_in=True)
    with runtime.db() as db:
        user = db.get(User, password_member.id)
        assert user is not None
        organizations.remove_member(db, runtime, user, organizations.get_organization(db, ORG))
    assert reasons(runtime) == {"Grafana": "removed_from_organization", "Globex wiki": None}
    assert userinfo_status(client, acme_token) == 401
    assert userinfo_status(client, globex_token) == 200
    with runtime.db() as db:
        events = [
            json.loads(row.detail)
            for row in db.scalars(
                select(AuditEvent).where(
                    AuditEvent.event == AuditEventType.OIDC_GRANTS_REVOKED.value
                )
            )
        ]
    assert [(e["reason"], e["grants"]) for e in events] == [("removed_from_organization", 1)]


def test_an_admin_removing_someone_revokes_their_grants_in_the_same_step(
    client: TestClient, rp: Rp, register: object, password_member: Person, runtime: Runtime
) -> None:
    make_org(runtime, "globex")
    join(runtime, password_member, "globex")
    other: Rp = register(name="Globex wiki", org="globex")  # type: ignore[operator]
    access_token(client, rp, password_member)
    access_token(client, other, password_member, signed_in=True)
    with runtime.db() as db:
        user = db.get(User, password_member.id)
        assert user is not None
        member_actions.remove_from_organization(
            db, runtime, OPERATOR, user, organizations.get_organization(db, ORG), ClientInfo()
        )
    # Acme's application: the removal; the other: the sign-out of every session it brings.
    assert reasons(runtime) == {
        "Grafana": "removed_from_organization",
        "Globex wiki": "signed_out",
    }


def test_removing_someone_who_is_not_a_member_revokes_nothing(
    client: TestClient, rp: Rp, password_member: Person, outsider: Person, runtime: Runtime
) -> None:
    access_token(client, rp, password_member)
    with runtime.db() as db:
        user = db.get(User, outsider.id)
        assert user is not None
        acme = organizations.get_organization(db, ORG)
        try:
            organizations.remove_member(db, runtime, user, acme)
        except NotFound:
            pass
        else:
            raise AssertionError("removing a non-member must be refused")
    assert reasons(runtime) == {"Grafana": None}
