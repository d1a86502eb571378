"""The inbox pages: login/logout, dashboard, consultation list/detail/status change, CSV export,
handoff requests (转人工), users.

Authorization rule: a member sees only consultations routed to their own committee; anything else
answers 404 exactly like a tracking number that does not exist. Admins see and manage everything.
Every POST passes :func:`bot.inbox.csrf.csrf_protect` (router-level dependency).
"""

from __future__ import annotations

import logging
import math
from datetime import date, datetime

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from bot.consultations import AccessDenied, ConsultationRecord, HandoffRecord, NotFoundError, Status, TransitionError
from bot.consultations.outside import outside_text
from bot.consultations.statuses import allowed_targets, parse_status
from bot.errors import UserFacingError
from bot.inbox import exports
from bot.inbox.dates import BadDate, parse_day
from bot.inbox.reach import reach
from bot.inbox.auth import CurrentUser, end_session, load_user, start_session
from bot.inbox.csrf import csrf_protect, csrf_token
from bot.inbox.web import CHANNEL_NAMES, PUSH_VIA, clean, current_user, flash, handles_handoffs, local_tz, render, safe_next
from bot.privacy import mask

log = logging.getLogger(__name__)

router = APIRouter(dependencies=[Depends(csrf_protect)])

PAGE_SIZE = 20
MAX_NOTE = 1000
EXPORT_MAX = 20_000


def _svc(request: Request):
    return request.app.state.service


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "?"


def _not_found() -> HTTPException:
    return HTTPException(404, "没有找到这条诉求，或您无权查看。")


def _visible(request: Request, user: CurrentUser, tracking_no: str) -> ConsultationRecord:
    """The record if this user may see it; 404 otherwise (never reveal that it exists)."""
    no = clean(tracking_no, 40)
    rec = _svc(request).get(no) if no else None
    if rec is None or not (user.is_admin or rec.committee_id == user.committee_id):
        raise _not_found()
    return rec


def _scope(user: CurrentUser, committee: str | None) -> str | None:
    """The committee a query is limited to: the member's own; for admins the chosen one or all."""
    if not user.is_admin:
        return user.committee_id
    return clean(committee, 64) or None


# login -----------------------------------------------------------------------------------
@router.get("/login")
def login_form(request: Request, next: str = "/"):
    if load_user(request.session, _svc(request).accounts):
        return _redirect(safe_next(next))
    return render(request, "login.html", {"next": safe_next(next)})


@router.post("/login")
def login(request: Request, username: str = Form(""), password: str = Form(""), next: str = Form("/")):
    throttle = request.app.state.throttle
    ip = _client_ip(request)
    uname = clean(username, 64)
    ctx = {"next": safe_next(next), "username": uname}
    if not uname or not password:
        return render(request, "login.html", ctx | {"error": "请输入用户名和密码。"}, status_code=400)
    wait = throttle.retry_after(uname, ip)
    if wait:
        minutes = max(1, math.ceil(wait / 60))
        return render(request, "login.html", ctx | {"error": f"登录失败次数过多，为保护账号安全，请 {minutes} 分钟后再试。"}, status_code=429)
    info = _svc(request).accounts.authenticate(uname, password[:1024])
    if info is None:
        throttle.failed(uname, ip)
        log.info("inbox login failed for %s from %s", mask(uname), ip)
        return render(request, "login.html", ctx | {"error": "用户名或密码不正确。"}, status_code=401)
    if not info.is_admin and not info.committee_id:
        return render(request, "login.html", ctx | {"error": "该账号尚未分配委员会，请联系管理员。"}, status_code=403)
    throttle.succeeded(uname, ip)
    with request.app.state.db() as db:
        end_session(db, request.session)  # a session id from before the login is never reused: no fixation
        sid = start_session(db, info.id)
    request.session.clear()
    request.session["sid"] = sid
    csrf_token(request)
    return _redirect(ctx["next"])


@router.post("/logout")
def logout(request: Request):
    with request.app.state.db() as db:
        end_session(db, request.session)
    request.session.clear()
    return _redirect("/login")


# dashboard -------------------------------------------------------------------------------
def _weekly_chart(weekly: list) -> dict:
    """Bar geometry for the server-rendered SVG (no JavaScript, no CDN)."""
    bars, top = [], max([n for _, n in weekly] + [1])
    width, height, gap = 960, 200, 10
    bw = (width - gap * (len(weekly) + 1)) / max(len(weekly), 1)
    for i, (monday, n) in enumerate(weekly):
        h = round((height - 44) * n / top, 1)
        x = round(gap + i * (bw + gap), 1)
        bars.append({"x": x, "y": round(height - 20 - h, 1), "w": round(bw, 1), "h": h, "n": n,
                     "label": (monday if isinstance(monday, date) else date.fromisoformat(str(monday))).strftime("%m-%d")})
    return {"bars": bars, "width": width, "height": height, "top": top}


@router.get("/")
def dashboard(request: Request, committee: str | None = None, user: CurrentUser = Depends(current_user)):
    svc, settings = _svc(request), request.app.state.settings
    scope = _scope(user, committee)
    overdue_days = getattr(settings, "inbox_overdue_days", 7)
    data = svc.reports.dashboard(scope, overdue_days=overdue_days, weeks=12)
    categories = {c.id: c.name for c in svc.directory.categories()}
    by_status = {s.value: data.by_status.get(s.value, 0) for s in Status}
    return render(request, "dashboard.html", {
        "by_status": by_status,
        "by_category": sorted(((categories.get(k, k or "未分类"), v) for k, v in data.by_category.items()), key=lambda kv: -kv[1]),
        "total": sum(by_status.values()),
        "open_count": sum(v for k, v in by_status.items() if Status(k).is_open),
        "chart": _weekly_chart(list(data.weekly)),
        "overdue": data.overdue,
        "last_change": data.last_status_change,
        "overdue_days": overdue_days,
        "committees": _committees(request) if user.is_admin else [],
        "committee": scope,
    })


def _committees(request: Request) -> list:
    out = []
    for community in _svc(request).directory.communities():
        for c in community.committees:
            out.append({"id": c.id, "name": f"{community.name} · {c.name}"})
    return out


# list, export ----------------------------------------------------------------------------
def _filters(request: Request, user: CurrentUser, status, category, since, until, q, committee) -> tuple[dict, dict, list[str]]:
    """(service filters, values to echo in the form, problems to show)."""
    problems: list[str] = []
    st = clean(status, 20)
    if st:
        try:
            st = parse_status(st).value
        except TransitionError:
            problems.append("状态筛选无效，已忽略。")
            st = ""
    cat = clean(category, 64)
    try:
        d_since, d_until = parse_day(clean(since, 40), "起始日期"), parse_day(clean(until, 40), "截止日期")
    except BadDate as e:
        raise HTTPException(400, e.message) from None
    if d_since and d_until and d_since > d_until:
        d_since, d_until = d_until, d_since
    search = clean(q, 100)
    service_filters = {"status": st or None, "category": cat or None, "since": d_since, "until": d_until, "search": search or None}
    echo = {"status": st, "category": cat, "since": d_since.isoformat() if d_since else "",
            "until": d_until.isoformat() if d_until else "", "q": search, "committee": _scope(user, committee) or ""}
    return service_filters, echo, problems


@router.get("/consultations")
def consultation_list(request: Request, status: str | None = None, category: str | None = None, since: str | None = None,
                      until: str | None = None, q: str | None = None, committee: str | None = None,
                      page: str | None = None, user: CurrentUser = Depends(current_user)):
    svc = _svc(request)
    filters, echo, problems = _filters(request, user, status, category, since, until, q, committee)
    scope = _scope(user, committee)
    total = svc.reports.count_for_committee(scope, **filters)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    try:
        p = min(max(int(clean(page, 9) or 1), 1), pages)
    except ValueError:
        p = 1
    items = svc.reports.list_for_committee(scope, **filters, limit=PAGE_SIZE, offset=(p - 1) * PAGE_SIZE)
    query = {k: v for k, v in echo.items() if v}
    return render(request, "list.html", {
        "items": items, "total": total, "page": p, "pages": pages, "f": echo, "problems": problems,
        "query": query, "categories": svc.directory.categories(), "statuses": list(Status),
        "committees": _committees(request) if user.is_admin else [],
    })


@router.get("/consultations/export.csv")
def export_csv(request: Request, status: str | None = None, category: str | None = None, since: str | None = None,
               until: str | None = None, q: str | None = None, committee: str | None = None,
               user: CurrentUser = Depends(current_user)):
    svc = _svc(request)
    filters, _, _ = _filters(request, user, status, category, since, until, q, committee)
    scope = _scope(user, committee)
    records: list[ConsultationRecord] = []
    while len(records) < EXPORT_MAX:
        batch = svc.reports.list_for_committee(scope, **filters, limit=500, offset=len(records))
        records.extend(batch)
        if len(batch) < 500:
            break
    tz = local_tz(request.app.state.settings)
    body = exports.consultations_csv(records, tz)
    stamp = datetime.now(tz).strftime("%Y%m%d-%H%M")
    return Response(body, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="consultations-{stamp}.csv"',
        "Cache-Control": "no-store",
    })


# detail, status, category ----------------------------------------------------------------
@router.get("/consultations/{tracking_no}")
def consultation_detail(request: Request, tracking_no: str, user: CurrentUser = Depends(current_user)):
    rec = _visible(request, user, tracking_no)
    svc = _svc(request)
    pushes = svc.delivery.outbox(rec.tracking_no)
    return render(request, "detail.html", {
        "c": rec,
        "reach": reach(rec.channel, svc.chat_channels, pushes[-1] if pushes else None),
        "pushes": svc.pushes(rec.tracking_no),
        "push_via": PUSH_VIA,
        "targets": allowed_targets(rec.status),
        "categories": svc.directory.categories(),
        "category_names": {c.id: c.name for c in svc.directory.categories()},
        "committee_names": {c["id"]: c["name"] for c in _committees(request)},
    })


@router.post("/consultations/{tracking_no}/status")
def change_status(request: Request, tracking_no: str, to_status: str = Form(""), note: str = Form(""),
                  user: CurrentUser = Depends(current_user)):
    rec = _visible(request, user, tracking_no)
    text = clean(note, MAX_NOTE, multiline=True)
    try:
        updated = _svc(request).change_status(rec.tracking_no, clean(to_status, 20), user.username, text,
                                              committee_id=None if user.is_admin else user.committee_id)
    except (NotFoundError, AccessDenied):
        raise _not_found() from None
    except UserFacingError as e:
        flash(request, e.message, "error")
        return _redirect(f"/consultations/{rec.tracking_no}")
    told = reach(updated.channel, _svc(request).chat_channels)
    flash(request, f"已将 {updated.tracking_no} 改为“{updated.status_label}”。"
                   + ("状态说明将推送给居民。" if told.reaches else told.summary))
    return _redirect(f"/consultations/{updated.tracking_no}")


@router.post("/consultations/{tracking_no}/category")
def change_category(request: Request, tracking_no: str, category: str = Form(""), note: str = Form(""),
                    user: CurrentUser = Depends(current_user)):
    rec = _visible(request, user, tracking_no)
    try:
        updated = _svc(request).recategorize(rec.tracking_no, clean(category, 64), user.username,
                                             clean(note, MAX_NOTE, multiline=True),
                                             committee_id=None if user.is_admin else user.committee_id)
    except (NotFoundError, AccessDenied):
        raise _not_found() from None
    except UserFacingError as e:
        flash(request, e.message, "error")
        return _redirect(f"/consultations/{rec.tracking_no}")
    if not user.is_admin and updated.committee_id != user.committee_id:
        flash(request, f"{updated.tracking_no} 已改为“{updated.category_name}”，转交{updated.committee_name}办理。")
        return _redirect("/consultations")
    flash(request, f"已将分类改为“{updated.category_name}”，承办：{updated.committee_name}。")
    return _redirect(f"/consultations/{updated.tracking_no}")


# handoffs (转人工) -------------------------------------------------------------------------
def handoff_user(request: Request, user: CurrentUser = Depends(current_user)) -> CurrentUser:
    """Handoffs go to each community's fallback committee (居委会/村委会); admins see all."""
    if not handles_handoffs(request, user):
        raise HTTPException(403, "转人工请求由本社区居委会（村委会）处理，您所在的委员会无需处理。")
    return user


def _handoff_row(h: HandoffRecord, communities: dict[str, str], chat_channels: frozenset[str]) -> dict:
    """What the page shows: no sender id, phone and ID numbers masked."""
    return {"id": h.id, "created_at": h.created_at, "channel": CHANNEL_NAMES.get(h.channel, h.channel),
            "community": communities.get(h.community_id, h.community_id), "text": outside_text(h.text),
            "closed_at": h.closed_at, "closed_by": h.closed_by, "close_note": outside_text(h.close_note),
            "chat": reach(h.channel, chat_channels).reaches}


@router.get("/handoffs")
def handoffs_page(request: Request, user: CurrentUser = Depends(handoff_user)):
    svc = _svc(request)
    scope = None if user.is_admin else user.committee_id
    communities = {c.id: c.name for c in svc.directory.communities()}
    return render(request, "handoffs.html", {
        "open": [_handoff_row(h, communities, svc.chat_channels) for h in svc.handoffs.list(scope, status="open", limit=200)],
        "closed": [_handoff_row(h, communities, svc.chat_channels) for h in svc.handoffs.list(scope, status="closed", limit=20)],
        "max_note": MAX_NOTE,
    })


@router.post("/handoffs/{handoff_id}/close")
def close_handoff(request: Request, handoff_id: str, note: str = Form(""), user: CurrentUser = Depends(handoff_user)):
    missing = HTTPException(404, "没有找到这条转人工请求，或您无权处理。")
    hid = clean(handoff_id, 12)
    svc = _svc(request)
    h = svc.handoffs.get(int(hid)) if hid.isdigit() else None
    if h is None or not (user.is_admin or h.committee_id == user.committee_id):
        raise missing  # never reveal that another committee's request exists
    text = clean(note, MAX_NOTE, multiline=True)
    if not text:
        flash(request, "请填写回复内容，它会发送给居民。", "error")
        return _redirect("/handoffs")
    try:
        out = svc.handoffs.close(int(hid), text, user.username, committee_id=None if user.is_admin else user.committee_id)
    except (NotFoundError, AccessDenied):
        raise missing from None
    except UserFacingError as e:
        flash(request, e.message, "error")
        return _redirect("/handoffs")
    if out.pushed and reach(h.channel, svc.chat_channels).reaches:
        flash(request, f"已处理转人工请求 {out.id} 号，回复已发送给居民。")
    else:
        flash(request, f"已处理转人工请求 {out.id} 号。该渠道无法推送消息，请另行联系居民。")
    return _redirect("/handoffs")


# users (admin) ---------------------------------------------------------------------------
def admin_user(user: CurrentUser = Depends(current_user)) -> CurrentUser:
    if not user.is_admin:
        raise HTTPException(403, "只有管理员可以管理用户。")
    return user


@router.get("/admin/users")
def users_page(request: Request, user: CurrentUser = Depends(admin_user)):
    return render(request, "users.html", {"users": _svc(request).accounts.list_users(), "committees": _committees(request)})


@router.post("/admin/users")
def create_user(request: Request, username: str = Form(""), password: str = Form(""), role: str = Form("member"),
                committee_id: str = Form(""), user: CurrentUser = Depends(admin_user)):
    role = "admin" if role == "admin" else "member"
    committee = clean(committee_id, 64) or None
    if role == "member" and committee not in {c["id"] for c in _committees(request)}:
        flash(request, "请为委员会成员选择所属委员会。", "error")
        return _redirect("/admin/users")
    try:
        created = _svc(request).accounts.create_user(clean(username, 64), password, committee if role == "member" else None, role)
    except UserFacingError as e:
        flash(request, e.message, "error")
        return _redirect("/admin/users")
    flash(request, f"已创建用户 {created.username}。")
    return _redirect("/admin/users")


@router.post("/admin/users/{username}/active")
def set_active(request: Request, username: str, active: str = Form(""), user: CurrentUser = Depends(admin_user)):
    name = clean(username, 64)
    if name.lower() == user.username.lower():
        flash(request, "不能停用自己的账号。", "error")
        return _redirect("/admin/users")
    try:
        _svc(request).accounts.set_active(name, active == "1")
    except UserFacingError as e:
        flash(request, e.message, "error")
        return _redirect("/admin/users")
    flash(request, f"已{'启用' if active == '1' else '停用'}用户 {name}。")
    return _redirect("/admin/users")


@router.post("/admin/users/{username}/password")
def reset_password(request: Request, username: str, password: str = Form(""), user: CurrentUser = Depends(admin_user)):
    name = clean(username, 64)
    try:
        _svc(request).accounts.set_password(name, password)
    except UserFacingError as e:
        flash(request, e.message, "error")
        return _redirect("/admin/users")
    flash(request, f"已重置 {name} 的密码，其已登录的会话随之失效。")
    return _redirect("/admin/users")


@router.get("/healthz", include_in_schema=False)
def healthz() -> dict:
    return {"ok": True}


@router.get("/favicon.ico", include_in_schema=False)
def favicon():
    return RedirectResponse("/static/favicon.svg", status_code=308)

