"""Status changes (committee side and the resident's withdrawal) and re-categorization, each with its trail line.

A committee-side change queues the push to the resident in the same transaction (the outbox), then
wakes the delivery thread.
"""

from __future__ import annotations

from sqlalchemy import select, update

from bot.consultations import models as m
from bot.consultations import notify
from bot.consultations.errors import AccessDenied, NotFoundError, db_guard
from bot.consultations.records import ConsultationRecord
from bot.consultations.statuses import (
    FINAL,
    REOPEN_TO,
    RESIDENT_ACTOR,
    Status,
    TransitionError,
    check_transition,
    parse_status,
)
from bot.consultations.store import Store
from bot.consultations.validation import MAX_TEXT_CHARS, clean_text, ident
from bot.errors import UserFacingError

NOT_YOURS = "没有查到这个编号下您提交的诉求，请核对受理编号。"


def trail_line(s, c: m.Consultation, kind: str, actor: str, now, to_status: str, note: str) -> None:
    """One trail line of ``c`` from its current status (status change, reopen, merge), in the caller's transaction."""
    s.add(
        m.StatusEvent(
            consultation_id=c.id,
            kind=kind,
            actor=actor,
            at=now,
            from_status=c.status,
            to_status=to_status,
            to_committee_id=c.committee_id,
            note=note,
        )
    )


def _change(
    store: Store,
    tracking_no: str,
    to_status: str | Status,
    actor: str,
    note: str,
    *,
    by_resident: bool,
    resident: tuple[str, str] | None = None,
    committee_id: str | None = None,
) -> ConsultationRecord:
    note = clean_text(note, field="说明", max_chars=MAX_TEXT_CHARS, required=False)
    actor = ident(actor, "操作人", 100)
    with store.sessions() as s:
        c = store.load_for_update(s, tracking_no)
        if resident is not None and not store.owned_by(c.channel, c.sender_id, *resident):
            raise NotFoundError(NOT_YOURS)
        if committee_id is not None and c.committee_id != committee_id:
            raise AccessDenied()
        target = check_transition(c.status, to_status, by_resident=by_resident, note=note)
        now = m.utcnow()
        trail_line(s, c, "status", actor, now, target.value, note)
        c.status = target.value
        c.updated_at = now
        s.flush()
        asks = not by_resident and target == Status.RESOLVED and _ask_followup(s, store, c, now)
        # the resident's own withdrawal is confirmed in the chat directly; co-signers are told of every change
        notify.enqueue(s, c, note, chat_channels=store.chat_channels, followup=asks, cosigners_only=by_resident)
        s.commit()
        s.refresh(c)
        rec = store.record(c, trail=True)
    store.wake()
    return rec


def residents(s, c: m.Consultation) -> list[tuple[str, str]]:
    """(channel, sender) of the submitter, then each co-signer in the order they joined (at intake or by a merge)."""
    joined = s.scalars(select(m.Cosign).where(m.Cosign.consultation_id == c.id).order_by(m.Cosign.id))
    return list(dict.fromkeys([(c.channel, c.sender_id)] + [(co.channel, co.sender_id) for co in joined]))


def _ask_followup(s, store: Store, c: m.Consultation, now) -> bool:
    """A resolution opens the 回访 of every resident whose chat can be asked — the submitter and each co-signer
    (at intake or through a merge), one answer each (bot.closedloop.followup). False when nobody can be asked."""
    asked = [r for r in residents(s, c) if notify.is_chat_channel(r[0], store.chat_channels)]
    for channel, sender_id in asked:
        s.add(
            m.FollowUp(
                consultation_id=c.id,
                committee_id=c.committee_id,
                channel=channel,
                sender_id=sender_id,
                state="pending",
                comment="",
                asked_at=now,
            )
        )
    return bool(asked)


def reopen(s, store: Store, c: m.Consultation, note: str, now, by: tuple[str, str] | None = None) -> None:
    """A resident's 不满意 at the 回访: a resolved item goes back to the same committee (rework), inside the
    caller's transaction; the item's other residents hear of it (``by``, who answered, is told in the chat;
    None: the submitter)."""
    if parse_status(c.status) != Status.RESOLVED:
        raise TransitionError("该事项不是“已办结”状态，无需重新办理。", code="not_resolved")
    trail_line(s, c, "reopen", RESIDENT_ACTOR, now, REOPEN_TO.value, note)
    c.status, c.updated_at = REOPEN_TO.value, now
    s.flush()
    s.execute(  # the others' 回访 of this resolution is moot: they are asked again at the next one
        update(m.FollowUp)
        .where(m.FollowUp.consultation_id == c.id, m.FollowUp.state == "pending")
        .values(state="void", closed_at=now)
    )
    s.flush()
    notify.enqueue(s, c, note, chat_channels=store.chat_channels, skip=by or (c.channel, c.sender_id))


@db_guard
def withdraw(store: Store, tracking_no: str, channel: str, sender_id: str, note: str = "") -> ConsultationRecord:
    """The chat resident (channel, sender_id) withdraws their own consultation (submitted/accepted/
    deliberating only); an Open311 item is never withdrawn from a chat."""
    sender_id = ident(sender_id, "用户标识")
    channel = ident(channel, "渠道", 50)
    return _change(
        store, tracking_no, Status.WITHDRAWN, RESIDENT_ACTOR, note, by_resident=True, resident=(channel, sender_id)
    )


@db_guard
def change_status(
    store: Store,
    tracking_no: str,
    to_status: str | Status,
    actor: str,
    note: str = "",
    *,
    committee_id: str | None = None,
) -> ConsultationRecord:
    """Committee-side transition (raises TransitionError); ``committee_id`` restricts to that
    committee (AccessDenied otherwise). Queues a push to the resident."""
    return _change(store, tracking_no, to_status, actor, note, by_resident=False, committee_id=committee_id)


@db_guard
def recategorize(
    store: Store, tracking_no: str, category: str, actor: str, note: str = "", *, committee_id: str | None = None
) -> ConsultationRecord:
    """Change the category, re-route to the committee handling it, record it in the trail."""
    cat = store.directory.category_id(category)
    note = clean_text(note, field="说明", required=False)
    actor = ident(actor, "操作人", 100)
    with store.sessions() as s:
        c = store.load_for_update(s, tracking_no)
        if committee_id is not None and c.committee_id != committee_id:
            raise AccessDenied()
        if parse_status(c.status) in FINAL:
            raise TransitionError(
                f"该事项已是“{parse_status(c.status).label}”状态，不能再改类别。", code="final_status"
            )
        if cat == c.category:
            raise UserFacingError("类别没有变化。", code="same_category")
        target, _flag = store.router.committee_for(store.router.community(c.community_id), cat, c.text)
        now = m.utcnow()
        s.add(
            m.StatusEvent(
                consultation_id=c.id,
                kind="recategorize",
                actor=actor,
                at=now,
                from_status=c.status,
                to_status=c.status,
                from_category=c.category,
                to_category=cat,
                from_committee_id=c.committee_id,
                to_committee_id=target.id,
                note=note,
            )
        )
        c.category, c.committee_id, c.flagged_unroutable, c.updated_at = cat, target.id, False, now
        s.commit()
        s.refresh(c)
        return store.record(c, trail=True)
