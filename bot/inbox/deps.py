"""Typed request dependencies of the inbox routes:
``svc: ServiceDep``, ``user: CurrentUser``, ``rec: VisibleConsultation``.

Who may see what is decided here, once: a member is limited to their own committee, a supervisor of a
街道/乡镇 to the committees of its communities (a frozenset), an admin to none (in a report: to the committee
they pick). A record outside the limit answers 404 exactly like one
that does not exist, so nobody learns what another committee holds.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from bot.consultations import ConsultationRecord, ConsultationService
from bot.feedback.store import FeedbackStore
from bot.inbox import auth
from bot.inbox.kbindex import DeskIndex
from bot.inbox.web import clean, handles_handoffs
from bot.settings import Settings

NOT_FOUND = "没有找到这条诉求，或您无权查看。"


def get_service(request: Request) -> ConsultationService:
    return request.app.state.service


ServiceDep = Annotated[ConsultationService, Depends(get_service)]


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


class LoginRequired(Exception):
    """No live session: the app answers with a redirect to the login page, then back to ``next_url``."""

    def __init__(self, next_url: str):
        self.next_url = next_url


def current_user(request: Request) -> auth.CurrentUser:
    """The logged-in user, or :class:`LoginRequired`."""
    user = auth.load_user(request.session, request.app.state.service.accounts)
    if user is None:
        if "sid" in request.session:  # ended session (logout, password changed, user deactivated): drop it
            request.session.clear()
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    request.state.user = user
    return user


CurrentUser = Annotated[auth.CurrentUser, Depends(current_user)]


def admin_user(user: CurrentUser) -> auth.CurrentUser:
    if not user.is_admin:
        raise HTTPException(403, "只有管理员可以管理用户。")
    return user


AdminUser = Annotated[auth.CurrentUser, Depends(admin_user)]


def handoff_user(request: Request, user: CurrentUser) -> auth.CurrentUser:
    """Handoffs go to each community's fallback committee (居委会/村委会); admins see all."""
    if not handles_handoffs(request, user):
        raise HTTPException(403, "转人工请求由本社区居委会（村委会）处理，您所在的委员会无需处理。")
    return user


HandoffUser = Annotated[auth.CurrentUser, Depends(handoff_user)]


def kb_editor(user: CurrentUser) -> auth.CurrentUser:
    """The knowledge desk: kb-editors and admins; members get 403."""
    if not user.edits_kb:
        raise HTTPException(403, "只有知识库编辑和管理员可以使用知识库工作台。")
    return user


KBEditor = Annotated[auth.CurrentUser, Depends(kb_editor)]


def get_kb_index(request: Request) -> DeskIndex:
    return request.app.state.kb_index


KBIndex = Annotated[DeskIndex, Depends(get_kb_index)]


def get_feedback(request: Request) -> FeedbackStore:
    """The learning loop's store (same database as the consultations), opened on first use."""
    store = getattr(request.app.state, "feedback", None)
    if store is None:
        store = request.app.state.feedback = FeedbackStore.from_settings(request.app.state.settings)
    return store


FeedbackDep = Annotated[FeedbackStore, Depends(get_feedback)]


Scope = str | frozenset[str] | None


def township_committees(svc: ConsultationService, township: str | None) -> frozenset[str]:
    return frozenset(
        cm.id for c in svc.directory.communities() if township and c.township == township for cm in c.committees
    )


def own_committee(request: Request, user: CurrentUser) -> Scope:
    """What this user reads and acts within: a member's committee; a supervisor's township committees; None (all)
    for an admin; a kb-editor none at all (403). Service calls that take ``committee_id=`` get a str or None; a
    frozenset never matches one committee, so a supervisor cannot change an item's status (oversight acts through
    its own calls)."""
    if not user.reads_consultations:
        raise HTTPException(403, "知识库编辑只能使用知识库工作台。")
    if user.is_admin:
        return None
    if user.is_supervisor:
        return township_committees(request.app.state.service, user.township)
    return user.committee_id


OwnCommittee = Annotated[Scope, Depends(own_committee)]


def committee_scope(user: CurrentUser, own: OwnCommittee, committee: str | None = None) -> Scope:
    """The committees a report or list covers: a member's own; a supervisor's township, or one of its committees
    (``?committee=``); an admin's choice or all."""
    chosen = clean(committee, 64) or None
    if user.is_admin:
        return chosen
    if isinstance(own, frozenset):
        return chosen if chosen in own else own
    return own


CommitteeScope = Annotated[Scope, Depends(committee_scope)]


def may_see(own: Scope, committee_id: str | None) -> bool:
    """Whether a record routed to ``committee_id`` is within ``own`` (see :func:`own_committee`)."""
    if isinstance(own, frozenset):
        return committee_id in own
    return own is None or committee_id == own


def supervisor_user(user: CurrentUser) -> auth.CurrentUser:
    if not (user.is_supervisor or user.is_admin):
        raise HTTPException(403, "只有街道（乡镇）督办人员可以进行这项操作。")
    return user


SupervisorUser = Annotated[auth.CurrentUser, Depends(supervisor_user)]


def visible_consultation(tracking_no: str, svc: ServiceDep, own: OwnCommittee) -> ConsultationRecord:
    """The consultation in the path, if this user may see it; 404 otherwise."""
    no = clean(tracking_no, 40)
    rec = svc.get(no) if no else None
    if rec is None or not may_see(own, rec.committee_id):
        raise HTTPException(404, NOT_FOUND)
    return rec


VisibleConsultation = Annotated[ConsultationRecord, Depends(visible_consultation)]
