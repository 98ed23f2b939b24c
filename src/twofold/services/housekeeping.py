"""Housekeeping: rows that no longer mean anything are deleted, in small batches.

Purged: expired sessions; one-time links once expired, or a day after use; sent mail a week
after sending and given-up mail after thirty days; password-throttle rows whose last failure
no longer counts; ID-token signing keys past their `unpublish_at` (out of the JWKS, and
every token they signed has expired); texted codes a day after they expired or were used;
SMS rate windows an hour after they ended; remembered browsers past their hard cap; expired
WebAuthn challenges. The audit log is never purged. Safe to run in several processes at
once: each batch re-checks its condition in the DELETE, so a row is removed once and
counted once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute

from twofold.services.leases import Lease
from twofold.services.passwords import FAILURE_MEMORY
from twofold.services.runtime import Runtime
from twofold.services.sms_codes import WINDOW as SMS_WINDOW
from twofold.services.workers import PeriodicWorker
from twofold.store.db import rows_affected
from twofold.store.models import (
    AuthSession,
    OidcSigningKey,
    OneTimeToken,
    OutgoingEmail,
    RememberedBrowser,
    SmsChallenge,
    SmsRateWindow,
    Throttle,
    WebAuthnChallenge,
)

log = logging.getLogger("twofold.housekeeping")

# A used link is kept a while: the resend limits read when the last link was made, and an
# operator looking into a complaint can still see it. The pages answer the same for a used,
# expired or unknown link, so nothing a person sees depends on it.
USED_LINK_RETENTION = timedelta(days=1)
SENT_MAIL_RETENTION = timedelta(days=7)  # its content (and link) was wiped when it was sent
GIVEN_UP_MAIL_RETENTION = timedelta(days=30)  # long enough to look into a delivery problem
# A texted code lives 5 minutes; kept a day after it expired or was used, so an operator
# looking into a complaint still sees when it was sent and how often it was tried. Nothing
# reads a dead code: only the newest live one of a purpose counts, and the resend wait
# looks at the last 30 seconds.
SMS_CODE_RETENTION = timedelta(days=1)
# A rate window that ended an hour ago counts nothing: the next text starts a new one.
SMS_WINDOW_RETENTION = timedelta(hours=1)
# Rows per DELETE: each batch is its own short transaction (SQLite has one writer at a time).
BATCH_SIZE = 500


@dataclass
class PurgeReport:
    """How many rows of each kind were removed (or, from `count_due`, are due)."""

    sessions: int = 0
    links: int = 0
    emails: int = 0
    throttles: int = 0
    signing_keys: int = 0
    sms_codes: int = 0
    sms_windows: int = 0
    remembered_browsers: int = 0
    passkey_challenges: int = 0

    @property
    def total(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self))


@dataclass(frozen=True)
class _Kind:
    name: str
    key: InstrumentedAttribute[Any]
    condition: Callable[[datetime], ColumnElement[bool]]


def _links_due(now: datetime) -> ColumnElement[bool]:
    return or_(
        OneTimeToken.expires_at <= now,
        OneTimeToken.used_at <= now - USED_LINK_RETENTION,
    )


def _emails_due(now: datetime) -> ColumnElement[bool]:
    return or_(
        OutgoingEmail.sent_at <= now - SENT_MAIL_RETENTION,
        OutgoingEmail.failed_at <= now - GIVEN_UP_MAIL_RETENTION,
    )


def _sms_codes_due(now: datetime) -> ColumnElement[bool]:
    return or_(
        SmsChallenge.expires_at <= now - SMS_CODE_RETENTION,
        SmsChallenge.used_at <= now - SMS_CODE_RETENTION,
    )


def _sms_windows_due(now: datetime) -> ColumnElement[bool]:
    return SmsRateWindow.window_started_at <= now - SMS_WINDOW - SMS_WINDOW_RETENTION


KINDS = (
    # find_session treats a session whose expires_at has come as gone.
    _Kind("sessions", AuthSession.id, lambda now: AuthSession.expires_at <= now),
    _Kind("links", OneTimeToken.id, _links_due),
    _Kind("emails", OutgoingEmail.id, _emails_due),
    # Failures older than FAILURE_MEMORY no longer slow anyone down (services/passwords.py).
    _Kind("throttles", Throttle.key, lambda now: Throttle.last_failure_at < now - FAILURE_MEMORY),
    # Unpublished: no client can verify with it any more, and it signs nothing (signing_keys).
    _Kind("signing_keys", OidcSigningKey.id, lambda now: OidcSigningKey.unpublish_at <= now),
    _Kind("sms_codes", SmsChallenge.id, _sms_codes_due),
    _Kind("sms_windows", SmsRateWindow.key, _sms_windows_due),
    # Past its hard cap a remembered browser stands in for nothing (core/remembered.py);
    # forgotten ones are deleted at once, so only these are left to clean.
    _Kind(
        "remembered_browsers", RememberedBrowser.id, lambda now: RememberedBrowser.expires_at <= now
    ),
    # A WebAuthn challenge answers nothing once expired (decision 0027).
    _Kind(
        "passkey_challenges",
        WebAuthnChallenge.id,
        lambda now: WebAuthnChallenge.expires_at <= now,
    ),
)


def count_due(runtime: Runtime) -> PurgeReport:
    """How many rows `purge` would remove now (for a progress bar)."""
    now = runtime.now()
    report = PurgeReport()
    with runtime.db() as db:
        for kind in KINDS:
            count = db.scalar(
                select(func.count()).select_from(kind.key.class_).where(kind.condition(now))
            )
            setattr(report, kind.name, int(count or 0))
    return report


def purge(
    runtime: Runtime,
    *,
    batch_size: int = BATCH_SIZE,
    on_batch: Callable[[str, int], None] | None = None,
) -> PurgeReport:
    """Delete what is due, `batch_size` rows per transaction; `on_batch(kind, removed)` is
    called after each batch. Returns how many rows of each kind this call removed."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    now = runtime.now()
    report = PurgeReport()
    for kind in KINDS:
        condition = kind.condition(now)
        while True:
            with runtime.db() as db:
                keys = list(db.scalars(select(kind.key).where(condition).limit(batch_size)))
                if not keys:
                    db.rollback()
                    break
                removed = rows_affected(
                    db,
                    delete(kind.key.class_)
                    .where(kind.key.in_(keys), condition)
                    .execution_options(synchronize_session=False),
                )
                db.commit()
            setattr(report, kind.name, getattr(report, kind.name) + removed)
            if on_batch is not None:
                on_batch(kind.name, removed)
            if len(keys) < batch_size:
                break
    return report


class PurgeWorker(PeriodicWorker):
    """Purges every `interval_seconds`, passing only while `lease` (if given) is held, so
    that one process of the deployment purges (several at once would still be safe). The
    first pass comes one interval after start."""

    def __init__(
        self, runtime: Runtime, interval_seconds: float, lease: Lease | None = None
    ) -> None:
        super().__init__(
            "twofold-purge",
            lambda: _purge_and_log(runtime),
            interval_seconds,
            first_pass_now=False,
            only_while=None if lease is None else lease.held,
        )


def _purge_and_log(runtime: Runtime) -> None:
    report = purge(runtime)
    if report.total:
        log.info(
            "purged %d expired sessions, %d used or expired links, %d old emails, "
            "%d old throttle rows, %d unpublished signing keys, %d old texted codes, "
            "%d ended SMS rate windows",
            report.sessions,
            report.links,
            report.emails,
            report.throttles,
            report.signing_keys,
            report.sms_codes,
            report.sms_windows,
        )
