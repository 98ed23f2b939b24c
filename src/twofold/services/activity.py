"""What a person sees of their own account's activity: recent security events and the
sessions that are signed in, with sign-out for one or for all others."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from twofold.core.audit_events import AuditEventType
from twofold.core.errors import NotFound
from twofold.services import audit, sessions
from twofold.services.runtime import ClientInfo, Runtime
from twofold.services.transactions import use_case
from twofold.store.models import AuditEvent, AuthSession, User

RECENT_EVENTS = 20


def recent_events(db: Session, user_id: int, limit: int = RECENT_EVENTS) -> list[AuditEvent]:
    return list(
        db.scalars(
            select(AuditEvent)
            .where(AuditEvent.user_id == user_id)
            .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
            .limit(limit)
        )
    )


def active_sessions(db: Session, runtime: Runtime, user_id: int) -> list[AuthSession]:
    return list(
        db.scalars(
            select(AuthSession)
            .where(AuthSession.user_id == user_id, AuthSession.expires_at > runtime.now())
            .order_by(AuthSession.last_seen_at.desc())
        )
    )


@use_case
def end_own_session(
    db: Session, runtime: Runtime, user: User, session_id: int, client: ClientInfo
) -> None:
    """Sign out one of the person's own sessions; someone else's is 'not found'."""
    target = db.get(AuthSession, session_id)
    if target is None or target.user_id != user.id:
        raise NotFound("That session is not signed in (any more).")
    sessions.end_session(db, target.id)
    audit.record(
        db, runtime.now(), AuditEventType.SESSION_ENDED, user_id=user.id, client=client, count=1
    )
    db.commit()


@use_case
def end_other_sessions(
    db: Session, runtime: Runtime, user: User, current_session_id: int, client: ClientInfo
) -> int:
    ended = sessions.end_other_sessions(db, user.id, current_session_id)
    audit.record(
        db, runtime.now(), AuditEventType.SESSION_ENDED, user_id=user.id, client=client, count=ended
    )
    db.commit()
    return ended
