"""The mail queue. Messages are written to `outgoing_emails` in the caller's transaction, so
the event and its message commit together; a background worker sends them with retries.
No request waits for a mail server, so no response is slower for one account than another.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from twofold.notify.mailer import Composed, DeliveryError, Mailer, build_message
from twofold.services import metrics
from twofold.services.leases import Lease
from twofold.services.runtime import Runtime
from twofold.services.workers import PeriodicWorker
from twofold.store.db import rows_affected
from twofold.store.models import OutgoingEmail

log = logging.getLogger("twofold.mail")

CLAIM_FOR = timedelta(minutes=2)
# Waits after each failed attempt; after the last, the message is given up (and logged).
RETRY_AFTER = [
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(hours=1),
    timedelta(hours=2),
    timedelta(hours=4),
    timedelta(hours=8),
]
SUPERSEDED = "superseded by a newer message of the same kind before it was sent"


def content_context(recipient: str) -> bytes:
    """Bound to the recipient: a sealed message moved to another address does not open."""
    return f"outgoing-email:{recipient}".encode()


def enqueue(
    db: Session,
    runtime: Runtime,
    *,
    kind: str,
    recipient: str,
    composed: Composed,
    user_id: int | None = None,
    once_per: timedelta | None = None,
) -> OutgoingEmail:
    """Queue a message. With `once_per`, at most one message of this kind goes to this
    recipient per period: an earlier one not yet sent is superseded (its link is dead anyway
    once a new one is issued) and this one waits until the period since the last one sent
    has passed. The same statements run whether or not anything is superseded or delayed,
    so a repeated request costs what a first one does."""
    now = runtime.now()
    due = now
    if once_per is not None:
        last_sent = db.scalar(
            select(func.max(OutgoingEmail.sent_at)).where(
                OutgoingEmail.kind == kind, OutgoingEmail.recipient == recipient
            )
        )
        if last_sent is not None:
            due = max(now, last_sent + once_per)
        db.execute(
            update(OutgoingEmail)
            .where(
                OutgoingEmail.kind == kind,
                OutgoingEmail.recipient == recipient,
                OutgoingEmail.sent_at.is_(None),
                OutgoingEmail.failed_at.is_(None),
                or_(OutgoingEmail.claimed_until.is_(None), OutgoingEmail.claimed_until < now),
            )
            .values(
                failed_at=now,
                last_error=SUPERSEDED,
                content_sealed=None,
                content_kid=None,
            )
            .execution_options(synchronize_session=False)
        )
    content = json.dumps(
        {"subject": composed.subject, "text": composed.text, "html": composed.html}
    ).encode()
    kid, sealed = runtime.keys.seal(content, context=content_context(recipient))
    now = runtime.now()
    row = OutgoingEmail(
        kind=kind,
        recipient=recipient,
        user_id=user_id,
        content_kid=kid,
        content_sealed=sealed,
        created_at=now,
        attempts=0,
        next_attempt_at=due,
    )
    db.add(row)
    db.flush()
    return row


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    given_up: int = 0


def deliver_pending(runtime: Runtime, mailer: Mailer, *, limit: int = 50) -> DeliveryReport:
    """Send what is due. Safe to run in several processes at once: each message is claimed
    with a conditional UPDATE before it is sent."""
    report = DeliveryReport()
    now = runtime.now()
    with runtime.db() as db:
        due = list(
            db.scalars(
                select(OutgoingEmail.id)
                .where(
                    OutgoingEmail.sent_at.is_(None),
                    OutgoingEmail.failed_at.is_(None),
                    OutgoingEmail.next_attempt_at <= now,
                    or_(OutgoingEmail.claimed_until.is_(None), OutgoingEmail.claimed_until < now),
                )
                .order_by(OutgoingEmail.id)
                .limit(limit)
            )
        )
        db.commit()
    for message_id in due:
        _deliver_one(runtime, mailer, message_id, report)
    return report


def _deliver_one(runtime: Runtime, mailer: Mailer, message_id: int, report: DeliveryReport) -> None:
    now = runtime.now()
    with runtime.db() as db:
        claimed = rows_affected(
            db,
            update(OutgoingEmail)
            .where(
                OutgoingEmail.id == message_id,
                OutgoingEmail.sent_at.is_(None),
                or_(OutgoingEmail.claimed_until.is_(None), OutgoingEmail.claimed_until < now),
            )
            .values(claimed_until=now + CLAIM_FOR)
            .execution_options(synchronize_session=False),
        )
        db.commit()
        if not claimed:
            return
        row = db.get(OutgoingEmail, message_id)
        if row is None or row.content_sealed is None or row.content_kid is None:
            return  # sent meanwhile by another process
        content = json.loads(
            runtime.keys.open(
                row.content_kid, row.content_sealed, context=content_context(row.recipient)
            )
        )
        message = build_message(
            sender=runtime.settings.mail_from,
            recipient=row.recipient,
            subject=content["subject"],
            text=content["text"],
            html=content["html"],
        )
        try:
            mailer.send(message)
        except DeliveryError as exc:
            row.attempts += 1
            row.last_error = str(exc)[:500]
            row.claimed_until = None
            if row.attempts > len(RETRY_AFTER):
                row.failed_at = runtime.now()
                report.given_up += 1
                log.error(
                    "gave up on %s message %d to %s after %d attempts: %s",
                    row.kind,
                    row.id,
                    row.recipient,
                    row.attempts,
                    exc,
                )
            else:
                row.next_attempt_at = runtime.now() + RETRY_AFTER[row.attempts - 1]
                report.failed += 1
                log.warning(
                    "could not send %s message %d (attempt %d, will retry at %s): %s",
                    row.kind,
                    row.id,
                    row.attempts,
                    row.next_attempt_at.isoformat(),
                    exc,
                )
            db.commit()
            metrics.mail_failed(final=row.failed_at is not None)
            return
        row.sent_at = runtime.now()
        row.attempts += 1
        row.claimed_until = None
        row.last_error = None
        row.content_sealed = None  # sent: the link inside is no longer kept
        row.content_kid = None
        db.commit()
        metrics.mail_sent()
        report.sent += 1


@dataclass(frozen=True)
class QueueState:
    waiting: int  # neither sent nor given up
    oldest_seconds: float  # how long the oldest waiting message has waited; 0 when none


def queue_state(runtime: Runtime) -> QueueState:
    """The mail queue now, read from the table (one query): what a scrape reports."""
    with runtime.read_db() as db:
        waiting, oldest = db.execute(
            select(func.count(OutgoingEmail.id), func.min(OutgoingEmail.created_at)).where(
                OutgoingEmail.sent_at.is_(None), OutgoingEmail.failed_at.is_(None)
            )
        ).one()
    age = (runtime.now() - oldest).total_seconds() if oldest is not None else 0.0
    return QueueState(waiting=int(waiting), oldest_seconds=max(age, 0.0))


class MailWorker(PeriodicWorker):
    """Sends queued mail every few seconds: in every server process, passing only while
    `lease` (if given) is held, so that one process of the deployment sends."""

    def __init__(
        self, runtime: Runtime, mailer: Mailer, poll_seconds: float, lease: Lease | None = None
    ) -> None:
        super().__init__(
            "twofold-mail",
            lambda: deliver_pending(runtime, mailer),
            poll_seconds,
            first_pass_now=True,
            only_while=None if lease is None else lease.held,
        )
