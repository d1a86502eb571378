"""A ceiling on every page request's body, enforced while it arrives (before a form or upload is parsed).

Starlette spools a multipart upload to a temporary file before a route sees it, so a size check in the route comes
after the whole body has been received and written. This ASGI middleware refuses a body past its limit on the
declared ``Content-Length`` at once, and on the bytes actually received otherwise (chunked bodies): a 413 with the
polite error page, nothing spooled beyond the limit. Open311 keeps its own, smaller limit (``open311._body``).
"""

from __future__ import annotations

from fastapi import HTTPException

#: Room for the multipart envelope and the form's other fields around an uploaded file.
FORM_OVERHEAD = 64 * 1024
#: Any other page form (login, status, catalogue edits) is far smaller than this.
FORM_LIMIT = 1024 * 1024


class BodyTooLarge(HTTPException):
    """413; on the desk's upload the app flashes the desk's own message instead (``upload`` is true)."""

    def __init__(self, limit: int, *, upload: bool) -> None:
        self.upload = upload
        mb = max(1, limit // 1024 // 1024)
        message = f"文件太大：最多 {mb} MB。" if upload else f"提交的内容过大（上限 {mb} MB）。"
        super().__init__(413, message)


class BodyLimitMiddleware:
    """``upload_limit`` applies to ``/kb/upload``, ``FORM_LIMIT`` to every other path outside Open311."""

    def __init__(self, app, *, upload_limit: int, skip_prefix: str) -> None:
        self.app, self.upload_limit, self.skip_prefix = app, upload_limit + FORM_OVERHEAD, skip_prefix

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(self.skip_prefix):
            return await self.app(scope, receive, send)
        upload = path.startswith("/kb/upload")
        limit = self.upload_limit if upload else FORM_LIMIT
        too_big = BodyTooLarge(limit - FORM_OVERHEAD if upload else limit, upload=upload)
        declared = dict(scope.get("headers") or ()).get(b"content-length", b"")
        received = 0

        async def limited_receive():
            nonlocal received
            if declared.isdigit() and int(declared) > limit:
                raise too_big
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise too_big
            return message

        return await self.app(scope, limited_receive, send)
