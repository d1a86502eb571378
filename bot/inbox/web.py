"""Plumbing shared by the inbox pages: templates, flashes and form answers, input cleaning, time display."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import HTTPException, Request
from fastapi.responses import RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.templating import Jinja2Templates

from bot.consultations import AccessDenied, NotFoundError, duedates
from bot.consultations.statuses import Status
from bot.db import utcnow
from bot.errors import UserFacingError
from bot.inbox.auth import CurrentUser
from bot.inbox.csrf import csrf_token
from linli_common.text import strip_control

HERE = Path(__file__).resolve().parent
DEFAULT_TZ = "Asia/Shanghai"
MAX_NOTE = 1000  # a note or reply typed by a committee member

_env = Environment(
    loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True, default_for_string=True)
)
templates = Jinja2Templates(env=_env)


def local_tz(settings) -> ZoneInfo:
    return ZoneInfo(getattr(settings, "timezone", None) or DEFAULT_TZ)


def fmt_time(value: datetime | None, tz: ZoneInfo, with_time: bool = True) -> str:
    if value is None:
        return ""
    v = value.astimezone(tz)
    return v.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


def clean(value: object, max_len: int, *, multiline: bool = False) -> str:
    """A form value as safe text: str, NFC, no control characters, trimmed, at most ``max_len``."""
    if not isinstance(value, str):
        return ""
    v = unicodedata.normalize("NFC", value)
    v = strip_control(v)  # line breaks are "\n" from here on
    if not multiline:
        v = v.replace("\n", " ").replace("\t", " ")
    return v.strip()[:max_len]


def safe_next(value: str | None) -> str:
    """A local redirect target only (no open redirects)."""
    v = clean(value, 500)
    if v.startswith("/") and not v.startswith("//") and "\\" not in v and "://" not in v:
        return v
    return "/"


#: How the inbox names a resident's channel.
CHANNEL_NAMES = {
    "telegram": "Telegram",
    "wechat": "微信",
    "webchat": "网页聊天",
    "socketio": "网页聊天",
    "rest": "聊天接口",
    "callback": "聊天接口",
    "open311": "Open311 接口",
}
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


def flash(request: Request, message: str, kind: str = "ok") -> None:
    request.session["flash"] = [kind, message]


def redirect(url: str) -> RedirectResponse:
    """After a form: 303, so that reloading the next page does not post again."""
    return RedirectResponse(url, status_code=303)


def flash_redirect(request: Request, url: str, message: str, kind: str = "ok") -> RedirectResponse:
    """The answer to a form: a one-time message shown on the page at ``url``."""
    flash(request, message, kind)
    return redirect(url)


class Refused(UserFacingError):
    """A form turned down: the app's handler flashes ``message`` on ``back``, the form's page (no error page)."""

    def __init__(self, message: str, back: str):
        super().__init__(message, code="refused")
        self.back = back


@contextmanager
def refusals_back_to(back: str, *, missing: str | None = None) -> Iterator[None]:
    """Around a form's service call: a :class:`UserFacingError` becomes a :class:`Refused` on ``back``.

    With ``missing``, "not found" and "access denied" answer 404 with that text instead, so a
    member never learns that another committee's record exists.
    """
    try:
        yield
    except Refused:
        raise
    except (NotFoundError, AccessDenied) as e:
        if missing is not None:
            raise HTTPException(404, missing) from None
        raise Refused(e.message, back) from e
    except UserFacingError as e:
        raise Refused(e.message, back) from e


def committee_choices(service) -> list[dict]:
    """Every committee as ``{"id", "name": "community · committee"}``, for pickers and names."""
    return [
        {"id": c.id, "name": f"{community.name} · {c.name}"}
        for community in service.directory.communities()
        for c in community.committees
    ]


def now_of(request: Request):
    """The app's clock (``create_app(clock=...)``) for due dates and overdue lists; the wall clock by default."""
    return getattr(request.app.state, "clock", utcnow)()


def _alerts(request: Request, user) -> dict:
    """The nav badge: items near or past a limit within the user's scope (bot.inbox.deps's rule)."""
    if user is None or not user.reads_consultations:
        return {}
    from bot.inbox.deps import own_committee

    svc = request.app.state.service
    try:
        if user.is_supervisor:
            return svc.oversight.badge(township=user.township, now=now_of(request))
        return svc.oversight.badge(own_committee(request, user), now=now_of(request))
    except Exception:  # a badge must never break a page
        return {}


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
        "due": lambda d, estimated=False: duedates.due_info(d, now_of(request), settings, estimated=estimated),
        "alerts": _alerts(request, user),
    }
    ctx.update(context or {})
    resp = templates.TemplateResponse(request, name, ctx, status_code=status_code)
    resp.headers["Cache-Control"] = "no-store"
    return resp
