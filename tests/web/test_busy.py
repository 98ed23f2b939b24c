"""Contention on the embedded SQLite default is "busy, try again" (503 with Retry-After and a
page a person understands), never a 500, and a page view never waits for a writer."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from asgi_client import TestClient
from support import STRONG_PASSWORD, TEST_KEYS, csrf_token, make_person, snapshot, text_of
from twofold.crypto.passwords import PasswordHashingParams
from twofold.otp.clock import SystemClock
from twofold.services.runtime import Runtime, build_runtime
from twofold.settings import Settings
from twofold.store import db as store_db
from twofold.web.app import create_app


@pytest.fixture
def sqlite_file(tmp_path: Path, sqlite_template: Path) -> Path:
    path = tmp_path / "busy.db"
    shutil.copy(sqlite_template, path)
    return path


@pytest.fixture
def impatient(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give up waiting for the write lock after a fifth of a second instead of ten."""
    monkeypatch.setattr(store_db, "SQLITE_BUSY_TIMEOUT_MS", 200)
    monkeypatch.setattr(store_db, "WRITE_QUEUE_SECONDS", 0.2)


@pytest.fixture
def busy_runtime(tmp_path: Path, sqlite_file: Path, impatient: None) -> Iterator[Runtime]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{sqlite_file}",
        secret_keys=TEST_KEYS.to_text(),
    )
    runtime = build_runtime(
        settings,
        clock=SystemClock(),
        hashing=PasswordHashingParams.for_tests(),
        apply_migrations=False,
    )
    yield runtime
    runtime.engine.dispose()


@pytest.fixture
def web(busy_runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(
        create_app(runtime=busy_runtime, mail_worker=False), follow_redirects=False
    ) as client:
        yield client


def test_another_process_holding_the_write_lock_gets_a_503_not_a_500(
    web: TestClient, busy_runtime: Runtime, sqlite_file: Path
) -> None:
    make_person(busy_runtime, "alice")
    token = csrf_token(web, "/login")
    before = snapshot(busy_runtime)
    other_process = sqlite3.connect(sqlite_file, isolation_level=None)
    other_process.execute("BEGIN IMMEDIATE")
    try:
        refused = web.post(
            "/login", data={"login": "alice", "password": STRONG_PASSWORD, "csrf_token": token}
        )
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "2"
        assert "try again in a few seconds" in text_of(refused)
        assert "nothing was changed" in text_of(refused)
        # Meanwhile a page view is answered: readers never wait for the writer.
        assert web.get("/login").status_code == 200
    finally:
        other_process.rollback()
        other_process.close()
    assert snapshot(busy_runtime) == before
    signed_in = web.post(
        "/login", data={"login": "alice", "password": STRONG_PASSWORD, "csrf_token": token}
    )
    assert signed_in.status_code == 303


def test_a_write_queued_too_long_inside_the_process_gets_a_503(
    web: TestClient, busy_runtime: Runtime
) -> None:
    make_person(busy_runtime, "alice")
    token = csrf_token(web, "/login")
    with busy_runtime.db() as long_writer:  # another request's open write transaction
        long_writer.execute(text("SELECT 1"))
        refused = web.post(
            "/login", data={"login": "alice", "password": STRONG_PASSWORD, "csrf_token": token}
        )
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "2"
        assert web.get("/login").status_code == 200
    assert (
        web.post(
            "/login", data={"login": "alice", "password": STRONG_PASSWORD, "csrf_token": token}
        ).status_code
        == 303
    )
