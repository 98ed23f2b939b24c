"""Engine and session factory; migrations are applied with Alembic, never create_all."""

from __future__ import annotations

import functools
import re
import sqlite3
import threading
from pathlib import Path
from typing import Any, Literal, cast

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, CursorResult, Engine, Executable, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


# How long a request waits for its turn to write before it is told "busy, try again" (503).
WRITE_QUEUE_SECONDS = 10.0
# How long SQLite waits for another *process* holding the write lock (the CLI, a second
# server on the same file) before it gives up with "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 10_000
READ_ONLY = "twofold_read_only"
# A server's pool (PostgreSQL): enough connections kept open for every request a process runs
# at once (anyio's 40 worker threads; the event loop's dependencies), so that a burst does
# not open and close a connection per request (QueuePool closes an overflow connection when
# it is given back). Idle ones cost PostgreSQL a backend each, nothing else.
POOL_SIZE = 20
POOL_OVERFLOW = 30


class DatabaseBusy(Exception):
    """The database could not take this write in time: contention, never a bug (-> 503)."""


class WriteGate:
    """Queues a process's SQLite write transactions in Python, first come first served.

    SQLite allows one writer at a time. Left to SQLite, waiting writers poll the file lock
    (sleeping in growing steps), which starves some of them for tens of seconds under a
    burst. Taking this lock before BEGIN IMMEDIATE makes the threads of one process queue
    fairly, and SQLite's own wait only arbitrates between processes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def enter(self) -> None:
        if not self._lock.acquire(timeout=WRITE_QUEUE_SECONDS):
            raise DatabaseBusy("timed out waiting for the database write queue")

    def leave(self) -> None:
        self._lock.release()


class _GatedSqliteConnection(sqlite3.Connection):
    """Leaves the write gate once its transaction has really ended (not before COMMIT)."""

    gate: WriteGate | None = None
    in_gate = False

    def _leave_gate(self) -> None:
        if self.in_gate and self.gate is not None:
            self.in_gate = False
            self.gate.leave()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            if not self.in_transaction:
                self._leave_gate()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._leave_gate()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._leave_gate()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine set up for a web server. On SQLite: foreign keys on, WAL (readers never wait
    for the writer), and write transactions that begin IMMEDIATE behind the process's write
    gate; read-only sessions (see `read_only`) begin DEFERRED and take no lock at all."""
    if url.startswith("sqlite"):
        gate = WriteGate()
        engine = create_engine(
            url,
            connect_args={
                "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
                "factory": _GatedSqliteConnection,
                "check_same_thread": False,
            },
            **kwargs,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy issue BEGIN so transactions mean what they say (pysqlite default
            # would defer it), then switch on what SQLite leaves off by default.
            dbapi_connection.isolation_level = None
            dbapi_connection.gate = gate
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            if conn.get_execution_options().get(READ_ONLY):
                conn.exec_driver_sql("BEGIN")
                return
            dbapi_connection = conn.connection.dbapi_connection
            gate.enter()
            dbapi_connection.in_gate = True
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                dbapi_connection._leave_gate()
                raise

        @event.listens_for(engine, "before_cursor_execute")
        def _sqlite_read_turns_write(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            # A read-only session that writes after all (rare: a page view fixing up state)
            # queues like any writer; SQLite refuses it as busy if its snapshot went stale.
            if not conn.get_execution_options().get(READ_ONLY):
                return
            dbapi_connection = conn.connection.dbapi_connection
            if dbapi_connection.in_gate or not _WRITES.match(statement):
                return
            gate.enter()
            dbapi_connection.in_gate = True

        _track_writes(engine)
        return engine
    kwargs.setdefault("pool_size", POOL_SIZE)
    kwargs.setdefault("max_overflow", POOL_OVERFLOW)
    # Every checkout pings (one round trip): a request never fails on a connection that
    # PostgreSQL closed meanwhile (a restart, a failover, a proxy's idle timeout). Measured
    # at ~0.3-0.5 ms a checkout; a rule that pinged only idle connections was tried and
    # left, since it gave a 500 to the first request after a restart (decision 0026).
    engine = create_engine(url, pool_pre_ping=True, **kwargs)
    _track_writes(engine)
    return engine


_WRITES = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


def read_only(engine: Engine) -> Engine:
    """The same engine for sessions that only read: on SQLite they never queue for writing.
    A write through it still works when nothing competes, and is refused as busy otherwise."""
    return engine.execution_options(**{READ_ONLY: True})


_CONTENTION_SQLSTATES = {"40001", "40P01", "55P03"}  # serialization, deadlock, lock timeout


def is_contention(error: BaseException) -> bool:
    """Busy, not broken: the same request would succeed a moment later."""
    if isinstance(error, DatabaseBusy | PoolTimeout):  # every connection busy for too long
        return True
    if isinstance(error, OperationalError | DBAPIError):
        original = error.orig
        if isinstance(original, sqlite3.OperationalError):
            text = str(original).lower()
            return "database is locked" in text or "database is busy" in text
        return getattr(original, "sqlstate", None) in _CONTENTION_SQLSTATES
    return False


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision. A schema already there is left alone without
    starting Alembic's environment (~40 ms of loading every migration file, which every
    CLI command on the embedded database paid)."""
    if pending_migrations(engine):
        command.upgrade(alembic_config(engine), "head")


@functools.cache
def _script_heads() -> frozenset[str]:
    """The newest revisions among the migrations shipped with this code (read once: the
    files do not change under a running process, and tests build a runtime per test)."""
    return frozenset(ScriptDirectory(str(MIGRATIONS_DIR)).get_heads())


def pending_migrations(engine: Engine) -> bool:
    return migration_state(engine) != "current"


@functools.cache
def _script_revisions() -> frozenset[str]:
    return frozenset(
        script.revision for script in ScriptDirectory(str(MIGRATIONS_DIR)).walk_revisions()
    )


MigrationState = Literal["current", "behind", "unknown_revision"]


def current_heads(connection: Connection) -> frozenset[str]:
    """The revisions the database says it is at (none: never migrated)."""
    return frozenset(MigrationContext.configure(connection).get_current_heads())


def state_of(current: frozenset[str]) -> MigrationState:
    """current: the newest revision this code ships; behind: older or none (run `twofold
    migrate`); unknown_revision: one this code does not ship (a newer release migrated it)."""
    if current == _script_heads():
        return "current"
    return "behind" if current <= _script_revisions() else "unknown_revision"


def migration_state(engine: Engine) -> MigrationState:
    with engine.connect() as connection:
        return state_of(current_heads(connection))


def rows_affected(db: Session, statement: Executable) -> int:
    """Run an UPDATE/DELETE and return its row count: the single-use decision."""
    result = cast("CursorResult[Any]", db.execute(statement))
    return int(result.rowcount or 0)


def insert_unless_present(db: Session, model: type[Any], values: dict[str, Any]) -> bool:
    """INSERT the row unless one with its key exists (ON CONFLICT DO NOTHING, on SQLite and
    PostgreSQL): True when this call inserted it. Two processes doing it at once both go on,
    without the savepoint an IntegrityError would need."""
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    return rows_affected(db, insert(model).values(**values).on_conflict_do_nothing()) == 1


def end_reading(db: Session) -> None:
    """End a transaction that has only read, before slow work (password hashing) or before
    handing the request on: on SQLite an open write transaction holds the write lock.
    A transaction that has written stays open (its writes belong with what follows).
    Objects stay loaded (expire_on_commit is off); decisions that must be current re-read
    their rows inside the transaction that writes."""
    if not db.in_transaction() or has_written(db):
        return
    db.commit()


def has_written(db: Session) -> bool:
    """Whether the open transaction holds changes (flushed or not)."""
    if db.new or db.dirty or db.deleted:
        return True
    return db.in_transaction() and bool(db.connection().info.get(_WROTE))


_WROTE = "twofold_wrote"


def _track_writes(engine: Engine) -> None:
    @event.listens_for(engine, "begin")
    def _fresh(conn: Any) -> None:
        conn.info.pop(_WROTE, None)

    @event.listens_for(engine, "before_cursor_execute")
    def _note(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if _WRITES.match(statement):
            conn.info[_WROTE] = True


_HELD = "twofold_held"


def hold_loaded(db: Session) -> None:
    """Keep every object `db` loads until the session closes. SQLAlchemy's identity map holds
    objects weakly: a row loaded in one step of a request (the session's person) and dropped
    was read again by the next step's `db.get` (three SELECTs of one person per forward-auth
    request). For a request's short session, holding them makes `db.get` by primary key
    answer from the identity map. Nothing about freshness changes: objects already stayed
    loaded across commits (expire_on_commit is off), and decisions that must be current
    re-read their rows (`populate_existing`, row locks). Only for sessions that end soon (a
    request's): a long-lived one would grow."""
    db.info[_HELD] = []


@event.listens_for(Session, "loaded_as_persistent")
def _hold(session: Session, instance: object) -> None:
    """One listener for every session (registering one per request's session cost ~0.15 ms
    a request); it holds only for the sessions hold_loaded marked."""
    held = session.info.get(_HELD)
    if held is not None:
        held.append(instance)
