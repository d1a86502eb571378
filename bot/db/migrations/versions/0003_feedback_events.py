"""Learning loop: the feedback_events table of bot.feedback (unanswered questions, ratings).

Revision ID: 0003
Revises: 0002

Before this revision bot.feedback created the table itself on first use; such a database already
has it (same columns and index names), so the table is only created when missing.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("feedback_events"):
        return
    op.create_table(
        "feedback_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("question", sa.String(length=300), nullable=False),
        sa.Column("question_key", sa.String(length=300), nullable=False),
        sa.Column("answer_kind", sa.String(length=16), nullable=True),
        sa.Column("sources", sa.String(length=400), nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback_events")),
    )
    with op.batch_alter_table("feedback_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_feedback_events_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_feedback_events_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_feedback_events_question_key"), ["question_key"], unique=False)


def downgrade() -> None:
    op.drop_table("feedback_events")
