"""Password checks: strength of new ones, and throttled verification of given ones."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from zxcvbn import zxcvbn

from twofold.core.errors import PasswordAttemptsThrottled, WeakPassword
from twofold.core.throttle import (
    FREE_FAILURES_PER_ACCOUNT,
    FREE_FAILURES_PER_IP,
    seconds_to_wait,
)
from twofold.core.validation import check_password_length
from twofold.services.runtime import ClientInfo, Runtime
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
    reason = warning or "This password would be easy to guess."
    if not reason.endswith("."):
        reason += "."
    hint = " ".join(suggestions) or "Add more words or characters that are not common."
    raise WeakPassword(f"{reason} {hint}")


def _login_key(login: str) -> str:
    # A digest, so what someone typed into the login field is never stored.
    return "login:" + hashlib.sha256(login.strip().lower().encode()).hexdigest()[:40]


def _ip_key(ip: str | None) -> str | None:
    return f"ip:{ip}" if ip else None


def _throttle_keys(login: str, client: ClientInfo) -> list[tuple[str, int]]:
    keys = [(_login_key(login), FREE_FAILURES_PER_ACCOUNT)]
    ip_key = _ip_key(client.ip)
    if ip_key:
        keys.append((ip_key, FREE_FAILURES_PER_IP))
    return keys


def _live_failures(row: Throttle | None, now: datetime) -> int:
    if row is None or now - row.last_failure_at > FAILURE_MEMORY:
        return 0
    return row.failures


def ensure_not_throttled(db: Session, runtime: Runtime, login: str, client: ClientInfo) -> None:
    now = runtime.now()
    wait = 0
    for key, free in _throttle_keys(login, client):
        row = db.get(Throttle, key)
        failures = _live_failures(row, now)
        if row is not None and failures:
            wait = max(wait, seconds_to_wait(failures, row.last_failure_at, free, now))
    if wait:
        raise PasswordAttemptsThrottled(wait)


def record_password_failure(db: Session, runtime: Runtime, login: str, client: ClientInfo) -> None:
    now = runtime.now()
    for key, _free in _throttle_keys(login, client):
        row = db.get(Throttle, key, with_for_update=True)
        if row is None:
            try:
                with db.begin_nested():
                    db.add(Throttle(key=key, failures=1, last_failure_at=now))
                continue
            except IntegrityError:  # another process counted the first failure just now
                row = db.get(Throttle, key, with_for_update=True, populate_existing=True)
                if row is None:
                    continue
        row.failures = _live_failures(row, now) + 1
        row.last_failure_at = now
    db.flush()


def clear_password_failures(db: Session, login: str) -> None:
    row = db.get(Throttle, _login_key(login))
    if row is not None:
        db.delete(row)
