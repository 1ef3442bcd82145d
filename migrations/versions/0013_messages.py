"""messages: conversations (care teams, groups), messages, read cursors, guideline agreements,
reports, mutes; when the care team answers messages (program_contact.message_hours)

Revision ID: 0013_messages
Revises: 0012_push
Create Date: 2026-11-29 07:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import iop_pwa.db

revision: str = "0013_messages"
down_revision: str | None = "0012_push"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("program_contact") as batch:
        batch.add_column(
            sa.Column(
                "message_hours",
                sqlmodel.sql.sqltypes.AutoString(length=200),
                nullable=False,
                server_default="",
            )
        )

    op.create_table(
        "conversation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=True),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("guidelines", sa.Text(), nullable=False),
        sa.Column("created_at", iop_pwa.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_message_at", iop_pwa.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["participant_id"], ["user.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["group_id"], ["therapy_group.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("conversation") as batch:
        batch.create_index("ix_conversation_participant_id", ["participant_id"], unique=False)
        batch.create_index("ix_conversation_group_id", ["group_id"], unique=False)

    op.create_table(
        "message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("written_at", iop_pwa.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", iop_pwa.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("hidden_at", iop_pwa.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("hidden_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversation.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["author_id"], ["user.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["hidden_by_id"], ["user.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("author_id", "client_id"),
    )
    with op.batch_alter_table("message") as batch:
        batch.create_index("ix_message_author_id", ["author_id"], unique=False)
        batch.create_index("ix_message_conversation_id_id", ["conversation_id", "id"], unique=False)

    op.create_table(
        "message_read",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("last_read_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversation.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conversation_id", "user_id"),
    )
    with op.batch_alter_table("message_read") as batch:
        batch.create_index("ix_message_read_user_id", ["user_id"], unique=False)

    op.create_table(
        "guideline_agreement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("agreed_at", iop_pwa.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversation.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conversation_id", "user_id"),
    )
    with op.batch_alter_table("guideline_agreement") as batch:
        batch.create_index("ix_guideline_agreement_user_id", ["user_id"], unique=False)

    op.create_table(
        "message_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("reporter_id", sa.Integer(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("detail", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("created_at", iop_pwa.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", iop_pwa.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["message_id"], ["message.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["reporter_id"], ["user.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["resolved_by_id"], ["user.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id", "reporter_id"),
    )
    with op.batch_alter_table("message_report") as batch:
        batch.create_index("ix_message_report_message_id", ["message_id"], unique=False)
        batch.create_index("ix_message_report_reporter_id", ["reporter_id"], unique=False)

    op.create_table(
        "conversation_mute",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("until", iop_pwa.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", iop_pwa.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversation.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["by_id"], ["user.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conversation_id", "user_id"),
    )
    with op.batch_alter_table("conversation_mute") as batch:
        batch.create_index("ix_conversation_mute_user_id", ["user_id"], unique=False)


def downgrade() -> None:
    for table in (
        "conversation_mute",
        "message_report",
        "guideline_agreement",
        "message_read",
        "message",
        "conversation",
    ):
        op.drop_table(table)
    with op.batch_alter_table("program_contact") as batch:
        batch.drop_column("message_hours")
