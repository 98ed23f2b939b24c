"""Readiness: whether this process can serve requests that need the database, and whether
the Redis of the request-rate limits answers."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from twofold.services.runtime import Runtime


def database_answers(runtime: Runtime) -> bool:
    """True when the database answers a trivial query now."""
    try:
        with runtime.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return False
    return True


def redis_state(runtime: Runtime) -> str | None:
    """None without TWOFOLD_REDIS_URL; "ok" when Redis answers a PING now, else "not
    answering" (the limits are then counted per process, decision 0023)."""
    return runtime.request_limits.redis_state()
