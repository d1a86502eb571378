"""Open311 GeoReport v2 (JSON only) for integrators: services = consultation categories,
requests = consultations, agency_responsible = the committee, status open/closed with status_notes.

As the specification says, the service list and service definitions need no key. Everything about
residents' requests does (``api_key`` parameter or ``X-API-Key`` header): GET requests is keyed too,
a deviation from the specification that ``discovery.json`` states. A key in the header or query is
checked before the body is read; a body is read only up to ``open311_max_body_bytes`` and decoded as
strict UTF-8 (form or JSON). Each client address has a request budget and a bad-key budget (429).
Personal data never leaves through this API: requests are the store's masked outside views
(:mod:`bot.consultations.outside`): no contact fields, no chat ids, phones and the contact's name masked.
Errors use Open311's shape: ``[{"code": 400, "description": "…"}]``.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from bot.consultations import OutsideView
from bot.errors import UserFacingError
from bot.inbox.dates import BadDate, parse_moment
from bot.inbox.web import clean, local_tz

PREFIX = "/open311/v2"
DEFAULT_DAYS = 90  # GeoReport v2: without dates, the last 90 days
MAX_RESULTS = 1000  # GeoReport v2: at most 1000 requests per response


class Open311Error(Exception):
    def __init__(self, status: int, description: str, headers: dict[str, str] | None = None):
        self.status, self.description, self.headers = status, description, headers or {}


def error_response(status: int, description: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse([{"code": status, "description": description}], status_code=status, headers=headers)


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"


def _too_many(wait: int) -> Open311Error:
    return Open311Error(429, f"请求过于频繁，请 {wait} 秒后再试。", headers={"Retry-After": str(wait)})


def client_budget(request: Request) -> None:
    """Router dependency: every Open311 call spends from the client's budget; bad keys block the client early."""
    state = request.app.state
    wait = state.open311_requests.hit(_client(request)) or state.open311_bad_keys.wait(_client(request))
    if wait:
        raise _too_many(wait)


async def _body(request: Request) -> bytes:
    """The request body, refused with 413 past the limit (checked on the declared length, then while reading)."""
    limit = request.app.state.settings.open311_max_body_bytes
    too_big = Open311Error(413, f"请求体过大（上限 {limit // 1024} KB）。")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_big
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


def _text(value: object) -> str:
    """A parameter as text; a lone surrogate (JSON "\\ud800") is refused, it cannot be stored or shown."""
    v = value if isinstance(value, str) else str(value)
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        raise Open311Error(400, "请求中含有无效的字符（不成对的 Unicode 代理项），请检查编码。") from None
    return v


def _decode(ctype: str, body: bytes) -> dict[str, str]:
    """Form (``application/x-www-form-urlencoded``) or JSON body as parameters, strictly UTF-8."""
    media, _, rest = ctype.partition(";")
    media = media.strip().lower()
    charset = next(
        (
            p.split("=", 1)[1].strip().strip('"').lower()
            for p in rest.split(";")
            if p.strip().lower().startswith("charset=")
        ),
        "utf-8",
    )
    if not body.strip():
        return {}
    if charset not in ("utf-8", "utf8"):
        raise Open311Error(415, "请求体请使用 UTF-8 编码。")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Open311Error(400, "请求体不是有效的 UTF-8 编码。") from None
    if media == "application/json":
        try:
            data = json.loads(text)
        except ValueError:
            raise Open311Error(400, "请求体无法解析，请使用表单编码或 JSON。") from None
        if not isinstance(data, dict):
            raise Open311Error(400, "请求体应为 JSON 对象。")
        return {_text(k): _text(v) for k, v in data.items() if v is not None}
    if media == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict", max_num_fields=200)
        except (UnicodeDecodeError, ValueError):
            raise Open311Error(400, "表单内容无法解析：请使用 UTF-8 的 application/x-www-form-urlencoded。") from None
        return dict(pairs)
    raise Open311Error(415, "只接受 application/x-www-form-urlencoded 或 application/json 格式的请求体。")


def _check_key(request: Request, key: str | None) -> str:
    state = request.app.state
    name = state.apikeys.check(key) if key else None
    if name is None:
        state.open311_bad_keys.hit(_client(request))
        if not key:
            raise Open311Error(401, "缺少 api_key：请在参数 api_key 或请求头 X-API-Key 中提供。")
        raise Open311Error(403, "api_key 无效或已停用。")
    return name


async def integrator(request: Request) -> str:
    """Dependency: the integrator's name for a valid key (401 without one, 403 for a wrong one).

    A key in the header or query string is checked before the body is read; only a POST that
    carries its key in the (size-capped) body is read first."""
    params = dict(request.query_params)
    key = request.headers.get("X-API-Key") or params.get("api_key")
    name = _check_key(request, key) if key else None
    if request.method == "POST":
        params.update(_decode(request.headers.get("content-type", ""), await _body(request)))
        if name is None:
            name = _check_key(request, params.get("api_key"))
    elif name is None:
        name = _check_key(request, None)
    request.state.open311_params = params
    return name


router = APIRouter(prefix=PREFIX, dependencies=[Depends(client_budget)])


def _iso(value: datetime | None, tz) -> str | None:
    return value.astimezone(tz).isoformat(timespec="seconds") if value else None


def _parse_dt(value: str | None, field: str, tz, *, end: bool = False) -> datetime | None:
    try:
        return parse_moment(clean(value, 40), f"{field} ", tz, end=end)
    except BadDate as e:
        raise Open311Error(400, e.message) from None


def _request_json(c: OutsideView, tz) -> dict:
    """GeoReport v2 request from the store's masked outside view."""
    return {
        "service_request_id": c.tracking_no,
        "status": "closed" if c.closed else "open",
        "status_notes": c.status_label + (f"：{c.last_note}" if c.last_note else ""),
        "service_name": c.category_name or "未分类",
        "service_code": c.category,
        "description": c.description,
        "agency_responsible": c.committee_name,
        "service_notice": None,
        "requested_datetime": _iso(c.created_at, tz),
        "updated_datetime": _iso(c.updated_at, tz),
        "expected_datetime": None,
        "address": c.community_name,
        "address_id": None,
        "zipcode": None,
        "lat": None,
        "long": None,
        "media_url": None,
        "outcome": c.outcome or None,  # 协商结果公开: the published outcome (masked), linli's extension field
    }


def _categories(request: Request) -> dict[str, str]:
    return {c.id: c.name for c in request.app.state.service.directory.categories()}


def _service_json(c) -> dict:
    return {
        "service_code": c.id,
        "service_name": c.name,
        "description": c.description,
        "metadata": False,
        "type": "realtime",
        "keywords": ",".join(c.keywords),
        "group": "议事协商",
    }


@router.get("/services.json")
def services(request: Request):
    """GeoReport v2: public, no key."""
    return [_service_json(c) for c in request.app.state.service.directory.categories()]


@router.get("/services/{service_code}.json")
def service_definition(request: Request, service_code: str):
    """GeoReport v2 service definition: public; no category has extra attributes (``metadata`` false)."""
    code = clean(service_code, 64)
    if code not in _categories(request):
        raise Open311Error(404, f"没有 service_code 为 {code or '（空）'} 的服务，请先查询 services.json。")
    return {"service_code": code, "attributes": []}


@router.get("/discovery.json")
def discovery(request: Request):
    """GeoReport v2 service discovery, with this endpoint's deviations from the specification stated."""
    base = str(request.base_url).rstrip("/") + PREFIX
    return {
        "changeset": "2026-12-01T00:00:00+08:00",
        "contact": "所在社区居民委员会（村民委员会）",
        "key_service": "向系统管理员申请：python -m bot inbox apikey create <集成方名称>",
        "endpoints": [
            {
                "specification": "http://wiki.open311.org/GeoReport_v2",
                "url": base,
                "changeset": "2026-12-01T00:00:00+08:00",
                "type": "production",
                "formats": ["application/json"],
            }
        ],
        "deviations": [
            "GET requests.json and GET requests/{id}.json require api_key (header X-API-Key or parameter api_key): "
            "residents' requests are not public. services.json and services/{code}.json need no key.",
            "Only JSON (.json); XML is not offered.",
            "POST bodies: application/x-www-form-urlencoded or application/json, UTF-8 only, at most "
            f"{request.app.state.settings.open311_max_body_bytes} bytes (413 beyond); no media upload.",
            "Per client address: at most "
            f"{request.app.state.settings.open311_rate_limit} calls per minute and "
            f"{request.app.state.settings.open311_bad_key_limit} missing or wrong keys per 10 minutes (429 with Retry-After).",
            "No personal data: contact fields are absent, phone numbers and names in description and status_notes are masked; "
            "address is the community, lat/long are null.",
        ],
    }


@router.get("/requests.json")
def list_requests(request: Request, _: str = Depends(integrator)):
    p = request.state.open311_params
    tz = local_tz(request.app.state.settings)
    filters: dict = {}
    ids = [i for i in (clean(x, 40) for x in clean(p.get("service_request_id"), 4000).split(",")) if i]
    if ids:  # GeoReport v2: ids override every other filter
        filters["tracking_nos"] = ids[:MAX_RESULTS]
    else:
        filters["categories"] = [x for x in (clean(x, 64) for x in clean(p.get("service_code"), 2000).split(",")) if x]
        statuses = {x.lower() for x in (clean(x, 10) for x in clean(p.get("status"), 40).split(",")) if x}
        if statuses - {"open", "closed"}:
            raise Open311Error(400, "status 只能是 open 或 closed。")
        if len(statuses) == 1:
            filters["closed"] = statuses == {"closed"}
        start = _parse_dt(p.get("start_date"), "start_date", tz)
        end = _parse_dt(p.get("end_date"), "end_date", tz, end=True)
        if start is None and end is None:
            start = datetime.now(UTC) - timedelta(days=DEFAULT_DAYS)
        elif start is None:
            start = end - timedelta(days=DEFAULT_DAYS)
        if start and end and start > end:
            raise Open311Error(400, "start_date 不能晚于 end_date。")
        filters |= {"since": start, "until": end, "community_id": clean(p.get("jurisdiction_id"), 64) or None}
    try:
        page = max(1, int(clean(p.get("page"), 6) or 1))
    except ValueError:
        raise Open311Error(400, "page 应为正整数。") from None
    views = request.app.state.service.reports.outside_list(
        **filters, limit=MAX_RESULTS, offset=(page - 1) * MAX_RESULTS
    )
    return [_request_json(c, tz) for c in views]


@router.get("/requests/{request_id}.json")
def get_request(request: Request, request_id: str, _: str = Depends(integrator)):
    rid = clean(request_id, 40)
    c = request.app.state.service.reports.outside_one(rid)
    if c is None:
        raise Open311Error(404, f"没有编号为 {rid or '（空）'} 的诉求。")
    return [_request_json(c, local_tz(request.app.state.settings))]


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
    body = [
        {
            "service_request_id": rec.tracking_no,
            "service_notice": f"已转交{rec.committee_name}办理。",
            "account_id": None,
        }
    ]
    return JSONResponse(body, status_code=201 if rec.created else 200)


@router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
def unknown(rest: str):
    raise Open311Error(404, "没有这个接口；本服务只支持 JSON（.json）格式的 services、requests 接口。")
