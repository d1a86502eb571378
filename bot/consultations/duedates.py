"""Due dates stored with each consultation, and the limits they come from.

A category's limits are the ``limits:`` in communities.yml unless an admin set an override in the inbox
(table ``category_limits``); the override wins, the yml stays the default. Due dates are computed once, at submission
(:func:`stamp`), with the calendar rule of :mod:`bot.closedloop.workdays`; an approved extension moves ``complete_by``.
Changing a limit later does not move the dates of items already filed (they were promised to the resident).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select

from bot.closedloop import deadlines as dl
from bot.closedloop import workdays
from bot.consultations import models as m
from bot.consultations.records import DueInfo, LimitsRecord
from bot.kb.models import CategoryLimits


def yml_limits(kb_directory) -> dict[str, CategoryLimits]:
    return {c.id: c.limits for c in kb_directory.categories}


def effective_limits(s, kb_directory) -> dict[str, CategoryLimits]:
    """category id → limits: the admin's override where there is one, else communities.yml."""
    out = yml_limits(kb_directory)
    for o in s.scalars(select(m.CategoryLimitOverride)):
        if o.category in out:
            out[o.category] = CategoryLimits(accept_days=o.accept_days, complete_days=o.complete_days)
    return out


def limit_records(s, kb_directory) -> list[LimitsRecord]:
    overrides = {o.category: o for o in s.scalars(select(m.CategoryLimitOverride))}
    out = []
    for c in kb_directory.categories:
        o = overrides.get(c.id)
        out.append(
            LimitsRecord(
                c.id,
                c.name,
                o.accept_days if o else c.limits.accept_days,
                o.complete_days if o else c.limits.complete_days,
                c.limits.accept_days,
                c.limits.complete_days,
                o is not None,
                o.updated_by if o else None,
            )
        )
    return out


def stamp(s, c: m.Consultation, kb_directory, settings) -> None:
    """Compute and store ``c``'s due dates (filed at ``c.created_at``, in its category or the defaults)."""
    limits = effective_limits(s, kb_directory).get(c.category or "", CategoryLimits())
    d = dl.due_dates(c.created_at, limits, cutoff=settings.closedloop_intake_cutoff, tz=settings.timezone)
    c.accept_by, c.complete_by, c.due_estimated = d.accept_by, d.complete_by, d.estimated


def due_info(due: date | None, now: datetime, settings, *, estimated: bool = False) -> DueInfo | None:
    if due is None:
        return None
    r = dl.remaining(now, due, tz=settings.timezone)
    near = not r.overdue and r.working_days_left <= settings.closedloop_remind_days_left
    return DueInfo(r.due, r.working_days_left, r.overdue, r.working_days_overdue, near, estimated)


def accepted(status: str) -> bool:
    return status != "submitted"


def resident_line(rec, now: datetime, settings) -> str:
    """The plain words for the resident: before acceptance the acceptance date, after it the completion date."""
    if rec.accept_by is None or rec.complete_by is None or rec.status not in ("submitted", "accepted", "deliberating"):
        return ""
    d = dl.Deadlines(rec.accept_by, rec.accept_by, rec.complete_by, rec.due_estimated)
    return dl.resident_line(d, now, accepted=accepted(rec.status), tz=settings.timezone)


def today(now: datetime, settings) -> date:
    return workdays.to_local(now, settings.timezone).date()
