"""Liveness and readiness: whether this process can serve requests that need the database.

`readiness` answers each check by name ("ok" or what is wrong, in words an operator acts
on); /readyz is ready only when every check says "ok"."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from twofold.services.crash_points import pause_point
from twofold.services.runtime import Runtime
from twofold.store.db import migration_state

OK = "ok"
NOT_ANSWERING = "not answering"
UNKNOWN = "unknown (the database is not answering)"
BEHIND = "pending migrations: run `twofold migrate`"
AHEAD = "the database is at a revision this version does not know (a newer release?)"


def database_answers(runtime: Runtime) -> bool:
    """True when the database answers a trivial query now."""
    pause_point("readiness")  # a test hook, inert unless armed (crash_points.py)
    try:
        with runtime.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return False
    return True


def migrations_state(runtime: Runtime) -> str:
    """OK when the database's schema is the newest this code ships; else what is wrong."""
    try:
        state = migration_state(runtime.engine)
    except SQLAlchemyError:
        return UNKNOWN
    return {"current": OK, "behind": BEHIND, "unknown_revision": AHEAD}[state]


def readiness(runtime: Runtime) -> dict[str, str]:
    """Each check by name: "ok", or what is wrong."""
    if not database_answers(runtime):
        return {"database": NOT_ANSWERING, "migrations": UNKNOWN}
    return {"database": OK, "migrations": migrations_state(runtime)}
