"""`ConsultationService`: the one facade actions, the inbox, Open311 and the CLI call.

A thin facade: the resident-facing flow (route, submit, look up, withdraw) and the committee's status
changes are methods; the rest are parts reached as attributes:

- ``directory``: communities, committees, categories (:mod:`bot.consultations.directory`)
- ``reports``: inbox lists, counts, dashboard, Open311 views (:mod:`bot.consultations.reporting`)
- ``handoffs``: requests for a person (:mod:`bot.consultations.handoffs`)
- ``accounts``: committee users and sign-in (:mod:`bot.consultations.accounts`)
- ``delivery``: pushes to residents (:mod:`bot.consultations.delivery`)
- ``loop``: co-signers, merges, 催办 and follow-ups (:mod:`bot.consultations.loop`; rules in bot.closedloop)
- ``oversight``: limits, extensions, reassignment, overdue lists, published outcomes (:mod:`bot.consultations.oversight`)
- ``reminding``: the scheduler's reads and once-only reminder writes (:mod:`bot.consultations.reminding`)
- ``scorecards``: on-time, satisfaction and rework rates per committee and 街道 (:mod:`bot.consultations.scorecards`)

Every method opens its own short transaction and returns frozen dataclasses
(:mod:`bot.consultations.records`), so callers never hold ORM objects or sessions. Errors a resident
or member can see are :class:`bot.errors.UserFacingError` subclasses (:mod:`bot.consultations.errors`).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bot.consultations import models as m
from bot.consultations import notify, outside, submissions, tracking, transitions
from bot.consultations.accounts import Accounts, PasswordHasher
from bot.consultations.delivery import Delivery
from bot.consultations.directory import Directory
from bot.consultations.errors import AccessDenied, DatabaseUnavailable, NotFoundError, db_guard, store_unreachable
from bot.consultations.handoffs import Handoffs
from bot.consultations.loop import Loop
from bot.consultations.oversight import Oversight
from bot.consultations.records import ConsultationRecord, PushRecord, ResidentStatus
from bot.consultations.reminding import Reminding
from bot.consultations.reporting import Reports
from bot.consultations.routing import Router, RouteResult
from bot.consultations.scorecards import Scorecards
from bot.consultations.statuses import Status
from bot.consultations.store import Store
from bot.consultations.validation import MAX_TEXT_CHARS, clean_text
from bot.db import engine_for, normalize_url, session_factory, upgrade
from bot.privacy import mask_sender

# Kept importable from here for callers written against the one-module service.
__all__ = [
    "MAX_TEXT_CHARS",
    "AccessDenied",
    "ConsultationService",
    "DatabaseUnavailable",
    "NotFoundError",
    "clean_text",
    "store_unreachable",
]


class ConsultationService:
    def __init__(
        self,
        url: str,
        kb=None,
        *,
        prepare: bool = True,
        use_embedding: bool = True,
        settings=None,
        hasher: PasswordHasher | None = None,
    ):
        """``url``: SQLAlchemy URL; ``kb``: a KnowledgeBase (default ``load_kb()``); ``prepare`` runs
        migrations and ``directory.sync()``; ``hasher``: the password hasher (default argon2id)."""
        from bot.settings import get_settings

        self.settings = settings or get_settings()
        if kb is None:
            from bot.kb import load_kb

            kb = load_kb()
        self.kb = kb
        self.url = normalize_url(url)
        self.engine = engine_for(self.url)
        self.Session = session_factory(self.engine)
        self.router = Router(kb.directory, kb.kb_dir, use_embedding=use_embedding)
        self.tz = ZoneInfo(self.settings.timezone)
        channels = getattr(self.settings, "notify_chat_channels", None)
        self.chat_channels = (
            frozenset(c.strip().lower() for c in channels.split(",") if c.strip())
            if isinstance(channels, str)
            else notify.CHAT_CHANNELS
        )
        self.directory = Directory(kb.directory, self.Session, self.settings.default_community)
        self.delivery = Delivery(self.Session, lambda: self.settings)
        self._store = Store(
            self.Session, self.settings, self.directory, self.router, self.tz, self.chat_channels, self.delivery.wake
        )
        self.reports = Reports(self._store)
        self.handoffs = Handoffs(self._store)
        self.loop = Loop(self._store)
        self.accounts = Accounts(self.Session, hasher)
        self.oversight = Oversight(self._store)
        self.scorecards = Scorecards(self._store)
        self.reminding = Reminding(self._store)
        if prepare:
            upgrade(self.url, engine=self.engine)
            self.directory.sync()

    @classmethod
    def from_settings(
        cls, settings=None, *, prepare: bool = True, kb=None, hasher: PasswordHasher | None = None
    ) -> ConsultationService:
        """The service on ``settings.sqlalchemy_url`` (SQLite in var/ unless LINLI_DATABASE_URL)."""
        from bot.settings import get_settings

        settings = settings or get_settings()
        return cls(settings.sqlalchemy_url, kb, prepare=prepare, settings=settings, hasher=hasher)

    # the resident's side -----------------------------------------------------------------
    def route(self, text: str, community_id: str | None = None) -> RouteResult:
        """Category and committee for ``text`` in ``community_id`` (default community from settings)."""
        return self.router.route(clean_text(text), self.directory.community_id(community_id))

    def submit(
        self,
        channel: str,
        sender_id: str,
        message_id: str | None,
        community_id: str | None,
        text: str,
        category: str | None = None,
        contact_name: str | None = None,
        contact_phone: str | None = None,
        consent: bool = False,
    ) -> ConsultationRecord:
        """Store a consultation (idempotent per delivered message): :func:`submissions.submit`."""
        return submissions.submit(
            self._store,
            channel,
            sender_id,
            message_id,
            community_id,
            text,
            category,
            contact_name,
            contact_phone,
            consent,
        )

    def status_for_resident(self, tracking_no: str, channel: str, sender_id: str) -> ResidentStatus:
        """What the chat resident (channel, sender_id) may see of their own consultation; NotFoundError otherwise."""
        return outside.status_for_resident(self._store, self.get, tracking_no, channel, sender_id)

    @db_guard
    def my_consultations(self, channel: str, sender_id: str, limit: int = 5) -> list[ConsultationRecord]:
        """The sender's latest consultations (for "查我的诉求" without a number)."""
        with self.Session() as s:
            q = (
                select(m.Consultation)
                .where(m.Consultation.channel == channel, m.Consultation.sender_id == sender_id)
                .order_by(m.Consultation.id.desc())
                .limit(max(1, min(int(limit), 50)))
            )
            return [self._store.record(c) for c in s.scalars(q)]

    def withdraw(self, tracking_no: str, channel: str, sender_id: str, note: str = "") -> ConsultationRecord:
        """The chat resident withdraws their own consultation: :func:`transitions.withdraw`."""
        return transitions.withdraw(self._store, tracking_no, channel, sender_id, note)

    # the committee's side ----------------------------------------------------------------
    @db_guard
    def get(self, tracking_no: str) -> ConsultationRecord | None:
        """Full record with trail (for committee members; contains personal data)."""
        tn = tracking.normalize_tracking_no(tracking_no)
        if tn is None:
            return None
        with self.Session() as s:
            c = s.scalar(
                select(m.Consultation)
                .where(m.Consultation.tracking_no == tn)
                .options(selectinload(m.Consultation.events))
            )
            return self._store.record(c, trail=True) if c else None

    @db_guard
    def pushes(self, tracking_no: str) -> list[PushRecord]:
        """The status pushes of one consultation, oldest first (inbox detail page): the submitter's, and each
        co-signer's with a masked chat id (``to_owner`` False)."""
        with self.Session() as s:
            rows = s.execute(
                select(m.OutboxMessage, m.Consultation.channel, m.Consultation.sender_id)
                .join(m.Consultation, m.OutboxMessage.consultation_id == m.Consultation.id)
                .where(m.Consultation.tracking_no == tracking_no)
                .order_by(m.OutboxMessage.id)
            )
            out = []
            for r, channel, sender in rows:
                owner = (r.channel, r.sender_id) == (channel, sender)
                who = "" if owner else mask_sender(r.sender_id)
                out.append(
                    PushRecord(
                        r.created_at,
                        r.message,
                        r.delivered_at,
                        r.delivered_via,
                        r.failed,
                        r.attempts,
                        owner,
                        r.channel,
                        who,
                    )
                )
            return out

    def change_status(
        self, tracking_no: str, to_status: str | Status, actor: str, note: str = "", *, committee_id: str | None = None
    ) -> ConsultationRecord:
        """Committee-side transition, push queued to the resident: :func:`transitions.change_status`."""
        return transitions.change_status(self._store, tracking_no, to_status, actor, note, committee_id=committee_id)

    def recategorize(
        self, tracking_no: str, category: str, actor: str, note: str = "", *, committee_id: str | None = None
    ) -> ConsultationRecord:
        """New category, re-routed committee, trail line: :func:`transitions.recategorize`."""
        return transitions.recategorize(self._store, tracking_no, category, actor, note, committee_id=committee_id)

    def local_time_text(self, at: datetime) -> str:
        return self._store.local_time_text(at)
