"""What every part of the consultation service shares: sessions, settings, directory, router, local zone.

Also the conversions every part needs: an ORM consultation → :class:`ConsultationRecord`, local days
and times, and who owns an item.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.consultations import duedates, notify, tracking
from bot.consultations import models as m
from bot.consultations.directory import Directory
from bot.consultations.errors import NotFoundError
from bot.consultations.records import ConsultationRecord, TrailEntry
from bot.consultations.routing import Router
from bot.consultations.statuses import parse_status


def _nothing() -> None:
    return None


@dataclass
class Store:
    sessions: sessionmaker[Session]
    settings: Any
    directory: Directory
    router: Router
    tz: ZoneInfo
    chat_channels: frozenset[str]
    wake: Callable[[], None] = _nothing  # the delivery thread's wake-up, once it exists

    def record(self, c: m.Consultation, *, trail: bool = False, created: bool = False) -> ConsultationRecord:
        events: tuple[TrailEntry, ...] = ()
        if trail:
            events = tuple(
                TrailEntry(
                    e.at,
                    e.actor,
                    e.kind,
                    e.from_status,
                    e.to_status,
                    parse_status(e.to_status).label,
                    e.note,
                    e.from_category,
                    e.to_category,
                    e.to_committee_id,
                )
                for e in c.events
            )
        st = parse_status(c.status)
        return ConsultationRecord(
            c.id,
            c.tracking_no,
            c.channel,
            c.sender_id,
            c.community_id,
            c.community.name,
            c.category,
            self.directory.category_name(c.category),
            c.text,
            c.contact_name,
            c.contact_phone,
            c.consent,
            st.value,
            st.label,
            c.committee_id,
            c.committee.name,
            c.committee.type,
            c.flagged_unroutable,
            c.created_at,
            c.updated_at,
            events,
            created,
            c.merged_into,
            accept_by=c.accept_by,
            complete_by=c.complete_by,
            due_estimated=bool(c.due_estimated),
            township=c.community.township or "",
            outcome_text=c.outcome_text,
            outcome_published_at=c.outcome_published_at,
            due_line=duedates.resident_line(c, m.utcnow(), self.settings),
        )

    def owned_by(self, owner_channel: str, owner_sender: str, channel: object, sender_id: object) -> bool:
        """True when the chat resident (channel, sender_id) submitted the item of (owner_channel, owner_sender)."""
        return (
            isinstance(channel, str)
            and isinstance(sender_id, str)
            and notify.is_chat_channel(channel, self.chat_channels)
            and owner_channel == channel.strip()
            and owner_sender == sender_id.strip()
        )

    def local_time_text(self, at: datetime) -> str:
        return at.astimezone(self.tz).strftime("%Y年%m月%d日 %H:%M")

    def day_start(self, d: date | datetime, *, end: bool = False) -> datetime:
        """A local day's first moment (``end``: the next day's); a datetime is taken as it is."""
        if isinstance(d, datetime):
            return d if d.tzinfo else d.replace(tzinfo=self.tz)
        start = datetime.combine(d, time.min, tzinfo=self.tz)
        return start + timedelta(days=1) if end else start

    @staticmethod
    def load_for_update(s: Session, tracking_no: str) -> m.Consultation:
        """The consultation, row-locked on PostgreSQL (SQLite's BEGIN IMMEDIATE already serializes writers)."""
        tn = tracking.normalize_tracking_no(tracking_no)
        c = None
        if tn is not None:
            q = select(m.Consultation).where(m.Consultation.tracking_no == tn)
            if s.get_bind().dialect.name == "postgresql":
                q = q.with_for_update()
            c = s.scalar(q)
        if c is None:
            raise NotFoundError()
        return c
