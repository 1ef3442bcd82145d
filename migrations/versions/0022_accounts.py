"""accounts: passkey challenges on the server, capabilities sealed per sign-in session, the
second-factor confirmation stamp; no admin facilitates a group

Revision ID: 0022_accounts
Revises: 0021_second_factor
Create Date: 2026-12-08 01:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import iop_pwa.db

revision: str = "0022_accounts"
down_revision: str | None = "0021_second_factor"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webauthn_challenge",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("challenge_hash", sa.String(length=64), nullable=False),
        sa.Column("purpose", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("expires_at", iop_pwa.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("challenge_hash"),
    )
    op.create_index("ix_webauthn_challenge_expires_at", "webauthn_challenge", ["expires_at"])
    op.create_table(
        "session_secret",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("login_session_id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        # Sealed (accounts.models.SealedText): encrypted under a key derived from SECRET_KEY.
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("created_at", iop_pwa.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["login_session_id"], ["loginsession.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("login_session_id", "name"),
    )
    op.create_index("ix_session_secret_login_session_id", "session_secret", ["login_session_id"])
    with op.batch_alter_table("loginsession") as batch_op:
        batch_op.add_column(
            sa.Column("factor_confirmed_at", iop_pwa.db.UTCDateTime(timezone=True), nullable=True)
        )
    # Facilitators are therapists: an admin made facilitator before the rule stops being one.
    op.execute(
        "DELETE FROM groupmembership WHERE is_facilitator = true AND user_id IN "
        "(SELECT id FROM \"user\" WHERE role = 'admin')"
    )


def downgrade() -> None:
    with op.batch_alter_table("loginsession") as batch_op:
        batch_op.drop_column("factor_confirmed_at")
    op.drop_index("ix_session_secret_login_session_id", table_name="session_secret")
    op.drop_table("session_secret")
    op.drop_index("ix_webauthn_challenge_expires_at", table_name="webauthn_challenge")
    op.drop_table("webauthn_challenge")
