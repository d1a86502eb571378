"""bot.closedloop: the working-day calendar, deadlines, extensions, reminder planning and the 催办 rule."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import yaml

from bot.closedloop import deadlines as dl
from bot.closedloop import reminders as rm
from bot.closedloop import workdays as wd
from bot.consultations.statuses import Status
from bot.errors import UserFacingError
from bot.kb.loader import load_kb
from bot.kb.models import CategoryLimits
from bot.settings import get_settings

SH = ZoneInfo("Asia/Shanghai")
CUTOFF = time(17, 0)


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SH)


def due(filed: datetime, accept: int, complete: int = 30) -> dl.Deadlines:
    return dl.due_dates(
        filed, CategoryLimits(accept_days=accept, complete_days=complete), cutoff=CUTOFF, tz="Asia/Shanghai"
    )


# --- calendar ---------------------------------------------------------------------------------------------------


def test_holidays_and_make_up_workdays_of_2026():
    assert not wd.is_working_day(date(2026, 1, 1))  # 元旦
    assert wd.is_working_day(date(2026, 1, 4))  # Sunday, make-up workday
    assert wd.is_working_day(date(2026, 2, 14)) and wd.is_working_day(date(2026, 2, 28))  # 春节 make-up Saturdays
    assert not any(wd.is_working_day(date(2026, 2, d)) for d in range(15, 24))  # 春节 holiday
    assert not wd.is_working_day(date(2026, 10, 5)) and wd.is_working_day(date(2026, 10, 10))  # 国庆, make-up Saturday
    assert not wd.is_working_day(date(2026, 3, 7))  # an ordinary Saturday


def test_add_and_between_are_inverse_over_2026():
    start = date(2026, 1, 1)
    for offset in range(0, 330, 7):
        d = start + timedelta(days=offset)
        for n in (0, 1, 2, 5, 15):
            end = wd.add_working_days(d, n)
            assert wd.working_days_between(d, end) == n
            assert wd.working_days_between(end, d) == -n
            assert n == 0 or wd.is_working_day(end)


def test_add_working_days_refuses_bad_counts():
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(ValueError):
            wd.add_working_days(date(2026, 5, 6), bad)


def test_year_without_data_is_estimated_and_marked():
    missing = wd.supported_years().stop  # first year the installed data does not cover (and the supplement is empty)
    assert wd.calendar_source(missing) == "estimated"
    assert wd.is_working_day(date(missing, 1, 1)) == (date(missing, 1, 1).weekday() < 5)  # Mon–Fri, no holidays
    # an item filed in late December whose limit runs into that year gets an estimated date, shown as 预估
    d = due(local(missing - 1, 12, 28, 10, 0), accept=2, complete=15)
    assert d.estimated and d.complete_by.year == missing
    assert "预估" in dl.resident_line(d, local(missing - 1, 12, 28, 10, 0), accepted=True, tz="Asia/Shanghai")
    assert not due(local(missing - 1, 3, 2, 10, 0), accept=2, complete=15).estimated


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError):
        wd.counting_start(datetime(2026, 3, 2, 10, 0), cutoff=CUTOFF)


# --- counting start: cutoff, holidays, midnight, time zones ---------------------------------------------------


def test_yuandan_at_year_end():
    assert due(local(2025, 12, 31, 10, 0), accept=2).accept_by == date(2026, 1, 4)  # make-up Sunday counts
    late = due(local(2025, 12, 31, 23, 30), accept=2)  # after the cutoff: counting starts on the next working day
    assert late.start == date(2026, 1, 4) and late.accept_by == date(2026, 1, 5)
    assert due(local(2026, 1, 2, 9, 0), accept=1).accept_by == date(2026, 1, 4)  # filed on the holiday


def test_spring_festival_with_make_up_saturdays():
    assert due(local(2026, 2, 13, 10, 0), accept=2).accept_by == date(2026, 2, 14)
    assert due(local(2026, 2, 14, 9, 0), accept=2).accept_by == date(2026, 2, 24)
    during = due(local(2026, 2, 17, 9, 0), accept=2)
    assert during.start == date(2026, 2, 24) and during.accept_by == date(2026, 2, 25)
    assert wd.working_days_between(date(2026, 2, 13), date(2026, 2, 28)) == 6


def test_national_day():
    assert due(local(2026, 9, 30, 10, 0), accept=2).accept_by == date(2026, 10, 8)
    assert due(local(2026, 10, 3, 10, 0), accept=3).accept_by == date(2026, 10, 10)  # make-up Saturday


def test_midnight_local_edges():
    # 2026-03-01 is a Sunday, 03-02 a Monday
    assert wd.counting_start(datetime(2026, 3, 1, 15, 59, 59, tzinfo=timezone.utc), cutoff=CUTOFF) == date(2026, 3, 2)
    assert wd.counting_start(datetime(2026, 3, 1, 16, 0, tzinfo=timezone.utc), cutoff=CUTOFF) == date(
        2026, 3, 2
    )  # Mon 00:00
    assert wd.counting_start(datetime(2026, 3, 1, 23, 59, tzinfo=timezone.utc), cutoff=CUTOFF) == date(
        2026, 3, 2
    )  # Mon 07:59
    # the cutoff, in local time
    assert wd.counting_start(datetime(2026, 3, 2, 8, 59, 59, tzinfo=timezone.utc), cutoff=CUTOFF) == date(2026, 3, 2)
    assert wd.counting_start(datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc), cutoff=CUTOFF) == date(2026, 3, 3)


def test_just_before_midnight_utc_is_next_morning_local():
    # 23:30 UTC on Monday is 07:30 on Tuesday in Shanghai: counted from Tuesday, not Monday
    assert wd.counting_start(datetime(2026, 3, 2, 23, 30, tzinfo=timezone.utc), cutoff=CUTOFF) == date(2026, 3, 3)
    # 23:30 Shanghai on Monday is 15:30 UTC: after the cutoff, counted from Tuesday as well
    assert wd.counting_start(local(2026, 3, 2, 23, 30), cutoff=CUTOFF) == date(2026, 3, 3)
    assert wd.counting_start(local(2026, 3, 2, 23, 30).astimezone(timezone.utc), cutoff=CUTOFF) == date(2026, 3, 3)


def test_a_client_clock_change_does_not_move_the_local_day():
    ny = ZoneInfo("America/New_York")  # DST starts 2026-03-08 02:00 there; Shanghai has none
    before = datetime(2026, 3, 8, 1, 30, tzinfo=ny)  # EST = 14:30 Sunday in Shanghai
    after = datetime(2026, 3, 8, 3, 30, tzinfo=ny)  # EDT = 15:30 Sunday in Shanghai
    assert after.astimezone(timezone.utc) - before.astimezone(timezone.utc) == timedelta(hours=1)  # wall clock says 2 h
    assert wd.to_local(before).hour == 14 and wd.to_local(after).hour == 15
    assert wd.counting_start(before, cutoff=CUTOFF) == wd.counting_start(after, cutoff=CUTOFF) == date(2026, 3, 9)
    # a Friday evening in New York is already Saturday in Shanghai
    assert wd.counting_start(datetime(2026, 3, 13, 20, 0, tzinfo=ny), cutoff=CUTOFF) == date(2026, 3, 16)


def test_end_of_day_is_next_local_midnight():
    end = wd.end_of_day(date(2026, 12, 3), tz="Asia/Shanghai")
    assert end.astimezone(timezone.utc) == datetime(2026, 12, 2, 16, 0, tzinfo=timezone.utc) + timedelta(days=1)


# --- deadlines --------------------------------------------------------------------------------------------------


def test_limits_come_from_communities_yml():
    raw = yaml.safe_load((get_settings().kb_dir / "communities.yml").read_text(encoding="utf-8"))
    kb = load_kb()
    for cat in raw["categories"]:
        assert dl.limits_for(cat["id"], kb) == CategoryLimits(**cat["limits"])
    with pytest.raises(UserFacingError):
        dl.limits_for("no-such-category", kb)


def test_limits_validation():
    with pytest.raises(ValueError):
        CategoryLimits(accept_days=5, complete_days=3)
    with pytest.raises(ValueError):
        CategoryLimits(accept_days=0)


def test_due_dates_by_category_id():
    kb = load_kb()
    limits = dl.limits_for("public-affairs", kb)
    d = dl.due_dates(local(2026, 11, 30, 10, 0), "public-affairs", kb=kb, cutoff=CUTOFF)
    assert wd.working_days_between(d.start, d.accept_by) == limits.accept_days - 1
    assert wd.working_days_between(d.start, d.complete_by) == limits.complete_days - 1


def test_remaining_and_overdue():
    d = date(2026, 10, 8)  # first working day after 国庆
    assert dl.remaining(local(2026, 9, 30, 16, 0), d) == dl.Remaining(d, 1, False, 0)
    assert dl.remaining(local(2026, 10, 8, 23, 59), d) == dl.Remaining(d, 0, False, 0)
    assert dl.remaining(local(2026, 10, 9, 0, 0), d) == dl.Remaining(d, 0, True, 1)
    assert dl.remaining(local(2026, 10, 12, 9, 0), d).working_days_overdue == 3  # 9, 10 (make-up), 12


def test_resident_line():
    d = due(local(2026, 12, 1, 10, 0), accept=3, complete=3)
    assert dl.resident_line(d, local(2026, 12, 1, 10, 5), accepted=False) == "预计12月3日前受理"
    assert dl.resident_line(d, local(2026, 12, 2, 9, 0), accepted=True) == "预计12月3日前办结"
    cross = due(local(2025, 12, 30, 10, 0), accept=2, complete=5)
    assert (
        dl.resident_line(cross, local(2025, 12, 30, 10, 5), accepted=True)
        == f"预计2026年1月{cross.complete_by.day}日前办结"
    )


# --- extensions -------------------------------------------------------------------------------------------------

MEMBER = dl.Actor("m1", dl.Role.MEMBER)
OTHER_MEMBER = dl.Actor("m2", dl.Role.MEMBER)
SUPERVISOR = dl.Actor("s1", dl.Role.SUPERVISOR)


def test_extension_state_machine():
    ext = dl.request_extension("等待物业提供维修报价", 5, MEMBER)
    assert ext.state is dl.ExtensionState.REQUESTED
    approved = dl.decide_extension(ext, SUPERVISOR, True)
    assert approved.state is dl.ExtensionState.APPROVED and approved.decided_by == "s1"
    refused = dl.decide_extension(ext, SUPERVISOR, False)
    assert refused.state is dl.ExtensionState.REFUSED
    for decided in (approved, refused):
        with pytest.raises(UserFacingError) as e:
            dl.decide_extension(decided, SUPERVISOR, True)
        assert e.value.code == "already_decided"


def test_only_a_supervisor_decides_and_never_their_own_request():
    ext = dl.request_extension("需要召开业主大会", 10, MEMBER)
    with pytest.raises(UserFacingError) as e:
        dl.decide_extension(ext, OTHER_MEMBER, True)
    assert e.value.code == "not_supervisor"
    own = dl.request_extension("需要上级协调", 3, SUPERVISOR)
    with pytest.raises(UserFacingError) as e:
        dl.decide_extension(own, SUPERVISOR, True)
    assert e.value.code == "own_request"


@pytest.mark.parametrize("reason", ["", "   ", "😀😀", "！！！", "x" * 501, "理由\x00注入"])
def test_bad_extension_reasons_are_refused_politely(reason):
    with pytest.raises(UserFacingError) as e:
        dl.request_extension(reason, 3, MEMBER)
    assert e.value.code == "extension_reason"


@pytest.mark.parametrize("days", [0, -2, 31, True, 2.5, "3", None])
def test_bad_extension_days_are_refused_politely(days):
    with pytest.raises(UserFacingError) as e:
        dl.request_extension("等待报价", days, MEMBER)
    assert e.value.code == "extension_days"


def test_one_pending_request_at_a_time():
    first = dl.request_extension("等待报价", 3, MEMBER)
    with pytest.raises(UserFacingError):
        dl.request_extension("再延一点", 2, MEMBER, pending=[first])
    done = dl.decide_extension(first, SUPERVISOR, False)
    assert dl.request_extension("重新申请", 2, MEMBER, pending=[done]).state is dl.ExtensionState.REQUESTED


def test_only_approved_extensions_move_completion_in_working_days():
    d = due(local(2026, 9, 16, 10, 0), accept=2, complete=10)  # make-up Sunday 9-20 counts, 中秋 9-25..27 does not
    assert d.complete_by == date(2026, 9, 29)
    requested = dl.request_extension("等待施工队", 2, MEMBER)
    refused = dl.decide_extension(dl.request_extension("x理由", 9, MEMBER), SUPERVISOR, False)
    approved = dl.decide_extension(requested, SUPERVISOR, True)
    assert dl.with_extensions(d, [requested, refused]) == d
    assert dl.with_extensions(d, [approved, refused]).complete_by == date(2026, 10, 8)  # 9-30, then over 国庆


# --- reminders and escalation ------------------------------------------------------------------------------------

LIMITS = {"public-affairs": CategoryLimits(accept_days=2, complete_days=10)}


def item(**kw) -> rm.OpenItem:
    base = dict(
        id="C1",
        community="xingfu",
        street="城关街道",
        category="public-affairs",
        filed_at=local(2026, 11, 30, 10, 0),
        status=Status.SUBMITTED,
    )
    base.update(kw)
    return rm.OpenItem(**base)


def kinds(reminders):
    return sorted((r.kind.value, r.audience.value, r.to) for r in reminders)


def test_streets_from_the_directory():
    s = rm.streets(load_kb())
    assert s["xingfu"] == "城关街道" and s["liushu"] == "青山镇"


def test_near_limit_reminds_the_committee_past_it_escalates_to_the_street():
    it = item()  # filed Mon 11-30: accept by Tue 12-01, complete by 12-11
    assert rm.plan([it], local(2026, 11, 30, 12, 0), LIMITS, remind_days_left=1, cutoff=CUTOFF) == [
        rm.Reminder(
            "accept_near:C1:2026-12-01",
            rm.Kind.ACCEPT_NEAR,
            "C1",
            date(2026, 12, 1),
            rm.Audience.COMMITTEE,
            "xingfu",
            1,
            0,
        )
    ]
    over = rm.plan([it], local(2026, 12, 2, 9, 0), LIMITS, remind_days_left=1, cutoff=CUTOFF)
    assert kinds(over) == [("accept_overdue", "street", "城关街道")]
    late = rm.plan([it], local(2026, 12, 14, 9, 0), LIMITS, remind_days_left=1, cutoff=CUTOFF)
    assert kinds(late) == [("accept_overdue", "street", "城关街道"), ("complete_overdue", "street", "城关街道")]
    assert (
        rm.plan([it], local(2026, 12, 1, 9, 0), LIMITS, remind_days_left=0, cutoff=CUTOFF)[0].kind
        is rm.Kind.ACCEPT_NEAR
    )


def test_finished_stages_and_closed_items_give_nothing():
    now = local(2026, 12, 14, 9, 0)
    accepted = item(status=Status.ACCEPTED, accepted_at=local(2026, 11, 30, 11, 0))
    assert kinds(rm.plan([accepted], now, LIMITS, remind_days_left=1, cutoff=CUTOFF)) == [
        ("complete_overdue", "street", "城关街道")
    ]
    for status in (Status.RESOLVED, Status.REJECTED, Status.WITHDRAWN):
        assert rm.plan([item(status=status)], now, LIMITS, remind_days_left=1, cutoff=CUTOFF) == []
    assert (
        rm.plan(
            [item(accepted_at=local(2026, 11, 30, 11, 0), resolved_at=local(2026, 12, 1, 9, 0))],
            now,
            LIMITS,
            remind_days_left=1,
            cutoff=CUTOFF,
        )
        == []
    )


def test_keys_are_stable_across_passes_and_change_with_an_extension():
    it = item(status=Status.ACCEPTED, accepted_at=local(2026, 11, 30, 11, 0))
    now = local(2026, 12, 10, 9, 0)  # one working day before 12-11
    first = rm.plan([it], now, LIMITS, remind_days_left=1, cutoff=CUTOFF)
    again = rm.plan([it], now + timedelta(hours=3), LIMITS, remind_days_left=1, cutoff=CUTOFF)
    assert [r.key for r in first] == [r.key for r in again] == ["complete_near:C1:2026-12-11"]
    ext = dl.decide_extension(dl.request_extension("等待施工", 5, MEMBER), SUPERVISOR, True)
    extended = item(status=Status.ACCEPTED, accepted_at=it.accepted_at, extensions=(ext,))
    assert rm.plan([extended], now, LIMITS, remind_days_left=1, cutoff=CUTOFF) == []
    later = rm.plan([extended], local(2026, 12, 17, 9, 0), LIMITS, remind_days_left=1, cutoff=CUTOFF)
    assert [r.key for r in later] == ["complete_near:C1:2026-12-18"]


def test_holidays_count_in_reminders():
    it = item(filed_at=local(2026, 9, 29, 10, 0), category="other")  # unknown to LIMITS: defaults (2 days), due 9-30
    assert [r.kind for r in rm.plan([it], local(2026, 9, 30, 12, 0), LIMITS, remind_days_left=1, cutoff=CUTOFF)] == [
        rm.Kind.ACCEPT_NEAR
    ]
    assert [r.kind for r in rm.plan([it], local(2026, 10, 5, 12, 0), LIMITS, remind_days_left=1, cutoff=CUTOFF)] == [
        rm.Kind.ACCEPT_OVERDUE
    ]


# --- 催办 -----------------------------------------------------------------------------------------------------------


def test_urge_once_per_working_day_per_item_per_resident():
    it = item()
    recorded: set[str] = set()
    first = rm.check_urge(it, "telegram", "42", local(2026, 12, 1, 9, 0), recorded)
    assert first.allowed
    recorded.add(first.key)
    same_day = rm.check_urge(it, "telegram", "42", local(2026, 12, 1, 22, 0), recorded)
    assert not same_day.allowed and "下一个工作日" in same_day.message
    assert rm.check_urge(it, "telegram", "43", local(2026, 12, 1, 22, 0), recorded).allowed  # another resident
    assert rm.check_urge(
        it, "wechat", "42", local(2026, 12, 1, 22, 0), recorded
    ).allowed  # another channel, another person
    assert rm.check_urge(item(id="C2"), "telegram", "42", local(2026, 12, 1, 22, 0), recorded).allowed
    assert rm.check_urge(it, "telegram", "42", local(2026, 12, 2, 0, 1), recorded).allowed  # next working day


def test_a_weekend_urge_belongs_to_the_next_working_day():
    it = item()
    sat = rm.check_urge(it, "rest", "r1", local(2026, 12, 5, 10, 0), set())
    sun = rm.check_urge(it, "rest", "r1", local(2026, 12, 6, 10, 0), {sat.key})
    mon = rm.check_urge(it, "rest", "r1", local(2026, 12, 7, 10, 0), {sat.key})
    assert sat.allowed and not sun.allowed and not mon.allowed
    assert rm.check_urge(it, "rest", "r1", local(2026, 12, 8, 10, 0), {sat.key}).allowed


def test_closed_items_cannot_be_urged():
    for status in (Status.RESOLVED, Status.WITHDRAWN, Status.REJECTED):
        d = rm.check_urge(item(status=status), "rest", "r1", local(2026, 12, 1, 9, 0), set())
        assert not d.allowed and "不需要再催办" in d.message
