"""/readyz says 503, and what is wrong, when the database's schema is not the one this code
ships: migrations pending (an upgrade whose `twofold migrate` has not run yet), or a revision
it does not know (a newer release migrated the database, then this one was started)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from apps import app_for
from asgi_client import TestClient
from twofold.services import health
from twofold.services.runtime import Runtime
from twofold.store.db import alembic_config, make_engine

# The schema check does not depend on the database kind; an older SQLite file is the cheap way.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def sqlite_runtime(runtime: Runtime, tmp_path: Path) -> Iterator[Runtime]:
    """The test's runtime, its readiness checked on an empty SQLite database, not migrated."""
    engine = make_engine(f"sqlite:///{tmp_path / 'older.db'}")
    yield dataclasses.replace(runtime, engine=engine)
    engine.dispose()


def readyz(runtime: Runtime) -> tuple[int, dict[str, str]]:
    with TestClient(app_for(runtime)) as client:
        response = client.get("/readyz", headers={"Host": "10.0.0.7:8000"})
    body: dict[str, str] = response.json()
    return response.status_code, body


def test_a_database_at_an_older_revision_is_not_ready(sqlite_runtime: Runtime) -> None:
    command.upgrade(alembic_config(sqlite_runtime.engine), "0013")
    status, body = readyz(sqlite_runtime)
    assert status == 503
    assert body == {
        "status": "unavailable",
        "database": "ok",
        "migrations": "pending migrations: run `twofold migrate`",
    }
    command.upgrade(alembic_config(sqlite_runtime.engine), "head")
    assert readyz(sqlite_runtime) == (200, {"status": "ok", "database": "ok", "migrations": "ok"})


def test_a_database_never_migrated_is_not_ready(sqlite_runtime: Runtime) -> None:
    status, body = readyz(sqlite_runtime)
    assert status == 503
    assert body["migrations"] == health.BEHIND


def test_a_revision_this_code_does_not_know_is_not_ready(sqlite_runtime: Runtime) -> None:
    command.upgrade(alembic_config(sqlite_runtime.engine), "head")
    with sqlite_runtime.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    status, body = readyz(sqlite_runtime)
    assert status == 503
    assert body["migrations"] == health.AHEAD
    assert "newer release" in body["migrations"]
