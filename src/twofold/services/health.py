"""Liveness and readiness: whether this process can serve requests that need the database,
and whether the Redis of the request-rate limits answers.

`readiness` answers each check by name ("ok" or what is wrong, in words an operator acts
on) and one status: "unavailable" when the database or its schema is not right (send no
traffic here); "degraded" when only Redis is not answering — requests are still served,
their rate limits counted per process (decision 0023), and failing readiness then would
take every process out of the load balancer at once; else "ok"."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from twofold.services.crash_points import pause_point
from twofold.services.runtime import Runtime
from twofold.store.db import migration_state

OK = "ok"
DEGRADED = "degraded"
UNAVAILABLE = "unavailable"
NOT_ANSWERING = "not answering"
UNKNOWN = "unknown (the database is not answering)"
BEHIND = "pending migrations: run `twofold migrate`"
AHEAD = "the database is at a revision this version does not know (a newer release?)"


@dataclass(frozen=True)
class Readiness:
    status: str  # OK, DEGRADED or UNAVAILABLE
    checks: dict[str, str]  # check name -> OK or what is wrong

    @property
    def serves(self) -> bool:
        return self.status != UNAVAILABLE


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


def redis_state(runtime: Runtime) -> str | None:
    """None without TWOFOLD_REDIS_URL; "ok" when Redis answers a PING now, else "not
    answering" (the limits are then counted per process, decision 0023)."""
    return runtime.request_limits.redis_state()


def readiness(runtime: Runtime) -> Readiness:
    """Each check by name, and whether this process should get traffic."""
    if database_answers(runtime):
        checks = {"database": OK, "migrations": migrations_state(runtime)}
    else:
        checks = {"database": NOT_ANSWERING, "migrations": UNKNOWN}
    redis = redis_state(runtime)
    if redis is not None:
        checks["redis"] = redis
    if checks["database"] != OK or checks["migrations"] != OK:
        status = UNAVAILABLE
    elif redis not in (None, OK):
        status = DEGRADED
    else:
        status = OK
    return Readiness(status=status, checks=checks)
