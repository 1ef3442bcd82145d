"""therapy_session: indexes on (participant_id, starts_at) and (group_id, starts_at)

A participant's sessions are a UNION ALL of their own and each group's from the day they joined
(`therapy.services._theirs`); each branch reads one of these indexes by time.

Revision ID: 0015_session_indexes
Revises: 0014_discharge_date
Create Date: 2026-11-29 10:20:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015_session_indexes"
down_revision: str | None = "0014_discharge_date"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("therapy_session", schema=None) as batch_op:
        batch_op.drop_index("ix_therapy_session_participant_id")
        batch_op.drop_index("ix_therapy_session_group_id")
        batch_op.create_index(
            "ix_therapy_session_participant_starts", ["participant_id", "starts_at"], unique=False
        )
        batch_op.create_index(
            "ix_therapy_session_group_starts", ["group_id", "starts_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("therapy_session", schema=None) as batch_op:
        batch_op.drop_index("ix_therapy_session_group_starts")
        batch_op.drop_index("ix_therapy_session_participant_starts")
        batch_op.create_index("ix_therapy_session_group_id", ["group_id"], unique=False)
        batch_op.create_index("ix_therapy_session_participant_id", ["participant_id"], unique=False)
