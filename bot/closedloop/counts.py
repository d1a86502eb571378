"""Closed-loop counts per committee over a period: follow-up ratings, rework and co-signs (the scorecards read them).

PLACEHOLDER on this branch (i14-oversight): every committee gets zero counts. The real implementation comes from
branch i14-chat (follow-up 回访 and co-signing 附议) and replaces this module at merge; the signature and
:class:`LoopCounts` are the contract both branches code against.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class LoopCounts:
    rated: int = 0  # follow-ups answered
    satisfied: int = 0
    basically_satisfied: int = 0
    unsatisfied: int = 0
    unanswered: int = 0  # follow-ups closed as 未回复
    reworked: int = 0  # items reopened after 不满意
    cosigns: int = 0  # residents who co-signed an item


def loop_counts(session, committee_ids: list[str] | None, start: datetime, end: datetime) -> dict[str, LoopCounts]:
    """committee id → counts for [start, end); ``committee_ids=None``: every committee (placeholder: all zero)."""
    if committee_ids is None:
        from sqlalchemy import text

        committee_ids = [r[0] for r in session.execute(text("SELECT id FROM committees"))]
    return {cid: LoopCounts() for cid in committee_ids}
