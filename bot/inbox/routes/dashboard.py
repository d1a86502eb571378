"""The dashboard: counts, overdue consultations and the weekly chart, for one committee or (admins) all."""

from __future__ import annotations

from fastapi import APIRouter, Request

from bot.closedloop import workdays
from bot.db import utcnow
from bot.inbox import reporting
from bot.inbox.deps import CurrentUser, ServiceDep, SettingsDep, committee_scope, own_committee
from bot.inbox.web import committee_choices, redirect, render

router = APIRouter()


@router.get("/")
def dashboard(
    request: Request, svc: ServiceDep, settings: SettingsDep, user: CurrentUser, committee: str | None = None
):
    if not user.reads_consultations:
        return redirect("/kb")  # a kb-editor's home is the knowledge desk
    scope = committee_scope(user, own_committee(request, user), committee)
    overdue_days = getattr(settings, "inbox_overdue_days", 7)
    return render(
        request,
        "dashboard.html",
        reporting.dashboard_figures(svc, scope, overdue_days)
        | {
            "committees": committee_choices(svc) if user.is_admin else [],
            "committee": scope if isinstance(scope, str) else None,
            "estimated_years": workdays.estimated_years(workdays.to_local(utcnow(), settings.timezone).date()),
        },
    )
