"""user.discharged_on: the day a participant was discharged to alumni

Revision ID: 0014_discharge_date
Revises: 0013_messages
Create Date: 2026-11-29 09:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_discharge_date"
down_revision: str | None = "0013_messages"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("discharged_on", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("discharged_on")
