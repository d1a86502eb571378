"""Web chat channel: a small static page at ``/webhooks/webchat/`` and its JSON endpoint.

For residents without Telegram. The page is plain HTML/JS/CSS shipped in ``static/`` (no CDN,
no build step); the endpoint returns Rasa's replies as JSON, buttons and ``sources`` included.

Pushes (a committee changed the status of a consultation, staff answered a handoff) arrive through
Rasa's ``trigger_intent`` with ``output_channel=webchat``: they wait in a mailbox until the page, which
polls ``POST /webhooks/webchat/updates`` while it is open, takes them.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.channel import Named, shared_redis
from connectors.config import ChannelLimits
from connectors.gate import RequestGate, domain_vocabulary, install_server_limits
from connectors.limits import resident_text
from connectors.memory import Mailbox, SharedKeys
from connectors.prefetch import announce
from connectors.text import NO_REPLY_RETRY, screen_text
from linli_common.replies import ERROR_REPLY

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
_FILES = {"chat.js": "application/javascript", "chat.css": "text/css"}
# The page's random id ("web-" + 24 hex digits). At least one letter or "_": a Telegram chat id is a number and
# a REST conversation id has colons, so a web chat id can never open another channel's conversation.
_SENDER = re.compile(r"^(?=[A-Za-z0-9_-]*[A-Za-z_])[A-Za-z0-9_-]{1,64}$")


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

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self._persist_message(self._message(recipient_id, text=text.strip()))


class _MailboxOutput(_Collector):
    """Where ``trigger_intent`` pushes land: the resident's mailbox instead of an HTTP reply."""

    def __init__(self, mailbox: Mailbox) -> None:
        super().__init__()
        self.mailbox = mailbox

    async def _persist_message(self, message: dict[str, Any]) -> None:
        await super()._persist_message(message)  # also in .messages: Rasa returns them to the API caller
        recipient = str(message.get("recipient_id") or "")
        if _SENDER.match(recipient):
            self.mailbox.put(recipient, {k: v for k, v in message.items() if k != "recipient_id" and v is not None})


def _body(request: Request) -> dict[str, Any] | None:
    """The request's JSON object; None for anything else (malformed, not an object)."""
    try:
        data = request.json
    except Exception:
        return None
    return data if isinstance(data, dict) else None


def _sender_of(data: dict[str, Any] | None) -> str | None:
    """The page's random conversation id, if well-formed."""
    sender = (data or {}).get("sender")
    return sender if isinstance(sender, str) and _SENDER.match(sender) else None


def _reply(*texts: str) -> HTTPResponse:
    return response.json({"messages": [{"text": t} for t in texts]}, headers=_HEADERS)


class WebChatInput(Named, InputChannel):
    """``GET /webhooks/webchat/`` serves the page; ``POST /webhooks/webchat/webhook`` talks to Rasa."""

    CHANNEL = "webchat"
    LOADERS = (shared_redis, ChannelLimits.load)

    def __init__(self, shared: SharedKeys | None = None, limits: ChannelLimits | None = None) -> None:
        """``shared``: the replicas' Redis for the mailboxes (None: this process only)."""
        self.mailbox = Mailbox(shared=shared)
        self.limits = limits or ChannelLimits.load()
        self.gate = RequestGate(self.limits, _HEADERS)
        self.poll_gate = RequestGate(self.limits, _HEADERS)  # the page's polling has its own buckets

    def get_output_channel(self) -> OutputChannel | None:
        return _MailboxOutput(self.mailbox)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("linli_webchat", __name__)
        install_server_limits(bp, self.limits)

        @bp.route("/", methods=["GET"])
        async def page(_: Request) -> HTTPResponse:
            return await response.file(
                STATIC_DIR / "index.html", mime_type="text/html; charset=utf-8", headers=_HEADERS
            )

        @bp.route("/static/<name>", methods=["GET"])
        async def static(_: Request, name: str) -> HTTPResponse:
            if name not in _FILES:  # a fixed list: no path from the request ever reaches the file system
                return response.text("not found", status=404)
            return await response.file(STATIC_DIR / name, mime_type=f"{_FILES[name]}; charset=utf-8", headers=_HEADERS)

        @bp.route("/updates", methods=["POST"])
        async def updates(request: Request) -> HTTPResponse:
            refusal = self.poll_gate.refuse_body(request)
            if refusal:
                return refusal
            sender = _sender_of(_body(request))  # the random id only this browser knows
            if sender is None:
                return response.json({"error": "会话编号不正确，请刷新页面。"}, status=400, headers=_HEADERS)
            refusal = self.poll_gate.refuse_rate(request, sender)
            if refusal:
                return refusal
            return response.json({"messages": self.mailbox.take(sender)}, headers=_HEADERS)

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            refusal = self.gate.refuse_body(request)
            if refusal:
                return refusal
            data = _body(request)
            if data is None:
                return response.json({"error": "请求格式不正确。"}, status=400, headers=_HEADERS)
            sender = _sender_of(data)
            if sender is None:
                return response.json({"error": "会话编号不正确，请刷新页面。"}, status=400, headers=_HEADERS)
            refusal = self.gate.refuse_rate(request, sender)
            if refusal:
                return refusal
            text, refused = screen_text(data.get("message"))
            if refused:  # empty or over-long: never reaches NLU
                return _reply(refused)
            # typed text never becomes an intent payload; a button's may, but never an EXTERNAL_ push
            text = resident_text(text, data.get("payload") is True, *domain_vocabulary(request))
            announce(request.app, text)  # the action server encodes the question while Rasa parses it
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
