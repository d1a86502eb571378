"""User accounts (admins only): create, enable or disable, reset a password."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request

from bot.inbox.deps import AdminUser, ServiceDep
from bot.inbox.web import Refused, clean, committee_choices, flash_redirect, refusals_back_to, render

router = APIRouter()

BACK = "/admin/users"


@router.get("/admin/users")
def users_page(request: Request, svc: ServiceDep, user: AdminUser):
    townships = sorted({c.township for c in svc.directory.communities() if c.township})
    return render(
        request,
        "users.html",
        {"users": svc.accounts.list_users(), "committees": committee_choices(svc), "townships": townships},
    )


@router.post("/admin/users")
def create_user(
    request: Request,
    svc: ServiceDep,
    user: AdminUser,
    username: str = Form(""),
    password: str = Form(""),
    role: str = Form("member"),
    committee_id: str = Form(""),
    township: str = Form(""),
):
    role = role if role in ("admin", "supervisor", "kb-editor") else "member"
    committee = clean(committee_id, 64) or None
    if role == "member" and committee not in {c["id"] for c in committee_choices(svc)}:
        raise Refused("请为委员会成员选择所属委员会。", BACK)
    with refusals_back_to(BACK):
        created = svc.accounts.create_user(
            clean(username, 64),
            password,
            committee if role == "member" else None,
            role,
            township=clean(township, 100) or None,
        )
    return flash_redirect(request, BACK, f"已创建用户 {created.username}。")


@router.post("/admin/users/{username}/active")
def set_active(request: Request, svc: ServiceDep, user: AdminUser, username: str, active: str = Form("")):
    name = clean(username, 64)
    if name.lower() == user.username.lower():
        raise Refused("不能停用自己的账号。", BACK)
    with refusals_back_to(BACK):
        svc.accounts.set_active(name, active == "1")
    return flash_redirect(request, BACK, f"已{'启用' if active == '1' else '停用'}用户 {name}。")


@router.post("/admin/users/{username}/password")
def reset_password(request: Request, svc: ServiceDep, user: AdminUser, username: str, password: str = Form("")):
    name = clean(username, 64)
    with refusals_back_to(BACK):
        svc.accounts.set_password(name, password)
    return flash_redirect(request, BACK, f"已重置 {name} 的密码，其已登录的会话随之失效。")
