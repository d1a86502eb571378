"""The closed loop, resident side: co-signers (附议, merges), 催办, follow-ups (回访), merged items; and the
scheduler's lease and sent-once ledger (bot.closedloop.lease), adopted here as its docstring promised.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _resident_columns() -> list[sa.Column]:
    return [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("consultation_id", sa.Integer(), nullable=False),
        sa.Column("committee_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("sender_id", sa.String(length=200), nullable=False),
    ]


def _fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["consultation_id"],
        ["consultations.id"],
        name=op.f(f"fk_{table}_consultation_id_consultations"),
        ondelete="CASCADE",
    )


def _indexes(table: str, *columns: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        for col in columns:
            batch_op.create_index(batch_op.f(f"ix_{table}_{col}"), [col], unique=False)


def upgrade() -> None:
    with op.batch_alter_table("consultations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("merged_into", sa.String(length=32), nullable=True))

    op.create_table(
        "consultation_cosigns",
        *_resident_columns(),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("from_tracking_no", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("consultation_cosigns"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consultation_cosigns")),
        sa.UniqueConstraint(
            "consultation_id", "channel", "sender_id", name=op.f("uq_consultation_cosigns_consultation_id")
        ),
    )
    _indexes("consultation_cosigns", "consultation_id", "committee_id", "created_at")

    op.create_table(
        "consultation_urges",
        *_resident_columns(),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("consultation_urges"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consultation_urges")),
        sa.UniqueConstraint("key", name=op.f("uq_consultation_urges_key")),
    )
    _indexes("consultation_urges", "consultation_id", "committee_id", "created_at")

    op.create_table(
        "consultation_followups",
        *_resident_columns(),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("reopened", sa.Boolean(), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        _fk("consultation_followups"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consultation_followups")),
    )
    _indexes("consultation_followups", "consultation_id", "committee_id", "closed_at")
    with op.batch_alter_table("consultation_followups", schema=None) as batch_op:
        batch_op.create_index("ix_followups_state_asked", ["state", "asked_at"], unique=False)

    # bot.closedloop.lease's tables (naive UTC, as that module writes them)
    op.create_table(
        "scheduler_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduler_leases")),
    )
    op.create_table(
        "reminder_ledger",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_reminder_ledger")),
    )


def downgrade() -> None:
    op.drop_table("reminder_ledger")
    op.drop_table("scheduler_leases")
    op.drop_table("consultation_followups")
    op.drop_table("consultation_urges")
    op.drop_table("consultation_cosigns")
    with op.batch_alter_table("consultations", schema=None) as batch_op:
        batch_op.drop_column("merged_into")
