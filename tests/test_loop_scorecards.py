"""Scorecards from real loop activity, on SQLite and PostgreSQL: items actually filed, accepted on time or late,
extended, resolved on time or late, co-signed at intake and joined by a merge, rated by each resident, reopened by a
不满意 and left unanswered — the store's clock (bot.db.base.clock_at) stepped over working days, no sleeping.
Every rate is checked exactly against what happened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.closedloop import workdays
from bot.consultations import ConsultationService
from bot.consultations import loop_rules as residents
from bot.db import dispose_engines
from bot.db.base import clock_at
from bot.kb import load_kb

TZ = "Asia/Shanghai"
TEXTS = {
    "i1": "幸福家园2号楼门口的路灯坏了，晚上很黑",
    "i2": "幸福家园6号楼旁边的垃圾站很久没人清运",
    "i3": "幸福路口下雨后积水严重，行人没法走",
    "i5": "幸福家园2号楼门口路灯不亮好几天了",
}


@pytest.fixture(params=["sqlite", "postgres"])
def svc(request):
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    service = ConsultationService(url, load_kb(), use_embedding=False)
    yield service
    service.delivery.stop()
    dispose_engines()


class Clock:
    def __init__(self, t: datetime):
        self.t = t

    def __call__(self) -> datetime:
        return self.t


def _after(day, hours: float = 1) -> datetime:
    """``hours`` into the day after ``day`` ends (local): past that due date."""
    return workdays.end_of_day(day, tz=TZ) + timedelta(hours=hours)


def test_scorecard_rates_come_from_what_happened(svc):
    assert svc.settings.timezone == TZ
    t0 = datetime(2026, 12, 1, 2, tzinfo=UTC)  # Tuesday 10:00 in Shanghai, a working day before the cut-off
    clock = Clock(t0)
    with clock_at(clock):
        items = {k: svc.submit("telegram", f"owner-{k}", f"m-{k}", "xingfu", text) for k, text in TEXTS.items()}
        committee = items["i1"].committee_id
        assert {i.committee_id for i in items.values()} == {committee}
        i1, i2, i3, i5 = (items[k].tracking_no for k in ("i1", "i2", "i3", "i5"))
        svc.loop.cosign(i1, "telegram", "neighbour-1", "xingfu")  # 附议 at intake
        clock.t = t0 + timedelta(minutes=30)
        svc.loop.merge(i5, i1, "member")  # owner-i5 joins i1

        # i1: accepted and resolved on time; the submitter, the co-signer and the merged resident are asked
        clock.t = t0 + timedelta(hours=1)
        svc.change_status(i1, "accepted", "member")
        clock.t = t0 + timedelta(hours=2)
        svc.change_status(i1, "resolved", "member", "已修好")
        assert svc.loop.rate(i1, "telegram", "owner-i1", "satisfied").accepted
        assert svc.loop.rate(i1, "telegram", "neighbour-1", "basically_satisfied").accepted
        # owner-i5 never answers: closed as 未回复 below

        # i2: accepted late; extended by 3 working days; resolved after the first limit but within the new one
        # (on time), 不满意 reopens it (rework), resolved again after the new limit (late), then rated satisfied
        first = svc.get(i2)
        clock.t = _after(first.accept_by)
        svc.change_status(i2, "accepted", "member")
        ext = svc.oversight.request_extension(i2, 3, "等待环卫部门排班", "member")
        svc.oversight.decide_extension(ext.id, True, "jd-sup", township="城关街道", role="supervisor")
        extended = svc.get(i2).complete_by
        assert extended == workdays.add_working_days(first.complete_by, 3)
        clock.t = _after(first.complete_by)
        svc.change_status(i2, "resolved", "member", "已清运")
        assert svc.loop.rate(i2, "telegram", "owner-i2", "unsatisfied", "第二天又堆满了").reopened
        clock.t = _after(extended)
        svc.change_status(i2, "resolved", "member", "已增加清运频次")
        assert svc.loop.rate(i2, "telegram", "owner-i2", "satisfied").accepted

        # i3: nobody answers it; by the end it is past both its limits
        days = svc.settings.closedloop_followup_days
        end = max(_after(extended, 2), _after(workdays.add_working_days(t0.date(), days + 1)))
        clock.t = end
        assert end > _after(svc.get(i3).complete_by, 0)
        assert residents.expire_followups(end, svc) == 1  # owner-i5's follow-up of i1

    last_day = workdays.to_local(end, TZ).date()
    card = svc.scorecards.compute(t0.date(), last_day, now=end)
    row = next(r for r in card.committees if r.key == committee)
    # filed 4 (i5 merged: left out of both on-time rates); acceptance due i1 i2 i3, on time i1; completion due
    # i1 i2 i3, on time i1 (i2's last resolution came after its extended limit)
    assert (row.filed, row.accept_due, row.accept_on_time, row.complete_due, row.complete_on_time) == (4, 3, 1, 3, 1)
    assert row.resolved == 2
    loop = row.loop
    assert (loop.rated, loop.satisfied, loop.basically_satisfied, loop.unsatisfied) == (4, 2, 1, 1)
    assert (loop.unanswered, loop.reworked, loop.cosigns) == (1, 1, 2)
    assert row.accept_rate == round(1 / 3, 4) and row.complete_rate == round(1 / 3, 4)
    assert row.satisfaction_rate == 0.75 and row.rework_rate == 0.5
    town = next(t for t in card.townships if t.key == row.township)
    assert town.satisfaction_rate == 0.75 and town.rework_rate == 0.5 and town.loop.cosigns == 2
    assert (town.accept_rate, town.complete_rate) == (row.accept_rate, row.complete_rate)

    # the filing day alone: the answers and the rework of the later days are left out (a follow-up counts on the
    # day it was answered or closed)
    early = svc.scorecards.compute(t0.date(), t0.date(), now=end)
    e = next(r for r in early.committees if r.key == committee)
    assert (e.loop.rated, e.loop.cosigns, e.loop.reworked, e.loop.unanswered) == (2, 2, 0, 0)
    assert e.satisfaction_rate == 1.0 and e.rework_rate == 0.0
