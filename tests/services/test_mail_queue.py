"""The mail queue against a real SMTP server: delivery, refusal, a server that is down,
retries on the documented schedule, giving up loudly, and nothing kept once sent."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select, update

from smtp_server import REFUSAL, SmtpServer, free_port, running_smtp_server
from support import TEST_KEYS
from twofold.core.errors import ConfigurationError
from twofold.notify.mailer import Composed, SmtpMailer
from twofold.otp.clock import FixedClock
from twofold.services import mail
from twofold.services.mail import CLAIM_FOR, RETRY_AFTER
from twofold.services.runtime import Runtime, build_runtime
from twofold.settings import Settings
from twofold.store.models import OutgoingEmail

SUBJECT = "Twofold: reset your password"
LINK = "https://id.example.org/password/reset/Sup3rSecretLinkToken_abcdefghijklmnop"
RECIPIENT = "alice@example.org"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        yield server


def queue_one(runtime: Runtime, recipient: str = RECIPIENT, kind: str = "password_reset") -> int:
    with runtime.db() as db:
        row = mail.enqueue(
            db,
            runtime,
            kind=kind,
            recipient=recipient,
            composed=Composed(
                subject=SUBJECT,
                text=f"Hello,\n\nChoose a new password:\n{LINK}\n",
                html=f'<p>Hello,</p><p><a href="{LINK}">Choose a new password</a></p>',
            ),
            user_id=None,
        )
        db.commit()
        return row.id


def row_of(runtime: Runtime, message_id: int) -> OutgoingEmail:
    with runtime.db() as db:
        row = db.get(OutgoingEmail, message_id)
        assert row is not None
        return row


def raw_row(runtime: Runtime, message_id: int) -> tuple[object, ...]:
    """The row exactly as stored, column by column."""
    table = OutgoingEmail.__table__
    with runtime.db() as db:
        found = db.execute(select(table).where(table.c.id == message_id)).one()
        return tuple(found)


def stored_bytes(values: tuple[object, ...]) -> bytes:
    return b"\n".join(
        value if isinstance(value, bytes) else str(value).encode() for value in values
    )


def test_a_queued_message_reaches_the_smtp_server_with_text_and_html(
    runtime: Runtime, smtp: SmtpServer
) -> None:
    queue_one(runtime)
    report = smtp.deliver(runtime)
    assert (report.sent, report.failed, report.given_up) == (1, 0, 0)
    [received] = smtp.received
    assert received.recipients == (RECIPIENT,)
    assert received.message["From"] == runtime.settings.mail_from
    assert received.message["To"] == RECIPIENT
    assert received.subject == SUBJECT
    assert [p.get_content_type() for p in received.message.iter_parts()] == [
        "text/plain",
        "text/html",
    ]
    assert LINK in received.text
    assert f'href="{LINK}"' in received.html


def test_a_sent_message_is_marked_sent_and_its_content_wiped(
    runtime: Runtime, smtp: SmtpServer, clock: FixedClock
) -> None:
    message_id = queue_one(runtime)
    smtp.deliver(runtime)
    row = row_of(runtime, message_id)
    assert row.sent_at == clock.now()
    assert row.attempts == 1
    assert row.content_sealed is None
    assert row.content_kid is None
    assert row.last_error is None
    assert SUBJECT.encode() not in stored_bytes(raw_row(runtime, message_id))
    assert LINK.encode() not in stored_bytes(raw_row(runtime, message_id))


def test_queued_content_is_sealed_not_readable_in_the_database(runtime: Runtime) -> None:
    message_id = queue_one(runtime)
    stored = stored_bytes(raw_row(runtime, message_id))
    assert b"reset your password" not in stored
    assert b"Sup3rSecretLinkToken" not in stored
    assert b"Choose a new password" not in stored
    row = row_of(runtime, message_id)
    assert row.content_sealed is not None
    assert row.recipient == RECIPIENT  # what the queue needs to work stays readable


def test_two_delivery_runs_send_a_message_only_once(runtime: Runtime, smtp: SmtpServer) -> None:
    queue_one(runtime)
    smtp.deliver(runtime)
    second = smtp.deliver(runtime)
    assert second.sent == 0
    assert len(smtp.received) == 1


def test_a_message_claimed_by_another_worker_is_left_to_it_until_the_claim_lapses(
    runtime: Runtime, smtp: SmtpServer, clock: FixedClock
) -> None:
    message_id = queue_one(runtime)
    with runtime.db() as db:
        db.execute(
            update(OutgoingEmail)
            .where(OutgoingEmail.id == message_id)
            .values(claimed_until=clock.now() + CLAIM_FOR)
        )
        db.commit()
    assert smtp.deliver(runtime).sent == 0
    assert smtp.received == []
    clock.advance(CLAIM_FOR.total_seconds() + 1)  # that worker died mid-send
    assert smtp.deliver(runtime).sent == 1
    assert len(smtp.received) == 1


def test_a_refusing_server_leaves_the_message_queued_for_a_retry_and_logs_a_warning(
    runtime: Runtime, smtp: SmtpServer, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    message_id = queue_one(runtime)
    smtp.refuse_with = REFUSAL
    with caplog.at_level(logging.WARNING, logger="twofold.mail"):
        report = smtp.deliver(runtime)
    assert (report.sent, report.failed, report.given_up) == (0, 1, 0)
    row = row_of(runtime, message_id)
    assert row.attempts == 1
    assert row.next_attempt_at == clock.now() + RETRY_AFTER[0]
    assert row.last_error is not None
    assert "550" in row.last_error
    assert row.sent_at is None
    assert row.failed_at is None
    assert row.content_sealed is not None  # nothing lost
    [record] = [r for r in caplog.records if r.name == "twofold.mail"]
    assert record.levelno == logging.WARNING
    assert f"password_reset message {message_id}" in record.getMessage()
    assert "550" in record.getMessage()
    assert LINK not in record.getMessage()


def test_a_server_that_is_down_leaves_the_message_queued_and_logs_a_warning(
    runtime: Runtime, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    message_id = queue_one(runtime)
    down = SmtpServer(port=free_port())  # never started: nothing listens there
    with caplog.at_level(logging.WARNING, logger="twofold.mail"):
        report = down.deliver(runtime)
    assert (report.sent, report.failed) == (0, 1)
    row = row_of(runtime, message_id)
    assert row.attempts == 1
    assert row.next_attempt_at == clock.now() + RETRY_AFTER[0]
    assert row.last_error is not None
    assert "ConnectionRefusedError" in row.last_error
    assert row.content_sealed is not None
    assert any(
        r.levelno == logging.WARNING and "will retry" in r.getMessage() for r in caplog.records
    )


def test_a_failed_message_is_not_retried_before_its_time(
    runtime: Runtime, smtp: SmtpServer, clock: FixedClock
) -> None:
    message_id = queue_one(runtime)
    smtp.refuse_with = REFUSAL
    smtp.deliver(runtime)
    smtp.refuse_with = None
    clock.advance(RETRY_AFTER[0].total_seconds() - 1)
    assert smtp.deliver(runtime).sent == 0
    assert row_of(runtime, message_id).attempts == 1
    assert smtp.received == []


def test_a_message_is_delivered_once_the_server_is_back_and_its_retry_is_due(
    runtime: Runtime, clock: FixedClock
) -> None:
    message_id = queue_one(runtime)
    server = SmtpServer()  # its port is free: the server is down
    server.deliver(runtime)
    assert row_of(runtime, message_id).attempts == 1
    server.start()
    try:
        clock.advance(RETRY_AFTER[0].total_seconds())
        report = server.deliver(runtime)
    finally:
        server.stop()
    assert report.sent == 1
    [received] = server.received
    assert received.subject == SUBJECT
    row = row_of(runtime, message_id)
    assert row.sent_at == clock.now()
    assert row.attempts == 2
    assert row.last_error is None


def test_retries_follow_the_schedule_then_the_message_is_marked_failed_with_an_error_log(
    runtime: Runtime, smtp: SmtpServer, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    message_id = queue_one(runtime)
    smtp.refuse_with = REFUSAL
    for attempt, wait in enumerate(RETRY_AFTER, start=1):
        assert smtp.deliver(runtime).failed == 1
        row = row_of(runtime, message_id)
        assert row.attempts == attempt
        assert row.next_attempt_at == clock.now() + wait
        assert row.failed_at is None
        clock.advance(wait.total_seconds())
    with caplog.at_level(logging.WARNING, logger="twofold.mail"):
        report = smtp.deliver(runtime)
    assert report.given_up == 1
    row = row_of(runtime, message_id)
    assert row.attempts == len(RETRY_AFTER) + 1
    assert row.failed_at == clock.now()
    assert row.sent_at is None
    assert row.last_error is not None
    assert "550" in row.last_error
    [given_up] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert given_up.name == "twofold.mail"
    assert "gave up" in given_up.getMessage()
    assert RECIPIENT in given_up.getMessage()


def test_a_message_given_up_on_is_never_sent_later(
    runtime: Runtime, smtp: SmtpServer, clock: FixedClock
) -> None:
    message_id = queue_one(runtime)
    smtp.refuse_with = REFUSAL
    for wait in [*RETRY_AFTER, timedelta(0)]:
        smtp.deliver(runtime)
        clock.advance(wait.total_seconds())
    assert row_of(runtime, message_id).failed_at is not None
    smtp.refuse_with = None
    clock.advance(timedelta(days=2).total_seconds())
    assert smtp.deliver(runtime).sent == 0
    assert smtp.received == []


def test_one_failing_message_does_not_hold_up_the_others(
    runtime: Runtime, smtp: SmtpServer
) -> None:
    queue_one(runtime, recipient="alice@example.org")
    queue_one(runtime, recipient="bob@example.org")
    first = smtp.deliver(runtime)
    assert first.sent == 2
    assert {r.recipients for r in smtp.received} == {("alice@example.org",), ("bob@example.org",)}


def test_production_without_smtp_refuses_to_build_the_runtime(tmp_path: Path) -> None:
    settings = Settings(
        env="production",
        base_url="https://id.example.org",
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'twofold.db'}",
        secret_keys=TEST_KEYS.to_text(),
    )
    with pytest.raises(ConfigurationError) as refused:
        build_runtime(settings)
    assert "TWOFOLD_SMTP_HOST" in str(refused.value)
    assert not (tmp_path / "twofold.db").exists()


def test_development_without_smtp_delivers_the_queue_to_the_outbox(runtime: Runtime) -> None:
    queue_one(runtime)
    report = mail.deliver_pending(runtime, runtime.mailer)
    assert report.sent == 1
    [written] = list(runtime.settings.outbox_dir.glob("*.eml"))
    assert LINK.encode() in written.read_bytes()


class SignallingMailer:
    """An SmtpMailer that also says when it has handed a message over (no sleeping)."""

    def __init__(self, inner: SmtpMailer) -> None:
        self.inner = inner
        self.sent = threading.Event()

    def describe(self) -> str:
        return self.inner.describe()

    def send(self, message: EmailMessage) -> None:
        self.inner.send(message)
        self.sent.set()


def test_the_background_worker_sends_the_queue_and_stops_when_asked(
    runtime: Runtime, smtp: SmtpServer
) -> None:
    message_id = queue_one(runtime)
    mailer = SignallingMailer(smtp.mailer())
    worker = mail.MailWorker(runtime, mailer, poll_seconds=60)
    worker.start()
    try:
        assert mailer.sent.wait(timeout=10), "the worker sent nothing"
    finally:
        worker.stop()  # joins the thread: its pass, and the commit, are done
    assert len(smtp.received) == 1
    assert row_of(runtime, message_id).sent_at is not None
