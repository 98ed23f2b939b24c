"""The relying-party id each security key or passkey was registered for (decision 0027), so
that `twofold check` can say which keys a changed TWOFOLD_WEBAUTHN_RP_ID orphans.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webauthn_credentials", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("rp_id", sa.String(length=253), server_default="", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("webauthn_credentials", schema=None) as batch_op:
        batch_op.drop_column("rp_id")
