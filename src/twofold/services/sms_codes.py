"""Codes sent by text message (decision 0021): made, limited, sent and checked.

A code is 6 digits, good for 5 minutes, for one use and for MAX_WRONG_TRIES wrong tries;
only its keyed digest is stored. Before one is sent, three fixed one-hour windows are
counted in the database (the account, the client address, the whole service), each by one
conditional UPDATE, so that the limits hold across every server process. The provider is
called outside any transaction; when it fails, the windows are given back, the code is
dropped (so the resend wait does not start) and the failure is audited.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import case, delete, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from twofold.core import words
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import (
    InvalidCode,
    MalformedCode,
    SmsCodeExpired,
    SmsLimitReached,
    SmsResendTooSoon,
    SmsSendFailed,
)
from twofold.core.validation import MAX_CODE_INPUT
from twofold.core.words import translate
from twofold.notify.phones import mask
from twofold.otp.codes import is_numeric_code, normalize_code
from twofold.services import audit
from twofold.services.key_state import LiveKeyRing
from twofold.services.runtime import ClientInfo, Runtime
from twofold.store.db import rows_affected
from twofold.store.models import Authenticator, SmsChallenge, SmsRateWindow, User, UTCDateTime

CODE_DIGITS = 6
CODE_TTL = timedelta(minutes=5)
RESEND_AFTER = timedelta(seconds=30)
MAX_WRONG_TRIES = 5
ACCOUNT_PER_HOUR = 5
WINDOW = timedelta(hours=1)


class Purpose(StrEnum):
    SIGN_IN = "sign_in"  # bound to the session at the code prompt
    ENROLL = "enroll"  # confirms a new phone
    API = "api"  # the verify endpoint's two-call exchange, bound to a transaction id
    CHANGE = "change"  # confirms a change to the second factors (adding an authenticator)


def generate_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def new_transaction_id() -> str:
    """An API challenge's transaction id: 256 random bits, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


def transaction_digest(transaction_id: str) -> str:
    """What is stored of a transaction id: its SHA-256, base64url without padding (43
    characters). A high-entropy token needs no key or slow hash (like API keys, decision
    0017); a copy of the database gives no challenge that could be answered."""
    digest = hashlib.sha256(transaction_id.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


# --- the phone number, sealed at rest ------------------------------------------------------


def phone_context(user_id: int) -> bytes:
    return f"sms-phone:user:{user_id}".encode()


def seal_phone(keys: LiveKeyRing, e164: str, user_id: int) -> tuple[str, bytes]:
    return keys.seal(e164.encode("ascii"), context=phone_context(user_id))


def open_phone(runtime: Runtime, authenticator: Authenticator) -> str:
    sealed = runtime.keys.open(
        authenticator.secret_kid,
        authenticator.secret_sealed,
        context=phone_context(authenticator.user_id),
    )
    return sealed.decode("ascii")


def sms_method(db: Session, user_id: int) -> Authenticator | None:
    """The person's confirmed SMS method (at most one, decision 0021)."""
    return db.scalar(
        select(Authenticator)
        .where(
            Authenticator.user_id == user_id,
            Authenticator.kind == "sms",
            Authenticator.confirmed_at.is_not(None),
        )
        .order_by(Authenticator.id)
        .limit(1)
    )


# --- limits --------------------------------------------------------------------------------


def _insert_window(db: Session, key: str, now: datetime) -> None:
    """The window's row, made if missing; a concurrent maker wins silently."""
    dialect = db.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    db.execute(
        insert(SmsRateWindow)
        .values(key=key, window_started_at=now, count=0)
        .on_conflict_do_nothing(index_elements=["key"])
    )


def take_slot(db: Session, key: str, limit: int, now: datetime) -> datetime | None:
    """Count one text in `key`'s window, or None when it is full: decided and counted by
    one conditional UPDATE. Returns the window's start (to give the slot back). The purge
    may delete an ended window's row between the INSERT and the UPDATE: then it is made
    again, once, rather than the text refused."""
    expired = SmsRateWindow.window_started_at <= now - WINDOW
    for _attempt in range(2):
        _insert_window(db, key, now)
        started = db.execute(
            update(SmsRateWindow)
            .where(SmsRateWindow.key == key, expired | (SmsRateWindow.count < limit))
            .values(
                count=case((expired, 1), else_=SmsRateWindow.count + 1),
                window_started_at=case(
                    (expired, literal(now, UTCDateTime())), else_=SmsRateWindow.window_started_at
                ),
            )
            .returning(SmsRateWindow.window_started_at)
            .execution_options(synchronize_session=False)
        ).scalar_one_or_none()
        if started is not None:
            return started
        if db.scalar(select(SmsRateWindow.key).where(SmsRateWindow.key == key)) is not None:
            return None  # the window is full
    return None


def give_back_slot(db: Session, key: str, window_started_at: datetime) -> None:
    """Undo take_slot, unless its window has been replaced by a newer one since."""
    db.execute(
        update(SmsRateWindow)
        .where(
            SmsRateWindow.key == key,
            SmsRateWindow.window_started_at == window_started_at,
            SmsRateWindow.count > 0,
        )
        .values(count=SmsRateWindow.count - 1)
        .execution_options(synchronize_session=False)
    )


def _limits(runtime: Runtime, user_id: int, client: ClientInfo) -> list[tuple[str, str, int]]:
    """(scope, key, per hour): the account, the client address, the whole service."""
    settings = runtime.settings
    limits = [("account", f"account:{user_id}", ACCOUNT_PER_HOUR)]
    if client.ip:
        limits.append(("ip", f"ip:{client.ip}"[:128], settings.sms_per_ip_per_hour))
    limits.append(("global", "global", settings.sms_global_per_hour))
    return limits


def _take_slots(
    db: Session, runtime: Runtime, user_id: int, client: ClientInfo, purpose: Purpose
) -> list[tuple[str, datetime]]:
    """A slot in every window, or none at all (SmsLimitReached, audited and committed)."""
    now = runtime.now()
    taken: list[tuple[str, datetime]] = []
    for scope, key, limit in _limits(runtime, user_id, client):
        started = take_slot(db, key, limit, now)
        if started is None:
            full_since = db.scalar(
                select(SmsRateWindow.window_started_at).where(SmsRateWindow.key == key)
            )
            db.rollback()  # the slots taken so far go back with everything else
            audit.record(
                db,
                now,
                AuditEventType.SMS_LIMIT_REACHED,
                user_id=user_id,
                client=client,
                limit=scope,
                purpose=purpose.value,
            )
            db.commit()
            left = (full_since + WINDOW - now).total_seconds() if full_since else 0
            raise SmsLimitReached(scope, retry_after_seconds=max(1, math.ceil(left)))
        taken.append((key, started))
    return taken


# --- sending -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SentCode:
    phone_masked: str
    resend_at: datetime
    transaction_id: str | None = None  # an API challenge's, given once and never stored
    expires_at: datetime | None = None


def seconds_until_resend(db: Session, runtime: Runtime, user_id: int, purpose: Purpose) -> int:
    """Seconds before another code of `purpose` may be sent to the person (0: now)."""
    latest = db.scalar(
        select(SmsChallenge.created_at)
        .where(SmsChallenge.user_id == user_id, SmsChallenge.purpose == purpose.value)
        .order_by(SmsChallenge.id.desc())
        .limit(1)
    )
    if latest is None:
        return 0
    left = (latest + RESEND_AFTER - runtime.now()).total_seconds()
    return max(0, math.ceil(left))


def issue(
    db: Session,
    runtime: Runtime,
    user: User,
    authenticator: Authenticator,
    purpose: Purpose,
    client: ClientInfo,
    *,
    session_id: int | None = None,
    api_key_id: int | None = None,
) -> SentCode:
    """Make a code, count it against the limits, commit, then send it (no transaction is
    open while the provider is called). The caller holds the person's row (lock_user_row),
    so the resend wait is decided and the code stored in one step per person.
    SmsResendTooSoon, SmsLimitReached or SmsSendFailed otherwise (each leaves no slot and
    no code behind; the last two are audited). With `api_key_id`, the code is an API
    challenge bound to that key and to a new transaction id, returned in the SentCode and
    stored only as its digest."""
    wait = seconds_until_resend(db, runtime, user.id, purpose)
    if wait > 0:
        raise SmsResendTooSoon(wait)
    slots = _take_slots(db, runtime, user.id, client, purpose)
    now = runtime.now()
    code = generate_code()
    transaction_id = new_transaction_id() if api_key_id is not None else None
    kid, digest = runtime.keys.primary_sms_code_digest(user.id, code)
    challenge = SmsChallenge(
        user_id=user.id,
        authenticator_id=authenticator.id,
        purpose=purpose.value,
        session_id=session_id,
        transaction_id=transaction_digest(transaction_id) if transaction_id else None,
        api_key_id=api_key_id,
        code_kid=kid,
        code_digest=digest,
        created_at=now,
        expires_at=now + CODE_TTL,
        wrong_tries=0,
    )
    db.add(challenge)
    db.flush()
    challenge_id = challenge.id
    phone = open_phone(runtime, authenticator)
    masked = mask(phone)
    db.commit()  # the person's row and the windows are free while the provider works
    message = translate(
        words.SMS_CODE_MESSAGE(
            code=code, issuer=runtime.settings.issuer, minutes=int(CODE_TTL.total_seconds() // 60)
        )
    )
    try:
        runtime.sms.send(phone, message)
    except SmsSendFailed as exc:
        for key, started in slots:
            give_back_slot(db, key, started)
        db.execute(delete(SmsChallenge).where(SmsChallenge.id == challenge_id))
        audit.record(
            db,
            runtime.now(),
            AuditEventType.SMS_SEND_FAILED,
            user_id=user.id,
            client=client,
            to=masked,
            purpose=purpose.value,
            reason=exc.reason,
        )
        db.commit()
        raise
    db.execute(
        update(SmsChallenge)
        .where(SmsChallenge.id == challenge_id)
        .values(sent_at=runtime.now())
        .execution_options(synchronize_session=False)
    )
    audit.record(
        db,
        runtime.now(),
        AuditEventType.SMS_SENT,
        user_id=user.id,
        client=client,
        to=masked,
        purpose=purpose.value,
    )
    db.commit()
    return SentCode(masked, now + RESEND_AFTER, transaction_id, now + CODE_TTL)


# --- checking ------------------------------------------------------------------------------


def live_challenge(
    db: Session,
    runtime: Runtime,
    user_id: int,
    purpose: Purpose,
    *,
    session_id: int | None = None,
    transaction_id: str | None = None,
    api_key_id: int | None = None,
    authenticator_id: int | None = None,
) -> SmsChallenge | None:
    """The newest code of `purpose` (for that session, transaction id and API key, or
    phone), if it may still be tried: sent, unused, unexpired, wrong tries left. An older
    one is superseded by a newer one even when the newer one is dead."""
    query = select(SmsChallenge).where(
        SmsChallenge.user_id == user_id, SmsChallenge.purpose == purpose.value
    )
    if session_id is not None:
        query = query.where(SmsChallenge.session_id == session_id)
    if transaction_id is not None:
        query = query.where(SmsChallenge.transaction_id == transaction_digest(transaction_id))
    if api_key_id is not None:
        query = query.where(SmsChallenge.api_key_id == api_key_id)
    if authenticator_id is not None:
        query = query.where(SmsChallenge.authenticator_id == authenticator_id)
    newest = db.scalar(
        query.order_by(SmsChallenge.id.desc()).limit(1).execution_options(populate_existing=True)
    )
    if (
        newest is None
        or newest.sent_at is None
        or newest.used_at is not None
        or newest.expires_at <= runtime.now()
        or newest.wrong_tries >= MAX_WRONG_TRIES
    ):
        return None
    return newest


def well_formed(code: str) -> str:
    """The code without spaces or dashes; MalformedCode (not a guess) unless 6 digits."""
    normalized = normalize_code(code[: MAX_CODE_INPUT + 1])
    if len(normalized) > MAX_CODE_INPUT or not is_numeric_code(normalized, CODE_DIGITS):
        raise MalformedCode()
    return normalized


def matches(runtime: Runtime, challenge: SmsChallenge, normalized: str) -> bool:
    expected = runtime.keys.sms_code_digest(challenge.user_id, normalized, kid=challenge.code_kid)
    return expected is not None and hmac.compare_digest(expected, challenge.code_digest)


# Counts one wrong code of a person toward the lockout (second_factor._count_failure).
CountWrong = Callable[[Session, Runtime, User, ClientInfo, AuditEventType], None]


def check(
    db: Session,
    runtime: Runtime,
    user: User,
    challenge: SmsChallenge,
    code: str,
    client: ClientInfo,
    count: CountWrong | None,
) -> None:
    """Use the code up, or count the wrong try on it (and, with `count`, toward the
    person's lockout budget, committed) and raise InvalidCode. SmsCodeExpired when another
    request used it or its last try first."""
    normalized = well_formed(code)
    if not matches(runtime, challenge, normalized):
        db.execute(
            update(SmsChallenge)
            .where(SmsChallenge.id == challenge.id)
            .values(wrong_tries=SmsChallenge.wrong_tries + 1)
            .execution_options(synchronize_session=False)
        )
        if count is not None:
            count(db, runtime, user, client, AuditEventType.SECOND_FACTOR_FAILED)
        db.commit()
        raise InvalidCode()
    consume(db, runtime, challenge)


def consume(db: Session, runtime: Runtime, challenge: SmsChallenge) -> None:
    """Single use: one conditional UPDATE decides which request used the code."""
    used = rows_affected(
        db,
        update(SmsChallenge)
        .where(
            SmsChallenge.id == challenge.id,
            SmsChallenge.used_at.is_(None),
            SmsChallenge.wrong_tries < MAX_WRONG_TRIES,
        )
        .values(used_at=runtime.now())
        .execution_options(synchronize_session=False),
    )
    if used != 1:
        raise SmsCodeExpired()
