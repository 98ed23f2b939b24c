"""Real servers on 127.0.0.1 for the transport tests: SMTP (aiosmtpd) for mail, and an HTTP
server playing Twilio or an SMS webhook gateway."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from sms_gateway import SmsGateway, running_gateway
from smtp_server import SmtpServer, running_smtp_server
from twofold.otp.clock import FixedClock


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        yield server


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def twilio(clock: FixedClock) -> Iterator[SmsGateway]:
    with running_gateway("twilio", clock) as gateway:
        yield gateway


@pytest.fixture
def gateway(clock: FixedClock) -> Iterator[SmsGateway]:
    with running_gateway("webhook", clock) as server:
        yield server
