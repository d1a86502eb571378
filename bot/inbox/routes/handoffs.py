"""Handoff requests (转人工): the open and recently closed ones, and replying to close one.

They go to each community's fallback committee (``HandoffUser``); a member never learns that another
committee's request exists (404).
"""

from __future__ import annotations

from fastapi import APIRouter, Form, HTTPException, Request

from bot.consultations import HandoffRecord
from bot.consultations.outside import outside_text
from bot.inbox.deps import HandoffUser, OwnCommittee, ServiceDep, may_see
from bot.inbox.reach import reach
from bot.inbox.web import CHANNEL_NAMES, MAX_NOTE, Refused, clean, flash_redirect, refusals_back_to, render

router = APIRouter()

BACK = "/handoffs"
MISSING = "没有找到这条转人工请求，或您无权处理。"


def _row(h: HandoffRecord, communities: dict[str, str], chat_channels: frozenset[str]) -> dict:
    """What the page shows: no sender id, phone and ID numbers masked."""
    return {
        "id": h.id,
        "created_at": h.created_at,
        "channel": CHANNEL_NAMES.get(h.channel, h.channel),
        "community": communities.get(h.community_id, h.community_id),
        "text": outside_text(h.text),
        "closed_at": h.closed_at,
        "closed_by": h.closed_by,
        "close_note": outside_text(h.close_note),
        "chat": reach(h.channel, chat_channels).reaches,
    }


@router.get("/handoffs")
def handoffs_page(request: Request, svc: ServiceDep, user: HandoffUser, own: OwnCommittee):
    communities = {c.id: c.name for c in svc.directory.communities()}
    return render(
        request,
        "handoffs.html",
        {
            "open": [_row(h, communities, svc.chat_channels) for h in svc.handoffs.list(own, status="open", limit=200)],
            "closed": [
                _row(h, communities, svc.chat_channels) for h in svc.handoffs.list(own, status="closed", limit=20)
            ],
            "max_note": MAX_NOTE,
        },
    )


@router.post("/handoffs/{handoff_id}/close")
def close_handoff(
    request: Request, svc: ServiceDep, user: HandoffUser, own: OwnCommittee, handoff_id: str, note: str = Form("")
):
    hid = clean(handoff_id, 12)
    h = svc.handoffs.get(int(hid)) if hid.isdigit() else None
    if h is None or not may_see(own, h.committee_id):
        raise HTTPException(404, MISSING)
    text = clean(note, MAX_NOTE, multiline=True)
    if not text:
        raise Refused("请填写回复内容，它会发送给居民。", BACK)
    with refusals_back_to(BACK, missing=MISSING):
        out = svc.handoffs.close(int(hid), text, user.username, committee_id=own)
    if out.pushed and reach(h.channel, svc.chat_channels).reaches:
        return flash_redirect(request, BACK, f"已处理转人工请求 {out.id} 号，回复已发送给居民。")
    return flash_redirect(request, BACK, f"已处理转人工请求 {out.id} 号。该渠道无法推送消息，请另行联系居民。")
