"""A person's sign-ins to applications (OpenID Connect grants) outside the protocol: the
"Connected applications" list of the security page, and revoking.

Revoking a grant ends every code and token that hangs off it (decision 0014). It happens
here only: `revoke_grant` for one grant (the protocol calls it for a replayed code or a reused
refresh token), `revoke_grants_where` for the sign-outs and credential changes that end many.
Each revocation is audited: one event per person and application.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from twofold.core import words
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import NotFound
from twofold.services import audit
from twofold.services.runtime import ClientInfo, Runtime
from twofold.services.transactions import use_case
from twofold.store.models import OidcClient, OidcGrant, Organization, User

# OidcGrant.revoked_reason
REVOKED_BY_USER = "revoked_by_user"  # "Revoke" on the security page
SIGNED_OUT = "signed_out"  # the Twofold session it came from was signed out
CREDENTIALS_CHANGED = "credentials_changed"  # password, 2FA reset or off, sign out everywhere
REMOVED_FROM_ORGANIZATION = "removed_from_organization"  # of the client's organization


@dataclass(frozen=True)
class ConnectedApplication:
    client_id: str
    name: str
    organization: str
    first_sign_in: datetime
    last_sign_in: datetime


def is_live(now: datetime) -> ColumnElement[bool]:
    """A grant that may still issue and back tokens (its client may be revoked, though)."""
    return OidcGrant.revoked_at.is_(None) & (OidcGrant.expires_at > now)


def connected_applications(db: Session, user: User, now: datetime) -> list[ConnectedApplication]:
    """One entry per application the person is signed in to, most recent first."""
    rows = db.execute(
        select(
            OidcClient.client_id,
            OidcClient.name,
            Organization.name,
            func.min(OidcGrant.created_at),
            func.max(OidcGrant.created_at),
        )
        .join(OidcClient, OidcClient.id == OidcGrant.client_id)
        .join(Organization, Organization.id == OidcClient.organization_id)
        .where(OidcGrant.user_id == user.id, is_live(now), OidcClient.revoked_at.is_(None))
        .group_by(OidcClient.id, OidcClient.client_id, OidcClient.name, Organization.name)
        .order_by(func.max(OidcGrant.created_at).desc(), OidcClient.id)
    )
    return [
        ConnectedApplication(
            client_id=client_id,
            name=name,
            organization=organization,
            first_sign_in=first,
            last_sign_in=last,
        )
        for client_id, name, organization, first, last in rows
    ]


@use_case
def revoke_application(
    db: Session, runtime: Runtime, user: User, client_id: str, client: ClientInfo | None = None
) -> int:
    """Sign the person out of one application: every grant they have with it ends. One
    they are not connected to (as listed) is 'not found', whoever's it is; nothing is
    written then, so the page showing the error still has what it loaded."""
    now = runtime.now()
    application = db.scalar(
        select(OidcClient.id)
        .join(OidcGrant, OidcGrant.client_id == OidcClient.id)
        .where(
            OidcClient.client_id == client_id[:64],
            OidcClient.revoked_at.is_(None),
            OidcGrant.user_id == user.id,
            is_live(now),
        )
        .limit(1)
    )
    if application is None:
        raise NotFound(words.NO_SUCH_CONNECTED_APPLICATION)
    mine = (OidcGrant.user_id == user.id) & (OidcGrant.client_id == application)
    return revoke_grants_where(db, mine, REVOKED_BY_USER, now, client=client)


def revoke_grant(
    db: Session, grant: OidcGrant, reason: str, now: datetime, client: ClientInfo | None = None
) -> bool:
    """End one grant and so every code and token of it, in the caller's transaction.
    False if it had already ended (a conditional UPDATE decides, so it is audited once)."""
    if not revoke_grants_where(db, OidcGrant.id == grant.id, reason, now, client=client):
        return False
    set_committed_value(grant, "revoked_at", now)
    set_committed_value(grant, "revoked_reason", reason)
    return True


def revoke_grants_where(
    db: Session,
    condition: ColumnElement[bool],
    reason: str,
    now: datetime,
    *,
    client: ClientInfo | None = None,
) -> int:
    """End the unrevoked grants matching `condition`; returns how many. One audit event per
    person and application, with the number of grants."""
    ended = [
        (int(user_id), int(client_id))
        for user_id, client_id in db.execute(
            update(OidcGrant)
            .where(condition, OidcGrant.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=reason)
            .returning(OidcGrant.user_id, OidcGrant.client_id)
            .execution_options(synchronize_session=False)
        )
    ]
    if not ended:
        return 0
    public_ids = {
        int(row_id): public_id
        for row_id, public_id in db.execute(
            select(OidcClient.id, OidcClient.client_id).where(
                OidcClient.id.in_({client_id for _user_id, client_id in ended})
            )
        )
    }
    for (user_id, client_id), count in sorted(Counter(ended).items()):
        audit.record(
            db,
            now,
            AuditEventType.OIDC_GRANTS_REVOKED,
            user_id=user_id,
            client=client,
            client_id=public_ids[client_id],
            reason=reason,
            grants=count,
        )
    return len(ended)
