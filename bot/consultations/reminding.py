"""``service.reminding``: what the scheduler reads (open items with their stored due dates) and writes (a reminder or
an escalation: a trail line and its ledger row, in one transaction, so it exists exactly once whichever replica or
pass wrote it first).

The ledger is ``reminder_ledger`` of :mod:`bot.closedloop.lease`; its key is reminders.reminder_key(kind, item, due),
so an approved extension (a new due date) gives a new reminder. The committee's badge and the supervisor's view are
computed live from the due dates (bot.consultations.oversight); the trail line records when the reminder went out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from bot.closedloop import deadlines as dl
from bot.closedloop import lease
from bot.closedloop.reminders import Audience, Kind, Reminder, reminder_key
from bot.consultations import models as m
from bot.consultations.errors import db_guard
from bot.consultations.statuses import SYSTEM_ACTOR
from bot.consultations.store import Store

OPEN = ("submitted", "accepted", "deliberating")
BATCH = 2000


@dataclass(frozen=True)
class DueItem:
    id: int
    tracking_no: str
    committee_id: str
    township: str
    status: str
    accept_by: date | None
    complete_by: date | None


def _words(r: Reminder) -> str:
    what = "受理" if r.kind in (Kind.ACCEPT_NEAR, Kind.ACCEPT_OVERDUE) else "办结"
    day = f"{r.due.month}月{r.due.day}日"
    if r.audience is Audience.STREET:
        return f"已超过{what}期限（{day}）{r.working_days_overdue}个工作日，已上报{r.to or '街道（乡镇）'}督办"
    left = "今天到期" if r.working_days_left == 0 else f"还剩{r.working_days_left}个工作日"
    return f"提醒：距{what}期限（{day}）{left}"


class Reminding:
    def __init__(self, store: Store):
        self._store = store

    @db_guard
    def due_items(self) -> list[DueItem]:
        """Every open item that has due dates."""
        q = (
            select(
                m.Consultation.id,
                m.Consultation.tracking_no,
                m.Consultation.committee_id,
                m.Community.township,
                m.Consultation.status,
                m.Consultation.accept_by,
                m.Consultation.complete_by,
            )
            .join(m.Community, m.Community.id == m.Consultation.community_id)
            .where(m.Consultation.status.in_(OPEN), m.Consultation.complete_by.is_not(None))
        )
        with self._store.sessions() as s:
            return [DueItem(*row) for row in s.execute(q)]

    def plan(self, items: Iterable[DueItem], now: datetime) -> list[Reminder]:
        """The reminders and escalations due at ``now`` from the stored dates (acceptance only while submitted)."""
        settings = self._store.settings
        near_days = settings.closedloop_remind_days_left
        out = []
        for it in items:
            stages = [(Kind.ACCEPT_NEAR, Kind.ACCEPT_OVERDUE, it.accept_by)] if it.status == "submitted" else []
            stages.append((Kind.COMPLETE_NEAR, Kind.COMPLETE_OVERDUE, it.complete_by))
            for near, overdue, due in stages:
                if due is None:
                    continue
                left = dl.remaining(now, due, tz=settings.timezone)
                if left.overdue:
                    kind, aud, to = overdue, Audience.STREET, it.township
                elif left.working_days_left <= near_days:
                    kind, aud, to = near, Audience.COMMITTEE, it.committee_id
                else:
                    continue
                key = reminder_key(kind, it.tracking_no, due)
                out.append(
                    Reminder(key, kind, str(it.id), due, aud, to, left.working_days_left, left.working_days_overdue)
                )
        return out

    @staticmethod
    def _write(s, reminders: list[Reminder], statuses: dict, holder: str, naive: datetime, now: datetime) -> None:
        if not reminders:
            return
        s.execute(
            insert(lease.reminder_ledger),
            [{"key": r.key, "holder": holder, "claimed_at": naive, "sent_at": naive} for r in reminders],
        )
        s.execute(
            insert(m.StatusEvent),
            [
                {
                    "consultation_id": int(r.item_id),
                    "kind": "escalation" if r.audience is Audience.STREET else "reminder",
                    "actor": SYSTEM_ACTOR,
                    "at": now,
                    "from_status": statuses[int(r.item_id)],
                    "to_status": statuses[int(r.item_id)],
                    "note": _words(r),
                }
                for r in reminders
            ],
        )

    @db_guard
    def send(self, reminders: list[Reminder], holder: str, now: datetime | None = None) -> int:
        """Write each reminder not yet in the ledger (trail line + ledger row, atomically); the number written."""
        now = now or m.utcnow()
        naive = now.astimezone(UTC).replace(tzinfo=None)
        sent = 0
        with self._store.sessions() as s:
            for i in range(0, len(reminders), BATCH):
                batch = reminders[i : i + BATCH]
                known = set(
                    s.scalars(
                        select(lease.reminder_ledger.c.key).where(
                            lease.reminder_ledger.c.key.in_([r.key for r in batch])
                        )
                    )
                )
                statuses = dict(
                    s.execute(
                        select(m.Consultation.id, m.Consultation.status).where(
                            m.Consultation.id.in_([int(r.item_id) for r in batch if r.key not in known])
                        )
                    ).all()
                )
                todo = [r for r in batch if r.key not in known and int(r.item_id) in statuses]
                try:  # the usual case: nobody else wrote these keys; one bulk write
                    with s.begin_nested():
                        self._write(s, todo, statuses, holder, naive, now)
                    sent += len(todo)
                except IntegrityError:  # another replica raced us: one at a time, skipping its keys
                    for r in todo:
                        try:
                            with s.begin_nested():
                                self._write(s, [r], statuses, holder, naive, now)
                            sent += 1
                        except IntegrityError:
                            continue
                s.commit()
        return sent
