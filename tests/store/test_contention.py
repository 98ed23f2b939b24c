"""Which database errors mean "busy, try again" (answered 503) rather than a bug (500)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from twofold.store import db as store_db
from twofold.store.db import DatabaseBusy, is_contention, make_engine, read_only


def test_the_write_queue_and_the_connection_pool_timing_out_are_contention() -> None:
    assert is_contention(DatabaseBusy("queue"))
    assert is_contention(PoolTimeout("pool"))


def test_sqlite_locked_by_another_process_is_contention(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_db, "SQLITE_BUSY_TIMEOUT_MS", 100)
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN IMMEDIATE")  # another process is writing
    engine = make_engine(f"sqlite:///{path}")
    try:
        with read_only(engine).connect() as reader:  # a reader is not blocked (WAL)...
            assert reader.execute(text("SELECT count(*) FROM t")).scalar_one() == 0
            reader.rollback()
        with pytest.raises(DBAPIError) as raised, engine.begin() as writer:
            writer.execute(text("INSERT INTO t VALUES (1)"))  # ...writing is, until it gives up
        assert is_contention(raised.value)
    finally:
        holder.rollback()
        holder.close()
        engine.dispose()


def test_a_postgresql_lock_timeout_is_contention_and_a_bad_query_is_not(
    postgres_engine: Engine,
) -> None:
    with postgres_engine.connect() as holder, postgres_engine.connect() as waiter:
        holder.execute(text("LOCK TABLE key_fingerprints IN ACCESS EXCLUSIVE MODE"))
        waiter.execute(text("SET lock_timeout = '100ms'"))
        with pytest.raises(DBAPIError) as timed_out:
            waiter.execute(text("SELECT * FROM key_fingerprints"))
        assert is_contention(timed_out.value)
        waiter.rollback()
        holder.rollback()
        with pytest.raises(DBAPIError) as broken:
            waiter.execute(text("SELECT no_such_column FROM key_fingerprints"))
        assert not is_contention(broken.value)
