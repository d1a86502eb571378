"""Which reminders and escalations are due now, and the resident's 催办 rule.

A pass of the scheduler calls :func:`plan` with the open items and ``now``; it returns every reminder that is due,
each with an idempotent key (kind, item, due date). The sender claims a key in the ledger (bot.closedloop.lease)
before sending, so a reminder goes out once however many passes or replicas see it; an approved extension changes
the completion date and so the key (a new reminder for the new date).

Near a limit (``closedloop_remind_days_left`` working days or fewer left) the committee is reminded; past it the
item escalates to the supervisor of the 街道/乡镇 above the community (Community.township in communities.yml).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from bot.closedloop import deadlines as dl
from bot.closedloop import workdays
from bot.kb.models import CategoryLimits


class Kind(StrEnum):
    ACCEPT_NEAR = "accept_near"
    ACCEPT_OVERDUE = "accept_overdue"
    COMPLETE_NEAR = "complete_near"
    COMPLETE_OVERDUE = "complete_overdue"


class Audience(StrEnum):
    COMMITTEE = "committee"  # the community's committee members (inbox badge, dashboard, digest)
    STREET = "street"  # the 街道/乡镇 supervisor (escalation)


@dataclass(frozen=True, slots=True)
class OpenItem:
    id: str
    community: str
    street: str  # 街道/乡镇 above the community
    category: str
    filed_at: datetime  # aware
    status: str  # a bot.consultations.statuses.Status value
    accepted_at: datetime | None = None
    resolved_at: datetime | None = None
    extensions: tuple[dl.Extension, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Reminder:
    key: str  # idempotent: kind, item, due date
    kind: Kind
    item_id: str
    due: date
    audience: Audience
    to: str  # community id (committee) or street name (supervisor)
    working_days_left: int
    working_days_overdue: int


# Status values as strings (bot.consultations.statuses.Status is a StrEnum): closedloop must not import consultations,
# which imports closedloop to store due dates.
ACCEPT_OPEN = frozenset({"submitted"})
COMPLETE_OPEN = frozenset({"submitted", "accepted", "deliberating"})


def streets(kb) -> dict[str, str]:
    """community id → 街道/乡镇 (the escalation level above it)."""
    return {c.id: c.township for c in kb.communities}


def reminder_key(kind: Kind, item_id: str, due: date) -> str:
    return f"{kind.value}:{item_id}:{due.isoformat()}"


def _stage(
    item: OpenItem, now: datetime, due: date, near: Kind, overdue: Kind, remind_days_left: int, tz
) -> Reminder | None:
    left = dl.remaining(now, due, tz=tz)
    if left.overdue:
        kind, audience, to = overdue, Audience.STREET, item.street
    elif left.working_days_left <= remind_days_left:
        kind, audience, to = near, Audience.COMMITTEE, item.community
    else:
        return None
    return Reminder(
        reminder_key(kind, item.id, due),
        kind,
        item.id,
        due,
        audience,
        to,
        left.working_days_left,
        left.working_days_overdue,
    )


def plan(
    items: Iterable[OpenItem],
    now: datetime,
    limits: Mapping[str, CategoryLimits],
    *,
    remind_days_left: int | None = None,
    cutoff=None,
    tz=None,
) -> list[Reminder]:
    """Every reminder or escalation due at ``now``; closed items and finished stages give none.

    ``limits`` maps category id → limits (an unknown category uses the defaults rather than dropping the item)."""
    if remind_days_left is None:
        from bot.settings import get_settings

        remind_days_left = get_settings().closedloop_remind_days_left
    default = CategoryLimits()
    out: list[Reminder] = []
    for item in items:
        status = str(item.status)
        if status not in COMPLETE_OPEN:
            continue
        due = dl.due_dates(item.filed_at, limits.get(item.category, default), cutoff=cutoff, tz=tz)
        if status in ACCEPT_OPEN and item.accepted_at is None:
            r = _stage(item, now, due.accept_by, Kind.ACCEPT_NEAR, Kind.ACCEPT_OVERDUE, remind_days_left, tz)
            if r:
                out.append(r)
        if item.resolved_at is None:
            complete_by = dl.with_extensions(due, item.extensions).complete_by
            r = _stage(item, now, complete_by, Kind.COMPLETE_NEAR, Kind.COMPLETE_OVERDUE, remind_days_left, tz)
            if r:
                out.append(r)
    return out


# --- 催办: once per working day per item per resident -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UrgeDecision:
    allowed: bool
    key: str
    message: str  # what the resident reads


def urge_key(item_id: str, channel: str, sender: str, now: datetime, *, tz=None) -> str:
    """One key per item, resident (channel, sender) and working day; a weekend urge belongs to the next working day."""
    return f"urge:{item_id}:{channel}:{sender}:{workdays.current_working_day(now, tz=tz).isoformat()}"


def check_urge(
    item: OpenItem, channel: str, sender: str, now: datetime, recorded: Collection[str], *, tz=None
) -> UrgeDecision:
    """May this resident urge this item now? ``recorded`` holds the urge keys already stored (the ledger)."""
    key = urge_key(item.id, channel, sender, now, tz=tz)
    if str(item.status) not in COMPLETE_OPEN:
        return UrgeDecision(False, key, "这件事已经办结或撤回，不需要再催办了。")
    if key in recorded:
        return UrgeDecision(False, key, "今天已经催办过这件事了，社区已收到提醒。下一个工作日还可以再催办。")
    return UrgeDecision(True, key, "已为您催办，社区会尽快处理，有进展会第一时间通知您。")
