"""A phone as a second factor (decision 0021): enter a number, receive a code, enter it, and
codes by text message are on. As the first method it issues the recovery codes exactly as
an authenticator app does; as another method it needs the password and a current second
factor, like adding an authenticator. One phone per person."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from twofold.core import words
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import (
    AlreadyExists,
    EnrollmentNotStarted,
    InvalidInput,
    NotPasswordVerified,
    ReenrollmentLinkRequired,
    SmsCodeExpired,
)
from twofold.core.methods import ensure_room_for_another
from twofold.core.policy import MembershipView, sms_offered
from twofold.core.sessions import Method
from twofold.notify import messages
from twofold.notify.phones import parse, pretty
from twofold.services import audit, sessions
from twofold.services.account import (
    confirm_current_password,
    drop_unfinished,
    fresh_pending_authenticator,
    replace_recovery_codes,
)
from twofold.services.authenticators import record_added
from twofold.services.notifications import notify
from twofold.services.runtime import ClientInfo, Runtime
from twofold.services.second_factor import confirm_any_second_factor_for_change, lock_user_row
from twofold.services.sms_codes import (
    Purpose,
    SentCode,
    issue,
    live_challenge,
    open_phone,
    seal_phone,
    seconds_until_resend,
    sms_method,
)
from twofold.services.sms_codes import check as check_code
from twofold.services.transactions import use_case
from twofold.services.users import (
    MethodView,
    confirmed_count,
    methods_of,
    second_factor_count,
)
from twofold.store.models import DEFAULT_SMS_NAME, Authenticator, AuthSession, User


@use_case
def begin_phone(
    db: Session,
    runtime: Runtime,
    user: User,
    *,
    phone: str,
    current: MembershipView | None,
    client: ClientInfo,
    password: str = "",
    code: str = "",
) -> SentCode:
    """Check the number and text it a code. The first method needs nothing more (the
    person is signed in with their password); another one needs the password and a current
    second factor. The current organization must allow SMS."""
    countries = runtime.settings.sms_countries
    if not sms_offered(current, countries):
        raise InvalidInput("phone", words.SMS_NOT_AVAILABLE)
    first = confirmed_count(db, user.id) == 0
    if first and user.two_factor_reset_at is not None:
        raise ReenrollmentLinkRequired()
    if not first:
        if sms_method(db, user.id) is not None:
            raise AlreadyExists("phone", words.SMS_ALREADY_ON)
        ensure_room_for_another(second_factor_count(db, user.id))
    e164 = parse(phone, countries)  # a typo costs no password attempt
    if not first:
        confirm_current_password(db, runtime, user, password, client)
        confirm_any_second_factor_for_change(db, runtime, user, code, client)
    locked = lock_user_row(db, user.id)
    if locked is None:
        raise NotPasswordVerified()
    drop_unfinished(db, user.id, "sms")
    kid, sealed = seal_phone(runtime.keys, e164, user.id)
    pending = Authenticator(
        user_id=user.id,
        kind="sms",
        name=DEFAULT_SMS_NAME,
        secret_kid=kid,
        secret_sealed=sealed,
        created_at=runtime.now(),
    )
    db.add(pending)
    db.flush()
    return issue(db, runtime, locked, pending, Purpose.ENROLL, client)


@dataclass(frozen=True)
class PendingPhone:
    """The number waiting for its first code, for its owner's eyes."""

    phone: str
    wait_seconds: int


def pending_phone(db: Session, runtime: Runtime, user: User) -> PendingPhone | None:
    pending = fresh_pending_authenticator(db, runtime, user.id, "sms")
    if pending is None:
        return None
    return PendingPhone(
        phone=pretty(open_phone(runtime, pending)),
        wait_seconds=seconds_until_resend(db, runtime, user.id, Purpose.ENROLL),
    )


@use_case
def resend_enrollment_code(
    db: Session, runtime: Runtime, user: User, client: ClientInfo
) -> SentCode:
    locked = lock_user_row(db, user.id)
    pending = fresh_pending_authenticator(db, runtime, user.id, "sms")
    if locked is None or pending is None:
        raise EnrollmentNotStarted()
    return issue(db, runtime, locked, pending, Purpose.ENROLL, client)


@use_case
def confirm_phone(
    db: Session,
    runtime: Runtime,
    user: User,
    code: str,
    client: ClientInfo,
    *,
    session: AuthSession | None = None,
) -> tuple[list[str] | None, str | None]:
    """The texted code turns the phone on. As the first method: the recovery codes (shown
    once) and, with `session`, the session's step up (its new token). Whoever holds the
    phone is not guessing the sign-in factor, so a wrong code counts only on the code."""
    locked = lock_user_row(db, user.id)
    pending = fresh_pending_authenticator(db, runtime, user.id, "sms")
    if locked is None or pending is None:
        raise EnrollmentNotStarted()
    challenge = live_challenge(db, runtime, user.id, Purpose.ENROLL, authenticator_id=pending.id)
    if challenge is None:
        raise SmsCodeExpired()
    first = confirmed_count(db, user.id) == 0
    if not first:
        if sms_method(db, user.id) is not None:
            raise AlreadyExists("phone", words.SMS_ALREADY_ON)
        ensure_room_for_another(second_factor_count(db, user.id))
    check_code(db, runtime, locked, challenge, code, client, None)
    now = runtime.now()
    pending.confirmed_at = now
    codes: list[str] | None = None
    token: str | None = None
    if first:
        codes = replace_recovery_codes(db, runtime, locked)
        audit.record(
            db, now, AuditEventType.TWO_FACTOR_ENABLED, user_id=user.id, client=client, kind="sms"
        )
        notify(db, runtime, locked, "two_factor_enabled", messages.two_factor_enabled(user.login))
        if session is not None:
            token = sessions.step_up(db, runtime, session, Method.SMS)
    else:
        record_added(db, runtime, locked, pending, client)
    db.commit()
    return codes, token


def methods_shown(
    db: Session, runtime: Runtime, user_id: int, *, to_owner: bool
) -> list[MethodView]:
    """The person's methods with each phone's number: whole for its owner, masked
    ("+44 •••• ••34 56") for anyone else (their admins, the CLI)."""
    return methods_of(db, user_id, runtime, to_owner=to_owner)
