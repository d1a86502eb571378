"""Web chat channel: a small static page at ``/webhooks/webchat/`` and its JSON endpoint.

For residents without Telegram. The page is plain HTML/JS/CSS shipped in ``static/`` (no CDN,
no build step); the endpoint returns Rasa's replies as JSON, buttons and ``sources`` included.
"""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.text import NO_REPLY_RETRY, screen_text

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
_FILES = {"chat.js": "application/javascript", "chat.css": "text/css"}
_SENDER = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

ERROR_REPLY = "抱歉，系统暂时出了点问题，请稍后再试。"

_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class _Collector(CollectingOutputChannel):
    """Keeps a reply whole: Rasa's collector would cut a text at every blank line into separate bubbles."""

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        await self._persist_message(self._message(recipient_id, text=text.strip()))


def _reply(*texts: str) -> HTTPResponse:
    return response.json({"messages": [{"text": t} for t in texts]}, headers=_HEADERS)


class WebChatInput(InputChannel):
    """``GET /webhooks/webchat/`` serves the page; ``POST /webhooks/webchat/webhook`` talks to Rasa."""

    @classmethod
    def name(cls) -> Text:
        return "webchat"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        return cls()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("linli_webchat", __name__)

        @bp.route("/", methods=["GET"])
        async def page(_: Request) -> HTTPResponse:
            return await response.file(STATIC_DIR / "index.html", mime_type="text/html; charset=utf-8", headers=_HEADERS)

        @bp.route("/static/<name>", methods=["GET"])
        async def static(_: Request, name: str) -> HTTPResponse:
            if name not in _FILES:  # a fixed list: no path from the request ever reaches the file system
                return response.text("not found", status=404)
            return await response.file(STATIC_DIR / name, mime_type=f"{_FILES[name]}; charset=utf-8", headers=_HEADERS)

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                data = request.json
            except Exception:
                data = None
            if not isinstance(data, dict):
                return response.json({"error": "请求格式不正确。"}, status=400, headers=_HEADERS)
            sender = data.get("sender")
            if not isinstance(sender, str) or not _SENDER.match(sender):
                return response.json({"error": "会话编号不正确，请刷新页面。"}, status=400, headers=_HEADERS)
            text, refusal = screen_text(data.get("message"))
            if refusal:  # empty or over-long: never reaches NLU
                return _reply(refusal)
            if text.startswith("/") and data.get("payload") is not True:
                text = text.lstrip("/").strip() or "你好"  # typed text never becomes an intent payload
            collector = _Collector()
            try:
                await on_new_message(
                    UserMessage(text, collector, sender, input_channel=self.name(), metadata={"channel": "webchat"})
                )
            except asyncio.CancelledError:
                return _reply(ERROR_REPLY)
            except Exception:
                logger.exception("webchat message failed")
                return _reply(ERROR_REPLY)
            if not collector.messages:  # e.g. the action server is down: Rasa sends nothing at all
                return _reply(NO_REPLY_RETRY)
            return response.json({"messages": collector.messages}, headers=_HEADERS)

        return bp
