"""CSRF protection: a random token kept in the signed session, required on every POST form.

The token is created when a page with a form is rendered (also for the anonymous login form,
which stops login CSRF). Checked as a router-level dependency, so no POST route can forget it.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import HTTPException, Request

SESSION_KEY = "csrf"
FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token(request: Request) -> str:
    """The session's token, created on first use (templates call this for each form)."""
    token = request.session.get(SESSION_KEY)
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        request.session[SESSION_KEY] = token
    return token


class CSRFError(HTTPException):
    def __init__(self) -> None:
        super().__init__(status_code=403, detail="页面已过期或请求来源不可信，请刷新页面后重试。")


async def csrf_protect(request: Request) -> None:
    """Refuse an unsafe request whose form field (or header) does not match the session's token."""
    if request.method in SAFE_METHODS:
        return
    expected = request.session.get(SESSION_KEY)
    sent = request.headers.get(HEADER)
    if not sent:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            try:
                form = await request.form()
            except HTTPException:  # a body past its limit (bodylimit): its own 413, not a missing token
                raise
            except Exception:  # malformed body: treat as missing token
                form = {}
            value = form.get(FIELD)
            sent = value if isinstance(value, str) else None
    if not (isinstance(expected, str) and sent and hmac.compare_digest(expected.encode(), sent.encode())):
        raise CSRFError()
