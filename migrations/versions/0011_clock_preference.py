"""user.clock: a 12/24-hour preference ("" is the locale's own habit)

Revision ID: 0011_clock_preference
Revises: 0010_program_contact
Create Date: 2026-11-29 07:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0011_clock_preference"
down_revision: str | None = "0010_program_contact"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "clock",
                sqlmodel.sql.sqltypes.AutoString(length=2),
                server_default="",
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("clock")
