"""Signed-cookie sessions: HttpOnly, SameSite=Lax, Secure when the request came over https.

Starlette's own SessionMiddleware fixes ``Secure`` at start-up; behind a TLS proxy (uvicorn
``--proxy-headers``) we want it to follow the request's scheme instead. The cookie is only written
when the session changed, so the Open311 API (which never touches the session) sets no cookie.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.inbox.auth import SESSION_COOKIE, SESSION_MAX_AGE, SessionCodec


class CookieSessionMiddleware:
    def __init__(self, app: ASGIApp, codec: SessionCodec, cookie: str = SESSION_COOKIE, max_age: int = SESSION_MAX_AGE):
        self.app, self.codec, self.cookie, self.max_age = app, codec, cookie, max_age

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        initial = self.codec.loads(conn.cookies.get(self.cookie))
        scope["session"] = dict(initial)
        secure = conn.url.scheme == "https"

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                session = scope["session"]
                if session != initial:
                    attrs = "; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")
                    if session:
                        value = f"{self.cookie}={self.codec.dumps(session)}; Max-Age={self.max_age}{attrs}"
                    else:
                        value = f"{self.cookie}=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT{attrs}"
                    MutableHeaders(scope=message).append("Set-Cookie", value)
            await send(message)

        await self.app(scope, receive, send_with_cookie)
