"""The closed loop's rules on the resident side, over ``service.loop`` (bot.consultations.loop):
which open item to offer for a co-sign (附议), the 催办 key of a working day, and the follow-up (回访) expiry."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.closedloop import similar, workdays
from bot.closedloop.reminders import urge_key
from bot.consultations.records import UrgeRecord


def cosign_offer(svc, text: str, community_id: str | None, channel: str, sender_id: str, now: datetime) -> str | None:
    """The tracking no of the open item of the same community (last ``closedloop_cosign_days``) most like ``text``
    that this resident has not filed or joined, or None."""
    if not community_id or not isinstance(text, str) or not text.strip():
        return None
    days = svc.settings.closedloop_cosign_days
    pool = svc.loop.open_items(community_id, now - timedelta(days=days), channel, sender_id)
    found = similar.candidates(
        text,
        community_id,
        [similar.OpenText(o.tracking_no, community_id, o.text, o.created_at) for o in pool],
        now,
        days=days,
        limit=1,
    )
    return found[0].item_id if found else None


def urge(svc, tracking_no: str, channel: str, sender_id: str, now: datetime) -> UrgeRecord:
    """A 催办, once per working day per item per resident (:func:`bot.closedloop.reminders.urge_key`)."""
    from bot.consultations import tracking

    tn = tracking.normalize_tracking_no(tracking_no) or str(tracking_no)
    key = urge_key(tn, str(channel), str(sender_id), now, tz=svc.settings.timezone)
    if len(key) > 255:  # an id this long is refused by the store's own check anyway
        key = key[:255]
    return svc.loop.urge(tn, channel, sender_id, key)


def followup_expired(asked_at: datetime, now: datetime, days: int, *, tz: str | None = None) -> bool:
    """True once ``days`` whole working days have passed after the day the follow-up was asked."""
    asked = workdays.to_local(asked_at, tz).date()
    due = workdays.add_working_days(asked, days)
    return now >= workdays.end_of_day(due, tz=tz)


def expire_followups(now: datetime, svc=None) -> int:
    """Close follow-ups without an answer after ``closedloop_followup_days`` working days as 未回复 (never as
    satisfied); the scheduler calls this, and ``python -m bot closedloop expire-followups``. Returns how many."""
    if svc is None:
        from bot.consultations import ConsultationService

        svc = ConsultationService.from_settings()
    days, tz = svc.settings.closedloop_followup_days, svc.settings.timezone
    # N working days are at least N calendar days: only those rows are candidates
    due = [i for i, at in svc.loop.unanswered(now - timedelta(days=days)) if followup_expired(at, now, days, tz=tz)]
    return svc.loop.close_unanswered(due, now)
