"""Each OpenID Connect client chooses how its ID tokens are signed: RS256 (the default every
client supports) or ES256.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 09:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("oidc_clients", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "id_token_signed_response_alg",
                sa.String(length=8),
                server_default="RS256",
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("oidc_clients", schema=None) as batch_op:
        batch_op.drop_column("id_token_signed_response_alg")
