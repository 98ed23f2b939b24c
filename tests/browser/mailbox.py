"""The test server's mail, as a person would read it: .eml files in `<data dir>/outbox/`.

With no SMTP configured, `twofold serve` writes every message it sends into its outbox. The
sender works outside the request (every MAIL_POLL_SECONDS), so a test waits for a message,
bounded, instead of expecting it at once.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses
from pathlib import Path

import pytest

WAIT_SECONDS = 10.0  # the sender polls every 0.2 s in the tests: a message takes well under 1 s
POLL_SECONDS = 0.05  # polling a directory for a file, not waiting for a TOTP step
LINK = re.compile(r"https?://[^\s<>\"]+")


@dataclass(frozen=True)
class Mail:
    """One message from the outbox: the parsed message, its plain text and the links in it."""

    path: Path
    message: EmailMessage
    text: str
    links: list[str]

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def recipients(self) -> list[str]:
        return [address.lower() for _name, address in getaddresses([str(self.message["To"])])]

    def link_to(self, path_prefix: str) -> str:
        """The one link in the message whose path starts with `path_prefix`."""
        found = [link for link in self.links if re.match(rf"https?://[^/]+{path_prefix}", link)]
        assert len(found) == 1, (
            f"expected one {path_prefix}… link in {self.subject!r}: {self.links}"
        )
        return found[0]


def _read(path: Path) -> Mail | None:
    """The message in `path`, or None while it is still being written (empty or cut short)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if not data:
        return None
    message = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(message, EmailMessage)
    if message["To"] is None or any(part.defects for part in message.walk()):
        return None  # e.g. the closing MIME boundary has not been written yet
    body = message.get_body(preferencelist=("plain",))
    if body is None:
        return None
    assert isinstance(body, EmailMessage)
    text = str(body.get_content())
    return Mail(path=path, message=message, text=text, links=LINK.findall(text))


class Mailbox:
    """Reads one server's outbox. Each message is handed out once, oldest first."""

    def __init__(self, outbox: Path) -> None:
        self._outbox = outbox
        self._taken: set[Path] = set()

    def arrived(self) -> list[Mail]:
        """Every complete message in the outbox now, oldest first (file names start with the
        time they were written)."""
        if not self._outbox.is_dir():
            return []
        mails = (_read(path) for path in sorted(self._outbox.glob("*.eml")))
        return [mail for mail in mails if mail is not None]

    def to(self, address: str) -> list[Mail]:
        """What has arrived for `address` so far, without waiting."""
        return [mail for mail in self.arrived() if address.lower() in mail.recipients]

    def wait_for(self, address: str, *, subject: str = "", timeout: float = WAIT_SECONDS) -> Mail:
        """The oldest message to `address` (with `subject` in its subject) not handed out yet;
        fails the test if none arrives within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            for mail in self.to(address):
                if mail.path not in self._taken and subject.lower() in mail.subject.lower():
                    self._taken.add(mail.path)
                    return mail
            if time.monotonic() > deadline:
                seen = "\n".join(f"  {m.recipients} {m.subject!r}" for m in self.arrived())
                pytest.fail(
                    f"no message to {address} with {subject!r} in its subject within "
                    f"{timeout:.0f} s; the outbox has:\n{seen or '  nothing'}"
                )
            time.sleep(POLL_SECONDS)
