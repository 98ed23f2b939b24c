"""Invitations by email: the link lets a new person choose a login and password and join an
organization with a role (the address counts as verified — it received the link)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from twofold.core import words
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import AlreadyExists, InvalidToken
from twofold.core.policy import parse_role
from twofold.core.sessions import Method, SessionState
from twofold.core.validation import normalize_email
from twofold.notify import messages
from twofold.services import audit, links, sessions
from twofold.services.admin_scope import AdminScope
from twofold.services.notifications import send_to
from twofold.services.runtime import ClientInfo, Runtime
from twofold.services.transactions import use_case
from twofold.services.users import create_user
from twofold.store.models import AuthSession, OneTimeToken, Organization, User

PURPOSE = "invitation"
LIFETIME = timedelta(days=7)


@use_case
def invite(
    db: Session,
    runtime: Runtime,
    scope: AdminScope,
    organization: Organization,
    *,
    email: str,
    role: str,
    client: ClientInfo | None,
) -> None:
    address = normalize_email(email)
    member_role = parse_role(role)
    if db.scalar(select(User.id).where(User.email == address)) is not None:
        raise AlreadyExists("email", words.INVITEE_HAS_ACCOUNT)
    token = links.issue_unbound(
        db,
        runtime,
        purpose=PURPOSE,
        lifetime=LIFETIME,
        payload=address,
        organization_id=organization.id,
        role=member_role.value,
        created_by_id=scope.actor_id,
    )
    send_to(
        db,
        runtime,
        address,
        PURPOSE,
        messages.invitation(
            organization.name,
            runtime.settings.issuer,
            member_role.value,
            f"{runtime.public_url()}/invite/{token}",
        ),
        user_id=None,
    )
    audit.record(
        db,
        runtime.now(),
        AuditEventType.INVITATION_SENT,
        actor_id=scope.actor_id,
        organization_id=organization.id,
        client=client,
        role=member_role.value,
    )
    db.commit()


@dataclass(frozen=True)
class Invitation:
    row: OneTimeToken
    organization: Organization
    address: str


def open_invitation(db: Session, runtime: Runtime, token: str) -> Invitation:
    row = links.peek(db, runtime, purpose=PURPOSE, token=token)
    organization = db.get(Organization, row.organization_id) if row.organization_id else None
    if organization is None or not row.payload:
        raise InvalidToken()
    return Invitation(row=row, organization=organization, address=row.payload)


@use_case
def accept(
    db: Session,
    runtime: Runtime,
    *,
    token: str,
    login: str,
    password: str,
    client: ClientInfo,
    previous_session_id: int | None = None,
) -> tuple[AuthSession, str]:
    invitation = open_invitation(db, runtime, token)
    user = create_user(
        db,
        runtime,
        login=login,
        password=password,
        email=invitation.address,
        organization_slug=invitation.organization.slug,
        role=invitation.row.role or "member",
        client=client,
        email_verified=True,
    )
    links.consume(db, runtime, purpose=PURPOSE, token=token)
    session, session_token = sessions.start_session(
        db,
        runtime,
        user,
        SessionState.AUTHENTICATED,
        [Method.PASSWORD],
        client,
        organization_id=invitation.organization.id,
    )
    if previous_session_id is not None:
        sessions.replace_session(db, previous_session_id, session)
    user.last_sign_in_at = runtime.now()
    audit.record(
        db,
        runtime.now(),
        AuditEventType.INVITATION_ACCEPTED,
        user_id=user.id,
        organization_id=invitation.organization.id,
        client=client,
    )
    db.commit()
    return session, session_token
