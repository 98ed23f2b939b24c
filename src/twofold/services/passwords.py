"""Password checks: strength of new ones, and throttled verification of given ones."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from zxcvbn import zxcvbn

from twofold.core import words
from twofold.core.errors import PasswordAttemptsThrottled, WeakPassword
from twofold.core.throttle import (
    FREE_FAILURES_PER_ACCOUNT,
    FREE_FAILURES_PER_IP,
    seconds_to_wait,
)
from twofold.core.validation import PASSWORD_MAX, check_password_length
from twofold.services.runtime import ClientInfo, Runtime
from twofold.store.db import end_reading, has_written
from twofold.store.models import Throttle

MIN_STRENGTH = 3
# Failures older than this no longer slow anyone down: throttling passwords is about speed,
# not about locking (second-factor failures, by contrast, never decay).
FAILURE_MEMORY = timedelta(hours=1)
# zxcvbn is quadratic in the length; past this it adds nothing but time.
_ZXCVBN_MAX = 100


def check_new_password(password: str, *, user_inputs: list[str]) -> None:
    """WeakPassword with a reason the person can act on."""
    check_password_length(password)
    result = zxcvbn(password[:_ZXCVBN_MAX], user_inputs=[u for u in user_inputs if u])
    if int(result["score"]) >= MIN_STRENGTH:
        return
    feedback = result.get("feedback") or {}
    warning = str(feedback.get("warning") or "").strip()
    suggestions = [str(s) for s in feedback.get("suggestions") or [] if s]
    reason: words.Words = words.PASSWORD_EASY_TO_GUESS
    if warning:  # zxcvbn's feedback is English only (not in the catalogue)
        reason = warning if warning.endswith(".") else warning + "."
    hint = " ".join(suggestions) or words.PASSWORD_HINT
    raise WeakPassword(words.WEAK_PASSWORD(reason=reason, hint=hint))


def throttle_key_for_login(login: str) -> str:
    # A digest, so what someone typed into the login field is never stored.
    return "login:" + hashlib.sha256(login.strip().lower().encode()).hexdigest()[:40]


def _ip_key(ip: str | None) -> str | None:
    return f"ip:{ip}" if ip else None


def _throttle_keys(login: str, client: ClientInfo) -> list[tuple[str, int]]:
    keys = [(throttle_key_for_login(login), FREE_FAILURES_PER_ACCOUNT)]
    ip_key = _ip_key(client.ip)
    if ip_key:
        keys.append((ip_key, FREE_FAILURES_PER_IP))
    return keys


def _live_failures(row: Throttle | None, now: datetime) -> int:
    if row is None or now - row.last_failure_at > FAILURE_MEMORY:
        return 0
    return row.failures


def _locked_rows(db: Session, keys: list[str]) -> dict[str, Throttle]:
    """The throttle rows, current and locked until the transaction ends (FOR UPDATE on
    PostgreSQL; SQLite's write transaction holds the whole database)."""
    rows = db.scalars(
        select(Throttle)
        .where(Throttle.key.in_(sorted(keys)))
        .order_by(Throttle.key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {row.key: row for row in rows}


def claim_password_attempt(db: Session, runtime: Runtime, login: str, client: ClientInfo) -> None:
    """Decide whether a password may be tried now and count it, in one atomic step, before
    it is evaluated: PasswordAttemptsThrottled, or the attempt is counted as a failure and
    committed (a correct password takes it back, see `password_attempt_succeeded`).

    Counting first is what makes the limit hold under concurrency: of any number of
    parallel attempts, only those the delays allow are ever evaluated. Commits, so that no
    transaction is open while the caller hashes."""
    if has_written(db):  # its commit below must not carry the caller's half-done change
        raise RuntimeError("claim_password_attempt must come before the change it guards")
    now = runtime.now()
    keys = _throttle_keys(login, client)
    rows = _locked_rows(db, [key for key, _free in keys])
    wait = 0
    for key, free in keys:
        row = rows.get(key)
        failures = _live_failures(row, now)
        if row is not None and failures:
            wait = max(wait, seconds_to_wait(failures, row.last_failure_at, free, now))
    if wait:
        db.rollback()
        raise PasswordAttemptsThrottled(wait)
    for key, _free in keys:
        row = rows.get(key)
        if row is None:
            try:
                with db.begin_nested():
                    db.add(Throttle(key=key, failures=1, last_failure_at=now))
                continue
            except IntegrityError:  # another process counted its first failure just now
                row = _locked_rows(db, [key]).get(key)
                if row is None:
                    continue
        row.failures = _live_failures(row, now) + 1
        row.last_failure_at = now
    db.commit()


def password_attempt_succeeded(db: Session, login: str, client: ClientInfo) -> None:
    """The claimed attempt was right: the account's count starts again; the address's
    count loses the attempt it was charged in advance. Commits at once, so that what the
    caller does next (and may refuse) cannot take this back."""
    clear_password_failures(db, login)
    ip_key = _ip_key(client.ip)
    if ip_key:
        db.execute(delete(Throttle).where(Throttle.key == ip_key, Throttle.failures <= 1))
        db.execute(
            update(Throttle)
            .where(Throttle.key == ip_key, Throttle.failures > 0)
            .values(failures=Throttle.failures - 1)
            .execution_options(synchronize_session=False)
        )
    db.commit()


def check_password(runtime: Runtime, password_hash: str | None, password: str) -> bool:
    """The slow part, run with no transaction open: argon2id against the stored hash, or
    against a dummy when there is no account, so timing does not tell who exists."""
    password = password[: PASSWORD_MAX + 1]
    if password_hash is None:
        return runtime.hasher.verify_dummy(password)
    return runtime.hasher.verify(password_hash, password)


def hash_new_password(db: Session, runtime: Runtime, password: str) -> str:
    """argon2id of a new password, computed outside any write transaction (the caller has
    only read so far)."""
    end_reading(db)
    return runtime.hasher.hash(password)


def clear_password_failures(db: Session, login: str) -> None:
    """The account's wrong-password count starts again (a reset set a new password)."""
    db.execute(delete(Throttle).where(Throttle.key == throttle_key_for_login(login)))
