"""The test server's text messages, as the person's phone would show them: the development
SMS outbox (`<data dir>/outbox/sms/`, one file per message). A text is written before the
page answers, so a test reads it right after the page says it was sent."""

from __future__ import annotations

import re
import time
from pathlib import Path

CODE = re.compile(r"\b(\d{6})\b")
WAIT_SECONDS = 5.0
POLL_SECONDS = 0.05  # polling a directory for a file, not waiting for a code's time step


class Phone:
    """The texts sent to one number, oldest first."""

    def __init__(self, outbox: Path, number: str) -> None:
        self._outbox = outbox
        self._number = number

    def texts(self) -> list[str]:
        if not self._outbox.is_dir():
            return []
        found = []
        for path in sorted(self._outbox.glob("*.txt")):
            head, _, body = path.read_text(encoding="utf-8").partition("\n\n")
            if head.strip() == f"To: {self._number}":
                found.append(body.strip())
        return found

    def new_code(self, seen: int) -> str:
        """The code in the first text after the `seen` earlier ones, waiting for it (bounded)."""
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            texts = self.texts()
            if len(texts) > seen:
                match = CODE.search(texts[seen])
                assert match, f"no code in the text {texts[seen]!r}"
                return match.group(1)
            time.sleep(POLL_SECONDS)
        raise AssertionError(f"no new text to {self._number} within {WAIT_SECONDS} s")
