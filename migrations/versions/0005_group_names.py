"""group names need not be unique: a group is chosen by id, and two programs may both have a
"Tuesday evening group" (a unique name let one therapist join another's group by typing it)

Revision ID: 0005_group_names
Revises: 0004_sessions
Create Date: 2026-11-29 04:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import iop_pwa.db

revision: str = "0005_group_names"
down_revision: str | None = "0004_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _table(unique: bool) -> sa.Table:
    return sa.Table(
        "therapy_group",
        sa.MetaData(),
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=120), nullable=False, unique=unique),
        sa.Column("created_at", iop_pwa.db.UTCDateTime(timezone=True), nullable=False),
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("therapy_group", copy_from=_table(False), recreate="always"):
            pass
    else:
        op.drop_constraint("therapy_group_name_key", "therapy_group", type_="unique")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("therapy_group", copy_from=_table(True), recreate="always"):
            pass
    else:
        op.create_unique_constraint("therapy_group_name_key", "therapy_group", ["name"])
