"""A real SMTP server (aiosmtpd on 127.0.0.1) for the transport tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from smtp_server import SmtpServer, running_smtp_server


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        yield server
