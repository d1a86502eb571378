"""``service.scorecards``: per committee and per 街道/乡镇, over a period of filing days.

- on-time acceptance: items whose acceptance was due (or answered) — the first committee response (受理 or 不予受理)
  by the end of ``accept_by``; an item still unanswered after its date counts as late, one not yet due is left out;
- on-time completion: items (not withdrawn, not refused) resolved by the end of ``complete_by`` (after extensions),
  over those resolved or past due;
- satisfaction (满意 + 基本满意 over rated), rework (reopened over resolved) and co-signs come from
  :func:`bot.consultations.loop_counts.loop_counts`.
Items filed before due dates were stored (migration 0008) have none and are left out of the two on-time rates, as are
items merged into another (their handling goes on as that item).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select

from bot.closedloop import workdays
from bot.consultations import models as m
from bot.consultations.errors import db_guard
from bot.consultations.loop_counts import LoopCounts, loop_counts
from bot.consultations.store import Store

RESPONSES = frozenset({"accepted", "deliberating", "resolved", "rejected"})


@dataclass(frozen=True)
class ScoreRow:
    key: str  # committee id, or the township's name
    name: str
    township: str
    filed: int
    accept_due: int
    accept_on_time: int
    complete_due: int
    complete_on_time: int
    resolved: int
    loop: LoopCounts = field(default_factory=LoopCounts)

    @staticmethod
    def _rate(n: int, d: int) -> float | None:
        return round(n / d, 4) if d else None

    @property
    def accept_rate(self) -> float | None:
        return self._rate(self.accept_on_time, self.accept_due)

    @property
    def complete_rate(self) -> float | None:
        return self._rate(self.complete_on_time, self.complete_due)

    @property
    def satisfaction_rate(self) -> float | None:
        return self._rate(self.loop.satisfied + self.loop.basically_satisfied, self.loop.rated)

    @property
    def rework_rate(self) -> float | None:
        return self._rate(self.loop.reworked, self.resolved)


@dataclass(frozen=True)
class Scorecard:
    start: date
    end: date  # inclusive
    committees: tuple[ScoreRow, ...]
    townships: tuple[ScoreRow, ...]


def _sum_loop(items: list[LoopCounts]) -> LoopCounts:
    return LoopCounts(*(sum(getattr(i, f) for i in items) for f in LoopCounts.__dataclass_fields__))


class Scorecards:
    def __init__(self, store: Store):
        self._store = store

    @db_guard
    def compute(self, start: date, end: date, scope=None, *, now: datetime | None = None) -> Scorecard:
        """The scorecard of items filed on local days ``start`` … ``end`` (inclusive), within ``scope``."""
        from bot.consultations.oversight import in_scope

        if end < start:
            start, end = end, start
        store, now = self._store, now or m.utcnow()
        t0, t1 = store.day_start(start), store.day_start(end, end=True)
        tz = store.settings.timezone
        with store.sessions() as s:
            committees = s.execute(
                select(m.Committee.id, m.Committee.name, m.Community.name, m.Community.township)
                .join(m.Community, m.Community.id == m.Committee.community_id)
                .where(in_scope(m.Committee.id, scope), m.Committee.active.is_(True))
                .order_by(m.Community.id, m.Committee.position)
            ).all()
            items = s.execute(
                select(
                    m.Consultation.id,
                    m.Consultation.committee_id,
                    m.Consultation.status,
                    m.Consultation.accept_by,
                    m.Consultation.complete_by,
                ).where(
                    m.Consultation.created_at >= t0,
                    m.Consultation.created_at < t1,
                    in_scope(m.Consultation.committee_id, scope),
                )
            ).all()
            first_response: dict[int, datetime] = {}
            resolved_at: dict[int, datetime] = {}
            ids = [i.id for i in items]
            for chunk in range(0, len(ids), 500):
                for cid, to, at in s.execute(
                    select(m.StatusEvent.consultation_id, m.StatusEvent.to_status, m.StatusEvent.at)
                    .where(m.StatusEvent.consultation_id.in_(ids[chunk : chunk + 500]), m.StatusEvent.kind == "status")
                    .order_by(m.StatusEvent.id)
                ):
                    if to in RESPONSES:
                        first_response.setdefault(cid, at)
                    if to == "resolved":
                        resolved_at[cid] = at
            loops = loop_counts(s, [c.id for c in committees], t0, t1)
        today = workdays.to_local(now, tz).date()
        acc: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0, 0])  # filed, a_due, a_ok, c_due, c_ok, res
        for i in items:
            row = acc[i.committee_id]
            row[0] += 1
            if i.status == "merged":  # handled on as the item it joined: in neither on-time rate
                continue
            if i.accept_by is not None:
                answered = first_response.get(i.id)
                if answered is not None or today > i.accept_by:
                    row[1] += 1
                    row[2] += answered is not None and answered < workdays.end_of_day(i.accept_by, tz=tz)
            done = resolved_at.get(i.id)
            row[5] += done is not None
            if i.complete_by is not None and i.status not in ("withdrawn", "rejected"):
                if done is not None or today > i.complete_by:
                    row[3] += 1
                    row[4] += done is not None and done < workdays.end_of_day(i.complete_by, tz=tz)
        rows = []
        for cid, name, community, township in committees:
            a = acc.get(cid, [0] * 6)
            rows.append(ScoreRow(cid, f"{community}{name}", township or "", *a, loops.get(cid, LoopCounts())))
        by_town: dict[str, list[ScoreRow]] = defaultdict(list)
        for r in rows:
            by_town[r.township].append(r)
        towns = tuple(
            ScoreRow(
                t,
                t or "（未设街道）",
                t,
                *(
                    sum(getattr(r, f) for r in rs)
                    for f in ScoreRow.__dataclass_fields__
                    if f not in ("key", "name", "township", "loop")
                ),
                _sum_loop([r.loop for r in rs]),
            )
            for t, rs in sorted(by_town.items())
        )
        return Scorecard(start, end, tuple(rows), towns)
