"""journal and notification indexes that lead with the person, so pages don't slow as history grows

- journalentry: (user_id, local_date) for today's check-in, (user_id, shared, written_at) for what
  a participant shared; the single-column indexes on user_id (the unique (user_id, client_id)
  leads with it), shared and local_date go.
- notification: (user_id, created_at) for a person's list, and a partial index of the unread
  ones for the bell's count; the single-column index on user_id goes.

Revision ID: 0016_history_indexes
Revises: 0015_session_indexes
Create Date: 2026-11-29 10:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_history_indexes"
down_revision: str | None = "0015_session_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNREAD = sa.text("read_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("journalentry", schema=None) as batch_op:
        batch_op.drop_index("ix_journalentry_user_id")
        batch_op.drop_index("ix_journalentry_shared")
        batch_op.drop_index("ix_journalentry_local_date")
        batch_op.create_index("ix_journalentry_user_day", ["user_id", "local_date"])
        batch_op.create_index("ix_journalentry_user_shared", ["user_id", "shared", "written_at"])
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_index("ix_notification_user_id")
        batch_op.create_index("ix_notification_user_created", ["user_id", "created_at"])
        batch_op.create_index(
            "ix_notification_unread", ["user_id"], sqlite_where=UNREAD, postgresql_where=UNREAD
        )


def downgrade() -> None:
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_index("ix_notification_unread")
        batch_op.drop_index("ix_notification_user_created")
        batch_op.create_index("ix_notification_user_id", ["user_id"])
    with op.batch_alter_table("journalentry", schema=None) as batch_op:
        batch_op.drop_index("ix_journalentry_user_shared")
        batch_op.drop_index("ix_journalentry_user_day")
        batch_op.create_index("ix_journalentry_local_date", ["local_date"])
        batch_op.create_index("ix_journalentry_shared", ["shared"])
        batch_op.create_index("ix_journalentry_user_id", ["user_id"])
