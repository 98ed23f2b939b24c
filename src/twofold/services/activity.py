"""What a person sees of their own account's activity: recent security events and the
sessions that are signed in, with sign-out for one or for all others."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from twofold.core import words
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import NotFound
from twofold.services import audit, sessions, users
from twofold.services.runtime import ClientInfo, Runtime
from twofold.services.transactions import use_case
from twofold.store.models import AuditEvent, AuthSession, User

RECENT_EVENTS = 20


def recent_events(db: Session, user_id: int, limit: int = RECENT_EVENTS) -> list[AuditEvent]:
    return events_page(db, user_id, 1, per_page=limit)[0]


EVENTS_PER_PAGE = 10


def events_page(
    db: Session, user_id: int, page: int, per_page: int = EVENTS_PER_PAGE
) -> tuple[list[AuditEvent], bool]:
    """One page (1 = newest) of the person's events, and whether older ones follow."""
    page = max(1, min(page, 10_000))
    rows = list(
        db.scalars(
            select(AuditEvent)
            .where(AuditEvent.user_id == user_id)
            .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
            .offset((page - 1) * per_page)
            .limit(per_page + 1)
        )
    )
    return rows[:per_page], len(rows) > per_page


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
        raise NotFound(words.SESSION_NOT_SIGNED_IN)
    sessions.end_session(db, target.id, runtime.now())
    audit.record(
        db, runtime.now(), AuditEventType.SESSION_ENDED, user_id=user.id, client=client, count=1
    )
    db.commit()


@use_case
def end_other_sessions(
    db: Session, runtime: Runtime, user: User, current_session_id: int, client: ClientInfo
) -> int:
    ended = sessions.end_other_sessions(db, user.id, current_session_id, runtime.now())
    users.mark_credentials_changed(db, user, runtime.now())  # "sign out everywhere else"
    audit.record(
        db, runtime.now(), AuditEventType.SESSION_ENDED, user_id=user.id, client=client, count=ended
    )
    db.commit()
    return ended
