"""Storing a resident's consultation: validated, routed, numbered, idempotent per delivered message.

The day's tracking counter is taken first (SQLite: write-first; PostgreSQL: a row lock), so two
concurrent submissions never share a number; a rare collision is retried, a retried delivery of the
same message returns the stored record.
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.consultations import duedates, tracking
from bot.consultations import models as m
from bot.consultations.errors import db_guard
from bot.consultations.records import ConsultationRecord
from bot.consultations.routing import RouteResult
from bot.consultations.statuses import RESIDENT_ACTOR, Status
from bot.consultations.store import Store
from bot.consultations.validation import clean_phone, clean_text, client_key, ident
from bot.errors import UserFacingError

log = logging.getLogger("bot.consultations")
ATTEMPTS = 5


def routing_note(route: RouteResult) -> str:
    """The first trail line, in the words a committee member reads: where it went and why."""
    to = route.committee.name
    if route.category is None:
        return f"未能识别类别，已转至{to}，请核对分类"
    how = "按提交时选定的类别" if route.method == "given" else "自动"
    return f"{how}分派至{to}（类别：{route.category_name}）"


def _by_key(s, key: str) -> m.Consultation | None:
    return s.scalar(select(m.Consultation).where(m.Consultation.client_key == key))


@db_guard
def submit(
    store: Store,
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
    """Store a consultation in one transaction; idempotent on (channel, sender_id, message_id):
    a retried delivery returns the stored record (``created=False``), also under a race."""
    channel = ident(channel, "渠道", 64)
    sender_id = ident(sender_id, "用户标识")
    message_id = ident(message_id, "消息编号") if message_id is not None else uuid.uuid4().hex
    key = client_key(channel, sender_id, message_id)
    with store.sessions() as s:
        found = _by_key(s, key)
        if found is not None:
            return store.record(found)
    text = clean_text(text)
    cid = store.directory.community_id(community_id)
    cat = store.directory.category_id(category) if category is not None else None
    name = phone = None
    consent = consent is True
    if consent:
        name = clean_text(contact_name, field="联系人姓名", max_chars=50, required=False) or None
        phone = clean_phone(contact_phone) if contact_phone not in (None, "") else None
    route = store.router.route(text, cid, cat)
    for attempt in range(ATTEMPTS):
        s = store.sessions()
        try:
            now = m.utcnow()
            day = tracking.local_day(now, store.settings.timezone)
            seq = tracking.next_sequence(s, day)  # takes the day's lock first (write-first for SQLite)
            found = _by_key(s, key)  # a concurrent twin may have committed while we waited
            if found is not None:
                rec = store.record(found)
                s.rollback()  # gives the number back
                return rec
            c = m.Consultation(
                tracking_no=tracking.format_tracking_no(day, seq),
                client_key=key,
                channel=channel,
                sender_id=sender_id,
                community_id=cid,
                category=route.category,
                text=text,
                contact_name=name,
                contact_phone=phone,
                consent=consent,
                status=Status.SUBMITTED.value,
                committee_id=route.committee.id,
                flagged_unroutable=route.flagged_unroutable,
                created_at=now,
                updated_at=now,
            )
            duedates.stamp(s, c, store.directory.kb_directory, store.settings)
            s.add(c)
            s.flush()
            s.add(
                m.StatusEvent(
                    consultation_id=c.id,
                    kind="status",
                    actor=RESIDENT_ACTOR,
                    at=now,
                    from_status=None,
                    to_status=Status.SUBMITTED.value,
                    to_category=route.category,
                    to_committee_id=route.committee.id,
                    note=routing_note(route),
                )
            )
            s.flush()
            rec = store.record(c, created=True)
            s.commit()
            log.info("consultation %s → %s (%s)", rec.tracking_no, rec.committee_id, route.method)
            return rec
        except IntegrityError:
            s.rollback()
            found = _by_key(s, key)
            if found is not None:
                return store.record(found)
            log.warning("tracking number collision, retrying (attempt %d)", attempt + 1)
        finally:
            s.close()
    raise UserFacingError("系统繁忙，提交没有成功，请稍后再试。", code="busy")
