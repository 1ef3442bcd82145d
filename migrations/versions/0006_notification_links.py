"""notifications lead where their kind says (url_for from kind and object id), not to a stored path

Revision ID: 0006_notification_links
Revises: 0005_group_names
Create Date: 2026-11-29 05:00:00
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_notification_links"
down_revision: str | None = "0005_group_names"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notification") as batch:
        batch.add_column(sa.Column("object_id", sa.Integer(), nullable=True))
    # Existing rows held a path such as /practice/12 or /sessions/7: keep the id.
    conn = op.get_bind()
    for row_id, url in conn.execute(sa.text("SELECT id, url FROM notification")).all():
        found = re.search(r"/(\d+)$", url or "")
        if found:
            conn.execute(
                sa.text("UPDATE notification SET object_id = :oid WHERE id = :id"),
                {"oid": int(found.group(1)), "id": row_id},
            )
    with op.batch_alter_table("notification") as batch:
        batch.drop_column("url")


def downgrade() -> None:
    with op.batch_alter_table("notification") as batch:
        batch.add_column(sa.Column("url", sa.String(length=300), nullable=False, server_default=""))
        batch.drop_column("object_id")
