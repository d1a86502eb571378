"""Consultations: the filtered list and its CSV export, one consultation's page, and its status and
category changes. A member reaches only their committee's consultations (``VisibleConsultation``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request

from bot.consultations import ConsultationRecord, ConsultationService, Status
from bot.consultations.statuses import allowed_targets
from bot.inbox import auth, reporting
from bot.inbox.deps import NOT_FOUND, CurrentUser, OwnCommittee, ServiceDep, SettingsDep, VisibleConsultation
from bot.inbox.reach import reach
from bot.inbox.reporting import ReportFilters
from bot.inbox.web import (
    CHANNEL_NAMES,
    MAX_NOTE,
    PUSH_VIA,
    clean,
    committee_choices,
    flash_redirect,
    local_tz,
    refusals_back_to,
    render,
)

router = APIRouter()


@router.get("/consultations")
def consultation_list(request: Request, svc: ServiceDep, user: CurrentUser, f: ReportFilters, page: str | None = None):
    p = reporting.list_page(svc, f, page)
    return render(
        request,
        "list.html",
        {
            "items": p.items,
            "total": p.total,
            "page": p.number,
            "pages": p.pages,
            "f": f.echo,
            "problems": f.problems,
            "query": {k: v for k, v in f.echo.items() if v},
            "categories": svc.directory.categories(),
            "statuses": list(Status),
            "committees": committee_choices(svc) if user.is_admin else [],
        },
    )


@router.get("/consultations/export.csv")
def export_csv(svc: ServiceDep, settings: SettingsDep, f: ReportFilters):
    return reporting.csv_download(reporting.export_records(svc, f), local_tz(settings))


@router.get("/consultations/{tracking_no}")
def consultation_detail(request: Request, svc: ServiceDep, user: CurrentUser, rec: VisibleConsultation):
    # the submitter's last push decides what 通知居民 says; co-signers' pushes are listed apart (masked)
    mine = [o for o in svc.delivery.outbox(rec.tracking_no) if (o.channel, o.sender_id) == (rec.channel, rec.sender_id)]
    pushes = svc.pushes(rec.tracking_no)
    township = None if user.is_admin else user.township
    reassign_to = [
        {"id": cm.id, "name": f"{c.name}{cm.name}"}
        for c in svc.directory.communities()
        if (township is None and c.township == rec.township) or (township is not None and c.township == township)
        for cm in c.committees
    ]
    categories = svc.directory.categories()
    return render(
        request,
        "detail.html",
        {
            "c": rec,
            "reach": reach(rec.channel, svc.chat_channels, mine[-1] if mine else None),
            "owner_pushes": [p for p in pushes if p.to_owner],
            "cosigner_pushes": [p for p in pushes if not p.to_owner],
            "channel_names": CHANNEL_NAMES,
            "push_via": PUSH_VIA,
            "targets": allowed_targets(rec.status),
            "loop": svc.loop.counts(rec.tracking_no),
            "categories": categories,
            "category_names": {c.id: c.name for c in categories},
            "committee_names": {c["id"]: c["name"] for c in committee_choices(svc)},
            "extensions": svc.oversight.extensions(tracking_no=rec.tracking_no),
            "reassign_to": reassign_to if user.is_supervisor or user.is_admin else [],
        },
    )


@dataclass(frozen=True)
class Acting:
    """A user acting on a consultation they may see, within their own committee (None: an admin, all)."""

    svc: ConsultationService
    user: auth.CurrentUser
    own: str | None
    rec: ConsultationRecord

    def change(self, method, value: str, limit: int, note: str) -> ConsultationRecord:
        """``method`` (a service change: status, category) with this user's cleaned value and note; a refusal
        is flashed on the consultation's page, "not found" or "not yours" answers 404."""
        with refusals_back_to(f"/consultations/{self.rec.tracking_no}", missing=NOT_FOUND):
            return method(
                self.rec.tracking_no,
                clean(value, limit),
                self.user.username,
                clean(note, MAX_NOTE, multiline=True),
                committee_id=self.own,
            )


def acting(svc: ServiceDep, user: CurrentUser, own: OwnCommittee, rec: VisibleConsultation) -> Acting:
    return Acting(svc, user, own, rec)


ActingOn = Annotated[Acting, Depends(acting)]


@router.post("/consultations/{tracking_no}/status")
def change_status(request: Request, act: ActingOn, to_status: str = Form(""), note: str = Form("")):
    updated = act.change(act.svc.change_status, to_status, 20, note)
    told = reach(updated.channel, act.svc.chat_channels)
    told_text = "状态说明将推送给居民。" if told.reaches else told.summary
    return flash_redirect(
        request,
        f"/consultations/{updated.tracking_no}",
        f"已将 {updated.tracking_no} 改为“{updated.status_label}”。{told_text}",
    )


@router.post("/consultations/{tracking_no}/category")
def change_category(request: Request, act: ActingOn, category: str = Form(""), note: str = Form("")):
    updated = act.change(act.svc.recategorize, category, 64, note)
    if act.own is not None and updated.committee_id != act.own:  # passed on to another committee: out of sight now
        return flash_redirect(
            request,
            "/consultations",
            f"{updated.tracking_no} 已改为“{updated.category_name}”，转交{updated.committee_name}办理。",
        )
    return flash_redirect(
        request,
        f"/consultations/{updated.tracking_no}",
        f"已将分类改为“{updated.category_name}”，承办：{updated.committee_name}。",
    )


@router.post("/consultations/{tracking_no}/merge")
def merge(request: Request, act: ActingOn, target: str = Form("")):
    """合并到…: this item joins ``target`` (same committee), its residents become co-signers there."""
    with refusals_back_to(f"/consultations/{act.rec.tracking_no}", missing=NOT_FOUND):
        done = act.svc.loop.merge(act.rec.tracking_no, clean(target, 32), act.user.username, committee_id=act.own)
    return flash_redirect(
        request,
        f"/consultations/{done.target}",
        f"已将 {done.source} 合并到 {done.target}，{done.joined} 位居民成为附议人，并已通知他们。",
    )
