"""What people outside the committee see of a consultation: the resident in the chat, Open311 integrators.

:func:`outside_text` is the one masking path for those views (built on :func:`bot.privacy.mask`):
the contact's name, phone and ID numbers are masked in the description and in every note shown.
"""

from __future__ import annotations

from bot.consultations import models as m
from bot.consultations import tracking
from bot.consultations.errors import NotFoundError, db_guard
from bot.consultations.records import ConsultationRecord, OutsideView, ResidentStatus, ResidentTrailEntry
from bot.consultations.statuses import FINAL, RESIDENT_ACTOR, parse_status
from bot.consultations.store import Store
from bot.errors import UserFacingError
from bot.privacy import mask

INTERNAL_KINDS = frozenset({"reminder", "escalation", "extension", "reassign", "publish"})


def outside_text(text: str | None, contact_name: str | None = None) -> str:
    """``text`` as an outside view may show it: the contact's name, phones and ID numbers masked."""
    return mask(text or "", [contact_name] if contact_name else [])


def outside_view(c: m.Consultation, category_name: str | None) -> OutsideView:
    """From a row loaded with its events, committee and community."""
    st = parse_status(c.status)
    # internal lines (reminders, escalations, extension reasons, reassignment, publishing) stay in the inbox
    notes = [e.note for e in c.events if e.note and e.note.strip() and e.kind not in INTERNAL_KINDS]
    return OutsideView(
        c.tracking_no,
        st.value,
        st.label,
        st in FINAL,
        c.category,
        category_name,
        outside_text(c.text, c.contact_name),
        outside_text(notes[-1].strip(), c.contact_name) if notes else "",
        c.committee.name if c.committee else None,
        c.community.name if c.community else None,
        c.created_at,
        c.updated_at,
        c.outcome_text or "" if c.outcome_published_at is not None else "",
    )


def resident_view(store: Store, rec: ConsultationRecord) -> ResidentStatus:
    """A record (with trail) as its resident sees it: status steps only, members' notes masked."""
    trail = tuple(
        ResidentTrailEntry(
            e.at.isoformat(),
            store.local_time_text(e.at),
            e.to_status,
            e.to_status_label,
            outside_text(e.note, rec.contact_name) if e.actor != RESIDENT_ACTOR else "",
        )
        for e in rec.trail
        if e.kind == "status"
    )
    return ResidentStatus(
        rec.tracking_no,
        rec.status,
        rec.status_label,
        parse_status(rec.status).is_open,
        rec.category,
        rec.category_name,
        rec.committee_name,
        rec.committee_type,
        rec.community_name,
        rec.created_at.isoformat(),
        rec.updated_at.isoformat(),
        store.local_time_text(rec.updated_at),
        trail,
        rec.due_line,
    )


@db_guard
def status_for_resident(store: Store, get, tracking_no: str, channel: str, sender_id: str) -> ResidentStatus:
    """What the resident may see of their own consultation (``get``: the facade's full-record lookup).

    A resident is the pair (channel, sender_id): a Telegram chat id sent from another channel finds
    nothing, and items of a channel without a chat (``open311``) are never shown in a chat.
    Not theirs or unknown → NotFoundError.
    """
    tn = tracking.normalize_tracking_no(tracking_no)
    if tn is None:
        raise UserFacingError(
            "受理编号的格式是 YS-日期-序号，例如 YS-20261129-0042，请核对后再查。", code="invalid_tracking_no"
        )
    rec = get(tn)
    if rec is None or not store.owned_by(rec.channel, rec.sender_id, channel, sender_id):
        raise NotFoundError("没有查到这个编号下您提交的诉求，请核对受理编号。")
    return resident_view(store, rec)
