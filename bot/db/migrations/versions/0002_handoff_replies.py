"""Handoff replies: who closed a handoff, when, with which note; the outbox also carries handoff replies.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("handoff_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("closed_by", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("close_note", sa.Text(), nullable=False, server_default=""))

    with op.batch_alter_table("notification_outbox", schema=None) as batch_op:
        batch_op.alter_column("consultation_id", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column("handoff_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_notification_outbox_handoff_id"), ["handoff_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_notification_outbox_handoff_id_handoff_requests"),
            "handoff_requests",
            ["handoff_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    op.execute("DELETE FROM notification_outbox WHERE consultation_id IS NULL")
    with op.batch_alter_table("notification_outbox", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_notification_outbox_handoff_id_handoff_requests"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_notification_outbox_handoff_id"))
        batch_op.drop_column("handoff_id")
        batch_op.alter_column("consultation_id", existing_type=sa.Integer(), nullable=False)

    with op.batch_alter_table("handoff_requests", schema=None) as batch_op:
        batch_op.drop_column("close_note")
        batch_op.drop_column("closed_by")
        batch_op.drop_column("closed_at")
