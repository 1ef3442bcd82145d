"""push: devices (push subscriptions), reminder preferences, deliveries and send results

Revision ID: 0012_push
Revises: 0011_clock_preference
Create Date: 2026-11-29 07:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import iop_pwa.db

revision: str = "0012_push"
down_revision: str | None = "0011_clock_preference"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STR = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "push_subscription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("endpoint", sa.String(length=2048), nullable=False),
        sa.Column("p256dh", _STR(length=200), nullable=False),
        sa.Column("auth", _STR(length=100), nullable=False),
        sa.Column("device", _STR(length=120), nullable=False),
        sa.Column("created_at", iop_pwa.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("seen_at", iop_pwa.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_success_at", iop_pwa.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_failure_at", iop_pwa.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("endpoint"),
    )
    with op.batch_alter_table("push_subscription", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_push_subscription_user_id"), ["user_id"])

    op.create_table(
        "reminder_preference",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("daily_practice", sa.Boolean(), nullable=False),
        sa.Column("daily_time", sa.Time(), nullable=False),
        sa.Column("session_reminders", sa.Boolean(), nullable=False),
        sa.Column("session_minutes", _STR(length=40), nullable=False),
        sa.Column("care_team", sa.Boolean(), nullable=False),
        sa.Column("group_activity", sa.Boolean(), nullable=False),
        sa.Column("alerts", sa.Boolean(), nullable=False),
        sa.Column("quiet_start", sa.Time(), nullable=True),
        sa.Column("quiet_end", sa.Time(), nullable=True),
        sa.Column("by_push", sa.Boolean(), nullable=False),
        sa.Column("by_email", sa.Boolean(), nullable=False),
        sa.Column("updated_at", iop_pwa.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id"),
    )

    op.create_table(
        "push_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key", _STR(length=120), nullable=False),
        sa.Column("category", _STR(length=20), nullable=False),
        sa.Column("url", _STR(length=300), nullable=False),
        sa.Column("topic", _STR(length=32), nullable=True),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("channel", _STR(length=10), nullable=False),
        sa.Column("notification_id", sa.Integer(), nullable=True),
        sa.Column("created_at", iop_pwa.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", iop_pwa.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", iop_pwa.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status", _STR(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", iop_pwa.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_until", iop_pwa.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("leased_by", _STR(length=40), nullable=True),
        sa.Column("done_at", iop_pwa.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["notification_id"], ["notification.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "key"),
    )
    with op.batch_alter_table("push_delivery", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_push_delivery_user_id"), ["user_id"])
        batch_op.create_index(batch_op.f("ix_push_delivery_status"), ["status"])
        batch_op.create_index(batch_op.f("ix_push_delivery_next_attempt_at"), ["next_attempt_at"])
        batch_op.create_index(batch_op.f("ix_push_delivery_notification_id"), ["notification_id"])

    op.create_table(
        "push_send_result",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=True),
        sa.Column("at", iop_pwa.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("channel", _STR(length=10), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("outcome", _STR(length=20), nullable=False),
        sa.ForeignKeyConstraint(["delivery_id"], ["push_delivery.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["subscription_id"], ["push_subscription.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("push_send_result", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_push_send_result_delivery_id"), ["delivery_id"])
        batch_op.create_index(batch_op.f("ix_push_send_result_user_id"), ["user_id"])
        batch_op.create_index(
            batch_op.f("ix_push_send_result_subscription_id"), ["subscription_id"]
        )


def downgrade() -> None:
    op.drop_table("push_send_result")
    op.drop_table("push_delivery")
    op.drop_table("reminder_preference")
    op.drop_table("push_subscription")
