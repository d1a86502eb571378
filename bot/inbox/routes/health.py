"""Liveness for load balancers, and the browser's favicon request."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import RedirectResponse

from bot.closedloop import workdays
from bot.db import utcnow
from bot.settings import get_settings

router = APIRouter()


@router.get("/healthz", include_in_schema=False)
def healthz() -> dict:
    """Liveness, plus warnings an operator should act on (a year without holiday data: due dates are estimates)."""
    today = workdays.to_local(utcnow(), get_settings().timezone).date()
    years = workdays.estimated_years(today)
    warnings = [f"{y}年法定节假日数据缺失：期限按周一至周五估算（预估），请更新 workday_calendar.yml" for y in years]
    return {"ok": True, "calendar_estimated_years": years, "warnings": warnings}


@router.get("/favicon.ico", include_in_schema=False)
def favicon():
    return RedirectResponse("/static/favicon.svg", status_code=308)
