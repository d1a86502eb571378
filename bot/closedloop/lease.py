"""Run the scheduler once across replicas: a database lease, and a ledger so each reminder is sent once.

The lease is one row per scheduler name. Acquiring is a single conditional UPDATE (``… WHERE name = :n AND
(expires_at < :now OR holder = :me)``) — atomic on SQLite and PostgreSQL — with an INSERT on first use; a racing
INSERT loses on the primary key. The holder renews by acquiring again before ``ttl`` runs out; a replica that dies
loses the lease when it expires. Times are UTC from the callers' clocks (replicas are expected to run NTP; keep the
ttl well above the clock skew).

The ledger makes sending idempotent even if two replicas ever overlap: :func:`claim` inserts the reminder key
(unique) and only the winner sends; :func:`mark_sent` records success; a claim whose send failed is released
(:func:`release_claim`) and one left unsent by a crash can be reclaimed after ``stale`` seconds.
The tables are on the one database's ``Base.metadata`` (migration 0008 creates them).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from sqlalchemy import Column, DateTime, Engine, String, Table, and_, delete, insert, or_, update
from sqlalchemy.exc import IntegrityError

from bot.db.base import Base

metadata = Base.metadata

scheduler_leases = Table(
    "scheduler_leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("expires_at", DateTime(), nullable=False),  # naive UTC
)

reminder_ledger = Table(
    "reminder_ledger",
    metadata,
    Column("key", String(255), primary_key=True),  # unique: a reminder (or 催办) key is claimed once
    Column("holder", String(128), nullable=False),
    Column("claimed_at", DateTime(), nullable=False),
    Column("sent_at", DateTime(), nullable=True),
)


def _utc(now: datetime | None) -> datetime:
    """Naive UTC (both databases compare it the same way)."""
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        raise ValueError("a time-zone-aware datetime is required")
    return now.astimezone(timezone.utc).replace(tzinfo=None)


def create_tables(engine: Engine) -> None:
    """Only these two tables (tests; a deployment gets them from the migrations)."""
    metadata.create_all(engine, tables=[scheduler_leases, reminder_ledger])


class Lease:
    """A named lease held by ``holder`` for ``ttl`` seconds at a time."""

    def __init__(self, engine: Engine, name: str, holder: str, ttl: float = 60.0):
        if not name or len(name) > 64 or not holder or len(holder) > 128 or ttl <= 0:
            raise ValueError("lease name (≤64), holder (≤128) and a positive ttl are required")
        self.engine, self.name, self.holder, self.ttl = engine, name, holder, ttl

    def acquire(self, now: datetime | None = None) -> bool:
        """Take or renew the lease; True when this holder has it until now + ttl."""
        t = _utc(now)
        expires = t + timedelta(seconds=self.ttl)
        stmt = (
            update(scheduler_leases)
            .where(
                and_(
                    scheduler_leases.c.name == self.name,
                    or_(scheduler_leases.c.expires_at < t, scheduler_leases.c.holder == self.holder),
                )
            )
            .values(holder=self.holder, expires_at=expires)
        )
        with self.engine.begin() as conn:
            if conn.execute(stmt).rowcount == 1:
                return True
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(scheduler_leases).values(name=self.name, holder=self.holder, expires_at=expires))
            return True
        except IntegrityError:  # the row exists: someone else holds an unexpired lease (or just inserted it)
            return False

    def release(self) -> None:
        """Give the lease up at once (only if still ours), so another replica need not wait for the ttl."""
        with self.engine.begin() as conn:
            conn.execute(
                update(scheduler_leases)
                .where(and_(scheduler_leases.c.name == self.name, scheduler_leases.c.holder == self.holder))
                .values(expires_at=datetime(1970, 1, 1))
            )


def claim(engine: Engine, key: str, holder: str, *, now: datetime | None = None, stale: float = 600.0) -> bool:
    """True for exactly one caller per key (until a failed or stale claim is released)."""
    if not isinstance(key, str) or not key or len(key) > 255:
        raise ValueError("a ledger key is a non-empty string of at most 255 characters")
    t = _utc(now)
    try:
        with engine.begin() as conn:
            conn.execute(insert(reminder_ledger).values(key=key, holder=holder, claimed_at=t))
        return True
    except IntegrityError:
        pass
    with engine.begin() as conn:  # a claim that crashed before sending may be taken over
        taken = conn.execute(
            update(reminder_ledger)
            .where(
                and_(
                    reminder_ledger.c.key == key,
                    reminder_ledger.c.sent_at.is_(None),
                    reminder_ledger.c.claimed_at < t - timedelta(seconds=stale),
                )
            )
            .values(holder=holder, claimed_at=t)
        )
        return taken.rowcount == 1


def mark_sent(engine: Engine, key: str, holder: str, *, now: datetime | None = None) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(reminder_ledger)
            .where(and_(reminder_ledger.c.key == key, reminder_ledger.c.holder == holder))
            .values(sent_at=_utc(now))
        )


def release_claim(engine: Engine, key: str, holder: str) -> None:
    """Forget an unsent claim (the send failed), so a later pass retries it."""
    with engine.begin() as conn:
        conn.execute(
            delete(reminder_ledger).where(
                and_(
                    reminder_ledger.c.key == key,
                    reminder_ledger.c.holder == holder,
                    reminder_ledger.c.sent_at.is_(None),
                )
            )
        )


def send_once(
    engine: Engine, key: str, holder: str, send: Callable[[], object], *, now: datetime | None = None
) -> bool:
    """Claim ``key``, call ``send``, record it; False (nothing sent) when another caller has the key.

    If ``send`` raises, the claim is released and the error propagates (the next pass retries)."""
    if not claim(engine, key, holder, now=now):
        return False
    try:
        send()
    except BaseException:
        release_claim(engine, key, holder)
        raise
    mark_sent(engine, key, holder, now=now)
    return True
