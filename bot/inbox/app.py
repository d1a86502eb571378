"""``create_app(settings)``: the committee inbox (pages) and the Open311 API in one FastAPI app.

The pages' routers (``bot.inbox.routes``, one per area) are included here, each behind the CSRF check.
Also owns the background loop that pushes queued status notifications to residents through Rasa
(woken right after each status change), and the error pages: a polite Chinese page (or an Open311
JSON error under ``/open311``), never a traceback; a form's refusal is flashed on the form's page.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from bot.consultations import AccessDenied, NotFoundError
from bot.consultations.errors import DatabaseUnavailable, store_unreachable
from bot.consultations.models import utcnow
from bot.errors import UserFacingError
from bot.inbox import open311, routes
from bot.inbox.apikeys import ApiKeyStore
from bot.inbox.auth import LoginThrottle, SessionCodec, secret_key
from bot.inbox.bodylimit import BodyLimitMiddleware, BodyTooLarge
from bot.inbox.csrf import csrf_protect
from bot.inbox.deps import LoginRequired
from bot.inbox.kbindex import DeskIndex
from bot.inbox.ratelimit import RateLimiter
from bot.inbox.sessions import CookieSessionMiddleware
from bot.inbox.web import Refused, flash_redirect, render
from bot.settings import get_settings

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; style-src 'self'; img-src 'self' data:; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}


#: The status of a :class:`UserFacingError` that no route turned into an answer of its own (default 400).
USER_ERROR_STATUS = {NotFoundError: 404, AccessDenied: 403}


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(open311.PREFIX)


def _error(request: Request, code: int, message: str):
    """The polite error page (Open311 JSON under its prefix); plain text if even the template fails."""
    if _is_api(request):
        return open311.error_response(code, message)
    try:
        return render(request, "error.html", {"code": code, "message": message}, status_code=code)
    except Exception:
        return PlainTextResponse(message, status_code=code)


def create_app(
    settings=None,
    service=None,
    *,
    push_interval: float | None = None,
    scheduler_interval: float | None = None,
    clock=None,
) -> FastAPI:
    """``service`` defaults to ``ConsultationService.from_settings(settings)``; ``push_interval``
    (seconds) starts the notification loop (default from settings; 0 disables it); ``scheduler_interval`` the
    closed loop's scheduler thread (bot.inbox.scheduler; default ``closedloop_scheduler_interval``, 0: none);
    ``clock``: what "now" is for due dates, the badge and the supervisor's overdue list (tests step it over
    working days; sessions and logins keep the wall clock)."""
    settings = settings or get_settings()
    if service is None:
        from bot.consultations import ConsultationService

        service = ConsultationService.from_settings(settings)
    interval = push_interval if push_interval is not None else float(getattr(settings, "inbox_push_interval", 5.0))

    every = (
        scheduler_interval
        if scheduler_interval is not None
        else float(getattr(settings, "closedloop_scheduler_interval", 0.0))
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # The store wakes this loop itself after each status change it queues a push for.
        app.state.delivery = service.delivery.start(interval) if interval > 0 else None
        app.state.scheduler = None
        if every > 0:
            from bot.inbox.scheduler import SchedulerThread

            app.state.scheduler = SchedulerThread(service, every)
            app.state.scheduler.start()
        try:
            yield
        finally:
            if app.state.delivery is not None:
                service.delivery.stop()
            if app.state.scheduler is not None:
                app.state.scheduler.stop()

    app = FastAPI(title="邻里 · 议事协商工作台", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.settings = settings
    app.state.service = service
    app.state.clock = clock or utcnow
    app.state.db = service.Session  # the store's sessionmaker: same engine, same database
    app.state.throttle = LoginThrottle(
        service.Session,
        account_limit=settings.inbox_login_account_limit,
        client_limit=settings.inbox_login_client_limit,
        window=settings.inbox_login_window_seconds,
    )
    app.state.apikeys = ApiKeyStore.from_settings(settings)
    app.state.open311_requests = RateLimiter(settings.open311_rate_limit, 60)
    app.state.open311_bad_keys = RateLimiter(settings.open311_bad_key_limit, 600)
    app.state.delivery = None
    app.state.kb_index = DeskIndex(settings)  # loaded on first use (hit test, publish)

    app.add_middleware(CookieSessionMiddleware, codec=SessionCodec(secret_key(settings)))
    app.add_middleware(BodyLimitMiddleware, upload_limit=settings.kb_upload_max_bytes, skip_prefix=open311.PREFIX)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        try:
            response = await call_next(request)
        except Exception:  # what no handler took: answered here, so the server keeps the connection open
            log.exception("inbox error on %s %s", request.method, request.url.path)
            response = _error(request, 500, "系统出了点问题，请稍后再试。")
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(open311.router)
    for area in routes.AREAS:  # every POST of the pages passes the CSRF check
        app.include_router(area.router, dependencies=[Depends(csrf_protect)])

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired):
        from urllib.parse import quote

        return RedirectResponse(f"/login?next={quote(exc.next_url, safe='/')}", status_code=303)

    @app.exception_handler(open311.Open311Error)
    async def open311_error(request: Request, exc: open311.Open311Error):
        return open311.error_response(exc.status, exc.description, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if isinstance(exc, BodyTooLarge) and exc.upload:  # told on the desk, like any refused file
            return flash_redirect(request, "/kb", exc.detail, "error")
        message = exc.detail if isinstance(exc.detail, str) and exc.status_code != 404 else "页面不存在，或您无权查看。"
        if exc.status_code == 405:
            message = "不支持这种请求方式。"
        if exc.status_code == 404 and isinstance(exc.detail, str) and "诉求" in exc.detail:
            message = exc.detail
        return _error(request, exc.status_code, message)

    @app.exception_handler(UserFacingError)
    async def user_facing_error(request: Request, exc: UserFacingError):
        """A refused form: its message on the form's page; any other refusal: the polite page, 4xx."""
        if isinstance(exc, Refused):
            return flash_redirect(request, exc.back, exc.message, "error")
        return _error(request, USER_ERROR_STATUS.get(type(exc), 400), exc.message)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        return _error(request, 400, "参数格式不正确。" if _is_api(request) else "提交的内容格式不正确，请返回重试。")

    @app.exception_handler(DatabaseUnavailable)
    @app.exception_handler(DBAPIError)
    async def store_error(request: Request, exc: Exception):
        if isinstance(exc, DBAPIError) and not store_unreachable(exc):
            log.exception("inbox error on %s %s", request.method, request.url.path)
            return _error(request, 500, "系统出了点问题，请稍后再试。")
        # an outage, not a bug: one line in the log, 503 + Retry-After, and the pool reconnects by itself
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        response = _error(request, 503, "暂时连不上诉求数据库，请稍后刷新页面。已提交的诉求不会丢失。")
        response.headers["Retry-After"] = "30"
        return response

    return app
