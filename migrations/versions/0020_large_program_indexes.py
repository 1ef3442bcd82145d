"""attendance: (participant_id, status), so "missed a session in the last 14 days" reads each
person's missed sessions, not their whole year of attendance

The dashboard asks it of the whole caseload on every visit; with only the index on participant_id
it read every attendance row of 50 people (about 6,500 after a year, bench/large.py) to keep
the one in ten that was missed. The single-column index goes: the new one leads with the same
column.

Revision ID: 0020_large_program_indexes
Revises: 0019_checkins
Create Date: 2026-11-29 13:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020_large_program_indexes"
down_revision: str | None = "0019_checkins"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("attendance", schema=None) as batch_op:
        batch_op.create_index("ix_attendance_participant_status", ["participant_id", "status"])
        batch_op.drop_index("ix_attendance_participant_id")


def downgrade() -> None:
    with op.batch_alter_table("attendance", schema=None) as batch_op:
        batch_op.create_index("ix_attendance_participant_id", ["participant_id"])
        batch_op.drop_index("ix_attendance_participant_status")
