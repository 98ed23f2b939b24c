"""Setting up 2FA again through the link an admin reset sent."""

from __future__ import annotations

from sqlalchemy.orm import Session

from twofold.core.audit_events import AuditEventType
from twofold.core.sessions import Method
from twofold.services import account, audit, links, sessions
from twofold.services.crash_points import crash_point
from twofold.services.member_actions import REENROLL_PURPOSE
from twofold.services.runtime import ClientInfo, Runtime
from twofold.services.transactions import use_case
from twofold.store.models import AuthSession, User


@use_case
def complete(
    db: Session,
    runtime: Runtime,
    user: User,
    session: AuthSession,
    token: str,
    code: str,
    client: ClientInfo,
) -> tuple[list[str], str]:
    """Confirm the new authenticator and use the link up, in one transaction. Returns the
    recovery codes (shown once) and the session's new token."""
    links.peek(db, runtime, purpose=REENROLL_PURPOSE, token=token)
    codes = account.turn_on_totp(db, runtime, user, code, client, via_reset_link=True)
    crash_point("enroll.after_confirm", db)
    links.consume(db, runtime, purpose=REENROLL_PURPOSE, token=token)
    user.two_factor_reset_at = None
    new_token = sessions.step_up(db, runtime, session, Method.TOTP)
    audit.record(
        db, runtime.now(), AuditEventType.TWO_FACTOR_REENROLLED, user_id=user.id, client=client
    )
    crash_point("enroll.before_commit", db)
    db.commit()
    crash_point("enroll.after_commit")
    return codes, new_token
