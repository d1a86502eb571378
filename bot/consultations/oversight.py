"""``service.oversight``: the 街道/乡镇's oversight of its communities' items (督办).

Category limits (admin overrides of communities.yml), extensions (a member requests, a township supervisor decides;
never the requester), reassignment by the supervisor to another committee of the township's communities, the
overdue lists and badges, and publishing an item's outcome (协商结果公开). Scope arguments follow the inbox's one
scoping rule (bot.inbox.deps.own_committee): a committee id, a collection of committee ids, or None for all.
Every change writes a trail line; a decision or reassignment also queues a push to the resident.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import func, select

from bot.closedloop import deadlines as dl
from bot.consultations import duedates, notify
from bot.consultations import models as m
from bot.consultations.errors import AccessDenied, NotFoundError, db_guard
from bot.consultations.outside import outside_text
from bot.consultations.records import (
    ConsultationRecord,
    ExtensionRecord,
    LimitsRecord,
    OverdueItem,
    PublicOutcome,
)
from bot.consultations.statuses import FINAL, Status, parse_status
from bot.consultations.store import Store
from bot.consultations.validation import clean_text, ident
from bot.errors import UserFacingError
from bot.kb.models import CategoryLimits

OPEN = (Status.SUBMITTED.value, Status.ACCEPTED.value, Status.DELIBERATING.value)
MAX_OUTCOME_CHARS = 2000


def in_scope(column, scope: str | Collection[str] | None):
    """The one SQL form of a scope: None = everything, a str = one committee, a collection = those committees."""
    if scope is None:
        return True
    if isinstance(scope, str):
        return column == scope
    return column.in_(sorted(scope))


def _ext(e: m.ExtensionRequest, tracking_no: str) -> ExtensionRecord:
    state = "requested" if e.approved is None else ("approved" if e.approved else "refused")
    return ExtensionRecord(
        e.id,
        tracking_no,
        e.days,
        e.reason,
        e.requested_by,
        e.requested_at,
        state,
        e.decided_by,
        e.decided_at,
        e.decision_note or "",
    )


def _trail(s, c: m.Consultation, kind: str, actor: str, note: str, **extra) -> None:
    s.add(
        m.StatusEvent(
            consultation_id=c.id,
            kind=kind,
            actor=actor,
            at=m.utcnow(),
            from_status=c.status,
            to_status=c.status,
            to_committee_id=extra.pop("to_committee_id", c.committee_id),
            note=note,
            **extra,
        )
    )


class Oversight:
    def __init__(self, store: Store):
        self._store = store

    def _day(self, d) -> str:
        return f"{d.month}月{d.day}日"

    # limits ------------------------------------------------------------------------------
    @db_guard
    def limits(self) -> list[LimitsRecord]:
        with self._store.sessions() as s:
            return duedates.limit_records(s, self._store.directory.kb_directory)

    @db_guard
    def set_limits(self, category: str, accept_days: object, complete_days: object, actor: str) -> LimitsRecord:
        """An admin's override of a category's limits (validated like communities.yml); applies to new items."""
        cat = self._store.directory.category_id(category)
        try:
            limits = CategoryLimits(
                accept_days=int(str(accept_days).strip()), complete_days=int(str(complete_days).strip())
            )
        except (ValueError, TypeError):
            raise UserFacingError(
                "受理期限为1到30个工作日，办结期限为1到120个工作日，且办结期限不能短于受理期限。", code="invalid_limits"
            ) from None
        actor = ident(actor, "操作人", 100)
        with self._store.sessions.begin() as s:
            row = s.get(m.CategoryLimitOverride, cat) or m.CategoryLimitOverride(category=cat)
            row.accept_days, row.complete_days = limits.accept_days, limits.complete_days
            row.updated_by, row.updated_at = actor, m.utcnow()
            s.add(row)
        return next(r for r in self.limits() if r.category == cat)

    # extensions ----------------------------------------------------------------------------
    @db_guard
    def request_extension(
        self, tracking_no: str, days: object, reason: str, actor: str, *, committee_id=None
    ) -> ExtensionRecord:
        """A committee member asks for more working days (deadlines.request_extension's rules)."""
        actor = ident(actor, "操作人", 100)
        try:
            n = int(str(days).strip())
        except (ValueError, TypeError):
            n = 0
        with self._store.sessions() as s:
            c = self._store.load_for_update(s, tracking_no)
            if committee_id is not None and c.committee_id != committee_id:
                raise AccessDenied()
            if parse_status(c.status) in FINAL:
                raise UserFacingError("这件事已经办结或关闭，不需要延期。", code="extension_closed")
            rows = s.scalars(select(m.ExtensionRequest).where(m.ExtensionRequest.consultation_id == c.id)).all()
            pending = [dl.Extension(r.reason, r.days, r.requested_by, r.decided_by, r.approved) for r in rows]
            ext = dl.request_extension(reason, n, dl.Actor(actor, dl.Role.MEMBER), pending=pending)
            row = m.ExtensionRequest(
                consultation_id=c.id, days=ext.days, reason=ext.reason, requested_by=actor, requested_at=m.utcnow()
            )
            s.add(row)
            _trail(s, c, "extension", actor, f"申请延期{ext.days}个工作日：{ext.reason}")
            s.commit()
            return _ext(row, c.tracking_no)

    @db_guard
    def decide_extension(
        self, extension_id: int, approve: bool, actor: str, *, township: str | None, role: str, note: str = ""
    ) -> ExtensionRecord:
        """A supervisor of the item's 街道/乡镇 approves or refuses (not their own request); approval moves
        ``complete_by`` and tells the resident the new date. ``township=None`` only for an admin acting as one."""
        actor = ident(actor, "操作人", 100)
        note = clean_text(note, field="说明", max_chars=500, required=False)
        with self._store.sessions() as s:
            text = str(extension_id).strip()
            ok = text.isascii() and text.isdigit() and len(text) <= 9  # never an overflow or a digit like "²"
            row = s.get(m.ExtensionRequest, int(text)) if ok else None
            if row is None:
                raise NotFoundError("没有找到这个延期申请。")
            c = self._store.load_for_update(s, s.get(m.Consultation, row.consultation_id).tracking_no)
            if township is not None and c.community.township != township:
                raise NotFoundError("没有找到这个延期申请。")
            who = dl.Actor(actor, dl.Role.SUPERVISOR if role in ("supervisor", "admin") else dl.Role.MEMBER)
            ext = dl.Extension(row.reason, row.days, row.requested_by, row.decided_by, row.approved)
            decided = dl.decide_extension(ext, who, bool(approve))
            row.approved, row.decided_by, row.decided_at, row.decision_note = (
                decided.approved,
                actor,
                m.utcnow(),
                note,
            )
            if decided.approved and c.complete_by is not None:
                moved = dl.with_extensions(
                    dl.Deadlines(c.accept_by or c.complete_by, c.accept_by or c.complete_by, c.complete_by),
                    [decided],
                )
                c.complete_by, c.due_estimated = moved.complete_by, bool(c.due_estimated or moved.estimated)
                told = f"办理期限延长{row.days}个工作日，预计{self._day(c.complete_by)}前办结。"
                _trail(s, c, "extension", actor, f"批准延期{row.days}个工作日，办结期限改为{c.complete_by}。{note}")
                if parse_status(c.status) not in FINAL:
                    notify.enqueue(s, c, told, chat_channels=self._store.chat_channels)
            else:
                _trail(s, c, "extension", actor, f"不同意延期申请（{row.days}个工作日）。{note}".strip())
            s.commit()
            out = _ext(row, c.tracking_no)
        self._store.wake()
        return out

    @db_guard
    def extensions(self, *, tracking_no: str | None = None, township: str | None = None, pending: bool = False):
        """Extension requests of one item, or (supervisor view) of a township's items, oldest first."""
        q = select(m.ExtensionRequest, m.Consultation.tracking_no).join(
            m.Consultation, m.Consultation.id == m.ExtensionRequest.consultation_id
        )
        if tracking_no is not None:
            q = q.where(m.Consultation.tracking_no == tracking_no)
        if township is not None:
            q = q.join(m.Community, m.Community.id == m.Consultation.community_id).where(
                m.Community.township == township
            )
        if pending:
            q = q.where(m.ExtensionRequest.approved.is_(None))
        with self._store.sessions() as s:
            return [_ext(e, tn) for e, tn in s.execute(q.order_by(m.ExtensionRequest.id))]

    # reassignment --------------------------------------------------------------------------
    @db_guard
    def reassign(
        self, tracking_no: str, committee_id: str, actor: str, *, township: str | None, note: str = ""
    ) -> ConsultationRecord:
        """The supervisor hands an open item to another committee of the township's communities; the resident is told."""
        actor = ident(actor, "操作人", 100)
        note = clean_text(note, field="说明", max_chars=500, required=False)
        with self._store.sessions() as s:
            c = self._store.load_for_update(s, tracking_no)
            target = s.get(m.Committee, committee_id) if isinstance(committee_id, str) else None
            if township is not None and c.community.township != township:
                raise NotFoundError()
            if target is None or not target.active or (township is not None and target.community.township != township):
                raise UserFacingError("只能转给本街道（乡镇）所辖社区的委员会。", code="bad_committee")
            if parse_status(c.status) in FINAL:
                raise UserFacingError("这件事已经办结或关闭，不能再转办。", code="final_status")
            if target.id == c.committee_id:
                raise UserFacingError("承办委员会没有变化。", code="same_committee")
            line = f"督办转交{target.community.name}{target.name}办理" + (f"：{note}" if note else "")
            _trail(s, c, "reassign", actor, line, from_committee_id=c.committee_id, to_committee_id=target.id)
            c.committee_id, c.community_id, c.updated_at = target.id, target.community_id, m.utcnow()
            s.flush()
            notify.enqueue(
                s, c, f"已转由{target.community.name}{target.name}办理。", chat_channels=self._store.chat_channels
            )
            s.commit()
            s.refresh(c)
            rec = self._store.record(c, trail=True)
        self._store.wake()
        return rec

    # overdue lists and badges ------------------------------------------------------------
    @db_guard
    def overdue(self, scope=None, *, township: str | None = None, now: datetime | None = None, near: bool = False):
        """Open items past a limit (``near``: also those within the reminder window), most overdue first."""
        now = now or m.utcnow()
        settings = self._store.settings
        q = (
            select(m.Consultation, m.Committee.name, m.Community.name, m.Community.township)
            .join(m.Committee, m.Committee.id == m.Consultation.committee_id)
            .join(m.Community, m.Community.id == m.Consultation.community_id)
            .where(m.Consultation.status.in_(OPEN), m.Consultation.complete_by.is_not(None))
            .where(in_scope(m.Consultation.committee_id, scope))
        )
        if township is not None:
            q = q.where(m.Community.township == township)
        out = []
        with self._store.sessions() as s:
            for c, committee_name, community_name, tw in s.execute(q):
                stage, due = (
                    ("accept", c.accept_by) if c.status == Status.SUBMITTED.value else ("complete", c.complete_by)
                )
                info = duedates.due_info(due, now, settings, estimated=c.due_estimated)
                if info.overdue or (near and info.near):
                    out.append(
                        OverdueItem(
                            c.tracking_no,
                            community_name,
                            c.committee_id,
                            committee_name,
                            tw or "",
                            parse_status(c.status).label,
                            stage,
                            due,
                            info.working_days_overdue,
                            bool(c.due_estimated),
                        )
                    )
        return sorted(out, key=lambda o: (-o.working_days_overdue, o.due, o.tracking_no))

    def badge(self, scope=None, *, township: str | None = None, now: datetime | None = None) -> dict[str, int]:
        """The inbox badge: open items near a limit, past one, and (supervisors) extension requests waiting."""
        items = self.overdue(scope, township=township, now=now, near=True)
        overdue = sum(1 for i in items if i.working_days_overdue > 0)
        waiting = len(self.extensions(township=township, pending=True)) if township is not None else 0
        return {"near": len(items) - overdue, "overdue": overdue, "extensions": waiting}

    # 协商结果公开 ----------------------------------------------------------------------------
    @db_guard
    def publish_outcome(self, tracking_no: str, text: str, actor: str, *, committee_id=None) -> ConsultationRecord:
        """Publish (or update) an item's outcome; stored masked (no name, phone or ID number), empty text unpublishes."""
        actor = ident(actor, "操作人", 100)
        body = clean_text(text, field="协商结果", max_chars=MAX_OUTCOME_CHARS, required=False)
        with self._store.sessions() as s:
            c = self._store.load_for_update(s, tracking_no)
            if committee_id is not None and c.committee_id != committee_id:
                raise AccessDenied()
            if body:
                c.outcome_text = outside_text(body, c.contact_name)
                c.outcome_published_at, c.outcome_published_by = m.utcnow(), actor
                _trail(s, c, "publish", actor, "公开协商结果")
            elif c.outcome_published_at is None:
                raise UserFacingError("请填写要公开的协商结果。", code="outcome_empty")
            else:
                c.outcome_text = c.outcome_published_at = c.outcome_published_by = None
                _trail(s, c, "publish", actor, "撤下公开的协商结果")
            s.commit()
            s.refresh(c)
            return self._store.record(c, trail=True)

    @db_guard
    def public_outcomes(self, community_id: str, limit: int = 100) -> list[PublicOutcome]:
        """A community's published outcomes, newest first (the public page; no login)."""
        cid = self._store.directory.community_id(community_id)
        with self._store.sessions() as s:
            rows = s.execute(
                select(m.Consultation, m.Committee.name)
                .join(m.Committee, m.Committee.id == m.Consultation.committee_id)
                .where(m.Consultation.community_id == cid, m.Consultation.outcome_published_at.is_not(None))
                .order_by(m.Consultation.outcome_published_at.desc(), m.Consultation.id.desc())
                .limit(max(1, min(int(limit), 500)))
            )
            return [
                PublicOutcome(
                    c.tracking_no,
                    self._store.directory.category_name(c.category),
                    name,
                    parse_status(c.status).label,
                    c.outcome_text or "",
                    c.outcome_published_at,
                )
                for c, name in rows
            ]

    @db_guard
    def open_count(self, scope=None) -> int:
        with self._store.sessions() as s:
            q = select(func.count()).where(
                m.Consultation.status.in_(OPEN), in_scope(m.Consultation.committee_id, scope)
            )
            return int(s.scalar(q) or 0)
