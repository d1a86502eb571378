"""Human-friendly tracking numbers ``YS-20261129-0042``, unique under concurrency.

The daily sequence lives in one counter row per day, incremented with an atomic upsert
(``INSERT … ON CONFLICT DO UPDATE … RETURNING``) inside the submit transaction: the row lock
serialises concurrent submissions, and a rolled-back submission rolls its number back too,
so numbers stay unique and contiguous.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.consultations.models import TrackingCounter
from linli_common.tracking import IN_TEXT, PATTERN, PREFIX  # noqa: F401 (the engine's and the app's one pattern)


def local_day(now: datetime, tz: str) -> str:
    return now.astimezone(ZoneInfo(tz)).strftime("%Y%m%d")


def next_sequence(session: Session, day: str) -> int:
    """Increment and return the counter of ``day`` (locks its row until the transaction ends)."""
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        stmt = insert(TrackingCounter).values(day=day, last=1)
        stmt = stmt.on_conflict_do_update(index_elements=[TrackingCounter.day], set_={"last": TrackingCounter.last + 1})
        return session.execute(stmt.returning(TrackingCounter.last)).scalar_one()
    row = session.scalar(select(TrackingCounter).where(TrackingCounter.day == day).with_for_update())
    if row is None:
        row = TrackingCounter(day=day, last=0)
        session.add(row)
    row.last += 1
    session.flush()
    return row.last


def format_tracking_no(day: str, seq: int) -> str:
    return f"{PREFIX}-{day}-{seq:04d}"


def normalize_tracking_no(value: object) -> str | None:
    """Accept what residents type: full-width digits, lower case, spaces, missing dashes."""
    if not isinstance(value, str):
        return None
    v = unicodedata.normalize("NFKC", value).upper().strip()
    v = re.sub(r"[\s_—–－]+", "-", v)
    m = re.fullmatch(r"YS-?(\d{8})-?(\d{4,})", v)
    return f"YS-{m.group(1)}-{m.group(2)}" if m else None
