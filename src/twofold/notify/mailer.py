"""Mail transports: SMTP for real use, .eml files in an outbox directory for development."""

from __future__ import annotations

import os
import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Literal, Protocol


@dataclass(frozen=True)
class Composed:
    """A message's words: subject, plain text and a simple HTML version."""

    subject: str
    text: str
    html: str


class DeliveryError(Exception):
    """The transport could not hand the message over; it stays queued for a retry."""


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None: ...

    def describe(self) -> str: ...


def build_message(
    *, sender: str, recipient: str, subject: str, text: str, html: str
) -> EmailMessage:
    """A multipart/alternative message: plain text first, a simple HTML part second."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="twofold.invalid")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


@dataclass(frozen=True)
class SmtpMailer:
    host: str
    port: int
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: str | None = None
    timeout: float = 20.0

    def describe(self) -> str:
        return f"SMTP {self.host}:{self.port} ({self.security})"

    def send(self, message: EmailMessage) -> None:
        try:
            if self.security == "tls":
                context = ssl.create_default_context()
                with smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=context
                ) as smtp:
                    self._deliver(smtp, message)
                return
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                self._deliver(smtp, message)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(_describe_error(exc)) from exc

    def _deliver(self, smtp: smtplib.SMTP, message: EmailMessage) -> None:
        if self.username:
            smtp.login(self.username, self.password or "")
        smtp.send_message(message)


def _describe_error(exc: BaseException) -> str:
    """The failure in words for the log, without message content."""
    if isinstance(exc, smtplib.SMTPResponseException):
        said = exc.smtp_error
        text = said.decode(errors="replace") if isinstance(said, bytes) else str(said)
        return f"SMTP {exc.smtp_code}: {text[:200]}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _ in exc.recipients.values()})
        return f"recipient refused (SMTP {', '.join(str(c) for c in codes)})"
    return f"{type(exc).__name__}: {exc}"[:300]


@dataclass(frozen=True)
class OutboxMailer:
    """Development: each message becomes an .eml file that any mail client opens."""

    directory: Path

    def describe(self) -> str:
        return f"outbox directory {self.directory}"

    def send(self, message: EmailMessage) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
            recipient = str(message["To"]).replace("/", "_").replace("\\", "_")[:80]
            path = self.directory / f"{stamp}-{recipient}.eml"
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(bytes(message))
        except OSError as exc:
            raise DeliveryError(f"cannot write to the outbox: {exc}") from exc
