"""Due dates of a consultation (受理 and 办结 limits in working days), remaining time, and extensions.

Limits are per category (``limits:`` under each category in knowledge_base/communities.yml, defaults in
:class:`bot.kb.models.CategoryLimits`). Both limits count from the filing (workdays.counting_start); an approved
extension moves the completion date by its days, counted on from the current completion date.
An extension is a small state machine — requested → approved | refused — and only a supervisor of the 街道/乡镇
decides; the requester never decides their own request. Everything here is pure: no clock, no database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum

from bot.closedloop import workdays
from bot.errors import UserFacingError
from bot.kb.models import CategoryLimits

MAX_REASON_CHARS = 500
MAX_EXTENSION_DAYS = 30


@dataclass(frozen=True, slots=True)
class Deadlines:
    start: date  # day 1 of the count
    accept_by: date  # due by the end of this local day
    complete_by: date
    estimated: bool = False  # a year in the count has no holiday data yet: shown as 预估


@dataclass(frozen=True, slots=True)
class Remaining:
    due: date
    working_days_left: int  # working days after today up to the due date (0 on the due day itself)
    overdue: bool  # the due day has ended
    working_days_overdue: int  # working days since the due date (0 unless overdue)


def limits_for(category: str, kb=None) -> CategoryLimits:
    """The limits of a category id from the knowledge base; an unknown id is a polite error."""
    if kb is None:
        from bot.kb.loader import load_kb

        kb = load_kb()
    for cat in kb.directory.categories:
        if cat.id == category:
            return cat.limits
    raise UserFacingError("没有这个事项类别，无法计算办理期限。", code="unknown_category")


def due_dates(filed_at: datetime, category: str | CategoryLimits, *, kb=None, cutoff=None, tz=None) -> Deadlines:
    """Acceptance and completion dates of an item filed at ``filed_at`` (aware) in ``category``."""
    limits = category if isinstance(category, CategoryLimits) else limits_for(category, kb)
    start = workdays.counting_start(filed_at, cutoff=cutoff, tz=tz)
    complete_by = workdays.add_working_days(start, limits.complete_days - 1)
    return Deadlines(
        start=start,
        accept_by=workdays.add_working_days(start, limits.accept_days - 1),
        complete_by=complete_by,
        estimated=workdays.is_estimated(start, complete_by),
    )


def remaining(now: datetime, due: date, *, tz=None) -> Remaining:
    """How much working time is left before ``due`` ends, or how far past it ``now`` is."""
    today = workdays.to_local(now, tz).date()
    if today > due:
        return Remaining(due, 0, True, max(1, workdays.working_days_between(due, today)))
    return Remaining(due, workdays.working_days_between(today, due), False, 0)


# --- extensions -------------------------------------------------------------------------------------------------


class ExtensionState(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REFUSED = "refused"


class Role(StrEnum):
    MEMBER = "member"  # a committee member: may request
    SUPERVISOR = "supervisor"  # the 街道/乡镇 supervisor above the community: decides


@dataclass(frozen=True, slots=True)
class Actor:
    id: str
    role: Role


@dataclass(frozen=True, slots=True)
class Extension:
    reason: str
    days: int
    requested_by: str
    decided_by: str | None = None
    approved: bool | None = None  # None while requested

    @property
    def state(self) -> ExtensionState:
        if self.approved is None:
            return ExtensionState.REQUESTED
        return ExtensionState.APPROVED if self.approved else ExtensionState.REFUSED


def request_extension(reason: str, days: int, requested_by: Actor, *, pending: Iterable[Extension] = ()) -> Extension:
    """A committee member asks for ``days`` more working days; one open request per item at a time."""
    text = reason.strip() if isinstance(reason, str) else ""
    if not text or not any(ch.isalnum() for ch in text):
        raise UserFacingError("申请延期请写明理由。", code="extension_reason")
    if len(text) > MAX_REASON_CHARS or any(ord(ch) < 32 and ch not in "\n\t" for ch in text):
        raise UserFacingError(f"延期理由请控制在{MAX_REASON_CHARS}字以内，不要包含控制字符。", code="extension_reason")
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_EXTENSION_DAYS:
        raise UserFacingError(f"延期天数应为1到{MAX_EXTENSION_DAYS}个工作日。", code="extension_days")
    if any(e.state is ExtensionState.REQUESTED for e in pending):
        raise UserFacingError("这件事已有一个延期申请在等待审批。", code="extension_pending")
    return Extension(reason=text, days=days, requested_by=requested_by.id)


def decide_extension(ext: Extension, decider: Actor, approve: bool) -> Extension:
    """requested → approved | refused, by a supervisor who did not request it; a decision is final."""
    if decider.role is not Role.SUPERVISOR:
        raise UserFacingError("只有街道（乡镇）的督办人员可以审批延期。", code="not_supervisor")
    if decider.id == ext.requested_by:
        raise UserFacingError("不能审批自己提出的延期申请。", code="own_request")
    if ext.state is not ExtensionState.REQUESTED:
        raise UserFacingError("这个延期申请已经审批过了。", code="already_decided")
    return replace(ext, decided_by=decider.id, approved=bool(approve))


def with_extensions(deadlines: Deadlines, extensions: Iterable[Extension]) -> Deadlines:
    """The completion date moved on by every approved extension (requested and refused ones change nothing)."""
    days = sum(e.days for e in extensions if e.state is ExtensionState.APPROVED)
    if not days:
        return deadlines
    moved = workdays.add_working_days(deadlines.complete_by, days)
    return replace(deadlines, complete_by=moved, estimated=workdays.is_estimated(deadlines.start, moved))


# --- what the resident reads ------------------------------------------------------------------------------------


def _day_words(day: date, now: datetime, tz=None) -> str:
    this_year = workdays.to_local(now, tz).year
    return f"{day.month}月{day.day}日" if day.year == this_year else f"{day.year}年{day.month}月{day.day}日"


def resident_line(deadlines: Deadlines, now: datetime, *, accepted: bool, tz=None) -> str:
    """One plain line: "预计12月3日前受理" before acceptance, "预计12月18日前办结" after; an estimate says so."""
    tail = "（预估，节假日安排公布后可能调整）" if deadlines.estimated else ""
    if not accepted:
        return f"预计{_day_words(deadlines.accept_by, now, tz)}前受理{tail}"
    return f"预计{_day_words(deadlines.complete_by, now, tz)}前办结{tail}"
