"""Leases: the background work of a deployment (the mail queue, housekeeping) is done by one
server process at a time, however many run (decision 0022).

A lease is a row `(name, holder, expires_at)`. Taking it and renewing it are the same single
statement: an upsert whose update applies only when this holder already has the lease or
when it has expired, so its row count decides, atomically on SQLite and PostgreSQL, who
holds it. The holder renews it well within its duration (a `LeaseKeeper` thread); a holder
that dies stops renewing and another process takes over once the lease expires; a holder
that stops releases it at once. Time comes from the runtime's clock.

The lease saves work, it does not guard correctness: sending and purging stay safe to run
in several processes at once (each message is claimed, each purge re-checks its rows), so
a moment of overlap around a takeover does no harm.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from twofold.services.runtime import Runtime
from twofold.services.workers import PeriodicWorker
from twofold.store.models import Lease as LeaseRow

log = logging.getLogger("twofold.leases")

BACKGROUND = "background"  # the mail queue and housekeeping
DURATION = timedelta(seconds=30)
RENEW_EVERY = timedelta(seconds=10)  # three tries before the lease runs out


@dataclass(frozen=True)
class LeaseState:
    holder: str
    expires_at: datetime


def new_holder_id() -> str:
    """Names this process to an operator reading the table (host and pid), and a random
    part so that two runtimes in one process are two holders."""
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{secrets.token_hex(4)}"


def take(runtime: Runtime, name: str, holder: str, duration: timedelta = DURATION) -> bool:
    """Take or renew the lease `name` for `holder` until now + `duration`: True when
    `holder` holds it now, False when another holder has it and it has not expired."""
    now = runtime.now()
    insert = postgresql.insert if runtime.engine.dialect.name == "postgresql" else sqlite.insert
    row = insert(LeaseRow).values(name=name, holder=holder, expires_at=now + duration)
    statement = row.on_conflict_do_update(
        index_elements=[LeaseRow.name],
        set_={"holder": row.excluded.holder, "expires_at": row.excluded.expires_at},
        where=or_(LeaseRow.holder == holder, LeaseRow.expires_at <= now),
    ).returning(LeaseRow.holder)  # a row only when inserted or updated
    with runtime.db() as db:
        taken = db.execute(statement).first() is not None
        db.commit()
    return taken


def release(runtime: Runtime, name: str, holder: str) -> None:
    """Give the lease up (if `holder` still has it), so another process takes it at once."""
    with runtime.db() as db:
        db.execute(
            delete(LeaseRow)
            .where(LeaseRow.name == name, LeaseRow.holder == holder)
            .execution_options(synchronize_session=False)
        )
        db.commit()


def current(runtime: Runtime, name: str) -> LeaseState | None:
    """Who holds the lease `name` and until when (possibly expired), or None if no one."""
    with runtime.read_db() as db:
        row = db.execute(
            select(LeaseRow.holder, LeaseRow.expires_at).where(LeaseRow.name == name)
        ).one_or_none()
    return None if row is None else LeaseState(holder=row.holder, expires_at=row.expires_at)


class Lease:
    """This process's claim on one lease: renewed by a LeaseKeeper, asked by the workers
    before each pass. `held()` is answered from the expiry of the last successful renewal,
    so a process that cannot reach the database stops working when its lease runs out."""

    def __init__(
        self,
        runtime: Runtime,
        name: str = BACKGROUND,
        *,
        duration: timedelta = DURATION,
        holder: str | None = None,
    ) -> None:
        self.runtime = runtime
        self.name = name
        self.duration = duration
        self.holder = holder or new_holder_id()
        self._held_until: datetime | None = None

    def renew(self) -> bool:
        """Take or renew the lease now; True while this process holds it."""
        now = self.runtime.now()
        if take(self.runtime, self.name, self.holder, self.duration):
            if self._held_until is None or self._held_until <= now:
                log.info("this process now does the background work (lease %s)", self.name)
            self._held_until = now + self.duration
            return True
        if self._held_until is not None and self._held_until > now:
            log.warning("lease %s was taken over by another process", self.name)
        self._held_until = None
        return False

    def held(self) -> bool:
        return self._held_until is not None and self.runtime.now() < self._held_until

    def release(self) -> None:
        if self._held_until is None:
            return
        self._held_until = None
        release(self.runtime, self.name, self.holder)


class LeaseKeeper(PeriodicWorker):
    """Keeps trying to take the lease and renews it while held (every RENEW_EVERY); on stop,
    releases it. The first try happens in `start`, so a lone server starts its workers
    holding the lease."""

    def __init__(self, lease: Lease, renew_every: timedelta = RENEW_EVERY) -> None:
        super().__init__(
            "twofold-lease", lease.renew, renew_every.total_seconds(), first_pass_now=False
        )
        self.lease = lease

    def start(self) -> None:
        try:
            self.lease.renew()
        except Exception:  # the database is away: the thread keeps trying
            log.exception("could not take the lease %s", self.lease.name)
        super().start()

    def stop(self) -> None:
        super().stop()
        try:
            self.lease.release()
        except Exception:  # it expires by itself
            log.exception("could not release the lease %s", self.lease.name)
