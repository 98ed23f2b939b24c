"""Admin members table: index authenticators on (user_id, confirmed_at), so "has 2FA" (the
status filter, the 2FA sort and the adoption chart) is answered from the index alone. It
replaces the index on user_id alone, which it makes redundant.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 21:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("authenticators", schema=None) as batch_op:
        batch_op.create_index(
            "ix_authenticators_user_id_confirmed_at", ["user_id", "confirmed_at"], unique=False
        )
        batch_op.drop_index(batch_op.f("ix_authenticators_user_id"))


def downgrade() -> None:
    with op.batch_alter_table("authenticators", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_authenticators_user_id"), ["user_id"], unique=False)
        batch_op.drop_index("ix_authenticators_user_id_confirmed_at")
