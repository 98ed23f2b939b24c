"""What every attack module needs besides the servers (servers.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from twofold.crypto.passwords import PasswordHashingParams
from twofold.otp.clock import SystemClock
from twofold.services.runtime import Runtime, build_runtime
from twofold.settings import Settings


@pytest.fixture
def live_runtime(settings: Settings) -> Iterator[Runtime]:
    """The servers run on the real clock, so the test's own view of the data does too."""
    runtime = build_runtime(
        settings,
        clock=SystemClock(),
        hashing=PasswordHashingParams.for_tests(),
        apply_migrations=False,
    )
    yield runtime
    runtime.engine.dispose()
