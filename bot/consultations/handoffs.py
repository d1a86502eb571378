"""Requests for a person (转人工): stored for the community's fallback committee, closed with a reply.

A closing note goes to the resident's chat through the outbox, in the same transaction as the close.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from bot.consultations import models as m
from bot.consultations import notify
from bot.consultations.errors import AccessDenied, NotFoundError, db_guard
from bot.consultations.records import HandoffRecord, HandoffTicket
from bot.consultations.routing import Router
from bot.consultations.statuses import SYSTEM_ACTOR
from bot.consultations.store import Store
from bot.consultations.validation import MAX_TEXT_CHARS, clean_phone, clean_text, ident
from bot.errors import UserFacingError

log = logging.getLogger("bot.consultations")
HANDOFF_REPLY_HOURS = "工作日 2 小时内"


def _record(h: m.HandoffRequest, *, pushed: bool = False) -> HandoffRecord:
    return HandoffRecord(
        h.id,
        h.channel,
        h.sender_id,
        h.community_id,
        h.committee_id,
        h.text,
        h.contact_phone,
        bool(h.consent),
        h.status,
        h.created_at,
        h.closed_at,
        h.closed_by,
        h.close_note or "",
        pushed,
    )


class Handoffs:
    def __init__(self, store: Store):
        self._store = store

    @db_guard
    def request(
        self,
        channel: str,
        sender_id: str,
        community_id: str | None,
        text: str,
        *,
        contact_phone: str | None = None,
        consent: bool = False,
    ) -> HandoffTicket:
        """Ask for a person; the fallback committee of the community gets it.

        ``text`` is the resident's summary; ``contact_phone`` is stored only with ``consent=True``
        (a phone without consent is dropped, as for consultations)."""
        store = self._store
        channel = ident(channel, "渠道", 64)
        sender_id = ident(sender_id, "用户标识")
        cid = store.directory.community_id(community_id)
        text = clean_text(text, required=False)
        consent = consent is True
        phone = clean_phone(contact_phone) if consent and contact_phone not in (None, "") else None
        committee = Router.fallback(store.router.community(cid))
        with store.sessions.begin() as s:
            h = m.HandoffRequest(
                channel=channel,
                sender_id=sender_id,
                community_id=cid,
                committee_id=committee.id,
                text=text,
                contact_phone=phone,
                consent=consent and phone is not None,
            )
            s.add(h)
            s.flush()
            hid = h.id
        log.info("handoff %s for %s (%d chars)", hid, committee.id, len(text))
        return HandoffTicket(hid, HANDOFF_REPLY_HOURS)

    @db_guard
    def list(
        self, committee_id: str | None = None, status: str | None = "open", limit: int = 100
    ) -> list[HandoffRecord]:
        """Newest first; ``committee_id=None`` means all (admin)."""
        q = select(m.HandoffRequest).order_by(m.HandoffRequest.id.desc()).limit(max(0, int(limit)))
        if committee_id is not None:
            q = q.where(m.HandoffRequest.committee_id == committee_id)
        if status:
            q = q.where(m.HandoffRequest.status == status)
        with self._store.sessions() as s:
            return [_record(h) for h in s.scalars(q)]

    @db_guard
    def get(self, handoff_id: int) -> HandoffRecord | None:
        with self._store.sessions() as s:
            h = s.get(m.HandoffRequest, handoff_id)
            return _record(h) if h else None

    @db_guard
    def close(
        self, handoff_id: int, note: str = "", actor: str = SYSTEM_ACTOR, *, committee_id: str | None = None
    ) -> HandoffRecord:
        """Close a handoff; a non-empty ``note`` is pushed to the resident (chat channels only,
        intent ``EXTERNAL_handoff_reply``) through the outbox, in the same transaction."""
        store = self._store
        note = clean_text(note, field="回复", max_chars=MAX_TEXT_CHARS, required=False)
        actor = ident(actor, "操作人", 100)
        with store.sessions() as s:
            q = select(m.HandoffRequest).where(m.HandoffRequest.id == handoff_id)
            if s.get_bind().dialect.name == "postgresql":
                q = q.with_for_update()
            h = s.scalar(q)
            if h is None:
                raise NotFoundError("没有找到这条转人工请求。")
            if committee_id is not None and h.committee_id != committee_id:
                raise AccessDenied("您无权处理这条转人工请求。")
            if h.status == "closed":
                raise UserFacingError("这条转人工请求已经处理过了。", code="already_closed")
            h.status, h.closed_at, h.closed_by, h.close_note = "closed", m.utcnow(), actor, note
            s.flush()
            queued = notify.enqueue_handoff_reply(s, h, note, chat_channels=store.chat_channels) if note else None
            s.commit()
            s.refresh(h)
            out = _record(h, pushed=queued is not None)
        if queued is not None:
            store.wake()
        return out
