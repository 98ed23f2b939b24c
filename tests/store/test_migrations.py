"""The Alembic migrations: up, down and up again, on SQLite and PostgreSQL, matching the models.

PostgreSQL runs in a schema of its own, so the shared test database is left as it was."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select, text

from support import START, STRONG_PASSWORD, TEST_KEYS
from twofold.crypto.passwords import PasswordHasher, PasswordHashingParams
from twofold.otp.clock import FixedClock, unix_time
from twofold.otp.secret import encode_secret
from twofold.services import second_factor, sessions, signin
from twofold.services.runtime import ClientInfo, build_runtime
from twofold.services.totp_secrets import secret_context
from twofold.services.users import methods_of
from twofold.settings import Settings
from twofold.store.db import alembic_config, make_engine, migrate, pending_migrations
from twofold.store.models import Base, Organization

SCHEMA = "twofold_migration_test"
MODEL_TABLES = {table.name for table in Base.metadata.sorted_tables}


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on an empty database nobody else uses."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'migrations.db'}")
        yield engine
        engine.dispose()
        return
    shared: Engine = request.getfixturevalue("postgres_engine")
    with shared.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    engine = make_engine(
        shared.url.render_as_string(hide_password=False),
        connect_args={"options": f"-csearch_path={SCHEMA}"},
    )
    try:
        yield engine
    finally:
        engine.dispose()
        with shared.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def organization_slugs(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.scalars(select(Organization.slug)))


def test_upgrade_creates_every_table_of_the_models(empty_engine: Engine) -> None:
    assert pending_migrations(empty_engine)
    migrate(empty_engine)
    assert tables(empty_engine) == MODEL_TABLES
    assert not pending_migrations(empty_engine)


def test_the_default_organization_exists_after_migrating(empty_engine: Engine) -> None:
    migrate(empty_engine)
    assert organization_slugs(empty_engine) == ["default"]


def test_downgrade_to_base_removes_every_table(empty_engine: Engine) -> None:
    migrate(empty_engine)
    command.downgrade(alembic_config(empty_engine), "base")
    assert tables(empty_engine) == set()


def test_upgrade_after_a_downgrade_rebuilds_the_schema(empty_engine: Engine) -> None:
    migrate(empty_engine)
    command.downgrade(alembic_config(empty_engine), "base")
    migrate(empty_engine)
    assert tables(empty_engine) == MODEL_TABLES
    assert organization_slugs(empty_engine) == ["default"]
    assert not pending_migrations(empty_engine)


# SQLite's reflection cannot read an index on an expression (migration 0011's lower(name)),
# so it is compared on PostgreSQL only; tests/services/test_unique_names.py checks that the
# index holds on both.
@pytest.mark.filterwarnings(
    "ignore:Skipped unsupported reflection of expression-based index:sqlalchemy.exc.SAWarning"
)
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
def test_the_migrated_schema_matches_the_models(empty_engine: Engine) -> None:
    migrate(empty_engine)
    with empty_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_active_names_taken_twice_before_0011_keep_the_oldest_and_number_the_rest(
    empty_engine: Engine,
) -> None:
    command.upgrade(alembic_config(empty_engine), "0010")
    now = "2026-11-27 10:00:00"
    rows = [(1, "VPN", None), (2, "vpn", None), (3, "VPN", now), (4, "Radius", None)]
    with empty_engine.begin() as connection:
        for key_id, name, revoked in rows:
            connection.execute(
                text(
                    "INSERT INTO api_keys (id, organization_id, name, key_digest, created_at,"
                    " revoked_at) VALUES (:id, 1, :name, :digest, :now, :revoked)"
                ),
                {
                    "id": key_id,
                    "name": name,
                    "digest": bytes([key_id]) * 32,
                    "now": now,
                    "revoked": revoked,
                },
            )
    command.upgrade(alembic_config(empty_engine), "head")
    with empty_engine.connect() as connection:
        names = dict(connection.execute(text("SELECT id, name FROM api_keys ORDER BY id")).all())
    assert names == {1: "VPN", 2: "vpn (2)", 3: "VPN", 4: "Radius"}


def test_0012_names_every_existing_authenticator_and_everyone_still_signs_in(
    empty_engine: Engine, tmp_path: Path
) -> None:
    """A database with one authenticator per person, as before issue #12: after upgrading,
    each is "Authenticator app", never used, and its owner signs in with its codes."""
    command.upgrade(alembic_config(empty_engine), "0011")
    hasher = PasswordHasher(PasswordHashingParams.for_tests())
    secrets = {1: b"A" * 20, 2: b"B" * 20}
    created = "2026-03-01 11:00:00"
    with empty_engine.begin() as connection:
        for user_id, secret in secrets.items():
            connection.execute(
                text(
                    "INSERT INTO users (id, login, password_hash, is_superadmin, is_active,"
                    " created_at, failed_code_count) VALUES (:id, :login, :hash, false, true,"
                    " :now, 0)"
                ),
                {
                    "id": user_id,
                    "login": f"person{user_id}",
                    "hash": hasher.hash(STRONG_PASSWORD),
                    "now": created,
                },
            )
            kid, sealed = TEST_KEYS.seal(secret, context=secret_context(user_id))
            connection.execute(
                text(
                    "INSERT INTO authenticators (user_id, kind, secret_kid, secret_sealed,"
                    " algorithm, digits, period, created_at, confirmed_at) VALUES (:id, 'totp',"
                    " :kid, :sealed, 'SHA1', 6, 30, :now, :now)"
                ),
                {"id": user_id, "kid": kid, "sealed": sealed, "now": created},
            )
    command.upgrade(alembic_config(empty_engine), "head")

    clock = FixedClock(START)
    runtime = build_runtime(
        Settings(data_dir=tmp_path, secret_keys=TEST_KEYS.to_text()),
        clock=clock,
        hashing=PasswordHashingParams.for_tests(),
        engine=empty_engine,
    )
    for user_id, secret in secrets.items():
        with runtime.db() as db:
            assert [(m.name, m.last_used_at) for m in methods_of(db, user_id)] == [
                ("Authenticator app", None)
            ]
            started = signin.sign_in_with_password(
                db, runtime, login=f"person{user_id}", password=STRONG_PASSWORD, client=ClientInfo()
            )
        assert started.needs_second_factor
        code = pyotp.TOTP(encode_secret(secret)).at(unix_time(clock.now()))
        with runtime.db() as db:
            session = sessions.find_session(db, runtime, started.token)
            assert session is not None
            second_factor.verify_totp(db, runtime, session, code, ClientInfo())
        with runtime.db() as db:
            (method,) = methods_of(db, user_id)
            assert method.last_used_at == clock.now()
