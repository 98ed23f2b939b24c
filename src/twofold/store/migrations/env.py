"""Alembic environment: the engine comes from twofold (db.migrate) or from alembic.ini."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from twofold.store.db import make_engine
from twofold.store.models import Base

config = context.config
engine: Engine | None = config.attributes.get("engine")
if engine is None:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set sqlalchemy.url in alembic.ini or use `twofold migrate`")
    engine = make_engine(url)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
