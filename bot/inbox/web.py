"""Plumbing shared by the inbox pages: templates, the logged-in user, flashes, input cleaning, time display."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.templating import Jinja2Templates

from bot.consultations.statuses import Status
from bot.inbox.auth import CurrentUser, load_user
from bot.inbox.csrf import csrf_token

HERE = Path(__file__).resolve().parent
DEFAULT_TZ = "Asia/Shanghai"

_env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True, default_for_string=True))
templates = Jinja2Templates(env=_env)


def local_tz(settings) -> ZoneInfo:
    return ZoneInfo(getattr(settings, "timezone", None) or DEFAULT_TZ)


def fmt_time(value: datetime | None, tz: ZoneInfo, with_time: bool = True) -> str:
    if value is None:
        return ""
    v = value.astimezone(tz)
    return v.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def clean(value: object, max_len: int, *, multiline: bool = False) -> str:
    """A form value as safe text: str, NFC, no control characters, trimmed, at most ``max_len``."""
    if not isinstance(value, str):
        return ""
    v = unicodedata.normalize("NFC", value)
    v = _CONTROL.sub("", v)
    if not multiline:
        v = v.replace("\r", " ").replace("\n", " ").replace("\t", " ")
    else:
        v = v.replace("\r\n", "\n").replace("\r", "\n")
    return v.strip()[:max_len]


def safe_next(value: str | None) -> str:
    """A local redirect target only (no open redirects)."""
    v = clean(value, 500)
    if v.startswith("/") and not v.startswith("//") and "\\" not in v and "://" not in v:
        return v
    return "/"


#: How the inbox names a resident's channel.
CHANNEL_NAMES = {"telegram": "Telegram", "wechat": "微信", "webchat": "网页聊天", "socketio": "网页聊天", "rest": "聊天接口",
                 "callback": "聊天接口", "open311": "Open311 接口"}
#: How a push reached the resident, when the channel says so (WeChat).
PUSH_VIA = {"customer_service": "微信客服消息", "template": "微信模板消息"}


def handles_handoffs(request: Request, user: CurrentUser | None) -> bool:
    """Admins, and members of a community's fallback committee (居委会/村委会), answer handoffs."""
    if user is None:
        return False
    if user.is_admin:
        return True
    svc = request.app.state.service
    return any(c.id == user.committee_id and c.fallback for c in svc.directory.committees())


class LoginRequired(Exception):
    def __init__(self, next_url: str):
        self.next_url = next_url


def current_user(request: Request) -> CurrentUser:
    """Dependency: the logged-in user, or a redirect to the login page."""
    user = load_user(request.session, request.app.state.service.accounts)
    if user is None:
        if "sid" in request.session:  # ended session (logout, password changed, user deactivated): drop it
            request.session.clear()
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    request.state.user = user
    return user


def flash(request: Request, message: str, kind: str = "ok") -> None:
    request.session["flash"] = [kind, message]


def render(request: Request, name: str, context: dict | None = None, status_code: int = 200):
    settings = request.app.state.settings
    tz = local_tz(settings)
    user = getattr(request.state, "user", None)
    ctx = {
        "user": user,
        "handoff_nav": handles_handoffs(request, user),
        "csrf_token": lambda: csrf_token(request),
        "flash": request.session.pop("flash", None),
        "labels": {s.value: s.label for s in Status},
        "t": lambda v, with_time=True: fmt_time(v, tz, with_time),
        "quote": quote,
    }
    ctx.update(context or {})
    resp = templates.TemplateResponse(request, name, ctx, status_code=status_code)
    resp.headers["Cache-Control"] = "no-store"
    return resp

