"""Verifying the second factor at sign-in: a TOTP code or a single-use recovery code.

Single use is decided by one conditional UPDATE whose row count says whether this request
consumed the step or the code, so it holds under concurrency and across processes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import ParamSpec

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from twofold.core import words
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import (
    CodeReused,
    InvalidCode,
    InvalidRecoveryCode,
    MalformedCode,
    MalformedRecoveryCode,
    NotPasswordVerified,
    SecondFactorLocked,
    SmsCodeExpired,
    TwoFactorNotEnabled,
    TwofoldError,
)
from twofold.core.lockout import key_failure_outcome, lock_after_failure
from twofold.core.policy import MethodKind, stored_methods
from twofold.core.sessions import Method, SessionState
from twofold.core.validation import MAX_CODE_INPUT
from twofold.notify import messages
from twofold.otp import totp
from twofold.otp.clock import unix_time
from twofold.otp.codes import is_numeric_code, normalize_code
from twofold.otp.recovery import is_well_formed_recovery_code, normalize_recovery_code
from twofold.otp.totp import TotpParams
from twofold.services import audit, metrics, sessions, sms_codes
from twofold.services.notifications import FAILED_CODES_WORTH_NOTICE, notify
from twofold.services.runtime import ClientInfo, Runtime
from twofold.services.totp_secrets import open_secret
from twofold.services.transactions import use_case
from twofold.services.users import (
    clear_code_failures,
    confirmed_authenticators,
    is_code_locked,
    recovery_codes_left,
)
from twofold.store.db import rows_affected
from twofold.store.models import (
    ApiKey,
    ApiKeyCodeFailures,
    Authenticator,
    AuthSession,
    Membership,
    Organization,
    RecoveryCode,
    User,
)

P = ParamSpec("P")

TOTP_WINDOW = 1
LOGIN_MAX = 64  # users.login's length
CHALLENGE_STATES = {SessionState.PASSWORD_VERIFIED.value, SessionState.AUTHENTICATED.value}
# What a sign-in step refused as a wrong (or unusable) code, for the metrics.
_REFUSED_CODES = (
    InvalidCode,
    CodeReused,
    MalformedCode,
    InvalidRecoveryCode,
    MalformedRecoveryCode,
    SmsCodeExpired,
)


@contextmanager
def _counted(method: metrics.CodeMethod) -> Iterator[None]:
    """Counts a sign-in's second step by its outcome: ok, refused (a wrong, reused, malformed
    or expired code) or locked; a session that may not try a code is not an attempt."""
    try:
        yield
    except SecondFactorLocked:
        metrics.sign_in_second_factor(method, "locked")
        raise
    except _REFUSED_CODES:
        metrics.sign_in_second_factor(method, "refused")
        raise
    metrics.sign_in_second_factor(method, "ok")


def pending_user(
    db: Session, runtime: Runtime, session: AuthSession, *, key_step_up: bool = False
) -> User:
    """The person at the code prompt: after the password, or signed in and asked again
    because the current organization requires 2FA and this session has not passed it there.
    `key_step_up`: a signed-in session that has not used a security key may use one even
    where a code already passed (an organization or application asking for a key)."""
    if session.state not in CHALLENGE_STATES or session.expires_at <= runtime.now():
        raise NotPasswordVerified()
    if (
        session.state == SessionState.AUTHENTICATED.value
        and not key_step_up
        and (
            session.organization_id is None
            or session.organization_id in sessions.verified_organizations(session)
        )
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


# Counts one wrong code of `user` (audited as the event given) and commits it.
CountFailure = Callable[[Session, Runtime, User, ClientInfo, AuditEventType], None]


def _count_failure(
    db: Session, runtime: Runtime, user: User, client: ClientInfo, event: AuditEventType
) -> None:
    """Count a wrong code, lock at each tenth, and commit before the caller raises."""
    now = runtime.now()
    count, key_failures = db.execute(
        update(User)
        .where(User.id == user.id)
        .values(failed_code_count=User.failed_code_count + 1)
        .returning(User.failed_code_count, User.key_failed_code_count)
    ).one()
    audit.record(db, now, event, user_id=user.id, client=client, consecutive_failures=count)
    locks, until = lock_after_failure(count, now, key_failures)
    if locks:
        db.execute(update(User).where(User.id == user.id).values(code_locked_until=until))
        _record_lock(db, runtime, user, client, count + key_failures, until)
    db.commit()
    if locks:
        metrics.lockout("timed" if until is not None else "until_unlocked")
        raise SecondFactorLocked(until)


def _record_lock(
    db: Session,
    runtime: Runtime,
    user: User,
    client: ClientInfo,
    failures: int,
    until: datetime | None,
) -> None:
    audit.record(
        db,
        runtime.now(),
        AuditEventType.SECOND_FACTOR_LOCKED,
        user_id=user.id,
        client=client,
        consecutive_failures=failures,
        locked_until=until.isoformat() if until else "until unlocked by an operator",
    )
    notify(
        db,
        runtime,
        user,
        "second_factor_locked",
        messages.second_factor_locked(user.login, until),
    )


def _count_key_failure(
    db: Session,
    runtime: Runtime,
    user: User,
    client: ClientInfo,
    event: AuditEventType,
    *,
    key: ApiKey,
) -> None:
    """Count a wrong code sent through `key`: toward the (key, person) budget, which stops
    the key answering for this person at its limit, and toward the person's hard stop, never
    toward the pages' timed lock. The person's row is locked (lock_user_row), so reading the
    budget and counting it are one step. Commits before the caller raises."""
    now = runtime.now()
    budget = db.get(ApiKeyCodeFailures, (key.id, user.id), populate_existing=True)
    if budget is None:
        budget = ApiKeyCodeFailures(api_key_id=key.id, user_id=user.id, failed_count=0)
        db.add(budget)
    budget.failed_count += 1
    failed_count, key_failures = db.execute(
        update(User)
        .where(User.id == user.id)
        .values(key_failed_code_count=User.key_failed_code_count + 1)
        .returning(User.failed_code_count, User.key_failed_code_count)
    ).one()
    audit.record(
        db,
        now,
        AuditEventType.API_KEY_CODE_FAILED,
        user_id=user.id,
        organization_id=key.organization_id,
        client=client,
        api_key_id=key.id,
        reused=event is AuditEventType.SECOND_FACTOR_CODE_REUSED,
        consecutive_failures=budget.failed_count,
    )
    key_stops, hard_stop = key_failure_outcome(budget.failed_count, failed_count, key_failures)
    if key_stops:
        budget.locked_at = now
        audit.record(
            db,
            now,
            AuditEventType.API_KEY_LOCKED,
            user_id=user.id,
            organization_id=key.organization_id,
            client=client,
            api_key_id=key.id,
            consecutive_failures=budget.failed_count,
        )
    if hard_stop:
        _record_lock(db, runtime, user, client, failed_count + key_failures, None)
    db.commit()
    if key_stops:
        metrics.lockout("api_key")
    if hard_stop:
        metrics.lockout("until_unlocked")


def succeed(
    db: Session,
    runtime: Runtime,
    session: AuthSession,
    user: User,
    method: Method,
    client: ClientInfo,
) -> str:
    """THE success of a second factor (a code, a recovery code, a security key): the lock
    reset, the session stepped up with `method` (a new token), audited, committed."""
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
    db: Session,
    runtime: Runtime,
    authenticator: Authenticator,
    user: User,
    code: str,
    *,
    note_use: bool = False,
) -> int:
    """The step a code matches, consumed (and, with `note_use`, the authenticator's
    last_used_at set, in the same UPDATE); CodeReused / InvalidCode / MalformedCode
    otherwise."""
    params = TotpParams(
        algorithm=authenticator.algorithm, digits=authenticator.digits, period=authenticator.period
    )
    normalized = normalize_code(code[: MAX_CODE_INPUT + 1])
    if len(normalized) > MAX_CODE_INPUT or not is_numeric_code(normalized, params.digits):
        raise MalformedCode()
    secret = open_secret(runtime, authenticator, user.id)
    now = runtime.now()  # one instant: the step checked and, with note_use, the use recorded
    verdict = totp.verify_totp(
        secret,
        normalized,
        unix_time(now),
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
        .values(last_used_step=step, **({"last_used_at": now} if note_use else {}))
        .execution_options(synchronize_session=False),
    )
    if consumed != 1:
        raise CodeReused()
    # Written above: the object learns it without a second UPDATE at the next flush.
    set_committed_value(authenticator, "last_used_step", step)
    if note_use:
        set_committed_value(authenticator, "last_used_at", now)
    return step


def consume_any_totp_step(
    db: Session, runtime: Runtime, authenticators: list[Authenticator], user: User, code: str
) -> Authenticator:
    """The authenticator whose code this is, its step consumed and its use recorded; each
    authenticator keeps its own replay state. CodeReused when the code is one an
    authenticator has already used (and no other takes it), InvalidCode when none knows it,
    MalformedCode when it is not a code at all."""
    seen_code = replayed = False
    for authenticator in authenticators:
        try:
            consume_totp_step(db, runtime, authenticator, user, code, note_use=True)
        except MalformedCode:
            continue
        except CodeReused:
            seen_code = replayed = True
            continue
        except InvalidCode:
            seen_code = True
            continue
        return authenticator  # consume_totp_step recorded its use (last_used_at)
    if not seen_code:
        raise MalformedCode()
    raise CodeReused() if replayed else InvalidCode()


def _check_totp(
    db: Session,
    runtime: Runtime,
    user: User,
    code: str,
    client: ClientInfo,
    count: CountFailure = _count_failure,
) -> None:
    """A code from any of the person's authenticator apps, consumed; a wrong or replayed
    code is counted toward the lock (and committed) before the error is raised."""
    authenticators = confirmed_authenticators(db, user.id)
    if not authenticators:
        raise TwoFactorNotEnabled()
    try:
        consume_any_totp_step(db, runtime, authenticators, user, code)
    except CodeReused:
        count(db, runtime, user, client, AuditEventType.SECOND_FACTOR_CODE_REUSED)
        raise
    except InvalidCode:
        count(db, runtime, user, client, AuditEventType.SECOND_FACTOR_FAILED)
        raise


@use_case
def verify_totp(
    db: Session, runtime: Runtime, session: AuthSession, code: str, client: ClientInfo
) -> str:
    """Second step of sign-in with an authenticator app; returns the new session token."""
    with _counted("totp"):
        user = pending_user(db, runtime, session)
        _check_totp(db, runtime, user, code, client)
        return succeed(db, runtime, session, user, Method.TOTP, client)


@use_case
def verify_recovery_code(
    db: Session, runtime: Runtime, session: AuthSession, code: str, client: ClientInfo
) -> str:
    """Second step with a recovery code, used up by this sign-in; returns the new token."""
    with _counted("recovery_code"):
        user = pending_user(db, runtime, session)
        _use_recovery_code(db, runtime, user, code, client)
        return succeed(db, runtime, session, user, Method.RECOVERY_CODE, client)


@use_case
def send_sign_in_code(
    db: Session, runtime: Runtime, session: AuthSession, client: ClientInfo
) -> sms_codes.SentCode:
    """ "Text me a code": a code for this session, sent to the person's phone (limits,
    resend wait and provider failures as in sms_codes.issue)."""
    user = pending_user(db, runtime, session)
    phone = sms_codes.sms_method(db, user.id)
    if phone is None:
        raise TwoFactorNotEnabled(words.SMS_NOT_SET_UP)
    return sms_codes.issue(
        db, runtime, user, phone, sms_codes.Purpose.SIGN_IN, client, session_id=session.id
    )


@use_case
def verify_sms_code(
    db: Session, runtime: Runtime, session: AuthSession, code: str, client: ClientInfo
) -> str:
    """Second step with the code texted for this session; returns the new session token.
    A wrong code counts on the code (5 at most) and toward the same lock as every method."""
    with _counted("sms"):
        user = pending_user(db, runtime, session)
        challenge = sms_codes.live_challenge(
            db, runtime, user.id, sms_codes.Purpose.SIGN_IN, session_id=session.id
        )
        if challenge is None:
            sms_codes.well_formed(code)  # a typo is said as such first
            raise SmsCodeExpired()
        sms_codes.check(db, runtime, user, challenge, code, client, _count_failure)
        phone = db.get(Authenticator, challenge.authenticator_id)
        if phone is not None:
            phone.last_used_at = runtime.now()
        return succeed(db, runtime, session, user, Method.SMS, client)


def _use_recovery_code(
    db: Session,
    runtime: Runtime,
    user: User,
    code: str,
    client: ClientInfo,
    count: CountFailure = _count_failure,
) -> None:
    """One of the person's recovery codes, used up (audited, the owner told); a wrong or
    used one is counted (and committed) before InvalidRecoveryCode is raised."""
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
        count(db, runtime, user, client, event)
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


def confirm_any_second_factor_for_change(
    db: Session, runtime: Runtime, user: User, code: str, client: ClientInfo
) -> Method:
    """A code from any of the person's authenticators, or one of their recovery codes (used
    up), before a change to the second factors themselves: someone who lost their phone
    moves to a new one with a recovery code. Wrong codes count toward the same lock."""
    current = lock_user_row(db, user.id)
    if current is None:
        raise NotPasswordVerified()
    ensure_not_locked(current, runtime.now())
    if looks_like_recovery_code(code):
        _use_recovery_code(db, runtime, user, code, client)
        method = Method.RECOVERY_CODE
    elif _texted_change_code_used(db, runtime, user, code, client):
        method = Method.SMS
    else:
        _check_totp(db, runtime, user, code, client)
        method = Method.TOTP
    clear_code_failures(user)
    return method


def _texted_change_code_used(
    db: Session, runtime: Runtime, user: User, code: str, client: ClientInfo
) -> bool:
    """Whether `code` is the live code texted to confirm a change (then used up). A person
    with no authenticator app has their wrong code counted here; anyone else's goes on to
    be tried as an app's code (and counted there once)."""
    challenge = sms_codes.live_challenge(db, runtime, user.id, sms_codes.Purpose.CHANGE)
    if challenge is None:
        return False
    normalized = normalize_code(code[: MAX_CODE_INPUT + 1])
    if not is_numeric_code(normalized, sms_codes.CODE_DIGITS):
        return False
    if sms_codes.matches(runtime, challenge, normalized):
        sms_codes.consume(db, runtime, challenge)
        return True
    if confirmed_authenticators(db, user.id):
        return False
    sms_codes.check(db, runtime, user, challenge, code, client, _count_failure)
    return False  # pragma: no cover - check raised


@use_case
def send_change_code(db: Session, runtime: Runtime, user: User, client: ClientInfo) -> None:
    """A code texted to confirm a change to the second factors (for a person whose phone
    is their only method, or who has no app at hand)."""
    current = lock_user_row(db, user.id)
    if current is None:
        raise NotPasswordVerified()
    ensure_not_locked(current, runtime.now())
    phone = sms_codes.sms_method(db, user.id)
    if phone is None:
        raise TwoFactorNotEnabled(words.SMS_NOT_SET_UP)
    sms_codes.issue(db, runtime, current, phone, sms_codes.Purpose.CHANGE, client)


def looks_like_recovery_code(code: str) -> bool:
    """A recovery code's shape (16 symbols) rather than an authenticator app's digits."""
    return is_well_formed_recovery_code(normalize_recovery_code(code[: MAX_CODE_INPUT + 1]))


def _key_member(db: Session, runtime: Runtime, key: ApiKey, login: str) -> User | None:
    """The active member of the key's organization called `login`, their row locked, when
    the key may still check their codes: not locked (the pages' lock or the hard stop), the
    key's budget for them not spent. None otherwise, for each of these reasons alike and
    like an unknown login: only members are ever looked at any further (decision 0017)."""
    needle = login.strip().lower()
    if not needle or len(needle) > LOGIN_MAX:
        return None
    # Found and locked in one statement: lock_user_row's lock and freshness (FOR UPDATE OF
    # users only, populate_existing), without first looking the id up.
    user = db.scalar(
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(
            User.login == needle,
            User.is_active.is_(True),
            Membership.organization_id == key.organization_id,
        )
        .with_for_update(of=User)
        .execution_options(populate_existing=True)
    )
    if user is None or is_code_locked(user, runtime.now()):
        return None
    budget = db.get(ApiKeyCodeFailures, (key.id, user.id), populate_existing=True)
    if budget is not None and budget.locked_at is not None:
        return None
    return user


def _verified_through_key(
    db: Session, runtime: Runtime, key: ApiKey, user: User, method: Method, client: ClientInfo
) -> Method:
    clear_code_failures(user)
    audit.record(
        db,
        runtime.now(),
        AuditEventType.API_KEY_VERIFIED,
        user_id=user.id,
        organization_id=key.organization_id,
        client=client,
        api_key_id=key.id,
        method=method.value,
    )
    return method


@use_case
def verify_for_api_key(
    db: Session, runtime: Runtime, key: ApiKey, login: str, code: str, client: ClientInfo
) -> Method | None:
    """The verify endpoint: the method by which `code` proved to be `login`'s second factor,
    or None. The same replay, single-use, lock and audit rules as the sign-in pages; only
    members of the key's organization are ever checked (anyone else is None, like an unknown
    login); wrong codes count toward the (key, person) budget and the hard stop."""
    method = Method.RECOVERY_CODE if looks_like_recovery_code(code) else Method.TOTP
    tried: metrics.CodeMethod = "recovery_code" if method is Method.RECOVERY_CODE else "totp"
    user = _key_member(db, runtime, key, login)
    if user is None:
        metrics.api_verify(tried, "refused")
        return None
    count = functools.partial(_count_key_failure, key=key)
    try:
        if method is Method.RECOVERY_CODE:
            _use_recovery_code(db, runtime, user, code, client, count)
        else:
            _check_totp(db, runtime, user, code, client, count)
    except (TwoFactorNotEnabled, MalformedCode, InvalidCode, CodeReused, InvalidRecoveryCode):
        metrics.api_verify(tried, "refused")
        return None
    metrics.api_verify(tried, "ok")
    return _verified_through_key(db, runtime, key, user, method, client)


def _organization_allows_sms(runtime: Runtime, organization: Organization | None) -> bool:
    """SMS is on for the operator (a country allowed) and allowed by the organization."""
    return (
        organization is not None
        and bool(runtime.settings.sms_countries)
        and MethodKind.SMS.value in stored_methods(organization.allowed_methods)
    )


@use_case
def send_api_sms_code(
    db: Session, runtime: Runtime, key: ApiKey, login: str, client: ClientInfo
) -> sms_codes.SentCode | None:
    """The first call of the verify endpoint's SMS exchange: a code texted to `login`'s
    phone, bound to `key` and to a new transaction id (in the answer; only its digest is
    stored). None, alike, for an unknown login, a non-member, a person without a confirmed
    phone, a locked person (or one the key may no longer check) and an organization that
    does not allow SMS: nothing is sent or counted. For a member with a phone, the resend
    wait, the limits (per account, per client address, in all) and provider failures are
    raised as in sms_codes.issue, which leaves no slot and no code behind on failure."""
    try:
        sent = _send_api_sms_code(db, runtime, key, login, client)
    except TwofoldError:
        metrics.api_verify("sms", "not_sent")
        raise
    metrics.api_verify("sms", "not_sent" if sent is None else "sent")
    return sent


def _send_api_sms_code(
    db: Session, runtime: Runtime, key: ApiKey, login: str, client: ClientInfo
) -> sms_codes.SentCode | None:
    if not _organization_allows_sms(runtime, db.get(Organization, key.organization_id)):
        return None
    user = _key_member(db, runtime, key, login)
    if user is None:
        return None
    phone = sms_codes.sms_method(db, user.id)
    if phone is None:
        return None
    return sms_codes.issue(
        db, runtime, user, phone, sms_codes.Purpose.API, client, api_key_id=key.id
    )


def _counted_as_sms_verification(
    function: Callable[P, Method | None],
) -> Callable[P, Method | None]:
    """Count the verification's outcome (metrics) once it is decided: None is a refusal."""

    @functools.wraps(function)
    def counted(*args: P.args, **kwargs: P.kwargs) -> Method | None:
        method = function(*args, **kwargs)
        metrics.api_verify("sms", "refused" if method is None else "ok")
        return method

    return counted


@use_case
@_counted_as_sms_verification
def verify_api_sms_code(
    db: Session,
    runtime: Runtime,
    key: ApiKey,
    login: str,
    transaction_id: str,
    code: str,
    client: ClientInfo,
) -> Method | None:
    """The second call: whether `code` is the one texted for `transaction_id`, a challenge
    of `login` made through this very key. Method.SMS once (the code is used up by one
    conditional UPDATE), None otherwise: an unknown, expired, used or dead challenge,
    another key's or another person's, and a wrong code, which counts on the challenge (5
    at most) and, like every wrong code through a key, toward the (key, person) budget and
    the person's hard stop — never the pages' timed lock."""
    user = _key_member(db, runtime, key, login)
    if user is None:
        return None
    challenge = sms_codes.live_challenge(
        db,
        runtime,
        user.id,
        sms_codes.Purpose.API,
        transaction_id=transaction_id,
        api_key_id=key.id,
    )
    if challenge is None:
        return None
    count = functools.partial(_count_key_failure, key=key)
    try:
        sms_codes.check(db, runtime, user, challenge, code, client, count)
    except (MalformedCode, InvalidCode, SmsCodeExpired):
        return None
    phone = db.get(Authenticator, challenge.authenticator_id)
    if phone is not None:
        phone.last_used_at = runtime.now()
    return _verified_through_key(db, runtime, key, user, Method.SMS, client)
