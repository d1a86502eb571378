"""Rasa's REST channel with the same contract, but validated input and a reply on every turn.

Rasa 3.6's own ``rest`` channel answers HTTP 500 to an empty body, ``null``, ``[]`` or a non-string
message, passes any length to NLU (DIET memory is quadratic in tokens) and returns ``[]`` when the
action server is down. This one keeps the URL ``/webhooks/rest/webhook``, the body
``{"sender", "message"[, "metadata", "input_channel"]}``, the ``?stream=true`` option, the response
(a JSON list of bot messages) and the name ``rest`` (so ``output_channel=rest`` keeps working).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text, Tuple, Union

import rasa.utils.endpoints
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from rasa.core.channels.rest import RestInput as RasaRestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse, ResponseStream

from connectors.text import NO_REPLY_RETRY, screen_text

logger = logging.getLogger(__name__)

MAX_SENDER_CHARS = 128  # SQL tracker stores keep sender_id in a VARCHAR(255)
_BAD_JSON = "请求格式不正确：请发送 JSON 对象，例如 {\"sender\": \"居民编号\", \"message\": \"您的问题\"}。"
_BAD_SENDER = "缺少 sender 字段，或格式不正确：请提供1到128个字符的字符串。"
_BAD_MESSAGE = "缺少 message 字段，或它不是字符串。"
_BAD_METADATA = "metadata 字段必须是 JSON 对象。"
_BAD_CHANNEL = "input_channel 字段必须是字符串。"
ERROR_REPLY = "抱歉，系统暂时出了点问题，请稍后再试。"


class RequestError(ValueError):
    """A malformed request body; ``str(self)`` is the Chinese explanation returned with HTTP 400."""


def parse_body(body: bytes) -> Tuple[str, Any, Optional[Dict[str, Any]], Optional[str]]:
    """(sender, raw message, metadata, input_channel) of a REST request body, or RequestError."""
    try:
        data = json.loads(body or b"")
    except Exception:  # JSONDecodeError, UnicodeDecodeError, RecursionError on "[[[[…"
        raise RequestError(_BAD_JSON) from None
    if not isinstance(data, dict):
        raise RequestError(_BAD_JSON)
    sender = data.get("sender")
    if not isinstance(sender, str):
        raise RequestError(_BAD_SENDER)
    sender_text, problem = screen_text(sender)
    if problem or sender_text != sender or len(sender) > MAX_SENDER_CHARS:
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
    return sender, message, metadata, (channel or None)


def _message(recipient_id: str, text: str) -> Dict[str, Any]:
    return {"recipient_id": recipient_id, "text": text}


class RestInput(RasaRestInput):
    """``POST /webhooks/rest/webhook``: 400 with a Chinese ``error`` for a malformed body, never 500."""

    @classmethod
    def name(cls) -> Text:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        return cls()

    def stream_response(
        self,
        on_new_message: Callable[[UserMessage], Awaitable[None]],
        text: Text,
        sender_id: Text,
        input_channel: Text,
        metadata: Optional[Dict[Text, Any]],
    ) -> Callable[[Any], Awaitable[None]]:
        """Like Rasa's, one JSON message per line, plus the retry message when the turn said nothing."""

        async def stream(resp: Any) -> None:
            queue: asyncio.Queue = asyncio.Queue()
            task = asyncio.ensure_future(
                self.on_message_wrapper(on_new_message, text, queue, sender_id, input_channel, metadata)
            )
            sent = 0
            while True:
                result = await queue.get()
                if result == "DONE":
                    break
                sent += 1
                await resp.write(json.dumps(result) + "\n")
            try:
                await task
            except Exception:
                logger.exception("rest message failed")
            if not sent:
                await resp.write(json.dumps(_message(sender_id, NO_REPLY_RETRY)) + "\n")

        return stream

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        bp = Blueprint("linli_rest", __name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> Union[ResponseStream, HTTPResponse]:
            try:
                sender, raw, metadata, channel = parse_body(request.body)
            except RequestError as exc:
                return response.json({"error": str(exc)}, status=400)
            text, refusal = screen_text(raw)
            if refusal:  # empty or over-long: answered here, never parsed by NLU
                return response.json([_message(sender, refusal)])
            input_channel = channel or self.name()
            if rasa.utils.endpoints.bool_arg(request, "stream", default=False):
                return response.stream(
                    self.stream_response(on_new_message, text, sender, input_channel, metadata),
                    content_type="text/event-stream",
                )
            collector = CollectingOutputChannel()
            try:
                await on_new_message(UserMessage(text, collector, sender, input_channel=input_channel, metadata=metadata))
            except asyncio.CancelledError:
                logger.error("rest message timed out (sender %s)", sender[:16])
            except Exception:
                logger.exception("rest message failed")
                return response.json([_message(sender, ERROR_REPLY)])
            messages: List[Dict[str, Any]] = collector.messages
            return response.json(messages or [_message(sender, NO_REPLY_RETRY)])

        return bp

