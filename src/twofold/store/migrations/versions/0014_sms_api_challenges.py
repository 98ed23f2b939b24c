"""The verify endpoint's SMS challenge (decision 0021, "API challenge"): a code sent for
the API is bound to the API key that asked for it, so that no other key (of the same or
another organization) can answer it.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29 10:00:00.000000
"""

import warnings
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sms_challenges", schema=None) as batch_op:
        batch_op.add_column(sa.Column("api_key_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_sms_challenges_api_key_id_api_keys"),
            "api_keys",
            ["api_key_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_index(
            batch_op.f("ix_sms_challenges_api_key_id"), ["api_key_id"], unique=False
        )


def downgrade() -> None:
    # On SQLite the batch copies the table, reflecting api_keys on the way, whose partial
    # index on lower(name) (0011) SQLAlchemy cannot reflect; it is not needed here.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based")
        with op.batch_alter_table("sms_challenges", schema=None) as batch_op:
            batch_op.drop_index(batch_op.f("ix_sms_challenges_api_key_id"))
            batch_op.drop_constraint(
                batch_op.f("fk_sms_challenges_api_key_id_api_keys"), type_="foreignkey"
            )
            batch_op.drop_column("api_key_id")
