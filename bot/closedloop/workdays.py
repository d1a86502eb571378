"""The Chinese working-day calendar (official holidays and make-up workdays), in local time.

Data, first source that has the year: knowledge_base/workday_calendar.yml (the State Council's yearly notice as an
operator enters it, for a year ``chinesecalendar`` does not know yet), then ``chinesecalendar`` (pinned in
requirements/app.lock). A year neither has is *estimated*: Monday–Friday count as working days, and every due date
touching that year is marked 预估 wherever it is shown (:func:`is_estimated`), with a warning on the inbox health page.

Counting rule (documented in docs/architecture.md): a limit of *n* working days is counted from **day 1**, the
working day the item is filed on — or the next working day when it is filed on a weekend or holiday, or on a
working day at or after the intake cutoff (``closedloop_intake_cutoff``, 17:00 local by default; so 23:30 counts
from the next working day). The due date is the *n*-th counting day, due by the end of that local day.
Local time is ``settings.timezone`` (Asia/Shanghai, no daylight saving since 1991).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import chinese_calendar
import yaml
from chinese_calendar import constants as _cc

from bot.errors import UserFacingError

ONE_DAY = timedelta(days=1)
#: the longest run of non-working days we accept before suspecting broken data (春节 + weekend is 9)
_MAX_GAP = 20


class CalendarDataMissing(UserFacingError):
    """The holiday schedule of a year is not in the installed calendar data."""

    def __init__(self, year: int):
        super().__init__(
            f"{year}年的法定节假日安排还没有收录，暂时无法按工作日计算期限。请管理员更新节假日数据（chinesecalendar）后再试。",
            code="calendar_missing",
        )
        self.year = year


@lru_cache(maxsize=1)
def supported_years() -> range:
    """Years the installed ``chinesecalendar`` data covers (the State Council notices it carries)."""
    years = {d.year for d in _cc.holidays} | {d.year for d in _cc.workdays}
    return range(min(years), max(years) + 1)


def _dates(values, year: int, what: str) -> frozenset[date]:
    out = set()
    for v in values or ():
        d = v if isinstance(v, date) else date.fromisoformat(str(v))
        if d.year != year:
            raise ValueError(f"workday_calendar.yml: {d} is listed under {year} {what}")
        out.add(d)
    return frozenset(out)


@lru_cache(maxsize=1)
def supplement() -> dict[int, tuple[frozenset[date], frozenset[date]]]:
    """year → (holidays, make-up workdays) from knowledge_base/workday_calendar.yml; a year with empty lists is absent
    (no notice entered yet). The file is read once per process: restart after editing it."""
    from bot.settings import get_settings

    path = get_settings().kb_dir / "workday_calendar.yml"
    if not path.exists():
        return {}
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out = {}
    for year, entry in (raw.get("years") or {}).items():
        year = int(year)
        holidays = _dates((entry or {}).get("holidays"), year, "holidays")
        workdays = _dates((entry or {}).get("workdays"), year, "workdays")
        if holidays or workdays:
            out[year] = (holidays, workdays)
    return out


def calendar_source(year: int) -> str:
    """Where the working days of ``year`` come from: "supplement", "chinesecalendar" or "estimated" (Mon–Fri)."""
    if year in supplement():
        return "supplement"
    return "chinesecalendar" if year in supported_years() else "estimated"


def is_estimated(start: date, end: date) -> bool:
    """True when any year from ``start`` to ``end`` has no holiday data (its count is an estimate)."""
    return any(calendar_source(y) == "estimated" for y in range(start.year, end.year + 1))


def estimated_years(today: date) -> list[int]:
    """This year and the next, where they have no holiday data (the inbox health page warns about them)."""
    return [y for y in (today.year, today.year + 1) if calendar_source(y) == "estimated"]


@lru_cache(maxsize=4096)
def is_working_day(day: date) -> bool:
    """True on Monday–Friday that are not holidays, and on make-up Saturdays/Sundays (调休上班)."""
    source = calendar_source(day.year)
    if source == "supplement":
        holidays, workdays = supplement()[day.year]
        return day in workdays or (day.weekday() < 5 and day not in holidays)
    if source == "estimated":
        return day.weekday() < 5
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:  # the library's own range check
        raise CalendarDataMissing(day.year) from None


def next_working_day(day: date) -> date:
    """The first working day strictly after ``day``."""
    d = day + ONE_DAY
    for _ in range(_MAX_GAP):
        if is_working_day(d):
            return d
        d += ONE_DAY
    raise CalendarDataMissing(d.year)  # pragma: no cover - no real year has such a gap


def add_working_days(start: date, n: int) -> date:
    """The ``n``-th working day after ``start`` (``start`` itself is not counted; ``n == 0`` returns it)."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"n must be a non-negative integer, not {n!r}")
    d = start
    for _ in range(n):
        d = next_working_day(d)
    return d


@lru_cache(maxsize=64)
def _year_prefix(year: int) -> tuple[int, ...]:
    """prefix[i] = working days from 1 January up to and including day i+1 of ``year`` (a scheduler pass asks often)."""
    out, count, d = [], 0, date(year, 1, 1)
    while d.year == year:
        count += is_working_day(d)
        out.append(count)
        d += ONE_DAY
    return tuple(out)


def _cumulative(day: date) -> int:
    """Working days from 1 January of ``day.year`` to ``day``; only differences within known years are used."""
    return _year_prefix(day.year)[day.timetuple().tm_yday - 1]


def working_days_between(a: date, b: date) -> int:
    """Working days ``d`` with ``a < d <= b`` (negative when ``b < a``): the inverse of :func:`add_working_days`."""
    if b < a:
        return -working_days_between(b, a)
    total = _cumulative(b) - _cumulative(a)
    for year in range(a.year, b.year):
        total += _year_prefix(year)[-1]
    return total


def local_zone(tz: str | None = None) -> ZoneInfo:
    if tz is None:
        from bot.settings import get_settings

        tz = get_settings().timezone
    return ZoneInfo(tz)


def to_local(moment: datetime, tz: str | None = None) -> datetime:
    """``moment`` in local time; a naive datetime is refused (its zone would be a guess)."""
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("a time-zone-aware datetime is required")
    return moment.astimezone(local_zone(tz))


def counting_start(filed_at: datetime, *, cutoff: time | None = None, tz: str | None = None) -> date:
    """Day 1 of a count for an item filed at ``filed_at`` (see the module docstring for the rule)."""
    if cutoff is None:
        from bot.settings import get_settings

        cutoff = get_settings().closedloop_intake_cutoff
    local = to_local(filed_at, tz)
    day = local.date()
    if is_working_day(day) and local.time() < cutoff:
        return day
    return next_working_day(day)


def current_working_day(now: datetime, *, tz: str | None = None) -> date:
    """The working day ``now`` belongs to: today, or the next working day on a weekend or holiday (no cutoff)."""
    day = to_local(now, tz).date()
    return day if is_working_day(day) else next_working_day(day)


def end_of_day(day: date, *, tz: str | None = None) -> datetime:
    """The instant a due date ends: the next local midnight (aware)."""
    return datetime.combine(day + ONE_DAY, time(0), tzinfo=local_zone(tz))
