"""The Alembic migrations: up, down and up again, on SQLite and PostgreSQL, matching the models.

PostgreSQL runs in a schema of its own, so the shared test database is left as it was."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, select, text

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
