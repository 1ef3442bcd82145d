"""peer messages: direct conversations between two members of a group (conversation.peer_a_id,
peer_b_id), a group room's switch for them (conversation.direct_messages), blocks

Revision ID: 0017_peer_messages
Revises: 0016_history_indexes
Create Date: 2026-11-29 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import iop_pwa.db

revision: str = "0017_peer_messages"
down_revision: str | None = "0016_history_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversation") as batch:
        batch.add_column(sa.Column("peer_a_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("peer_b_id", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("direct_messages", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.create_foreign_key(
            "fk_conversation_peer_a_id_user", "user", ["peer_a_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_foreign_key(
            "fk_conversation_peer_b_id_user", "user", ["peer_b_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_index("ix_conversation_peer_a_id", ["peer_a_id"], unique=False)
        batch.create_index("ix_conversation_peer_b_id", ["peer_b_id"], unique=False)

    op.create_table(
        "message_block",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("blocker_id", sa.Integer(), nullable=False),
        sa.Column("blocked_id", sa.Integer(), nullable=False),
        sa.Column("created_at", iop_pwa.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["blocker_id"], ["user.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["blocked_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("blocker_id", "blocked_id"),
    )
    with op.batch_alter_table("message_block") as batch:
        batch.create_index("ix_message_block_blocker_id", ["blocker_id"], unique=False)
        batch.create_index("ix_message_block_blocked_id", ["blocked_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("message_block") as batch:
        batch.drop_index("ix_message_block_blocked_id")
        batch.drop_index("ix_message_block_blocker_id")
    op.drop_table("message_block")
    with op.batch_alter_table("conversation") as batch:
        batch.drop_index("ix_conversation_peer_b_id")
        batch.drop_index("ix_conversation_peer_a_id")
        batch.drop_constraint("fk_conversation_peer_b_id_user", type_="foreignkey")
        batch.drop_constraint("fk_conversation_peer_a_id_user", type_="foreignkey")
        batch.drop_column("direct_messages")
        batch.drop_column("peer_b_id")
        batch.drop_column("peer_a_id")
