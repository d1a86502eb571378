"""Closing the loop in the inbox: extensions (members request, supervisors decide), the supervisor's view and
reassignment, the admin's category limits, publishing an outcome, scorecards (page and CSV) and the public page
of a community's published outcomes (no login)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request

from bot.inbox import reporting
from bot.inbox.dates import parse_day
from bot.inbox.deps import (
    NOT_FOUND,
    AdminUser,
    CommitteeScope,
    CurrentUser,
    OwnCommittee,
    ServiceDep,
    SettingsDep,
    SupervisorUser,
    VisibleConsultation,
    township_committees,
)
from bot.inbox.web import MAX_NOTE, Refused, clean, flash_redirect, local_tz, now_of, refusals_back_to, render

router = APIRouter()


def _page(no: str) -> str:
    return f"/consultations/{no}"


@router.post("/consultations/{tracking_no}/extension")
def request_extension(
    request: Request,
    svc: ServiceDep,
    user: CurrentUser,
    own: OwnCommittee,
    rec: VisibleConsultation,
    days: str = Form(""),
    reason: str = Form(""),
):
    if user.is_supervisor:
        raise Refused("延期由承办委员会申请，督办人员负责审批。", _page(rec.tracking_no))
    with refusals_back_to(_page(rec.tracking_no), missing=NOT_FOUND):
        e = svc.oversight.request_extension(
            rec.tracking_no, clean(days, 4), clean(reason, 600, multiline=True), user.username, committee_id=own
        )
    return flash_redirect(request, _page(rec.tracking_no), f"已提交延期{e.days}个工作日的申请，等待街道（乡镇）审批。")


@router.post("/extensions/{extension_id}/decide")
def decide_extension(
    request: Request,
    svc: ServiceDep,
    user: SupervisorUser,
    extension_id: str,
    decision: str = Form(""),
    note: str = Form(""),
    back: str = Form("/supervisor"),
):
    back = back if back.startswith("/") and not back.startswith("//") else "/supervisor"
    if decision not in ("approve", "refuse"):
        raise Refused("请选择同意或不同意。", back)
    with refusals_back_to(back, missing="没有找到这个延期申请。"):
        e = svc.oversight.decide_extension(
            clean(extension_id, 12),
            decision == "approve",
            user.username,
            township=None if user.is_admin else user.township,
            role=user.role,
            note=clean(note, MAX_NOTE, multiline=True),
        )
    word = "同意" if e.state == "approved" else "不同意"
    return flash_redirect(request, back, f"已{word} {e.tracking_no} 的延期申请。")


@router.post("/consultations/{tracking_no}/reassign")
def reassign(
    request: Request,
    svc: ServiceDep,
    user: SupervisorUser,
    rec: VisibleConsultation,
    committee_id: str = Form(""),
    note: str = Form(""),
):
    with refusals_back_to(_page(rec.tracking_no), missing=NOT_FOUND):
        updated = svc.oversight.reassign(
            rec.tracking_no,
            clean(committee_id, 64),
            user.username,
            township=None if user.is_admin else user.township,
            note=clean(note, MAX_NOTE, multiline=True),
        )
    return flash_redirect(request, _page(updated.tracking_no), f"已转交{updated.committee_name}办理，并通知居民。")


@router.post("/consultations/{tracking_no}/outcome")
def publish_outcome(
    request: Request,
    svc: ServiceDep,
    user: CurrentUser,
    own: OwnCommittee,
    rec: VisibleConsultation,
    outcome: str = Form(""),
):
    if user.is_supervisor:
        raise Refused("协商结果由承办委员会公开。", _page(rec.tracking_no))
    with refusals_back_to(_page(rec.tracking_no), missing=NOT_FOUND):
        updated = svc.oversight.publish_outcome(
            rec.tracking_no, clean(outcome, 2100, multiline=True), user.username, committee_id=own
        )
    said = "已公开协商结果（已隐去个人信息）。" if updated.outcome_text else "已撤下公开的协商结果。"
    return flash_redirect(request, _page(rec.tracking_no), said)


@router.get("/supervisor")
def supervisor_view(request: Request, svc: ServiceDep, user: SupervisorUser):
    township = None if user.is_admin else user.township
    committees = [
        {"id": cm.id, "name": f"{c.name}{cm.name}"}
        for c in svc.directory.communities()
        if township is None or c.township == township
        for cm in c.committees
    ]
    return render(
        request,
        "supervisor.html",
        {
            "active": "supervisor",
            "township": township or "全部街道（乡镇）",
            "overdue": svc.oversight.overdue(township=township, now=now_of(request)),
            "pending": svc.oversight.extensions(township=township, pending=True),
            "committees": committees,
        },
    )


@router.get("/admin/limits")
def limits_page(request: Request, svc: ServiceDep, user: AdminUser):
    return render(request, "limits.html", {"active": "limits", "limits": svc.oversight.limits()})


@router.post("/admin/limits/{category}")
def set_limits(
    request: Request,
    svc: ServiceDep,
    user: AdminUser,
    category: str,
    accept_days: str = Form(""),
    complete_days: str = Form(""),
):
    with refusals_back_to("/admin/limits", missing="没有这个事项类别。"):
        r = svc.oversight.set_limits(clean(category, 64), clean(accept_days, 4), clean(complete_days, 4), user.username)
    return flash_redirect(
        request,
        "/admin/limits",
        f"已将“{r.category_name}”的期限改为受理{r.accept_days}、办结{r.complete_days}个工作日（新提交的诉求起生效）。",
    )


def scorecard_for(
    svc: ServiceDep,
    settings: SettingsDep,
    user: CurrentUser,
    scope: CommitteeScope,
    since: str | None = None,
    until: str | None = None,
):
    """The scorecard of ``?since=&until=`` (local days; by default the last 30 ending today) within the user's scope."""
    end = parse_day(clean(until, 40), "截止日期") or datetime.now(local_tz(settings)).date()
    start = parse_day(clean(since, 40), "起始日期") or end - timedelta(days=29)
    return svc.scorecards.compute(start, end, scope)


ScorecardDep = Annotated[object, Depends(scorecard_for)]


@router.get("/scorecards")
def scorecards(request: Request, card: ScorecardDep):
    return render(
        request,
        "scorecards.html",
        {
            "active": "scorecards",
            "card": card,
            "chart": reporting.scorecard_chart(card.committees),
            "since": card.start.isoformat(),
            "until": card.end.isoformat(),
        },
    )


@router.get("/scorecards.csv")
def scorecards_csv(settings: SettingsDep, card: ScorecardDep):
    return reporting.scorecard_download(card, local_tz(settings))


@router.get("/public/{community_id}")
def public_outcomes(request: Request, svc: ServiceDep, community_id: str):
    """协商结果公开: no login, only published outcomes (masked), no names, no contact data."""
    cid = clean(community_id, 64)
    community = next((c for c in svc.directory.communities() if c.id == cid), None)
    if community is None:
        raise HTTPException(404, "没有这个社区。")
    return render(request, "public.html", {"community": community, "outcomes": svc.oversight.public_outcomes(cid)})


__all__ = ["router", "township_committees"]
