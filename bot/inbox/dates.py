"""Dates typed by people and integrators (inbox filters, Open311 ``start_date``/``end_date``): one parser with bounds.

Python's datetimes end at years 1 and 9999, so "0001-01-01" in a local time zone, or the day after
"9999-12-31", overflow when converted to UTC. Everything outside ``EARLIEST``–``LATEST`` is refused
with a clear message instead (no consultation is older than the system or from the next century).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, tzinfo

from bot.errors import UserFacingError

EARLIEST = date(2000, 1, 1)
LATEST = date(2099, 12, 31)


class BadDate(UserFacingError):
    def __init__(self, message: str):
        super().__init__(message, code="bad_date")


def _in_bounds(d: date, field: str) -> None:
    if not EARLIEST <= d <= LATEST:
        raise BadDate(f"{field}超出范围：只能查询 {EARLIEST.isoformat()} 至 {LATEST.isoformat()} 之间的日期。")


def parse_day(value: object, field: str = "日期") -> date | None:
    """A ``YYYY-MM-DD`` date, or None when empty; :class:`BadDate` when malformed or out of bounds."""
    v = value.strip()[:40] if isinstance(value, str) else ""
    if not v:
        return None
    try:
        d = date.fromisoformat(v)
    except ValueError:
        raise BadDate(f"{field}格式无效，应为 YYYY-MM-DD，例如 2026-11-29。") from None
    _in_bounds(d, field)
    return d


def parse_moment(value: object, field: str, tz: tzinfo, *, end: bool = False) -> datetime | None:
    """A W3C date-time (naive ones in ``tz``), or a bare date meaning its whole day; returned in UTC."""
    v = value.strip()[:40] if isinstance(value, str) else ""
    if not v:
        return None
    if len(v) == 10:
        d = parse_day(v, field)
        return datetime.combine(d, time.max if end else time.min, tzinfo=tz).astimezone(UTC)
    try:
        dt = datetime.fromisoformat(v)
    except ValueError:
        raise BadDate(f"{field}格式无效，应为 W3C 日期时间，例如 2026-11-29T08:00:00+08:00。") from None
    _in_bounds(dt.date(), field)
    return (dt if dt.tzinfo else dt.replace(tzinfo=tz)).astimezone(UTC)
