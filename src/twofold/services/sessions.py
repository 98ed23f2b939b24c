"""Server-side sessions. The cookie holds a random token; only its SHA-256 is stored, and the
token changes at every step up (password, then second factor)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from twofold.core.sessions import Method, SessionKind, SessionState, amr_methods, amr_string
from twofold.crypto.tokens import new_token, token_digest
from twofold.services import oidc_grants
from twofold.services.runtime import ClientInfo, Runtime
from twofold.store.db import end_reading, rows_affected
from twofold.store.models import AuthSession, OidcGrant, User

# Writing last_seen_at on every request would turn each page view into a write.
_TOUCH_EVERY = timedelta(minutes=1)


def _lifetime(runtime: Runtime, state: SessionState) -> timedelta:
    if state is SessionState.PASSWORD_VERIFIED:
        return timedelta(minutes=runtime.settings.password_session_minutes)
    return timedelta(hours=runtime.settings.session_hours)


def start_session(
    db: Session,
    runtime: Runtime,
    user: User,
    state: SessionState,
    methods: list[Method],
    client: ClientInfo,
    *,
    organization_id: int | None = None,
    kind: SessionKind = SessionKind.BROWSER,
) -> tuple[AuthSession, str]:
    now = runtime.now()
    token = new_token()
    session = AuthSession(
        token_digest=token_digest(token),
        user_id=user.id,
        state=state.value,
        kind=kind.value,
        amr=amr_string(methods),
        organization_id=organization_id or _default_organization_id(user),
        created_at=now,
        last_seen_at=now,
        expires_at=now + _lifetime(runtime, state),
        ip=client.ip,
        user_agent=(client.user_agent or "")[:300] or None,
    )
    db.add(session)
    db.flush()
    return session, token


def _default_organization_id(user: User) -> int | None:
    memberships = sorted(user.memberships, key=lambda m: m.id)
    return memberships[0].organization_id if memberships else None


def step_up(
    db: Session,
    runtime: Runtime,
    session: AuthSession,
    method: Method,
) -> str:
    """A second factor passed: authenticated, verified for the current organization, with a
    new token (the old one stops working)."""
    now = runtime.now()
    token = new_token()
    session.token_digest = token_digest(token)
    session.state = SessionState.AUTHENTICATED.value
    methods = amr_methods(session.amr)
    if method not in methods:
        session.amr = amr_string([*methods, method])
    session.second_factor_at = now
    if session.organization_id is not None:
        mark_verified(session, session.organization_id)
    session.expires_at = now + _lifetime(runtime, SessionState.AUTHENTICATED)
    session.last_seen_at = now
    db.flush()
    return token


def find_session(
    db: Session,
    runtime: Runtime,
    token: str | None,
    kind: SessionKind = SessionKind.BROWSER,
) -> AuthSession | None:
    """The live session of `kind` for a cookie value or bearer token, or None (unknown,
    forged, expired, deactivated, or a token of the other kind)."""
    if not token or len(token) > 128:
        return None
    now = runtime.now()
    session = db.scalar(select(AuthSession).where(AuthSession.token_digest == token_digest(token)))
    if session is None or session.kind != kind.value:
        return None
    if session.expires_at <= now:
        end_reading(db)
        db.execute(delete(AuthSession).where(AuthSession.id == session.id))
        db.commit()
        return None
    user = db.get(User, session.user_id)
    if user is None or not user.is_active:
        return None
    if now - session.last_seen_at >= _TOUCH_EVERY:
        update_session_row(db, session, last_seen_at=now)
    return session


def update_session_row(db: Session, session: AuthSession, **values: object) -> None:
    """Write a session's row in a transaction of its own that starts with the write, so a page
    view (a read-only session) can do it without a stale snapshot; commits."""
    end_reading(db)
    db.execute(
        update(AuthSession)
        .where(AuthSession.id == session.id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    db.commit()
    for key, value in values.items():
        set_committed_value(session, key, value)


def verified_organizations(session: AuthSession) -> set[int]:
    return {int(part) for part in session.verified_organizations.split() if part.isdigit()}


def mark_verified(session: AuthSession, organization_id: int) -> None:
    ids = verified_organizations(session) | {organization_id}
    session.verified_organizations = " ".join(str(i) for i in sorted(ids))


def end_sessions_where(db: Session, condition: ColumnElement[bool], now: datetime) -> int:
    """Sign out the sessions matching `condition`: the OpenID Connect grants made from them
    are revoked in the same transaction. Returns how many sessions ended."""
    ending = OidcGrant.session_id.in_(select(AuthSession.id).where(condition))
    oidc_grants.revoke_grants_where(db, ending, oidc_grants.SIGNED_OUT, now)
    return rows_affected(db, delete(AuthSession).where(condition))


def end_session(db: Session, session_id: int, now: datetime) -> None:
    end_sessions_where(db, AuthSession.id == session_id, now)


def end_other_sessions(
    db: Session, user_id: int, keep_session_id: int | None, now: datetime
) -> int:
    condition = AuthSession.user_id == user_id
    if keep_session_id is not None:
        condition = and_(condition, AuthSession.id != keep_session_id)
    return end_sessions_where(db, condition, now)


def replace_session(db: Session, previous_session_id: int, successor: AuthSession) -> None:
    """A new sign-in in the same browser ends the session it had. The same person stays
    signed in to their applications (their grants move to the new session, so signing out
    of it ends them); another person's session is signed out like any other."""
    previous = db.get(AuthSession, previous_session_id)
    if previous is None or previous.id == successor.id:
        return
    if previous.user_id == successor.user_id:
        db.execute(
            update(OidcGrant)
            .where(OidcGrant.session_id == previous.id)
            .values(session_id=successor.id)
            .execution_options(synchronize_session=False)
        )
    end_session(db, previous.id, successor.created_at)
