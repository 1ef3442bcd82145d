"""checkins: questionnaires (PHQ-9, GAD-7, a team's own), schedules, answers

Revision ID: 0019_checkins
Revises: 0018_alumni
Create Date: 2026-11-29 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import iop_pwa.db

revision: str = "0019_checkins"
down_revision: str | None = "0018_alumni"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "checkin_questionnaire",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=20), nullable=True),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("questions", sqlmodel.sql.sqltypes.AutoString(length=1500), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("archived_at", iop_pwa.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", iop_pwa.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", iop_pwa.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["owner_id"], ["user.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slug"),
    )

    op.create_table(
        "checkin_schedule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("questionnaire_id", sa.Integer(), nullable=False),
        sa.Column("therapist_id", sa.Integer(), nullable=True),
        sa.Column("participant_id", sa.Integer(), nullable=True),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("every_weeks", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("created_at", iop_pwa.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", iop_pwa.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["questionnaire_id"], ["checkin_questionnaire.id"], ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["therapist_id"], ["user.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["participant_id"], ["user.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["group_id"], ["therapy_group.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("checkin_schedule") as batch:
        batch.create_index("ix_checkin_schedule_questionnaire_id", ["questionnaire_id"])
        batch.create_index("ix_checkin_schedule_therapist_id", ["therapist_id"])
        batch.create_index("ix_checkin_schedule_participant_id", ["participant_id"])
        batch.create_index("ix_checkin_schedule_group_id", ["group_id"])

    op.create_table(
        "checkin_answer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("questionnaire_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("answers", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("band", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("answered_at", iop_pwa.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", iop_pwa.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["participant_id"], ["user.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["questionnaire_id"], ["checkin_questionnaire.id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("participant_id", "client_id"),
        sa.UniqueConstraint("participant_id", "questionnaire_id", "due_on"),
    )
    with op.batch_alter_table("checkin_answer") as batch:
        batch.create_index("ix_checkin_answer_questionnaire_id", ["questionnaire_id"])
        batch.create_index(
            "ix_checkin_answer_participant_answered", ["participant_id", "answered_at"]
        )


def downgrade() -> None:
    op.drop_table("checkin_answer")
    op.drop_table("checkin_schedule")
    op.drop_table("checkin_questionnaire")
