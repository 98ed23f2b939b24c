"""Self-service sign-up, for organizations that allow it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from twofold.core.audit_events import AuditEventType
from twofold.core.errors import Forbidden, InvalidInput
from twofold.core.sessions import Method, SessionState
from twofold.services import audit, email_addresses, sessions
from twofold.services.runtime import ClientInfo, Runtime
from twofold.services.users import create_user
from twofold.store.models import AuthSession, Organization

SIGNUP_CLOSED = "Sign-up is closed for this organization. Ask its administrator for an account."


def open_organizations(db: Session) -> list[Organization]:
    return list(
        db.scalars(select(Organization).where(Organization.signup_open).order_by(Organization.name))
    )


def organization_open_for_signup(db: Session, slug: str) -> Organization:
    organization = db.scalar(select(Organization).where(Organization.slug == slug[:64]))
    if organization is None or not organization.signup_open:
        raise Forbidden(SIGNUP_CLOSED)
    return organization


def sign_up(
    db: Session,
    runtime: Runtime,
    *,
    slug: str,
    login: str,
    email: str,
    password: str,
    client: ClientInfo,
    previous_session_id: int | None = None,
) -> tuple[AuthSession, str]:
    """Create a member of an open organization and sign them in (2FA setup comes next
    when the organization requires it)."""
    try:
        organization = organization_open_for_signup(db, slug)
    except Forbidden:
        known = db.scalar(select(Organization.id).where(Organization.slug == slug[:64]))
        audit.record(
            db,
            runtime.now(),
            AuditEventType.SIGNUP_REFUSED,
            organization_id=known,
            client=client,
            reason="closed" if known else "unknown_organization",
        )
        db.commit()
        raise
    if not email.strip():
        raise InvalidInput("email", "Enter your email address.")
    user = create_user(
        db,
        runtime,
        login=login,
        password=password,
        email=email,
        organization_slug=organization.slug,
        client=client,
    )
    if previous_session_id is not None:
        sessions.end_session(db, previous_session_id)  # the browser's cookie is replaced
    session, token = sessions.start_session(
        db,
        runtime,
        user,
        SessionState.AUTHENTICATED,
        [Method.PASSWORD],
        client,
        organization_id=organization.id,
    )
    user.last_sign_in_at = runtime.now()
    email_addresses.send_verification(db, runtime, user, user.email or "")
    db.commit()
    return session, token
