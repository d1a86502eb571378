"""Rasa's REST channel with the same contract, but validated input, proven senders and a reply on every turn.

Rasa 3.6's own ``rest`` channel answers HTTP 500 to an empty body, ``null``, ``[]`` or a non-string
message, passes any length to NLU (DIET memory is quadratic in tokens) and returns ``[]`` when the
action server is down. This one keeps the URL ``/webhooks/rest/webhook``, the body
``{"sender", "message"[, "metadata"]}``, the ``?stream=true`` option, the response (a JSON list of bot
messages, ``recipient_id`` = the caller's sender) and the name ``rest``.

Trust: the REST channel is for integrators. Each has a bearer key (``LINLI_REST_KEYS``); its senders
live in the conversation namespace ``rest:<integrator>:<sender>``, so no caller can speak as another
integrator's user or as a Telegram / web chat resident. Without configured keys the channel answers
loopback clients only (``make run``, tests), as integrator ``local``. The channel is fixed (a client's
``input_channel`` is ignored) and client ``metadata`` is kept only under ``metadata.client``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import rasa.utils.endpoints
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import QueueOutputChannel
from rasa.core.channels.rest import RestInput as RasaRestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse, ResponseStream

from connectors.channel import Named
from connectors.config import LOCAL_INTEGRATOR, ChannelLimits, RestKeysConfig
from connectors.gate import RequestGate, domain_vocabulary, install_server_limits
from connectors.limits import log_safe, metadata_problem, resident_text
from connectors.prefetch import announce
from connectors.text import NO_REPLY_RETRY, screen_text
from linli_common.replies import ERROR_REPLY
from linli_common.timeline import mark

logger = logging.getLogger(__name__)

MAX_SENDER_CHARS = 128  # SQL tracker stores keep sender_id in a VARCHAR(255)
# Characters that travel unencoded in a URL path: Rasa's /conversations/<id>/… routes do not unquote the id,
# so a push to a sender with any other character would land in another conversation.
_SENDER = re.compile(r"^[A-Za-z0-9_.@:-]{1,%d}$" % MAX_SENDER_CHARS)
_BAD_JSON = '请求格式不正确：请发送 JSON 对象，例如 {"sender": "居民编号", "message": "您的问题"}。'
_BAD_SENDER = "缺少 sender 字段，或格式不正确：请提供1到128个字符，只含英文字母、数字和 _ . @ : -。"
_BAD_CHANNEL = "input_channel 字段必须是字符串（它会被忽略：渠道由服务器确定）。"
_BAD_MESSAGE = "缺少 message 字段，或它不是字符串。"
_BAD_METADATA = "metadata 字段必须是 JSON 对象。"
NEED_KEY = "REST 渠道需要接入密钥：请在请求头中提供 Authorization: Bearer <密钥>。"
LOCAL_ONLY = "本服务器的 REST 渠道未配置接入密钥，只接受本机请求。"


class RequestError(ValueError):
    """A malformed request body; ``str(self)`` is the Chinese explanation returned with HTTP 400."""


def parse_body(body: bytes, limits: ChannelLimits | None = None) -> tuple[str, Any, dict[str, Any] | None]:
    """(sender, raw message, client metadata) of a REST request body, or RequestError.

    A client's ``input_channel`` is ignored: the connector fixes the channel."""
    limits = limits or ChannelLimits()
    try:
        data = json.loads(body or b"")
    except Exception:  # JSONDecodeError, UnicodeDecodeError, RecursionError on "[[[[…"
        raise RequestError(_BAD_JSON) from None
    if not isinstance(data, dict):
        raise RequestError(_BAD_JSON)
    sender = data.get("sender")
    if not isinstance(sender, str):
        raise RequestError(_BAD_SENDER)
    if not _SENDER.match(sender):
        raise RequestError(_BAD_SENDER)
    message = data.get("message")
    if not isinstance(message, str):
        raise RequestError(_BAD_MESSAGE)
    metadata = data.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise RequestError(_BAD_METADATA)
    channel = data.get("input_channel")
    if channel is not None and not isinstance(channel, str):
        raise RequestError(_BAD_CHANNEL)
    problem = metadata_problem(metadata, limits.max_metadata_bytes, limits.max_metadata_depth)
    if problem:
        raise RequestError(problem)
    return sender, message, (metadata or None)


def conversation_id(integrator: str, sender: str) -> str:
    """Rasa's conversation (and the consultation store's sender) id of an integrator's sender."""
    return f"rest:{integrator}:{sender}"


def _bearer(request: Request) -> str:
    scheme, _, key = (request.headers.get("authorization") or "").partition(" ")
    return key.strip() if scheme.lower() == "bearer" else ""


def _is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


def _message(recipient_id: str, text: str) -> dict[str, Any]:
    return {"recipient_id": recipient_id, "text": text}


class RestInput(Named, RasaRestInput):
    """``POST /webhooks/rest/webhook``: 400 with a Chinese ``error`` for a malformed body, never 500."""

    CHANNEL = "rest"
    LOADERS = (RestKeysConfig.load, ChannelLimits.load)

    def __init__(self, keys: RestKeysConfig | None = None, limits: ChannelLimits | None = None) -> None:
        self.keys = keys or RestKeysConfig.load()
        self.limits = limits or ChannelLimits.load()
        self.gate = RequestGate(self.limits)

    def integrator_of(self, request: Request) -> tuple[str | None, str]:
        """(integrator, "") for a caller with a valid key (or a loopback caller when no keys are set),
        else (None, the Chinese reason for the 401)."""
        if self.keys.required:
            name = self.keys.integrator(_bearer(request))
            return (name, "") if name else (None, NEED_KEY)
        return (LOCAL_INTEGRATOR, "") if _is_loopback(request.ip or "") else (None, LOCAL_ONLY)

    def stream_response(
        self,
        on_new_message: Callable[[UserMessage], Awaitable[None]],
        text: str,
        sender_id: str,
        input_channel: str,
        metadata: dict[str, Any] | None,
        public_sender: str | None = None,
    ) -> Callable[[Any], Awaitable[None]]:
        """Like Rasa's, one JSON message per line; always ends, with an apology when the turn raised
        (Rasa's own waits for a "DONE" that a failing turn never sends) or a retry hint when it said nothing."""
        public = public_sender or sender_id

        async def stream(resp: Any) -> None:
            queue: asyncio.Queue = asyncio.Queue()
            failed = []

            async def turn() -> None:
                try:
                    await on_new_message(
                        UserMessage(
                            text, QueueOutputChannel(queue), sender_id, input_channel=input_channel, metadata=metadata
                        )
                    )
                except Exception:
                    logger.exception("rest message failed (sender %s)", log_safe(public, 16))
                    failed.append(True)
                finally:
                    await queue.put("DONE")

            task = asyncio.ensure_future(turn())
            sent = 0
            try:
                while True:
                    result = await queue.get()
                    if result == "DONE":
                        break
                    sent += 1
                    await resp.write(json.dumps(_public(result, sender_id, public)) + "\n")
                if failed or not sent:
                    await resp.write(json.dumps(_message(public, ERROR_REPLY if failed else NO_REPLY_RETRY)) + "\n")
            finally:
                if not task.done():
                    task.cancel()

        return stream

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        bp = Blueprint("linli_rest", __name__)
        install_server_limits(bp, self.limits)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> ResponseStream | HTTPResponse:
            mark("rest.in")
            integrator, reason = self.integrator_of(request)
            if integrator is None:
                return response.json({"error": reason}, status=401, headers={"WWW-Authenticate": "Bearer"})
            refusal = self.gate.refuse_body(request)
            if refusal:
                return refusal
            try:
                sender, raw, client_metadata = parse_body(request.body, self.limits)
            except RequestError as exc:
                return response.json({"error": str(exc)}, status=400)
            conversation = conversation_id(integrator, sender)
            refusal = self.gate.refuse_rate(request, conversation)
            if refusal:
                return refusal
            text, refusal_text = screen_text(raw)
            if refusal_text:  # empty or over-long: answered here, never parsed by NLU
                return response.json([_message(sender, refusal_text)])
            text = resident_text(
                text, True, *domain_vocabulary(request)
            )  # button payloads yes; EXTERNAL_ pushes, broken syntax no
            announce(request.app, text)  # the action server encodes the question while Rasa parses it
            mark("rest.announced")
            metadata: dict[str, Any] = {"channel": self.name(), "integrator": integrator}
            if client_metadata:
                metadata["client"] = client_metadata
            if rasa.utils.endpoints.bool_arg(request, "stream", default=False):
                return response.stream(
                    self.stream_response(on_new_message, text, conversation, self.name(), metadata, sender),
                    content_type="text/event-stream",
                )
            collector = CollectingOutputChannel()
            try:
                await on_new_message(
                    UserMessage(text, collector, conversation, input_channel=self.name(), metadata=metadata)
                )
            except asyncio.CancelledError:
                logger.error("rest message timed out (sender %s)", log_safe(sender, 16))
            except Exception:
                logger.exception("rest message failed")
                return response.json([_message(sender, ERROR_REPLY)])
            messages: list[dict[str, Any]] = [_public(m, conversation, sender) for m in collector.messages]
            mark("rest.out")
            return response.json(messages or [_message(sender, NO_REPLY_RETRY)])

        return bp


def _public(message: dict[str, Any], conversation: str, sender: str) -> dict[str, Any]:
    """A bot message as the integrator sees it: addressed to its own sender id, not the namespaced one."""
    if message.get("recipient_id") == conversation:
        return {**message, "recipient_id": sender}
    return message
