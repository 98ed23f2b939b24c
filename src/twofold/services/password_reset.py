"""Password reset by email. It never signs anyone in directly and never turns 2FA off: with
2FA on it ends at the code prompt, without it at the sign-in page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from twofold.core import words
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import InvalidInput, InvalidToken
from twofold.core.sessions import Method, SessionState
from twofold.notify import messages
from twofold.services import audit, links, sessions
from twofold.services.notifications import notify, send_to
from twofold.services.passwords import (
    check_new_password,
    clear_password_failures,
    hash_new_password,
)
from twofold.services.runtime import ClientInfo, Runtime
from twofold.services.transactions import use_case
from twofold.services.users import has_two_factor, mark_credentials_changed
from twofold.store.models import AuthSession, User

PURPOSE = "password_reset"
LIFETIME = timedelta(minutes=30)
# One message per address per minute at most, so the form cannot flood someone's mailbox.
RESEND_AFTER = timedelta(minutes=1)


@use_case
def request_reset(db: Session, runtime: Runtime, *, address: str, client: ClientInfo) -> None:
    """Send a link if `address` is an account's verified address. The caller shows the same
    answer either way, and no mail server is contacted within the request."""
    needle = address.strip().lower()[:254]
    user = (
        db.scalar(select(User).where(User.email == needle, User.email_verified_at.is_not(None)))
        if needle
        else None
    )
    if user is None or not user.is_active:
        # Recorded (without the address typed) and committed like a real request, so both
        # paths cost about the same.
        audit.record(
            db,
            runtime.now(),
            AuditEventType.PASSWORD_RESET_REQUESTED,
            client=client,
            outcome="no_verified_account",
        )
        db.commit()
        return
    # Asked again within RESEND_AFTER: the new link replaces the old one and its message waits
    # for the minute to pass (mail.enqueue once_per), so a repeated request does the same
    # database work as a first one and cannot flood the mailbox.
    token = links.issue(db, runtime, purpose=PURPOSE, user_id=user.id, lifetime=LIFETIME)
    send_to(
        db,
        runtime,
        needle,
        PURPOSE,
        messages.password_reset(
            user.login, f"{runtime.public_url()}/password/reset/{token}", minutes=30
        ),
        user_id=user.id,
        once_per=RESEND_AFTER,
    )
    audit.record(
        db, runtime.now(), AuditEventType.PASSWORD_RESET_REQUESTED, user_id=user.id, client=client
    )
    db.commit()


def check_link(db: Session, runtime: Runtime, token: str) -> User:
    """The account a live reset link is for (opening the link does not use it up)."""
    row = links.peek(db, runtime, purpose=PURPOSE, token=token)
    user = db.get(User, row.user_id) if row.user_id else None
    if user is None or not user.is_active:
        raise InvalidToken()
    return user


@dataclass(frozen=True)
class ResetDone:
    user: User
    # With 2FA on: a password-verified session that reaches only the code prompt.
    pending_session: AuthSession | None
    token: str | None


@use_case
def complete_reset(
    db: Session,
    runtime: Runtime,
    *,
    token: str,
    new_password: str,
    confirm_password: str,
    client: ClientInfo,
) -> ResetDone:
    user = check_link(db, runtime, token)
    if new_password != confirm_password:
        raise InvalidInput("confirm_password", words.PASSWORDS_DIFFER)
    check_new_password(new_password, user_inputs=[user.login, user.email or ""])
    new_hash = hash_new_password(db, runtime, new_password)
    links.consume(db, runtime, purpose=PURPOSE, token=token)
    user.password_hash = new_hash
    ended = sessions.end_other_sessions(db, user.id, None, runtime.now())
    mark_credentials_changed(db, user, runtime.now())
    clear_password_failures(db, user.login)
    audit.record(
        db,
        runtime.now(),
        AuditEventType.PASSWORD_RESET,
        user_id=user.id,
        client=client,
        sessions_ended=ended,
    )
    notify(db, runtime, user, "password_changed", messages.password_changed(user.login))
    pending, session_token = None, None
    if has_two_factor(db, user.id):
        pending, session_token = sessions.start_session(
            db, runtime, user, SessionState.PASSWORD_VERIFIED, [Method.PASSWORD], client
        )
    db.commit()
    return ResetDone(user=user, pending_session=pending, token=session_token)
