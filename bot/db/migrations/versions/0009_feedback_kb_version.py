"""Every feedback event names the knowledge version that answered (or failed to answer) the question.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("feedback_events")}
    if "kb_version" in columns:  # a table the pre-0003 store created from today's metadata already has it
        return
    with op.batch_alter_table("feedback_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kb_version", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feedback_events", schema=None) as batch_op:
        batch_op.drop_column("kb_version")
