"""SMS as a second factor (decision 0021): each organization's allowed methods and when SMS
stopped being allowed, the codes sent by text message (keyed digests only), and the
one-hour windows that limit how many are sent per account, per address and in all.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from twofold.store.models import UTCDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "allowed_methods", sa.String(length=32), server_default="totp", nullable=False
            )
        )
        batch_op.add_column(sa.Column("methods_changed_at", UTCDateTime(), nullable=True))
    op.create_table(
        "sms_challenges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("authenticator_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("transaction_id", sa.String(length=43), nullable=True),
        sa.Column("code_kid", sa.String(length=32), nullable=False),
        sa.Column("code_digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("wrong_tries", sa.Integer(), server_default="0", nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["authenticator_id"], ["authenticators.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["session_id"], ["auth_sessions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("transaction_id"),
    )
    op.create_index("ix_sms_challenges_user_id_purpose", "sms_challenges", ["user_id", "purpose"])
    op.create_index("ix_sms_challenges_authenticator_id", "sms_challenges", ["authenticator_id"])
    op.create_index("ix_sms_challenges_session_id", "sms_challenges", ["session_id"])
    op.create_index("ix_sms_challenges_expires_at", "sms_challenges", ["expires_at"])
    op.create_table(
        "sms_rate_windows",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("window_started_at", UTCDateTime(), nullable=False),
        sa.Column("count", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("sms_rate_windows")
    op.drop_index("ix_sms_challenges_expires_at", table_name="sms_challenges")
    op.drop_index("ix_sms_challenges_session_id", table_name="sms_challenges")
    op.drop_index("ix_sms_challenges_authenticator_id", table_name="sms_challenges")
    op.drop_index("ix_sms_challenges_user_id_purpose", table_name="sms_challenges")
    op.drop_table("sms_challenges")
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_column("methods_changed_at")
        batch_op.drop_column("allowed_methods")
