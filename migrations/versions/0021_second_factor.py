"""second factor: authenticator apps (TOTP), recovery codes, passkeys, recent confirmation

Revision ID: 0021_second_factor
Revises: 0020_large_program_indexes
Create Date: 2026-11-29 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import iop_pwa.db

revision: str = "0021_second_factor"
down_revision: str | None = "0020_large_program_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "totp_factor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        # The authenticator app's key, encrypted (accounts.models.SealedSecret).
        sa.Column("secret", sa.String(length=255), nullable=False),
        sa.Column("last_step", sa.BigInteger(), nullable=True),
        sa.Column("created_at", iop_pwa.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", iop_pwa.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_totp_factor_user_id", "totp_factor", ["user_id"])
    op.create_table(
        "recovery_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("used_at", iop_pwa.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_recovery_code_user_id", "recovery_code", ["user_id"])
    op.create_table(
        "passkey",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("credential_id", sa.String(length=1400), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("created_at", iop_pwa.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", iop_pwa.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("credential_id"),
    )
    op.create_index("ix_passkey_user_id", "passkey", ["user_id"])
    with op.batch_alter_table("loginsession") as batch_op:
        batch_op.add_column(
            sa.Column("confirmed_at", iop_pwa.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("loginsession") as batch_op:
        batch_op.drop_column("confirmed_at")
    op.drop_index("ix_passkey_user_id", table_name="passkey")
    op.drop_table("passkey")
    op.drop_index("ix_recovery_code_user_id", table_name="recovery_code")
    op.drop_table("recovery_code")
    op.drop_index("ix_totp_factor_user_id", table_name="totp_factor")
    op.drop_table("totp_factor")
