"""``service.loop``: what the closed loop stores for residents — co-signers (附议, merges), 催办, follow-ups (回访).

Storage and ownership only; the rules that need the working-day calendar or the similarity model (which item to
offer, the urge key of a day, when a follow-up expires) are in :mod:`bot.closedloop`, which calls this part.
A refusal a resident should read politely is a :class:`bot.errors.UserFacingError` or a record's ``reason``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from bot.consultations import models as m
from bot.consultations import notify, tracking, transitions
from bot.consultations.errors import AccessDenied, NotFoundError, db_guard
from bot.consultations.records import CosignRecord, FollowUpRecord, LoopItemCounts, MergeRecord, OpenText, UrgeRecord
from bot.consultations.statuses import Status, parse_status
from bot.consultations.store import Store
from bot.consultations.validation import clean_text, ident
from bot.errors import UserFacingError

RATINGS = ("satisfied", "basically_satisfied", "unsatisfied")
RATING_LABELS = {"satisfied": "满意", "basically_satisfied": "基本满意", "unsatisfied": "不满意"}
MAX_COMMENT = 500
NOT_YOURS = transitions.NOT_YOURS


def _resident(channel: object, sender_id: object) -> tuple[str, str]:
    return ident(channel, "渠道", 50), ident(sender_id, "用户标识")


class Loop:
    def __init__(self, store: Store):
        self._store = store

    def _joined(self, s, c: m.Consultation, channel: str, sender_id: str) -> bool:
        """The submitter or a co-signer of ``c``."""
        if self._store.owned_by(c.channel, c.sender_id, channel, sender_id):
            return True
        return (
            s.scalar(
                select(m.Cosign.id).where(
                    m.Cosign.consultation_id == c.id, m.Cosign.channel == channel, m.Cosign.sender_id == sender_id
                )
            )
            is not None
        )

    @db_guard
    def open_items(self, community_id: str, since: datetime, channel: str, sender_id: str) -> list[OpenText]:
        """Open items of one community filed since ``since`` that this resident has not filed or joined yet."""
        open_codes = [st.value for st in Status if st.is_open]
        with self._store.sessions() as s:
            joined = select(m.Cosign.consultation_id).where(
                m.Cosign.channel == channel, m.Cosign.sender_id == sender_id
            )
            rows = s.execute(
                select(m.Consultation.tracking_no, m.Consultation.text, m.Consultation.created_at)
                .where(
                    m.Consultation.community_id == community_id,
                    m.Consultation.status.in_(open_codes),
                    m.Consultation.created_at >= since,
                    ~((m.Consultation.channel == channel) & (m.Consultation.sender_id == sender_id)),
                    m.Consultation.id.not_in(joined),
                )
                .order_by(m.Consultation.id.desc())
                .limit(200)
            )
            return [OpenText(tn, text, at) for tn, text, at in rows]

    @db_guard
    def cosign(self, tracking_no: str, channel: str, sender_id: str, community_id: str | None) -> CosignRecord:
        """The resident joins an open item of their own community instead of filing a new one."""
        channel, sender_id = _resident(channel, sender_id)
        if not notify.is_chat_channel(channel, self._store.chat_channels):
            raise UserFacingError("只有在对话中才能附议。", code="not_chat")
        with self._store.sessions() as s:
            c = self._store.load_for_update(s, tracking_no)
            if community_id is not None and c.community_id != community_id:
                raise UserFacingError("这件事不属于您所在的社区，不能附议。您可以单独提交。", code="other_community")
            if self._joined(s, c, channel, sender_id):
                raise UserFacingError(
                    f"您已经提交或附议过 {c.tracking_no}，不用重复附议。有进展会通知您。", code="already_joined"
                )
            if not parse_status(c.status).is_open:
                raise UserFacingError(
                    f"{c.tracking_no} 已是“{parse_status(c.status).label}”，不能再附议。您可以单独提交。",
                    code="closed",
                )
            s.add(m.Cosign(consultation_id=c.id, committee_id=c.committee_id, channel=channel, sender_id=sender_id))
            try:
                s.commit()
            except IntegrityError:  # the same resident, twice at once
                s.rollback()
                raise UserFacingError(f"您已经附议过 {c.tracking_no}，不用重复附议。", code="already_joined") from None
            n = s.scalar(select(func.count(m.Cosign.id)).where(m.Cosign.consultation_id == c.id)) or 0
            st = parse_status(c.status)
            return CosignRecord(c.tracking_no, st.value, st.label, c.committee.name, n)

    @db_guard
    def merge(self, source_no: str, target_no: str, actor: str, *, committee_id: str | None = None) -> MergeRecord:
        """Committee members merge ``source`` into ``target`` (same committee; both open): a trail line on both,
        the source's submitter and co-signers become co-signers of the target and are told, the source is closed
        as 已合并."""
        actor = ident(actor, "操作人", 100)
        src_no, tgt_no = tracking.normalize_tracking_no(source_no), tracking.normalize_tracking_no(target_no)
        if tgt_no is None:
            raise UserFacingError("请填写要合并到的受理编号（如 YS-20260301-0001）。", code="invalid_target")
        if src_no == tgt_no:
            raise UserFacingError("不能合并到它自己。", code="same_item")
        with self._store.sessions() as s:
            src = self._store.load_for_update(s, source_no)
            try:
                tgt = self._store.load_for_update(s, tgt_no)
            except NotFoundError:
                raise UserFacingError(f"没有找到 {tgt_no}，请核对受理编号。", code="target_not_found") from None
            if committee_id is not None and src.committee_id != committee_id:
                raise AccessDenied()
            if tgt.committee_id != src.committee_id:
                raise UserFacingError("只能合并到本委员会承办的事项。", code="other_committee")
            for c in (src, tgt):
                if not parse_status(c.status).is_open:
                    raise UserFacingError(
                        f"{c.tracking_no} 已是“{parse_status(c.status).label}”，不能合并。", code="closed"
                    )
            now = m.utcnow()
            moved = 0
            for channel, sender in transitions.residents(s, src):
                if (channel, sender) == (tgt.channel, tgt.sender_id) or s.scalar(
                    select(m.Cosign.id).where(
                        m.Cosign.consultation_id == tgt.id, m.Cosign.channel == channel, m.Cosign.sender_id == sender
                    )
                ):
                    continue
                s.add(
                    m.Cosign(
                        consultation_id=tgt.id,
                        committee_id=tgt.committee_id,
                        channel=channel,
                        sender_id=sender,
                        via="merge",
                        from_tracking_no=src.tracking_no,
                        created_at=now,
                    )
                )
                moved += 1
            note = f"已合并到 {tgt.tracking_no}，后续进展将按该编号通知。"
            for c, kind, text in ((src, "status", note), (tgt, "merge", f"合并了 {src.tracking_no}（相同事项）。")):
                transitions.trail_line(s, c, kind, actor, now, Status.MERGED.value if c is src else c.status, text)
            src.status, src.merged_into, src.updated_at, tgt.updated_at = Status.MERGED.value, tgt.tracking_no, now, now
            s.execute(  # an open item has no pending follow-up; an earlier one stays as it was answered
                update(m.FollowUp)
                .where(m.FollowUp.consultation_id == src.id, m.FollowUp.state == "pending")
                .values(state="void", closed_at=now)
            )
            s.flush()
            notify.enqueue(s, src, note, chat_channels=self._store.chat_channels)  # the source's residents
            s.commit()
            rec = MergeRecord(src.tracking_no, tgt.tracking_no, moved)
        self._store.wake()
        return rec

    @db_guard
    def urge(self, tracking_no: str, channel: str, sender_id: str, key: str) -> UrgeRecord:
        """Record a 催办 by the submitter or a co-signer; ``key`` (bot.closedloop.reminders.urge_key) is unique,
        so a second urge on the same working day is refused (``reason`` "already") even from two replicas."""
        channel, sender_id = _resident(channel, sender_id)
        with self._store.sessions() as s:
            c = self._store.load_for_update(s, tracking_no)
            if not self._joined(s, c, channel, sender_id):
                raise NotFoundError(NOT_YOURS)
            st = parse_status(c.status)

            def result(accepted: bool, reason: str) -> UrgeRecord:
                n = s.scalar(select(func.count(m.Urge.id)).where(m.Urge.consultation_id == c.id)) or 0
                return UrgeRecord(c.tracking_no, st.value, st.label, c.committee.name, accepted, reason, n)

            if not st.is_open:
                return result(False, "closed")
            if s.scalar(select(m.Urge.id).where(m.Urge.key == key)) is not None:
                return result(False, "already")
            s.add(
                m.Urge(consultation_id=c.id, committee_id=c.committee_id, channel=channel, sender_id=sender_id, key=key)
            )
            try:
                s.commit()
            except IntegrityError:
                s.rollback()
                return result(False, "already")
            return result(True, "ok")

    @db_guard
    def counts(self, tracking_no: str) -> LoopItemCounts:
        """Co-signers, 催办 and reworks of one item (the inbox detail page)."""
        with self._store.sessions() as s:
            cid = s.scalar(
                select(m.Consultation.id).where(
                    m.Consultation.tracking_no == tracking.normalize_tracking_no(tracking_no)
                )
            )
            if cid is None:
                raise NotFoundError()

            def n(q) -> int:
                return s.scalar(q) or 0

            return LoopItemCounts(
                n(select(func.count(m.Cosign.id)).where(m.Cosign.consultation_id == cid)),
                n(select(func.count(m.Urge.id)).where(m.Urge.consultation_id == cid)),
                n(select(func.count(m.FollowUp.id)).where(m.FollowUp.consultation_id == cid, m.FollowUp.reopened)),
            )

    @db_guard
    def rate(self, tracking_no: str, channel: str, sender_id: str, rating: str, comment: str = "") -> FollowUpRecord:
        """The submitter or a co-signer answers their own 回访 once; 不满意 from any of them reopens the item to the
        same committee with the comment (the others' pending follow-ups of that resolution are void)."""
        channel, sender_id = _resident(channel, sender_id)
        if rating not in RATINGS:
            raise UserFacingError("请选择：满意、基本满意或不满意。", code="invalid_rating")
        comment = clean_text(comment, field="说明", max_chars=MAX_COMMENT, required=False)
        with self._store.sessions() as s:
            c = self._store.load_for_update(s, tracking_no)
            if not self._joined(s, c, channel, sender_id):
                raise NotFoundError(NOT_YOURS)
            st = parse_status(c.status)
            owner = self._store.owned_by(c.channel, c.sender_id, channel, sender_id)
            who = (c.channel, c.sender_id) if owner else (channel, sender_id)

            def result(reason: str, reopened: bool = False) -> FollowUpRecord:
                return FollowUpRecord(c.tracking_no, rating, reason == "ok", reason, reopened, c.merged_into)

            if st in (Status.WITHDRAWN, Status.MERGED):
                return result(st.value)
            fu = s.scalar(
                select(m.FollowUp)
                .where(m.FollowUp.consultation_id == c.id, m.FollowUp.channel == who[0], m.FollowUp.sender_id == who[1])
                .order_by(m.FollowUp.id.desc())
                .limit(1)
            )
            if fu is None or fu.state == "void":  # not asked yet, or another resident's 不满意 reopened it
                return result("not_resolved")
            if fu.state != "pending":
                return result("answered")
            if st != Status.RESOLVED:
                return result("not_resolved")
            now = m.utcnow()
            fu.state, fu.comment, fu.closed_at = rating, comment, now
            if rating == "unsatisfied":
                fu.reopened = True
                why = f"居民回访不满意，重新办理。{('居民说明：' + comment) if comment else ''}"
                transitions.reopen(s, self._store, c, why, now, by=who)
            s.commit()
        self._store.wake()
        return result("ok", rating == "unsatisfied")

    @db_guard
    def pending_followup(self, channel: str, sender_id: str) -> str | None:
        """The tracking no of this resident's latest unanswered follow-up ("没解决" typed without a number)."""
        with self._store.sessions() as s:
            return s.scalar(
                select(m.Consultation.tracking_no)
                .join(m.FollowUp, m.FollowUp.consultation_id == m.Consultation.id)
                .where(m.FollowUp.channel == channel, m.FollowUp.sender_id == sender_id, m.FollowUp.state == "pending")
                .order_by(m.FollowUp.id.desc())
                .limit(1)
            )

    @db_guard
    def unanswered(self, asked_before: datetime) -> list[tuple[int, datetime]]:
        """(id, asked_at) of pending follow-ups asked before ``asked_before`` (bot.closedloop.followup filters
        them by working days)."""
        with self._store.sessions() as s:
            return list(
                s.execute(
                    select(m.FollowUp.id, m.FollowUp.asked_at)
                    .where(m.FollowUp.state == "pending", m.FollowUp.asked_at < asked_before)
                    .order_by(m.FollowUp.id)
                )
            )

    @db_guard
    def close_unanswered(self, ids: list[int], now: datetime) -> int:
        """Close these follow-ups as 未回复 (never as satisfied); an answer that won the race is kept."""
        if not ids:
            return 0
        with self._store.sessions() as s:
            res = s.execute(
                update(m.FollowUp)
                .where(m.FollowUp.id.in_(ids), m.FollowUp.state == "pending")
                .values(state="unanswered", closed_at=now)
            )
            s.commit()
            return res.rowcount or 0
