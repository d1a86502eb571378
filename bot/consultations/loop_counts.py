"""The closed loop's counts per committee for the scorecards: follow-up answers, rework and co-signs in a period.

The other scorecard figures (on-time acceptance and completion) come from the deadlines; these come from the
resident side (bot.consultations.loop). A follow-up counts in the period it was answered or closed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.consultations import models as m


@dataclass(frozen=True)
class LoopCounts:
    rated: int = 0  # follow-ups answered (satisfied + basically_satisfied + unsatisfied)
    satisfied: int = 0
    basically_satisfied: int = 0
    unsatisfied: int = 0
    unanswered: int = 0  # closed as 未回复 after closedloop_followup_days working days
    reworked: int = 0  # reopened by a 不满意
    cosigns: int = 0  # residents who joined an item (附议 at intake or through a merge)


_STATES = ("satisfied", "basically_satisfied", "unsatisfied", "unanswered")


def loop_counts(
    session: Session, committee_ids: list[str] | None, start: datetime, end: datetime
) -> dict[str, LoopCounts]:
    """Per committee id (all committees with any count when ``committee_ids`` is None; every listed id otherwise,
    zeros included), over follow-ups answered or closed and co-signs made in [start, end)."""
    by: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys((*_STATES, "reworked", "cosigns"), 0))
    fu = m.FollowUp
    q = (
        select(fu.committee_id, fu.state, fu.reopened, func.count(fu.id))
        .where(fu.closed_at >= start, fu.closed_at < end, fu.state.in_(_STATES))
        .group_by(fu.committee_id, fu.state, fu.reopened)
    )
    co = m.Cosign
    q2 = (
        select(co.committee_id, func.count(co.id))
        .where(co.created_at >= start, co.created_at < end)
        .group_by(co.committee_id)
    )
    if committee_ids is not None:
        q, q2 = q.where(fu.committee_id.in_(committee_ids)), q2.where(co.committee_id.in_(committee_ids))
        for cid in committee_ids:
            by[cid]  # noqa: B018  (every asked committee gets a row)
    for cid, state, reopened, n in session.execute(q):
        by[cid][state] += n
        if reopened:
            by[cid]["reworked"] += n
    for cid, n in session.execute(q2):
        by[cid]["cosigns"] += n
    return {
        cid: LoopCounts(
            rated=c["satisfied"] + c["basically_satisfied"] + c["unsatisfied"],
            satisfied=c["satisfied"],
            basically_satisfied=c["basically_satisfied"],
            unsatisfied=c["unsatisfied"],
            unanswered=c["unanswered"],
            reworked=c["reworked"],
            cosigns=c["cosigns"],
        )
        for cid, c in by.items()
    }
