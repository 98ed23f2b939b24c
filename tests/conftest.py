"""Shared fixtures. Storage and flow tests run on SQLite and, when TWOFOLD_TEST_DATABASE_URL
is set (CI sets it), on PostgreSQL too. Time is a FixedClock: no test sleeps for TOTP."""

from __future__ import annotations

import functools
import gc
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
import typer.testing
from sqlalchemy import Connection, Engine, create_engine, make_url, text
from sqlalchemy.pool import NullPool

from apps import app_for
from asgi_client import TestClient
from support import (
    POSTGRES_URL,
    START,
    Person,
    SigningKeyPool,
    delete_redis_keys,
    make_person,
    require_or_skip,
    settings_for,
)
from twofold.crypto.passwords import PasswordHashingParams
from twofold.otp.clock import FixedClock
from twofold.services import passwords
from twofold.services.runtime import Runtime, build_runtime
from twofold.settings import Settings
from twofold.store.db import make_engine, migrate
from twofold.store.models import Base

# Where tmp_path lives: in memory when the machine has /dev/shm and TMPDIR does not say
# otherwise. Every web test copies an SQLite file and commits to it; on disk each commit and
# close waits for fsync, which made a third of a web test's time (docs/development.md).
_MEMORY = Path("/dev/shm")


_ZXCVBN = passwords.zxcvbn


@functools.lru_cache(maxsize=4096)
def _strength(password: str, user_inputs: tuple[str, ...]) -> dict[str, Any]:
    result: dict[str, Any] = _ZXCVBN(password, user_inputs=list(user_inputs))
    return result


def _remembered_strength(password: str, user_inputs: list[str] | None = None) -> dict[str, Any]:
    return _strength(password, tuple(user_inputs or ()))


# The strength estimate is a pure function of the password and the person's names, and the
# fixtures create the same people with the same password in hundreds of tests: each estimate
# is made once per worker instead of ~5 ms of CPU every time (docs/development.md, fifth pass).
# Servers started by the tests run the real check every time.
passwords.zxcvbn = _remembered_strength


# typer's CliRunner turns the Typer app into its click command on every invoke (~30 ms of
# CPU walking every command's signature); the CLI tests invoke it about a thousand times.
# The command is the same each time: it is built once per worker and per app.
typer.testing._get_command = functools.cache(typer.main.get_command)


def pytest_collection_finish(session: pytest.Session) -> None:
    """The modules, app and fixtures loaded so far live as long as the worker: frozen out of
    the collector's sight, and with a larger first generation, the cyclic collector no
    longer walks them again and again, which was ~4 % of a worker's CPU (docs/development.md,
    ninth pass). Objects are still freed when their count drops, and cycles are collected."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(7000, 20, 20)


def pytest_configure(config: pytest.Config) -> None:
    if "TMPDIR" in os.environ or config.option.basetemp is not None:
        return
    if _MEMORY.is_dir() and os.access(_MEMORY, os.W_OK | os.X_OK):
        os.environ["TMPDIR"] = str(_MEMORY)  # pytest-xdist workers and servers inherit it
        tempfile.tempdir = None  # gettempdir() looks again


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file, copied for every test (migrating each time is slow)."""
    path = tmp_path_factory.mktemp("template") / "twofold.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return path


def _create_database_if_missing(url: str) -> None:
    """A pytest-xdist worker's own database (support.POSTGRES_URL) is created on first use,
    through the database TWOFOLD_TEST_DATABASE_URL names."""
    wanted = make_url(url)
    given = os.environ.get("TWOFOLD_TEST_DATABASE_URL")
    if not given or make_url(given).database == wanted.database:
        return
    admin = create_engine(given, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as connection:
            exists = connection.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"),
                {"name": wanted.database},
            )
            if not exists:
                name = connection.dialect.identifier_preparer.quote(str(wanted.database))
                connection.execute(text(f"CREATE DATABASE {name}"))
    finally:
        admin.dispose()


_DATABASE = text("SELECT current_database()")


@pytest.fixture(scope="session")
def postgres_engine() -> Iterator[Engine]:
    require_or_skip(bool(POSTGRES_URL), "PostgreSQL (TWOFOLD_TEST_DATABASE_URL)")
    assert POSTGRES_URL is not None
    _create_database_if_missing(POSTGRES_URL)
    engine = make_engine(POSTGRES_URL)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
        # A throwaway database: a commit need not wait for the disk (visibility is unchanged;
        # only a crash of PostgreSQL itself could lose the last commits). Applies to the
        # connections opened from now on, by this process and by the servers it starts.
        name = connection.dialect.identifier_preparer.quote(str(connection.scalar(_DATABASE)))
        connection.execute(text(f"ALTER DATABASE {name} SET synchronous_commit = off"))
    engine.dispose()
    migrate(engine)
    yield engine
    engine.dispose()


_SEQUENCES_OF = text(
    "SELECT s.oid::regclass::text FROM pg_class s"
    " JOIN pg_depend d ON d.objid = s.oid JOIN pg_class t ON d.refobjid = t.oid"
    " WHERE s.relkind = 'S' AND t.relname = ANY(:tables)"
)


_EMPTIED = [t for t in Base.metadata.sorted_tables if t.name != "organizations"]
# The default organization as migrated, put back before each test: a test that changes its
# policy or allowed methods (support.allow_sms) must not change the next test's.
_DEFAULT_ORGANIZATION_AS_MIGRATED = (
    "UPDATE organizations SET name = 'Default organization', two_factor_policy = 'optional',"
    " required_since = NULL,"
    " grace_days = 0, signup_open = false, allowed_methods = 'totp',"
    " methods_changed_at = NULL, passkeys = 'second-factor', phishing_resistant = 'off',"
    " phishing_resistant_since = NULL, remember_days = 0 WHERE slug = 'default'"
)
# The whole reset as one script, built once per worker (the schema does not change after
# postgres_engine has migrated it) and sent in one round trip: psycopg runs a parameterless
# script of several statements at once.
_reset_script: list[str] = []


def _postgres_reset_script(connection: Connection) -> str:
    if not _reset_script:
        sequences = connection.scalars(
            _SEQUENCES_OF, {"tables": [table.name for table in _EMPTIED]}
        ).all()
        statements = [
            str(table.delete().compile(dialect=connection.dialect)) for table in reversed(_EMPTIED)
        ]
        statements.append("DELETE FROM organizations WHERE slug <> 'default'")
        statements.append(_DEFAULT_ORGANIZATION_AS_MIGRATED)
        statements += [f"SELECT setval('{name}', 1, false)" for name in sequences]
        _reset_script.append(";\n".join(statements))
    return _reset_script[0]


def _empty_postgres(engine: Engine) -> None:
    """Every table as migrated (only the default organization), ids starting at 1 again.

    DELETE, children first, rather than TRUNCATE: on these few rows it takes ~20 ms where
    TRUNCATE of every table takes ~150 ms, and it runs before each PostgreSQL test. The
    statements go as one script: one round trip instead of some thirty-five, each of which
    cost the worker and PostgreSQL CPU (docs/development.md, eighth pass)."""
    with engine.begin() as connection:
        connection.exec_driver_sql(_postgres_reset_script(connection))


# One engine per worker and database, shared by every test's runtime: SQLAlchemy keeps the
# compiled form of each statement per engine, and compiling them again in every test was an
# eighth of a worker's time (docs/development.md). SQLite: one file per worker, replaced by
# a fresh copy of the template before each test; PostgreSQL: postgres_engine, emptied.
_SHARED_ENGINES: dict[str, Engine] = {}


@pytest.fixture(scope="session")
def sqlite_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The worker's SQLite database file, fresh for each test (see database_url)."""
    return tmp_path_factory.mktemp("database") / "twofold.db"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, sqlite_path: Path, sqlite_template: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{sqlite_path}"
        engine = _SHARED_ENGINES.get(url)
        if engine is not None:
            engine.dispose()  # no connection may outlive the file it was opened on
        for leftover in (sqlite_path.with_name(sqlite_path.name + s) for s in ("-wal", "-shm")):
            leftover.unlink(missing_ok=True)
        shutil.copy(sqlite_template, sqlite_path)
        if engine is None:
            _SHARED_ENGINES[url] = make_engine(url)
        return url
    postgres: Engine = request.getfixturevalue("postgres_engine")
    _empty_postgres(postgres)
    _SHARED_ENGINES.setdefault(str(POSTGRES_URL), postgres)
    return str(POSTGRES_URL)


@pytest.fixture(scope="module")
def module_postgres_url(postgres_engine: Engine) -> str:
    """PostgreSQL alone, emptied once for a module whose tests share server processes on it
    (each test then makes people of its own); the module must be in _ONE_WORKER_PER_MODULE."""
    _empty_postgres(postgres_engine)
    _SHARED_ENGINES.setdefault(str(POSTGRES_URL), postgres_engine)
    return str(POSTGRES_URL)


@pytest.fixture(scope="session")
def redis_server_url() -> str:
    """TWOFOLD_TEST_REDIS_URL, answering (required under CI, like PostgreSQL)."""
    url = os.environ.get("TWOFOLD_TEST_REDIS_URL")
    answers = False
    if url:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        try:
            answers = bool(client.ping())
        except (redis.RedisError, OSError):
            answers = False
        finally:
            client.close()
    require_or_skip(answers, "Redis (TWOFOLD_TEST_REDIS_URL)")
    assert url is not None
    return url


@pytest.fixture
def redis_prefix(redis_server_url: str) -> Iterator[str]:
    """A TWOFOLD_REDIS_KEY_PREFIX of this test's own (the suite's workers share one Redis
    database); its keys are deleted afterwards."""
    import uuid

    prefix = f"test-{uuid.uuid4().hex}"
    yield prefix
    delete_redis_keys(redis_server_url, prefix)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return settings_for(tmp_path / "data", database_url)


@pytest.fixture
def runtime(settings: Settings, clock: FixedClock) -> Iterator[Runtime]:
    shared = _SHARED_ENGINES.get(settings.database_url or "")
    rt = build_runtime(
        settings,
        clock=clock,
        hashing=PasswordHashingParams.for_tests(),
        apply_migrations=False,
        engine=shared,
    )
    yield rt
    if shared is None:
        rt.engine.dispose()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    """A browser on the worker's shared app (tests/apps.py), now serving this test's runtime."""
    with TestClient(app_for(runtime), follow_redirects=False, lifespan_once=True) as test_client:
        yield test_client


@pytest.fixture
def signing_key_pool() -> SigningKeyPool:
    """Pre-made signing keys: `signing_key_pool.install(runtime)` gives the start-up keys."""
    return SigningKeyPool()


@pytest.fixture
def alice(runtime: Runtime) -> Person:
    return make_person(runtime, "alice")


@pytest.fixture
def alice_with_totp(runtime: Runtime, clock: FixedClock) -> Person:
    person = make_person(runtime, "alice", with_totp=True)
    clock.advance(30)  # the enrollment code's step is used; move on to a fresh one
    return person


# Test modules whose tests share a module-scoped `twofold serve` (the first test uses its
# setup link, later ones the admin it made) run whole, in order, on one worker: one server
# and one Chromium start per module instead of one per worker that gets some of its tests.
# pytest-xdist's own `xdist_group` marker does nothing under pytest 9.2 (xdist 3.8 renames
# `item._nodeid`, which pytest no longer reads), so the scheduler is chosen here.
_ONE_WORKER_PER_MODULE = (
    "tests/browser/",
    "tests/cli/test_serve_log.py",
    "tests/attack/test_two_processes_behave_as_one.py",
)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    from xdist.scheduler import LoadScopeScheduling

    class WholeServerModules(LoadScopeScheduling):
        """Every other test is a unit of its own, balanced as `--dist load` would."""

        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if module.startswith(_ONE_WORKER_PER_MODULE) else nodeid

    return WholeServerModules(config, log)
