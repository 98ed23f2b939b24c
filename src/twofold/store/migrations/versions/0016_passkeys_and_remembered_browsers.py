"""Passkeys and security keys (decision 0027) and "remember this browser" (decision 0028):
each organization's passkey, phishing-resistance and remember-days policy, the WebAuthn
credentials (public keys only), their single-use challenges (digests only), and the
remembered browsers (token digests only).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from twofold.store.models import UTCDateTime

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "passkeys", sa.String(length=16), server_default="second-factor", nullable=False
            )
        )
        batch_op.add_column(
            sa.Column(
                "phishing_resistant", sa.String(length=8), server_default="off", nullable=False
            )
        )
        batch_op.add_column(sa.Column("phishing_resistant_since", UTCDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("remember_days", sa.Integer(), server_default="0", nullable=False)
        )
    op.create_table(
        "webauthn_credentials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("credential_id", sa.LargeBinary(length=1023), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("transports", sa.String(length=200), server_default="", nullable=False),
        sa.Column("aaguid", sa.String(length=36), server_default="", nullable=False),
        sa.Column("backup_eligible", sa.Boolean(), nullable=False),
        sa.Column("backed_up", sa.Boolean(), nullable=False),
        sa.Column("discoverable", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("credential_id"),
    )
    op.create_index("ix_webauthn_credentials_user_id", "webauthn_credentials", ["user_id"])
    op.create_table(
        "webauthn_challenges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("challenge_digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("binding_digest", sa.LargeBinary(length=32), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["session_id"], ["auth_sessions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("challenge_digest"),
    )
    op.create_index("ix_webauthn_challenges_session_id", "webauthn_challenges", ["session_id"])
    op.create_index("ix_webauthn_challenges_expires_at", "webauthn_challenges", ["expires_at"])
    op.create_table(
        "remembered_browsers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("remembered_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_digest"),
    )
    op.create_index("ix_remembered_browsers_user_id", "remembered_browsers", ["user_id"])
    op.create_index("ix_remembered_browsers_expires_at", "remembered_browsers", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_remembered_browsers_expires_at", table_name="remembered_browsers")
    op.drop_index("ix_remembered_browsers_user_id", table_name="remembered_browsers")
    op.drop_table("remembered_browsers")
    op.drop_index("ix_webauthn_challenges_expires_at", table_name="webauthn_challenges")
    op.drop_index("ix_webauthn_challenges_session_id", table_name="webauthn_challenges")
    op.drop_table("webauthn_challenges")
    op.drop_index("ix_webauthn_credentials_user_id", table_name="webauthn_credentials")
    op.drop_table("webauthn_credentials")
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_column("remember_days")
        batch_op.drop_column("phishing_resistant_since")
        batch_op.drop_column("phishing_resistant")
        batch_op.drop_column("passkeys")
