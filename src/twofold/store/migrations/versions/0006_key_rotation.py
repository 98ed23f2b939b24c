"""Key rotation: the primary key id is recorded in the database (`key_primary`, one row), and
a retired key id is marked on its fingerprint row, so running servers follow `twofold keys
promote` and `twofold keys retire` without a restart.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from twofold.store.models import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("key_fingerprints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retired_at", UTCDateTime(), nullable=True))
    op.create_table(
        "key_primary",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kid", sa.String(length=32), nullable=False),
        sa.Column("promoted_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_key_primary_single_row")),
        sa.ForeignKeyConstraint(
            ["kid"], ["key_fingerprints.kid"], name=op.f("fk_key_primary_kid_key_fingerprints")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_primary")),
    )


def downgrade() -> None:
    op.drop_table("key_primary")
    with op.batch_alter_table("key_fingerprints", schema=None) as batch_op:
        batch_op.drop_column("retired_at")
