"""Several named second factors per person: each authenticator has a name the person chose
and the time it last signed someone in (decision 0020). Authenticators made before this are
named "Authenticator app" and keep working unchanged.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from twofold.store.models import UTCDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("authenticators", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "name", sa.String(length=64), server_default="Authenticator app", nullable=False
            )
        )
        batch_op.add_column(sa.Column("last_used_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("authenticators", schema=None) as batch_op:
        batch_op.drop_column("last_used_at")
        batch_op.drop_column("name")
