"""Reading many consultations: the inbox list and its filters, counts, the dashboard, the Open311 queries.

Every filter (committee scope, status, category, local-day range, search) is built in one place,
:meth:`Reports.filtered`, so the list, the count and the CSV export agree.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from bot.consultations import models as m
from bot.consultations.errors import db_guard
from bot.consultations.outside import outside_view
from bot.consultations.oversight import in_scope
from bot.consultations.records import ConsultationRecord, Dashboard, OutsideView
from bot.consultations.statuses import FINAL, Status, parse_status
from bot.consultations.store import Store


def _aware(at: datetime) -> datetime:
    """A timestamp from a raw SQL expression (no TypeDecorator on SQLite) as aware UTC."""
    from datetime import UTC

    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


class Reports:
    def __init__(self, store: Store):
        self._store = store

    def filtered(self, committee_id, status=None, category=None, since=None, until=None, search=None):
        """The select of consultations matching the inbox filters (``until`` inclusive for dates)."""
        day_start = self._store.day_start
        q = select(m.Consultation)
        if committee_id is not None:  # one committee, or a supervisor's set (oversight.in_scope)
            q = q.where(in_scope(m.Consultation.committee_id, committee_id))
        if status:
            q = q.where(m.Consultation.status == parse_status(status).value)
        if category:
            q = q.where(m.Consultation.category == category)
        if since is not None:
            q = q.where(m.Consultation.created_at >= day_start(since))
        if until is not None:
            q = q.where(m.Consultation.created_at < day_start(until, end=True))
        if search and search.strip():
            term = search.strip()[:100]
            q = q.where(
                or_(
                    m.Consultation.text.contains(term, autoescape=True),
                    m.Consultation.tracking_no.contains(term.upper(), autoescape=True),
                )
            )
        return q

    @db_guard
    def list_for_committee(
        self,
        committee_id: str | None,
        *,
        status: str | None = None,
        category: str | None = None,
        since: date | datetime | None = None,
        until: date | datetime | None = None,
        search: str | None = None,
        limit: int = 200,
        offset: int = 0,
    ) -> list[ConsultationRecord]:
        """Newest first; ``committee_id=None`` means all (admin). ``until`` is inclusive for dates."""
        q = self.filtered(committee_id, status, category, since, until, search)
        q = (
            q.order_by(m.Consultation.created_at.desc(), m.Consultation.id.desc())
            .limit(max(0, int(limit)))
            .offset(max(0, int(offset)))
        )
        with self._store.sessions() as s:
            rows = s.scalars(q.options(selectinload(m.Consultation.committee), selectinload(m.Consultation.community)))
            return [self._store.record(c) for c in rows]

    @db_guard
    def count_for_committee(self, committee_id: str | None, **filters) -> int:
        q = select(func.count()).select_from(self.filtered(committee_id, **filters).subquery())
        with self._store.sessions() as s:
            return int(s.scalar(q) or 0)

    @db_guard
    def dashboard(self, committee_id: str | None, *, overdue_days: int = 7, weeks: int = 8) -> Dashboard:
        """Counts by status and category, weekly submissions (oldest first), and the open items with
        no status change in ``overdue_days``."""
        store = self._store
        base = select(m.Consultation)
        if committee_id is not None:
            base = base.where(in_scope(m.Consultation.committee_id, committee_id))
        sub = base.subquery()
        now = m.utcnow()
        today = now.astimezone(store.tz).date()
        first_monday = today - timedelta(days=today.weekday()) - timedelta(weeks=weeks - 1)
        with store.sessions() as s:
            by_status = {st: n for st, n in s.execute(select(sub.c.status, func.count()).group_by(sub.c.status))}
            by_category = {
                cat or "": n for cat, n in s.execute(select(sub.c.category, func.count()).group_by(sub.c.category))
            }
            created = s.scalars(
                select(m.Consultation.created_at)
                .select_from(m.Consultation)
                .where(
                    m.Consultation.id.in_(select(sub.c.id)), m.Consultation.created_at >= store.day_start(first_monday)
                )
            )
            weekly = {first_monday + timedelta(weeks=i): 0 for i in range(weeks)}
            for at in created:
                d = at.astimezone(store.tz).date()
                weekly[d - timedelta(days=d.weekday())] = weekly.get(d - timedelta(days=d.weekday()), 0) + 1
            # Overdue counts from the last status transition: a re-route or a category fix is not progress.
            open_states = [st.value for st in Status if st.is_open]
            last = (
                select(m.StatusEvent.consultation_id.label("cid"), func.max(m.StatusEvent.at).label("at"))
                .where(m.StatusEvent.kind == "status")
                .group_by(m.StatusEvent.consultation_id)
                .subquery()
            )
            last_change = func.coalesce(last.c.at, m.Consultation.created_at)
            rows = s.execute(
                base.add_columns(last_change)
                .outerjoin(last, last.c.cid == m.Consultation.id)
                .where(m.Consultation.status.in_(open_states), last_change < now - timedelta(days=overdue_days))
                .order_by(last_change, m.Consultation.id)
            ).all()
            overdue = tuple(store.record(c) for c, _ in rows)
            since = {c.tracking_no: _aware(at) for c, at in rows}
        return Dashboard(by_status, by_category, tuple(sorted(weekly.items())), overdue, since)

    # outside views (Open311) ------------------------------------------------------------
    @staticmethod
    def _outside_query():
        return select(m.Consultation).options(
            selectinload(m.Consultation.events),
            selectinload(m.Consultation.committee),
            selectinload(m.Consultation.community),
        )

    def _views(self, q) -> list[OutsideView]:
        with self._store.sessions() as s:
            return [outside_view(c, self._store.directory.category_name(c.category)) for c in s.scalars(q)]

    @db_guard
    def outside_list(
        self,
        *,
        tracking_nos: Collection[str] = (),
        categories: Collection[str] = (),
        closed: bool | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        community_id: str | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> list[OutsideView]:
        """Masked views, newest first. ``tracking_nos`` overrides every other filter (GeoReport v2);
        ``closed``: True final states only, False open ones only; ``until`` inclusive."""
        q = self._outside_query()
        if tracking_nos:
            q = q.where(m.Consultation.tracking_no.in_(list(tracking_nos)))
        else:
            if categories:
                q = q.where(m.Consultation.category.in_(list(categories)))
            if closed is not None:
                wanted = sorted(s.value for s in Status if (s in FINAL) == closed)
                q = q.where(m.Consultation.status.in_(wanted))
            if since is not None:
                q = q.where(m.Consultation.created_at >= since)
            if until is not None:
                q = q.where(m.Consultation.created_at <= until)
            if community_id:
                q = q.where(m.Consultation.community_id == community_id)
        q = q.order_by(m.Consultation.created_at.desc(), m.Consultation.id.desc()).limit(limit).offset(offset)
        return self._views(q)

    @db_guard
    def outside_one(self, tracking_no: str) -> OutsideView | None:
        """The masked view of exactly this tracking number (no normalization: integrators quote it as given)."""
        if not tracking_no:
            return None
        views = self._views(self._outside_query().where(m.Consultation.tracking_no == tracking_no))
        return views[0] if views else None
