"""Closing the loop, oversight half: stored due dates, extensions, limit overrides, township supervisors,
published outcomes (the scheduler's lease and ledger come from 0007).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("consultations", schema=None) as b:
        b.add_column(sa.Column("accept_by", sa.Date(), nullable=True))
        b.add_column(sa.Column("complete_by", sa.Date(), nullable=True))
        b.add_column(sa.Column("due_estimated", sa.Boolean(), nullable=False, server_default=sa.false()))
        b.add_column(sa.Column("outcome_text", sa.Text(), nullable=True))
        b.add_column(sa.Column("outcome_published_at", sa.DateTime(timezone=True), nullable=True))
        b.add_column(sa.Column("outcome_published_by", sa.String(length=100), nullable=True))
        b.create_index("ix_consultations_accept_by", ["accept_by"])
        b.create_index("ix_consultations_complete_by", ["complete_by"])
    with op.batch_alter_table("committee_users", schema=None) as b:
        b.add_column(sa.Column("township", sa.String(length=100), nullable=True))
    op.create_table(
        "extension_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("consultation_id", sa.Integer(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved", sa.Boolean(), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["consultation_id"],
            ["consultations.id"],
            name="fk_extension_requests_consultation_id_consultations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_extension_requests"),
    )
    op.create_index("ix_extension_requests_consultation_id", "extension_requests", ["consultation_id"])
    op.create_table(
        "category_limits",
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("accept_days", sa.Integer(), nullable=False),
        sa.Column("complete_days", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("category", name="pk_category_limits"),
    )


def downgrade() -> None:
    op.drop_table("category_limits")
    op.drop_index("ix_extension_requests_consultation_id", table_name="extension_requests")
    op.drop_table("extension_requests")
    with op.batch_alter_table("committee_users", schema=None) as b:
        b.drop_column("township")
    with op.batch_alter_table("consultations", schema=None) as b:
        b.drop_index("ix_consultations_complete_by")
        b.drop_index("ix_consultations_accept_by")
        for col in ("outcome_published_by", "outcome_published_at", "outcome_text", "due_estimated", "complete_by"):
            b.drop_column(col)
        b.drop_column("accept_by")
