"""One active API key or application of a name per organization, whatever the case, held
by the database: the services' check before the insert let two admins who chose the same
name at the same moment both succeed. Active duplicates made before this (the oldest keeps
its name) get their id appended, so the unique index can be built.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27 12:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = {"api_keys": "uq_api_keys_active_name", "oidc_clients": "uq_oidc_clients_active_name"}
ACTIVE = "revoked_at IS NULL"
NAME_MAX = 200


def _rename_active_duplicates(table_name: str) -> None:
    table = sa.table(
        table_name,
        sa.column("id", sa.Integer),
        sa.column("organization_id", sa.Integer),
        sa.column("name", sa.String),
        sa.column("revoked_at"),
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(table.c.id, table.c.organization_id, table.c.name)
        .where(table.c.revoked_at.is_(None))
        .order_by(table.c.id)
    ).all()
    seen: set[tuple[int, str]] = set()
    for row_id, organization_id, name in rows:
        key = (organization_id, name.lower())
        if key not in seen:
            seen.add(key)
            continue
        suffix = f" ({row_id})"
        connection.execute(
            sa.update(table)
            .where(table.c.id == row_id)
            .values(name=name[: NAME_MAX - len(suffix)] + suffix)
        )


def upgrade() -> None:
    for table, index in TABLES.items():
        _rename_active_duplicates(table)
        op.create_index(
            index,
            table,
            ["organization_id", sa.text("lower(name)")],
            unique=True,
            sqlite_where=sa.text(ACTIVE),
            postgresql_where=sa.text(ACTIVE),
        )


def downgrade() -> None:
    for table, index in TABLES.items():
        op.drop_index(index, table_name=table)
