"""A test hook: named points where the crash-consistency tests kill the process.

Inert in normal use. Only when the environment variable TWOFOLD_TEST_CRASH_AT names a point
at process start does reaching that point kill the process with SIGKILL, as a power cut or
the OOM killer would: no rollback, no cleanup, no response. Never set it on a real server.
The variable is read once at import, so a disarmed point costs one comparison.
"""

from __future__ import annotations

import os
import signal

from sqlalchemy.orm import Session

CRASH_AT_ENV = "TWOFOLD_TEST_CRASH_AT"
_ARMED: str | None = None


def arm_from_environment() -> None:
    """Read TWOFOLD_TEST_CRASH_AT (at import; again by a test's process launcher that forks
    an already-imported interpreter and then sets the environment)."""
    global _ARMED
    _ARMED = os.environ.get(CRASH_AT_ENV) or None


arm_from_environment()


def crash_point(name: str, db: Session | None = None) -> None:
    """Die here if this point is armed. With `db`, what the operation has changed so far is
    flushed first, so the crash happens with those writes inside the open transaction."""
    if _ARMED is None or name != _ARMED:
        return
    if db is not None:
        db.flush()
    os.kill(os.getpid(), signal.SIGKILL)
