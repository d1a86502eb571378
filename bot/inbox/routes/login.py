"""Login and logout: throttled attempts, a fresh server-side session each time (no fixation)."""

from __future__ import annotations

import logging
import math

from fastapi import APIRouter, Form, Request

from bot.inbox.auth import end_session, load_user, start_session
from bot.inbox.csrf import csrf_token
from bot.inbox.deps import ServiceDep
from bot.inbox.web import clean, redirect, render, safe_next
from bot.privacy import mask

log = logging.getLogger(__name__)

router = APIRouter()


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "?"


@router.get("/login")
def login_form(request: Request, next: str = "/"):
    if load_user(request.session, request.app.state.service.accounts):
        return redirect(safe_next(next))
    return render(request, "login.html", {"next": safe_next(next)})


@router.post("/login")
def login(request: Request, svc: ServiceDep, username: str = Form(""), password: str = Form(""), next: str = Form("/")):
    throttle = request.app.state.throttle
    ip = _client_ip(request)
    uname = clean(username, 64)
    ctx = {"next": safe_next(next), "username": uname}
    if not uname or not password:
        return render(request, "login.html", ctx | {"error": "请输入用户名和密码。"}, status_code=400)
    wait = throttle.retry_after(uname, ip)
    if wait:
        minutes = max(1, math.ceil(wait / 60))
        return render(
            request,
            "login.html",
            ctx | {"error": f"登录失败次数过多，为保护账号安全，请 {minutes} 分钟后再试。"},
            status_code=429,
        )
    info = svc.accounts.authenticate(uname, password[:1024])
    if info is None:
        throttle.failed(uname, ip)
        log.info("inbox login failed for %s from %s", mask(uname), ip)
        return render(request, "login.html", ctx | {"error": "用户名或密码不正确。"}, status_code=401)
    if info.role == "member" and not info.committee_id:
        return render(request, "login.html", ctx | {"error": "该账号尚未分配委员会，请联系管理员。"}, status_code=403)
    throttle.succeeded(uname, ip)
    with request.app.state.db() as db:
        end_session(db, request.session)  # a session id from before the login is never reused: no fixation
        sid = start_session(db, info.id)
    request.session.clear()
    request.session["sid"] = sid
    csrf_token(request)
    if info.role == "kb-editor" and ctx["next"] == "/":
        return redirect("/kb")  # the desk is a kb-editor's home
    return redirect(ctx["next"])


@router.post("/logout")
def logout(request: Request):
    with request.app.state.db() as db:
        end_session(db, request.session)
    request.session.clear()
    return redirect("/login")
