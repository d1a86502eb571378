"""Open311 GeoReport v2 (JSON only) for integrators: services = consultation categories,
requests = consultations, agency_responsible = the committee, status open/closed with status_notes.

Every call needs a per-integrator key (``api_key`` parameter or ``X-API-Key`` header). Personal data
never leaves through this API: no contact fields, no chat ids, and phone numbers or the contact's name
inside free text are masked. Errors use Open311's shape: ``[{"code": 400, "description": "…"}]``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bot.consultations import models as m
from bot.consultations.statuses import FINAL, LABELS, Status
from bot.errors import UserFacingError
from bot.inbox.web import clean, local_tz
from bot.privacy import mask

PREFIX = "/open311/v2"
DEFAULT_DAYS = 90  # GeoReport v2: without dates, the last 90 days
MAX_RESULTS = 1000  # GeoReport v2: at most 1000 requests per response
CLOSED = frozenset(s.value for s in FINAL)
OPEN = frozenset(s.value for s in Status) - CLOSED


class Open311Error(Exception):
    def __init__(self, status: int, description: str):
        self.status, self.description = status, description


def error_response(status: int, description: str) -> JSONResponse:
    return JSONResponse([{"code": status, "description": description}], status_code=status)


async def _params(request: Request) -> dict[str, str]:
    """Query parameters merged with a POST's form or JSON body (Open311 POSTs are form-encoded)."""
    params = {k: v for k, v in request.query_params.items()}
    if request.method == "POST":
        ctype = request.headers.get("content-type", "")
        try:
            if ctype.startswith("application/json"):
                body = await request.json()
                if not isinstance(body, dict):
                    raise Open311Error(400, "请求体应为 JSON 对象。")
                params.update({str(k): v if isinstance(v, str) else str(v) for k, v in body.items() if v is not None})
            elif ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
                form = await request.form()
                params.update({k: v for k, v in form.items() if isinstance(v, str)})
        except Open311Error:
            raise
        except Exception:
            raise Open311Error(400, "请求体无法解析，请使用表单编码或 JSON。") from None
    return params


async def integrator(request: Request) -> str:
    """Dependency: the integrator's name for a valid key (401 without one, 403 for a wrong one)."""
    params = await _params(request)
    request.state.open311_params = params
    key = request.headers.get("X-API-Key") or params.get("api_key")
    if not key:
        raise Open311Error(401, "缺少 api_key：请在参数 api_key 或请求头 X-API-Key 中提供。")
    name = request.app.state.apikeys.check(key)
    if name is None:
        raise Open311Error(403, "api_key 无效或已停用。")
    return name


router = APIRouter(prefix=PREFIX)


def _iso(value: datetime | None, tz) -> str | None:
    return value.astimezone(tz).isoformat(timespec="seconds") if value else None


def _parse_dt(value: str | None, field: str, tz, *, end: bool = False) -> datetime | None:
    v = clean(value, 40)
    if not v:
        return None
    try:
        if len(v) == 10:  # a bare date covers the whole day
            d = datetime.fromisoformat(v).date()
            dt = datetime.combine(d, time.max if end else time.min, tzinfo=tz)
        else:
            dt = datetime.fromisoformat(v)
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=tz)
    except ValueError:
        raise Open311Error(400, f"{field} 格式无效，应为 W3C 日期时间，例如 2026-11-29T08:00:00+08:00。") from None
    return dt.astimezone(UTC)


def _request_json(c: m.Consultation, categories: dict[str, str], tz) -> dict:
    status = Status(c.status)
    notes = [e.note for e in c.events if e.note and e.note.strip()]
    names = [c.contact_name] if c.contact_name else []
    note = mask(notes[-1].strip(), names) if notes else ""
    return {
        "service_request_id": c.tracking_no,
        "status": "closed" if status.value in CLOSED else "open",
        "status_notes": f"{LABELS[status]}" + (f"：{note}" if note else ""),
        "service_name": categories.get(c.category or "", "未分类"),
        "service_code": c.category,
        "description": mask(c.text, names),
        "agency_responsible": c.committee.name if c.committee else None,
        "service_notice": None,
        "requested_datetime": _iso(c.created_at, tz),
        "updated_datetime": _iso(c.updated_at, tz),
        "expected_datetime": None,
        "address": c.community.name if c.community else None,
        "address_id": None,
        "zipcode": None,
        "lat": None,
        "long": None,
        "media_url": None,
    }


def _categories(request: Request) -> dict[str, str]:
    return {c.id: c.name for c in request.app.state.service.categories()}


def _query(request: Request):
    return (select(m.Consultation)
            .options(selectinload(m.Consultation.events), selectinload(m.Consultation.committee), selectinload(m.Consultation.community)))


@router.get("/services.json")
def services(request: Request, _: str = Depends(integrator)):
    return [{
        "service_code": c.id, "service_name": c.name, "description": c.description, "metadata": False,
        "type": "realtime", "keywords": ",".join(c.keywords), "group": "议事协商",
    } for c in request.app.state.service.categories()]


@router.get("/requests.json")
def list_requests(request: Request, _: str = Depends(integrator)):
    p = request.state.open311_params
    tz = local_tz(request.app.state.settings)
    q = _query(request)
    ids = [i for i in (clean(x, 40) for x in clean(p.get("service_request_id"), 4000).split(",")) if i]
    if ids:  # GeoReport v2: ids override every other filter
        q = q.where(m.Consultation.tracking_no.in_(ids[:MAX_RESULTS]))
    else:
        codes = [x for x in (clean(x, 64) for x in clean(p.get("service_code"), 2000).split(",")) if x]
        if codes:
            q = q.where(m.Consultation.category.in_(codes))
        statuses = {x.lower() for x in (clean(x, 10) for x in clean(p.get("status"), 40).split(",")) if x}
        if statuses - {"open", "closed"}:
            raise Open311Error(400, "status 只能是 open 或 closed。")
        if statuses == {"open"}:
            q = q.where(m.Consultation.status.in_(sorted(OPEN)))
        elif statuses == {"closed"}:
            q = q.where(m.Consultation.status.in_(sorted(CLOSED)))
        start = _parse_dt(p.get("start_date"), "start_date", tz)
        end = _parse_dt(p.get("end_date"), "end_date", tz, end=True)
        if start is None and end is None:
            start = datetime.now(UTC) - timedelta(days=DEFAULT_DAYS)
        elif start is None:
            start = end - timedelta(days=DEFAULT_DAYS)
        if start and end and start > end:
            raise Open311Error(400, "start_date 不能晚于 end_date。")
        q = q.where(m.Consultation.created_at >= start)
        if end:
            q = q.where(m.Consultation.created_at <= end)
        jurisdiction = clean(p.get("jurisdiction_id"), 64)
        if jurisdiction:
            q = q.where(m.Consultation.community_id == jurisdiction)
    try:
        page = max(1, int(clean(p.get("page"), 6) or 1))
    except ValueError:
        raise Open311Error(400, "page 应为正整数。") from None
    q = q.order_by(m.Consultation.created_at.desc(), m.Consultation.id.desc()).limit(MAX_RESULTS).offset((page - 1) * MAX_RESULTS)
    categories = _categories(request)
    with request.app.state.db() as db:
        return [_request_json(c, categories, tz) for c in db.scalars(q)]


@router.get("/requests/{request_id}.json")
def get_request(request: Request, request_id: str, _: str = Depends(integrator)):
    rid = clean(request_id, 40)
    with request.app.state.db() as db:
        c = db.scalar(_query(request).where(m.Consultation.tracking_no == rid)) if rid else None
        if c is None:
            raise Open311Error(404, f"没有编号为 {rid or '（空）'} 的诉求。")
        return [_request_json(c, _categories(request), local_tz(request.app.state.settings))]


@router.post("/requests.json")
def create_request(request: Request, name: str = Depends(integrator)):
    """Create a consultation; the category given as service_code decides the committee (routing)."""
    p = request.state.open311_params
    svc = request.app.state.service
    code = clean(p.get("service_code"), 64)
    if not code:
        raise Open311Error(400, "缺少 service_code。")
    if code not in _categories(request):
        raise Open311Error(404, f"没有 service_code 为 {code} 的服务，请先查询 services.json。")
    description = clean(p.get("description"), 10_000, multiline=True)
    if not description:
        raise Open311Error(400, "缺少 description（诉求内容）。")
    community = clean(p.get("jurisdiction_id"), 64) or None
    # Idempotency: an integrator retrying with the same key gets the same request back.
    message_id = clean(request.headers.get("Idempotency-Key") or p.get("client_request_id"), 128) or uuid.uuid4().hex
    try:
        rec = svc.submit("open311", name, message_id, community, description, category=code)
    except UserFacingError as e:
        raise Open311Error(400, e.message) from None
    body = [{"service_request_id": rec.tracking_no, "service_notice": f"已转交{rec.committee_name}办理。", "account_id": None}]
    return JSONResponse(body, status_code=201 if rec.created else 200)


@router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
def unknown(rest: str):
    raise Open311Error(404, "没有这个接口；本服务只支持 JSON（.json）格式的 services、requests 接口。")

