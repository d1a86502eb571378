"""SQLAlchemy 2 ORM of the consultation store (the Alembic migration mirrors it)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.db.base import Base, UTCDateTime, utcnow  # noqa: F401  (models.Base / models.utcnow: one name for callers)


class Community(Base):
    __tablename__ = "communities"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(8))  # 社区 | 村
    township: Mapped[str] = mapped_column(String(100), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    committees: Mapped[list[Committee]] = relationship(back_populates="community", order_by="Committee.position")


class Committee(Base):
    __tablename__ = "committees"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(16))  # Chinese kind: 居民委员会, 业主委员会 …
    categories: Mapped[str] = mapped_column(Text, default="")  # comma-separated category ids
    compound: Mapped[str | None] = mapped_column(String(100), nullable=True)
    fallback: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    community: Mapped[Community] = relationship(back_populates="committees")

    @property
    def category_ids(self) -> list[str]:
        return [c for c in self.categories.split(",") if c]


class Consultation(Base):
    __tablename__ = "consultations"
    __table_args__ = (
        Index("ix_consultations_committee_status", "committee_id", "status"),
        Index("ix_consultations_sender", "channel", "sender_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tracking_no: Mapped[str] = mapped_column(String(32), unique=True)
    client_key: Mapped[str] = mapped_column(String(400), unique=True)
    channel: Mapped[str] = mapped_column(String(64))
    sender_id: Mapped[str] = mapped_column(String(200))
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"), index=True)
    category: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    text: Mapped[str] = mapped_column(Text)
    contact_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    contact_phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    consent: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="submitted", index=True)
    committee_id: Mapped[str] = mapped_column(ForeignKey("committees.id"), index=True)
    flagged_unroutable: Mapped[bool] = mapped_column(Boolean, default=False)
    merged_into: Mapped[str | None] = mapped_column(String(32), nullable=True)  # tracking no, once merged
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # due dates (local days, bot.closedloop.deadlines), stored at submission; complete_by moves with an extension
    accept_by: Mapped[date | None] = mapped_column(Date, nullable=True, index=True)
    complete_by: Mapped[date | None] = mapped_column(Date, nullable=True, index=True)
    due_estimated: Mapped[bool] = mapped_column(Boolean, default=False)  # a year without holiday data: 预估
    # 协商结果公开: the outcome text a committee published (masked when stored), shown on the public page and Open311
    outcome_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    outcome_published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    outcome_published_by: Mapped[str | None] = mapped_column(String(100), nullable=True)

    community: Mapped[Community] = relationship()
    committee: Mapped[Committee] = relationship()
    events: Mapped[list[StatusEvent]] = relationship(back_populates="consultation", order_by="StatusEvent.id")


class StatusEvent(Base):
    """One line of the audit trail: a status change, or a re-route (kind='recategorize')."""

    __tablename__ = "status_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultations.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="status")  # status | recategorize | merge | reopen
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    from_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_status: Mapped[str] = mapped_column(String(16))
    from_category: Mapped[str | None] = mapped_column(String(64), nullable=True)
    to_category: Mapped[str | None] = mapped_column(String(64), nullable=True)
    from_committee_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    to_committee_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")

    consultation: Mapped[Consultation] = relationship(back_populates="events")


class CommitteeUser(Base):
    __tablename__ = "committee_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    committee_id: Mapped[str | None] = mapped_column(ForeignKey("committees.id"), nullable=True, index=True)
    role: Mapped[str] = mapped_column(String(16), default="member")  # member | admin | supervisor | kb-editor
    township: Mapped[str | None] = mapped_column(String(100), nullable=True)  # a supervisor's 街道/乡镇
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    committee: Mapped[Committee | None] = relationship()


class HandoffRequest(Base):
    """A resident asked for a person; the fallback committee of their community answers."""

    __tablename__ = "handoff_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(64))
    sender_id: Mapped[str] = mapped_column(String(200))
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"), index=True)
    committee_id: Mapped[str | None] = mapped_column(ForeignKey("committees.id"), nullable=True)
    text: Mapped[str] = mapped_column(Text, default="")  # the resident's one-line summary
    # A phone only with the resident's explicit consent (the chat's 同意 button or words), for a call back.
    contact_phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    consent: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | closed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    close_note: Mapped[str] = mapped_column(Text, default="")


class OutboxMessage(Base):
    """A push to the resident (status change or handoff reply), kept until Rasa accepted it (survives Rasa being down)."""

    __tablename__ = "notification_outbox"
    __table_args__ = (Index("ix_outbox_pending", "delivered_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    consultation_id: Mapped[int | None] = mapped_column(
        ForeignKey("consultations.id", ondelete="CASCADE"), nullable=True, index=True
    )
    handoff_id: Mapped[int | None] = mapped_column(
        ForeignKey("handoff_requests.id", ondelete="CASCADE"), nullable=True, index=True
    )
    channel: Mapped[str] = mapped_column(String(64))
    sender_id: Mapped[str] = mapped_column(String(200))
    intent: Mapped[str] = mapped_column(String(100))
    payload: Mapped[str] = mapped_column(Text)  # JSON entities
    message: Mapped[str] = mapped_column(Text, default="")  # Chinese text, for ops and fallback channels
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # how the chat app delivered it, when it says so (WeChat: customer_service | template)
    delivered_via: Mapped[str | None] = mapped_column(String(32), nullable=True)
    failed: Mapped[bool] = mapped_column(Boolean, default=False)  # gave up after max attempts
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class TrackingCounter(Base):
    """Per-day sequence for tracking numbers, incremented atomically inside the submit transaction."""

    __tablename__ = "tracking_counters"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)  # YYYYMMDD (local date)
    last: Mapped[int] = mapped_column(Integer, default=0)


class InboxSession(Base):
    """A logged-in inbox session: the cookie carries a random id whose SHA-256 is kept here, so
    logout, a password change or deactivation end it on every replica (a captured cookie stops working)."""

    __tablename__ = "inbox_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("committee_users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class LoginFailure(Base):
    """One failed inbox login: the per-account throttle counts these across inbox replicas."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_account_at", "account", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account: Mapped[str] = mapped_column(String(64))  # the username as typed, lower-cased (also unknown ones)
    client: Mapped[str] = mapped_column(String(64), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Cosign(Base):
    """A resident who joined an item (附议 at intake, or the submitter/co-signer of an item merged into it)."""

    __tablename__ = "consultation_cosigns"
    __table_args__ = (UniqueConstraint("consultation_id", "channel", "sender_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultations.id", ondelete="CASCADE"), index=True)
    committee_id: Mapped[str] = mapped_column(String(64), index=True)  # the item's committee when joined
    channel: Mapped[str] = mapped_column(String(64))
    sender_id: Mapped[str] = mapped_column(String(200))
    via: Mapped[str] = mapped_column(String(16), default="cosign")  # cosign | merge
    from_tracking_no: Mapped[str | None] = mapped_column(String(32), nullable=True)  # merge: the merged item
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Urge(Base):
    """One 催办 from the chat; ``key`` (bot.closedloop.reminders.urge_key) is unique: once per working day."""

    __tablename__ = "consultation_urges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultations.id", ondelete="CASCADE"), index=True)
    committee_id: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(64))
    sender_id: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class FollowUp(Base):
    """The 回访 after a resolution: asked in the resident's chat, answered once or closed as unanswered."""

    __tablename__ = "consultation_followups"
    __table_args__ = (Index("ix_followups_state_asked", "state", "asked_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultations.id", ondelete="CASCADE"), index=True)
    committee_id: Mapped[str] = mapped_column(String(64), index=True)  # the committee that resolved it
    channel: Mapped[str] = mapped_column(String(64))
    sender_id: Mapped[str] = mapped_column(String(200))
    # pending | satisfied | basically_satisfied | unsatisfied | unanswered | void (item withdrawn or merged)
    state: Mapped[str] = mapped_column(String(24), default="pending")
    comment: Mapped[str] = mapped_column(Text, default="")
    reopened: Mapped[bool] = mapped_column(Boolean, default=False)  # the 不满意 sent the item back: rework
    # unanswered ``closedloop_followup_days`` working days after this: closed as 未回复 (bot.closedloop.followup)
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)


class ExtensionRequest(Base):
    """A committee member's request for more working days to complete an item; a township supervisor decides."""

    __tablename__ = "extension_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultations.id", ondelete="CASCADE"), index=True)
    days: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    approved: Mapped[bool | None] = mapped_column(Boolean, nullable=True)  # None while requested
    decided_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decision_note: Mapped[str] = mapped_column(Text, default="")


class CategoryLimitOverride(Base):
    """An admin's time limits for a category, overriding the ``limits:`` default in communities.yml."""

    __tablename__ = "category_limits"

    category: Mapped[str] = mapped_column(String(64), primary_key=True)
    accept_days: Mapped[int] = mapped_column(Integer)
    complete_days: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
