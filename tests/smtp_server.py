"""A real SMTP server for tests: aiosmtpd on 127.0.0.1 and a free port, keeping every message
it accepts. It can refuse messages (an SMTP 5xx answer), and be stopped and started again on
the same port, to play a mail server that is down and comes back."""

from __future__ import annotations

import email
import email.policy
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, cast

from aiosmtpd.controller import Controller

from twofold.notify.mailer import SmtpMailer
from twofold.services import mail
from twofold.services.runtime import Runtime

HOST = "127.0.0.1"
REFUSAL = "550 5.7.1 Mailbox unavailable (refused by the test server)"
LINK = re.compile(r"https?://\S+")


def free_port() -> int:
    """A port nothing listens on (the OS just handed it out and it was closed again)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Received:
    """One message as the server accepted it: the envelope and the parsed message."""

    sender: str
    recipients: tuple[str, ...]
    message: EmailMessage
    raw: bytes

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None, "the message has no text/plain part"
        return str(cast(EmailMessage, part).get_content())

    @property
    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        assert part is not None, "the message has no text/html part"
        return str(cast(EmailMessage, part).get_content())

    @property
    def link(self) -> str:
        """The one link of the message (its action), from the plain-text part."""
        links = LINK.findall(self.text)
        assert len(links) == 1, f"expected one link, found {links}"
        return str(links[0])

    @property
    def path(self) -> str:
        """The link without scheme and host, as a test client requests it."""
        return "/" + self.link.split("://", 1)[1].split("/", 1)[1]


class _Collector:
    """The aiosmtpd handler: accepts (and keeps) or refuses each message."""

    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    async def handle_DATA(self, _smtp: Any, _session: Any, envelope: Any) -> str:  # noqa: N802
        if self._server.refuse_with:
            return self._server.refuse_with
        raw = bytes(envelope.original_content or envelope.content)
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        self._server.received.append(
            Received(
                sender=str(envelope.mail_from),
                recipients=tuple(envelope.rcpt_tos),
                message=cast(EmailMessage, parsed),
                raw=raw,
            )
        )
        return "250 2.0.0 Message accepted"


class SmtpServer:
    """A mail server on 127.0.0.1:<port>; `mailer()` is an SmtpMailer that talks to it.

    pytest turns warnings into errors. aiosmtpd 1.4 warns only for deprecated hooks
    (process_message, 4-argument handle_EHLO, server_kwargs) and for AUTH without TLS; this
    server uses none of them, so it runs without any warnings filter. Should a later version
    warn, catch that one warning around `start()` with warnings.catch_warnings(), not globally.
    """

    def __init__(self, port: int | None = None) -> None:
        self.host = HOST
        self.port = port or free_port()
        self.received: list[Received] = []
        self.refuse_with: str | None = None
        self._controller: Controller | None = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        assert self._controller is None, "already running"
        controller = Controller(_Collector(self), hostname=self.host, port=self.port)
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def mailer(self) -> SmtpMailer:
        return SmtpMailer(host=self.host, port=self.port, security="none", timeout=5)

    def deliver(self, runtime: Runtime) -> mail.DeliveryReport:
        """Run the queue's sender once against this server, as the background worker does."""
        return mail.deliver_pending(runtime, self.mailer())

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.recipients]

    def about(self, subject_words: str, address: str | None = None) -> list[Received]:
        return [
            r
            for r in self.received
            if subject_words in r.subject and (address is None or address in r.recipients)
        ]

    def only(self, subject_words: str, address: str | None = None) -> Received:
        """The single message whose subject has these words (to `address` when given)."""
        found = self.about(subject_words, address)
        subjects = [r.subject for r in self.received]
        assert len(found) == 1, f"expected one '{subject_words}' message, got {subjects}"
        return found[0]

    def clear(self) -> None:
        self.received.clear()


@contextmanager
def running_smtp_server() -> Iterator[SmtpServer]:
    """A started server, stopped at the end however the test ends."""
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
