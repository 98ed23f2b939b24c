"""What an admin does to a member's account: reset 2FA (the lost-phone case), unlock the
second factor, remove from an organization, deactivate. Admins never see a secret or a code,
and cannot turn 2FA on for anyone — they can only take it away (reset), which the member
undoes by email link."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from twofold.core import words
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import InvalidInput
from twofold.core.words import Text
from twofold.notify.messages import Message
from twofold.services import audit, links, organizations, sessions, users
from twofold.services.admin_scope import AdminScope, refuse, require_manageable
from twofold.services.crash_points import crash_point
from twofold.services.notifications import send_to
from twofold.services.runtime import ClientInfo, Runtime
from twofold.services.second_factor import confirm_code_for_change
from twofold.services.transactions import use_case
from twofold.store.models import (
    Authenticator,
    AuthSession,
    Organization,
    RecoveryCode,
    SmsChallenge,
    User,
    WebAuthnCredential,
)

REENROLL_PURPOSE = "reenroll"
REENROLL_LIFETIME = timedelta(hours=24)
REASON_MAX = 500
FRESH_SECOND_FACTOR = timedelta(minutes=10)


def check_reason(reason: str) -> str:
    """THE rule that a reset says why (it goes into the audit log), for console, CLI and
    API alike: the reason, stripped, or InvalidInput on the "reason" field."""
    reason = reason.strip()
    if not reason:
        raise InvalidInput("reason", words.RESET_REASON_MISSING)
    if len(reason) > REASON_MAX:
        raise InvalidInput("reason", words.RESET_REASON_TOO_LONG(max=REASON_MAX))
    return reason


def second_factor_is_fresh(session: AuthSession, now: datetime) -> bool:
    """Whether the admin passed their second factor in this session within the last ten
    minutes; otherwise a reset asks their code again."""
    return session.second_factor_at is not None and now - session.second_factor_at <= (
        FRESH_SECOND_FACTOR
    )


@use_case
def reset_two_factor_as_admin(
    db: Session,
    runtime: Runtime,
    scope: AdminScope,
    session: AuthSession,
    target: User,
    *,
    reason: str,
    code: str,
    client: ClientInfo,
) -> str:
    """The console's reset, by a signed-in admin: the reason first; then, unless their
    second factor is fresh in `session`, their own code (counted like any code), which makes
    it fresh again; then `reset_two_factor`. All in one transaction. Returns the link."""
    check_reason(reason)
    now = runtime.now()
    if not second_factor_is_fresh(session, now):
        if scope.admin is None or not code.strip():
            raise InvalidInput("code", words.ENTER_CODE_FROM_APP)
        confirm_code_for_change(db, runtime, scope.admin, code, client)
        session.second_factor_at = now
    return reset_two_factor(db, runtime, scope, target, reason=reason, client=client)


@use_case
def reset_two_factor(
    db: Session,
    runtime: Runtime,
    scope: AdminScope,
    target: User,
    *,
    reason: str,
    client: ClientInfo | None,
    send_email: bool = True,
) -> str:
    """The lost-phone case: delete every method (app secrets, the phone and its texted
    codes) and the recovery codes, end the member's sessions, and mail them a single-use
    link (24 h) — the only way to set up 2FA again. Returns the link.

    Refused, with nothing changed, when the scope rule forbids it (recorded as a refused
    action) or when the member has no 2FA to reset (`reset_refusal`)."""
    require_manageable(db, runtime, scope, target, "reset_2fa", client)
    nothing_to_reset = reset_refusal(db, target)
    if nothing_to_reset is not None:
        raise InvalidInput("member", nothing_to_reset)
    reason = check_reason(reason)
    has_address = bool(target.email) and target.email_verified_at is not None
    if send_email and not has_address:
        raise InvalidInput("reason", words.RESET_NEEDS_CONFIRMED_ADDRESS(login=target.login))
    now = runtime.now()
    # Every method goes, the phone (its sealed number) included, with any code texted to it;
    # the SMS rate windows stay: a reset does not give the account new texts.
    db.execute(delete(SmsChallenge).where(SmsChallenge.user_id == target.id))
    db.execute(delete(Authenticator).where(Authenticator.user_id == target.id))
    db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == target.id))
    db.execute(delete(WebAuthnCredential).where(WebAuthnCredential.user_id == target.id))
    crash_point("reset.after_delete", db)
    users.clear_code_failures(target)
    target.two_factor_reset_at = now
    ended = sessions.end_other_sessions(db, target.id, None, now)
    users.mark_credentials_changed(db, target, now)
    token = links.issue(
        db, runtime, purpose=REENROLL_PURPOSE, user_id=target.id, lifetime=REENROLL_LIFETIME
    )
    crash_point("reset.after_link", db)
    link = f"{runtime.public_url()}/reenroll/{token}"
    if send_email and target.email:
        send_to(
            db,
            runtime,
            target.email,
            "two_factor_reset",
            reset_message(target.login, link),
            user_id=target.id,
        )
    audit.record(
        db,
        now,
        AuditEventType.TWO_FACTOR_RESET_BY_ADMIN,
        user_id=target.id,
        actor_id=scope.actor_id,
        client=client,
        reason=reason,
        sessions_ended=ended,
    )
    crash_point("reset.before_commit", db)
    db.commit()
    crash_point("reset.after_commit")
    return link


def reset_refusal(db: Session, target: User) -> Text | None:
    """None if `target` has something to reset: 2FA on, or a reset still waiting for them
    (a new reset sends a new link, e.g. when the first one expired). Resetting someone
    without 2FA would lock them out of everything until they used the link, for nothing."""
    if users.has_two_factor(db, target.id) or target.two_factor_reset_at is not None:
        return None
    return words.NOTHING_TO_RESET(login=target.login)


def reset_message(login: str, link: str) -> Message:
    return Message(
        words.SUBJECT_TWO_FACTOR_RESET,
        (
            words.TWO_FACTOR_RESET(login=login),
            words.TWO_FACTOR_RESET_WHAT_TO_DO(hours=reenroll_lifetime_hours()),
        ),
        action=(words.ACTION_SET_UP_TWO_FACTOR, link),
    )


def reenroll_lifetime_hours() -> int:
    """How long the set-up-again link works, in whole hours (emails and pages say it)."""
    return REENROLL_LIFETIME // timedelta(hours=1)


def end_all_sessions(db: Session, user_id: int, now: datetime) -> int:
    return sessions.end_sessions_where(db, AuthSession.user_id == user_id, now)


@use_case
def unlock(
    db: Session, runtime: Runtime, scope: AdminScope, target: User, client: ClientInfo | None
) -> None:
    """Clear a second-factor lock, if the scope rule allows."""
    require_manageable(db, runtime, scope, target, "unlock", client)
    users.unlock(db, runtime, target, actor_id=scope.actor_id)
    db.commit()


@use_case
def remove_from_organization(
    db: Session,
    runtime: Runtime,
    scope: AdminScope,
    target: User,
    organization: Organization,
    client: ClientInfo | None,
) -> None:
    """Take away the membership and end the person's sessions at once (the account stays),
    if the scope rule allows and the organization is one the admin administers."""
    require_manageable(db, runtime, scope, target, "remove", client)
    if not scope.administers(organization.id):
        refuse(
            db,
            runtime,
            scope,
            "remove",
            target_id=target.id,
            client=client,
            message=words.NOT_YOUR_ADMINISTERED_ORGANIZATION,
        )
    organizations.remove_member(db, runtime, target, organization, actor_id=scope.actor_id)
    end_all_sessions(db, target.id, runtime.now())
    db.commit()


@use_case
def deactivate(
    db: Session, runtime: Runtime, scope: AdminScope, target: User, client: ClientInfo | None
) -> None:
    if not scope.superadmin:
        refuse(
            db,
            runtime,
            scope,
            "deactivate",
            target_id=target.id,
            client=client,
            message=words.ONLY_SUPERADMIN_DEACTIVATES,
        )
    target.is_active = False
    ended = end_all_sessions(db, target.id, runtime.now())
    audit.record(
        db,
        runtime.now(),
        AuditEventType.USER_DEACTIVATED,
        user_id=target.id,
        actor_id=scope.actor_id,
        client=client,
        sessions_ended=ended,
    )
    db.commit()
