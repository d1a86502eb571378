"""A stand-in for the Telegram Bot API: a real HTTP server on loopback that records every call.

Point the connector at it with ``TELEGRAM_API_BASE_URL=<server.base_url>``. It answers the methods
the connector uses, serves queued updates to ``getUpdates`` (long polling included) and can be told
to fail (HTTP 500, or 429 with ``retry_after``) to exercise retries and backoff.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl

from tests.fake_api import FakeAPI, Request

BOT_USER = {"id": 4242, "is_bot": True, "first_name": "邻里", "username": "linli_test_bot"}


def _parse_body(content_type: str, body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    if content_type.startswith("application/json"):
        return json.loads(body)
    if content_type.startswith("multipart/form-data"):
        msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
        return {part.get_param("name", header="content-disposition"): part.get_content() for part in msg.iter_parts()}
    return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))


def _decode(params: dict[str, Any]) -> dict[str, Any]:
    """Form values arrive as strings; nested ones (reply_markup …) as JSON text."""
    out = {}
    for key, value in params.items():
        if isinstance(value, str) and value[:1] in "{[":
            try:
                value = json.loads(value)
            except ValueError:
                pass
        out[key] = value
    return out


class FakeTelegram(FakeAPI):
    def __init__(self, token: str = "123456:TEST-token"):
        super().__init__()
        self.token = token
        self._updates: list[dict[str, Any]] = []
        self._failures: dict[str, list[dict[str, Any]]] = {}
        self._message_id = 1000

    # -- control ---------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"{self.url}/bot"

    def push_update(self, update: dict[str, Any]) -> None:
        """Queue an update for the next getUpdates."""
        with self._cond:
            self._updates.append(update)
            self._cond.notify_all()

    def fail(
        self, method: str, times: int = 1, status: int = 500, retry_after: int | None = None, chat_id: Any = None
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail with ``status`` (429 + retry_after for flood control);
        with ``chat_id``, only that chat's calls (a shared server's other chats are not touched)."""
        failure = {"status": status, "retry_after": retry_after, "chat_id": None if chat_id is None else str(chat_id)}
        with self._cond:
            self._failures.setdefault(method, []).extend([failure] * times)

    @staticmethod
    def _match(method: str | None, chat_id: Any, where: Callable[[dict[str, Any]], bool] | None = None):
        return lambda c: (
            (method is None or c["method"] == method)
            and (chat_id is None or str(c["params"].get("chat_id")) == str(chat_id))
            and (where is None or where(c))
        )

    def recorded(self, method: str | None = None, chat_id: Any = None) -> list[dict[str, Any]]:
        return self.matching(self._match(method, chat_id))

    def wait_for(
        self,
        method: str,
        count: int = 1,
        chat_id: Any = None,
        timeout: float = 30.0,
        where: Callable[[dict[str, Any]], bool] | None = None,
    ) -> list[dict[str, Any]]:
        """Block until at least ``count`` matching calls were recorded; returns them (raises on timeout)."""
        return self.wait_until(self._match(method, chat_id, where), count, timeout, what=method)

    # -- HTTP --------------------------------------------------------------------------------------
    def _answer(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        chat = str(params.get("chat_id"))
        with self._cond:
            queue = self._failures.get(method) or []
            i = next((i for i, f in enumerate(queue) if f["chat_id"] in (None, chat)), None)
            failure = queue.pop(i) if i is not None else None
        if failure:
            body: dict[str, Any] = {"ok": False, "error_code": failure["status"], "description": "Injected failure"}
            if failure["retry_after"] is not None:
                body["parameters"] = {"retry_after": failure["retry_after"]}
                body["description"] = f"Too Many Requests: retry after {failure['retry_after']}"
            return failure["status"], body
        if method == "getMe":
            return 200, {"ok": True, "result": BOT_USER}
        if method in ("sendMessage", "sendPhoto", "editMessageReplyMarkup", "editMessageText"):
            if method == "sendMessage" and not str(params.get("text", "")).strip():
                return 400, {"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"}
            if method == "sendMessage" and len(str(params.get("text", "")).encode("utf-16-le")) // 2 > 4096:
                return 400, {"ok": False, "error_code": 400, "description": "Bad Request: message is too long"}
            with self._cond:
                self._message_id += 1
                mid = params.get("message_id") or self._message_id
            msg = {
                "message_id": int(mid),
                "date": int(time.time()),
                "chat": {"id": int(params.get("chat_id", 0)), "type": "private"},
                "from": BOT_USER,
            }
            if "text" in params:
                msg["text"] = params["text"]
            return 200, {"ok": True, "result": msg}
        if method in ("answerCallbackQuery", "setWebhook", "deleteWebhook"):
            return 200, {"ok": True, "result": True}
        if method == "getUpdates":
            offset = int(params.get("offset") or 0)
            wait = min(float(params.get("timeout") or 0), 2.0)  # keep tests fast; real Telegram holds up to 50 s
            deadline = time.monotonic() + wait
            with self._cond:
                while True:
                    ready = [u for u in self._updates if u["update_id"] >= offset]
                    left = deadline - time.monotonic()
                    if ready or left <= 0:
                        return 200, {"ok": True, "result": ready}
                    self._cond.wait(left)
        return 404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"}

    def respond(self, request: Request) -> tuple[int, dict[str, Any]]:
        prefix = f"/bot{self.token}/"
        if not request.path.startswith(prefix):
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        method = request.path[len(prefix) :]
        params = _decode(_parse_body(request.headers.get("Content-Type", ""), request.body))
        params.update(request.params())
        self.record({"method": method, "params": params})
        return self._answer(method, params)


def text_update(update_id: int, chat_id: int, text: str, kind: str = "message") -> dict[str, Any]:
    """A private-chat text message as Telegram sends it."""
    return {
        "update_id": update_id,
        kind: {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "居民"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "居民", "language_code": "zh-hans"},
            "text": text,
            **(
                {"entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]}
                if text.startswith("/")
                else {}
            ),
        },
    }


def photo_update(update_id: int, chat_id: int) -> dict[str, Any]:
    update = text_update(update_id, chat_id, "x")
    msg = update["message"]
    del msg["text"]
    msg["photo"] = [{"file_id": "AgAD1", "file_unique_id": "u1", "width": 90, "height": 90, "file_size": 1000}]
    return update


def callback_update(update_id: int, chat_id: int, data: str, message_id: int = 1001) -> dict[str, Any]:
    """A press on an inline keyboard button of the bot's message ``message_id``."""
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"cq{update_id}",
            "from": {"id": chat_id, "is_bot": False, "first_name": "居民"},
            "chat_instance": "ci1",
            "data": data,
            "message": {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private", "first_name": "居民"},
                "from": BOT_USER,
                "text": "…",
            },
        },
    }
