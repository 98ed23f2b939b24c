"""Verifying the second factor at sign-in: a TOTP code or a single-use recovery code.

Single use is decided by one conditional UPDATE whose row count says whether this request
consumed the step or the code, so it holds under concurrency and across processes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from twofold.core.audit_events import AuditEventType
from twofold.core.errors import (
    CodeReused,
    InvalidCode,
    InvalidRecoveryCode,
    MalformedCode,
    MalformedRecoveryCode,
    NotPasswordVerified,
    SecondFactorLocked,
    TwoFactorNotEnabled,
)
from twofold.core.lockout import lock_after_failure
from twofold.core.sessions import Method, SessionState
from twofold.core.validation import MAX_CODE_INPUT
from twofold.notify import messages
from twofold.otp import totp
from twofold.otp.clock import unix_time
from twofold.otp.codes import is_numeric_code, normalize_code
from twofold.otp.recovery import is_well_formed_recovery_code, normalize_recovery_code
from twofold.otp.totp import TotpParams
from twofold.services import audit, sessions
from twofold.services.notifications import FAILED_CODES_WORTH_NOTICE, notify
from twofold.services.runtime import ClientInfo, Runtime
from twofold.services.totp_secrets import open_secret
from twofold.services.transactions import use_case
from twofold.services.users import (
    clear_code_failures,
    confirmed_authenticator,
    is_code_locked,
    recovery_codes_left,
)
from twofold.store.db import rows_affected
from twofold.store.models import Authenticator, AuthSession, RecoveryCode, User

TOTP_WINDOW = 1
CHALLENGE_STATES = {SessionState.PASSWORD_VERIFIED.value, SessionState.AUTHENTICATED.value}


def _pending_user(db: Session, runtime: Runtime, session: AuthSession) -> User:
    """The person at the code prompt: after the password, or signed in and asked again
    because the current organization requires 2FA and this session has not passed it there."""
    if session.state not in CHALLENGE_STATES or session.expires_at <= runtime.now():
        raise NotPasswordVerified()
    if session.state == SessionState.AUTHENTICATED.value and (
        session.organization_id is None
        or session.organization_id in sessions.verified_organizations(session)
    ):
        raise NotPasswordVerified()  # nothing left to verify in this session
    user = lock_user_row(db, session.user_id)
    if user is None or not user.is_active:
        raise NotPasswordVerified()
    ensure_not_locked(user, runtime.now())
    return user


def lock_user_row(db: Session, user_id: int) -> User | None:
    """The person's row, current and locked until this transaction ends, so that deciding
    whether a code may be tried and counting it are one step across every server process:
    PostgreSQL holds the row (FOR UPDATE); SQLite's write transaction holds the database."""
    return db.get(User, user_id, populate_existing=True, with_for_update=True)


def ensure_not_locked(user: User, now: datetime) -> None:
    if is_code_locked(user, now):
        until = (
            user.code_locked_until
            if user.code_locked_until and user.code_locked_until > now
            else None
        )
        raise SecondFactorLocked(until)


def _count_failure(
    db: Session, runtime: Runtime, user: User, client: ClientInfo, event: AuditEventType
) -> None:
    """Count a wrong code, lock at each tenth, and commit before the caller raises."""
    now = runtime.now()
    count = db.execute(
        update(User)
        .where(User.id == user.id)
        .values(failed_code_count=User.failed_code_count + 1)
        .returning(User.failed_code_count)
    ).scalar_one()
    audit.record(db, now, event, user_id=user.id, client=client, consecutive_failures=count)
    locks, until = lock_after_failure(count, now)
    if locks:
        db.execute(update(User).where(User.id == user.id).values(code_locked_until=until))
        audit.record(
            db,
            now,
            AuditEventType.SECOND_FACTOR_LOCKED,
            user_id=user.id,
            client=client,
            consecutive_failures=count,
            locked_until=until.isoformat() if until else "until unlocked by an operator",
        )
        notify(
            db,
            runtime,
            user,
            "second_factor_locked",
            messages.second_factor_locked(user.login, until),
        )
    db.commit()
    if locks:
        raise SecondFactorLocked(until)


def _succeed(
    db: Session,
    runtime: Runtime,
    session: AuthSession,
    user: User,
    method: Method,
    client: ClientInfo,
) -> str:
    now = runtime.now()
    if user.failed_code_count >= FAILED_CODES_WORTH_NOTICE:
        notify(
            db,
            runtime,
            user,
            "sign_in_after_failed_codes",
            messages.sign_in_after_failed_codes(user.login, user.failed_code_count),
        )
    clear_code_failures(user)
    user.last_sign_in_at = now
    token = sessions.step_up(db, runtime, session, method)
    audit.record(
        db, now, AuditEventType.SIGN_IN_SUCCEEDED, user_id=user.id, client=client, amr=session.amr
    )
    db.commit()
    return token


def consume_totp_step(
    db: Session, runtime: Runtime, authenticator: Authenticator, user: User, code: str
) -> int:
    """The step a code matches, consumed; CodeReused / InvalidCode / MalformedCode otherwise."""
    params = TotpParams(
        algorithm=authenticator.algorithm, digits=authenticator.digits, period=authenticator.period
    )
    normalized = normalize_code(code[: MAX_CODE_INPUT + 1])
    if len(normalized) > MAX_CODE_INPUT or not is_numeric_code(normalized, params.digits):
        raise MalformedCode()
    secret = open_secret(runtime, authenticator, user.id)
    verdict = totp.verify_totp(
        secret,
        normalized,
        unix_time(runtime.now()),
        params,
        window=TOTP_WINDOW,
        last_used_step=authenticator.last_used_step,
    )
    if verdict.step is None:
        raise CodeReused() if verdict.replayed else InvalidCode()
    step = verdict.step
    # The same rule once more, in the database: only one request may record this step.
    consumed = rows_affected(
        db,
        update(Authenticator)
        .where(
            Authenticator.id == authenticator.id,
            or_(Authenticator.last_used_step.is_(None), Authenticator.last_used_step < step),
        )
        .values(last_used_step=step)
        .execution_options(synchronize_session=False),
    )
    if consumed != 1:
        raise CodeReused()
    authenticator.last_used_step = step
    return step


def _check_totp(db: Session, runtime: Runtime, user: User, code: str, client: ClientInfo) -> None:
    """The person's authenticator-app code, consumed; a wrong or replayed code is counted
    toward the lock (and committed) before the error is raised."""
    authenticator = confirmed_authenticator(db, user.id)
    if authenticator is None:
        raise TwoFactorNotEnabled()
    try:
        consume_totp_step(db, runtime, authenticator, user, code)
    except CodeReused:
        _count_failure(db, runtime, user, client, AuditEventType.SECOND_FACTOR_CODE_REUSED)
        raise
    except InvalidCode:
        _count_failure(db, runtime, user, client, AuditEventType.SECOND_FACTOR_FAILED)
        raise


@use_case
def verify_totp(
    db: Session, runtime: Runtime, session: AuthSession, code: str, client: ClientInfo
) -> str:
    """Second step of sign-in with an authenticator app; returns the new session token."""
    user = _pending_user(db, runtime, session)
    _check_totp(db, runtime, user, code, client)
    return _succeed(db, runtime, session, user, Method.TOTP, client)


@use_case
def verify_recovery_code(
    db: Session, runtime: Runtime, session: AuthSession, code: str, client: ClientInfo
) -> str:
    """Second step with a recovery code, used up by this sign-in; returns the new token."""
    user = _pending_user(db, runtime, session)
    normalized = normalize_recovery_code(code[: MAX_CODE_INPUT + 1])
    if len(code) > MAX_CODE_INPUT or not is_well_formed_recovery_code(normalized):
        raise MalformedRecoveryCode()
    digests = [digest for _kid, digest in runtime.keys.recovery_code_digests(user.id, normalized)]
    now = runtime.now()
    consumed = rows_affected(
        db,
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_digest.in_(digests),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False),
    )
    if consumed != 1:
        was_used = db.scalar(
            select(RecoveryCode.id).where(
                RecoveryCode.user_id == user.id, RecoveryCode.code_digest.in_(digests)
            )
        )
        event = (
            AuditEventType.SECOND_FACTOR_CODE_REUSED
            if was_used
            else AuditEventType.SECOND_FACTOR_FAILED
        )
        _count_failure(db, runtime, user, client, event)
        raise InvalidRecoveryCode()
    codes_left = recovery_codes_left(db, user.id)
    audit.record(
        db,
        now,
        AuditEventType.RECOVERY_CODE_USED,
        user_id=user.id,
        client=client,
        codes_left=codes_left,
    )
    notify(
        db, runtime, user, "recovery_code_used", messages.recovery_code_used(user.login, codes_left)
    )
    return _succeed(db, runtime, session, user, Method.RECOVERY_CODE, client)


def confirm_code_for_change(
    db: Session, runtime: Runtime, user: User, code: str, client: ClientInfo
) -> None:
    """Ask the second factor again before a sensitive change (like the email address).
    Wrong codes count toward the same lock as at sign-in."""
    current = lock_user_row(db, user.id)
    if current is None:
        raise NotPasswordVerified()
    ensure_not_locked(current, runtime.now())
    _check_totp(db, runtime, user, code, client)
    clear_code_failures(user)
