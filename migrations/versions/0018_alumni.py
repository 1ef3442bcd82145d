"""alumni and admin: therapy_group.kind (cohort or alumni), program_contact.alumni_message_hours,
crisis_resource (the crisis lines an admin edits)

Revision ID: 0018_alumni
Revises: 0017_peer_messages
Create Date: 2026-11-29 10:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import iop_pwa.db

revision: str = "0018_alumni"
down_revision: str | None = "0017_peer_messages"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("therapy_group") as batch:
        batch.add_column(
            sa.Column(
                "kind",
                sa.Enum("cohort", "alumni", name="group_kind", native_enum=False, length=10),
                nullable=False,
                server_default="cohort",
            )
        )
    with op.batch_alter_table("program_contact") as batch:
        batch.add_column(
            sa.Column(
                "alumni_message_hours",
                sqlmodel.sql.sqltypes.AutoString(length=200),
                nullable=False,
                server_default="",
            )
        )
    op.create_table(
        "crisis_resource",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("detail", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("text_number", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("updated_at", iop_pwa.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("crisis_resource") as batch:
        batch.create_index("ix_crisis_resource_position", ["position"], unique=False)


def downgrade() -> None:
    op.drop_table("crisis_resource")
    with op.batch_alter_table("program_contact") as batch:
        batch.drop_column("alumni_message_hours")
    with op.batch_alter_table("therapy_group") as batch:
        batch.drop_column("kind")
