"""Test hooks: named points where the crash-consistency tests kill the process, and where
the shutdown test holds a request in flight.

Inert in normal use. Only when the environment variable TWOFOLD_TEST_CRASH_AT names a point
at process start does reaching that point kill the process with SIGKILL, as a power cut or
the OOM killer would: no rollback, no cleanup, no response. Only when TWOFOLD_TEST_PAUSE_AT
names a point and TWOFOLD_TEST_PAUSE_UNTIL a file does a request reaching that point wait
until the file exists (at most PAUSE_LIMIT_SECONDS). Never set them on a real server
(`twofold check` reports them as errors). The variables are read once at import, so a
disarmed point costs one comparison.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

from sqlalchemy.orm import Session

CRASH_AT_ENV = "TWOFOLD_TEST_CRASH_AT"
PAUSE_AT_ENV = "TWOFOLD_TEST_PAUSE_AT"
PAUSE_UNTIL_ENV = "TWOFOLD_TEST_PAUSE_UNTIL"
TEST_HOOK_VARIABLES = (CRASH_AT_ENV, PAUSE_AT_ENV, PAUSE_UNTIL_ENV)
PAUSE_LIMIT_SECONDS = 120.0
_ARMED: str | None = None
_PAUSE: tuple[str, Path] | None = None

log = logging.getLogger("twofold.test_hooks")


def arm_from_environment() -> None:
    """Read TWOFOLD_TEST_CRASH_AT (at import; again by a test's process launcher that forks
    an already-imported interpreter and then sets the environment)."""
    global _ARMED, _PAUSE
    _ARMED = os.environ.get(CRASH_AT_ENV) or None
    pause_at, until = os.environ.get(PAUSE_AT_ENV), os.environ.get(PAUSE_UNTIL_ENV)
    _PAUSE = (pause_at, Path(until)) if pause_at and until else None


arm_from_environment()


def crash_point(name: str, db: Session | None = None) -> None:
    """Die here if this point is armed. With `db`, what the operation has changed so far is
    flushed first, so the crash happens with those writes inside the open transaction."""
    if _ARMED is None or name != _ARMED:
        return
    if db is not None:
        db.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def pause_point(name: str) -> None:
    """Wait here, if this point is armed, until the test creates the release file."""
    if _PAUSE is None or name != _PAUSE[0]:
        return
    log.warning("test hook: paused at %s", name)  # what the test waits for
    deadline = time.monotonic() + PAUSE_LIMIT_SECONDS
    while not _PAUSE[1].exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    log.warning("test hook: released at %s", name)
