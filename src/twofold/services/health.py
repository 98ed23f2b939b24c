"""Readiness: whether this process can serve requests that need the database."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from twofold.services.crash_points import pause_point
from twofold.services.runtime import Runtime


def database_answers(runtime: Runtime) -> bool:
    """True when the database answers a trivial query now."""
    pause_point("readiness")  # a test hook, inert unless armed (crash_points.py)
    try:
        with runtime.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return False
    return True
