"""Telegram channel for Rasa built on python-telegram-bot (webhook or long polling).

Telegram redelivers an update until it gets a 2xx, so the webhook answers at once and the
conversation runs in a background task; each ``update_id`` is handled once. Outgoing calls are
paced (per chat and globally), honour ``RetryAfter`` and retry network errors with backoff; a
failing Telegram API is logged and never takes the Rasa server down.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError
from telegram.request import HTTPXRequest

from connectors.channel import Named, shared_redis
from connectors.config import ChannelLimits, TelegramConfig
from connectors.gate import RequestGate, app_vocabulary, install_server_limits
from connectors.limits import resident_text
from connectors.memory import PayloadKeys, SeenUpdates, SharedKeys
from connectors.prefetch import announce
from connectors.ratelimit import RateLimiter
from connectors.text import (
    EXPIRED_BUTTON_REPLY,
    GROUP_REPLY,
    LOCATION_REPLY,
    NO_REPLY_RETRY,
    NON_TEXT_REPLY,
    VOICE_REPLY,
    citation_line,
    needs_citation,
    screen_text,
    split_text,
)
from linli_common.replies import ERROR_REPLY

logger = logging.getLogger(__name__)
logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines carry the bot token in the URL

ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
GREET_PAYLOAD = "/greet"
_COMMANDS_TO_GREET = {"/start", "/help"}
_VOICE_KINDS = ("voice", "audio", "video_note")
_NON_TEXT_KINDS = (
    "photo",
    "sticker",
    "document",
    "video",
    "animation",
    "contact",
    "venue",
    "poll",
    "dice",
    "game",
    "story",
) + _VOICE_KINDS


def _seconds(value: Any) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def merge_citations(items: list[Any]) -> list[Any]:
    """Turn ``custom.sources`` into a citation line under the text it belongs to (same or previous message)."""
    out: list[Any] = []
    for recipient_id, message in items:
        message = dict(message)
        custom = message.get("custom")
        if isinstance(custom, dict) and custom.get("sources"):
            line = citation_line(custom["sources"])
            if not needs_citation(message.get("text")) or (
                not message.get("text")
                and out
                and out[-1][0] == recipient_id
                and not needs_citation(out[-1][1].get("text"))
            ):
                line = ""  # the answer's text already names its source once
            rest = {k: v for k, v in custom.items() if k != "sources"}
            message["custom"] = rest or None
            if line and message.get("text"):
                message["text"] = f"{message['text']}\n\n{line}"
            elif line and out and out[-1][0] == recipient_id and out[-1][1].get("text"):
                out[-1][1]["text"] = f"{out[-1][1]['text']}\n\n{line}"
            elif line:
                message["text"] = line
        if any(
            message.get(k) for k in ("text", "buttons", "quick_replies", "image", "attachment", "elements", "custom")
        ):
            out.append((recipient_id, message))
    return out


class TelegramClient:
    """One Bot API client per Rasa process: pacing, retries and the long-payload memory."""

    def __init__(
        self,
        config: TelegramConfig,
        max_attempts: int = 5,
        max_retry_after: float = 120.0,
        shared: SharedKeys | None = None,
    ):
        self.config = config
        self.bot = Bot(
            config.token,
            base_url=config.api_base_url,
            request=HTTPXRequest(connection_pool_size=64, read_timeout=15.0, connect_timeout=5.0, pool_timeout=10.0),
            get_updates_request=HTTPXRequest(connection_pool_size=2, read_timeout=10.0, connect_timeout=5.0),
        )
        self.limiter = RateLimiter(config.chat_interval, config.global_rate)
        self.keys = PayloadKeys(shared=shared)
        self.max_attempts = max_attempts
        self.max_retry_after = max_retry_after
        self.backoff_base = 0.5
        self._sending: dict[str, list[Any]] = {}  # chat id -> [lock, users]: parts of one reply stay together

    async def call(self, chat: Any, make: Callable[[], Awaitable[Any]], what: str, paced: bool = True) -> Any:
        """Run one API call with pacing and retries; returns None (after logging) when it finally fails."""
        for attempt in range(1, self.max_attempts + 1):
            if paced:
                await self.limiter.wait(chat)
            try:
                return await make()
            except RetryAfter as exc:
                delay = _seconds(exc.retry_after)
                if delay > self.max_retry_after:
                    logger.error("telegram %s: flood wait %.0fs too long, dropped (chat %s)", what, delay, chat)
                    return None
                logger.warning("telegram %s: retry after %.1fs (chat %s)", what, delay, chat)
                if paced:
                    self.limiter.pause_chat(chat, delay)
                else:
                    await asyncio.sleep(delay)
            except (BadRequest, Forbidden, InvalidToken) as exc:
                logger.error("telegram %s refused (chat %s): %s", what, chat, exc)
                return None
            except NetworkError as exc:
                if attempt == self.max_attempts:
                    break
                delay = min(30.0, self.backoff_base * 2 ** (attempt - 1)) * (0.75 + random.random() / 2)
                logger.warning("telegram %s failed (%s), retry %d in %.2fs", what, exc, attempt, delay)
                await asyncio.sleep(delay)
            except TelegramError as exc:
                logger.error("telegram %s failed (chat %s): %s", what, chat, exc)
                return None
        logger.error("telegram %s: giving up after %d attempts (chat %s)", what, self.max_attempts, chat)
        return None

    def keyboard(self, buttons: list[dict[str, Any]]) -> InlineKeyboardMarkup | None:
        """Rasa buttons as an inline keyboard; short titles share a row, long ones get their own."""
        cells = []
        for b in buttons or ():
            if not isinstance(b, dict) or not b.get("title"):
                continue
            title = str(b["title"])[:64]
            if b.get("url"):
                cells.append(InlineKeyboardButton(title, url=str(b["url"])))
            else:
                payload = str(b.get("payload") or b["title"])
                cells.append(InlineKeyboardButton(title, callback_data=self.keys.encode(payload)))
        if not cells:
            return None
        short = all(len(c.text) <= 6 for c in cells)
        width = 3 if short else 1
        return InlineKeyboardMarkup([cells[i : i + width] for i in range(0, len(cells), width)])

    async def send_text(self, chat_id: Any, text: str, reply_markup: InlineKeyboardMarkup | None = None) -> None:
        """Send ``text`` (split when too long); the keyboard goes with the last part."""
        parts = split_text(text, self.config.max_message_chars) or (["请选择："] if reply_markup else [])
        key = str(chat_id)
        entry = self._sending.setdefault(key, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                for i, part in enumerate(parts):
                    markup = reply_markup if i == len(parts) - 1 else None
                    await self.call(
                        chat_id,
                        lambda p=part, m=markup: self.bot.send_message(chat_id, p, reply_markup=m),
                        "sendMessage",
                    )
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                self._sending.pop(key, None)

    async def close(self) -> None:
        try:
            await self.bot.shutdown()
        except Exception:  # closing must never fail the server's shutdown
            logger.debug("telegram bot shutdown failed", exc_info=True)


class TelegramOutput(Named, OutputChannel):
    """Sends Rasa's responses to one Telegram chat (also used for pushes via ``output_channel=telegram``).

    With ``buffered=True`` (a resident's turn) the responses are held until :meth:`flush`, so that a
    ``sources`` payload following an answer becomes a citation line under that answer's text.
    """

    CHANNEL = "telegram"

    def __init__(self, client: TelegramClient, buffered: bool = False) -> None:
        self.client = client
        self._buffer: list[Any] | None = [] if buffered else None

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        if self._buffer is not None:
            self._buffer.append((recipient_id, dict(message)))
        else:
            await self._send(merge_citations([(recipient_id, dict(message))]))

    @property
    def pending(self) -> int:
        """Responses held for :meth:`flush` (0 for an unbuffered output)."""
        return len(self._buffer or ())

    async def flush(self) -> None:
        items, self._buffer = self._buffer or [], None
        await self._send(merge_citations(items))

    async def _send(self, items: list[Any]) -> None:
        for recipient_id, message in items:
            await super().send_response(recipient_id, message)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self.client.send_text(recipient_id, text)

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await self.client.send_text(recipient_id, text or "请选择：", self.client.keyboard(buttons))

    async def send_quick_replies(
        self, recipient_id: str, text: str, quick_replies: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await self.send_text_with_buttons(recipient_id, text, quick_replies)

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        sent = await self.client.call(
            recipient_id, lambda: self.client.bot.send_photo(recipient_id, image), "sendPhoto"
        )
        if sent is None:
            await self.client.send_text(recipient_id, f"图片：{image}")

    async def send_attachment(self, recipient_id: str, attachment: Any, **kwargs: Any) -> None:
        await self.client.send_text(recipient_id, f"附件：{attachment}")

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any) -> None:
        """Known keys only: ``text`` and ``sources``; anything else is not shown to residents."""
        if not isinstance(json_message, dict):
            return
        lines = [str(json_message["text"])] if json_message.get("text") else []
        if json_message.get("sources") and needs_citation(json_message.get("text")):
            lines.append(citation_line(json_message["sources"]))
        text = "\n\n".join(x for x in lines if x)
        if text:
            await self.client.send_text(recipient_id, text)


class TelegramInput(Named, InputChannel):
    """Webhook ``/webhooks/telegram/webhook`` (secret-checked) or long polling when no public URL is set."""

    CHANNEL = "telegram"
    LOADERS = (TelegramConfig.load, shared_redis, ChannelLimits.load)

    def __init__(
        self,
        config: TelegramConfig | None = None,
        shared: SharedKeys | None = None,
        limits: ChannelLimits | None = None,
    ) -> None:
        """``shared``: the replicas' Redis for handled updates and long button payloads (None: this process only)."""
        self.config = config or TelegramConfig.load()
        self.limits = limits or ChannelLimits.load()
        self.gate = RequestGate(self.limits)
        self.shared = shared
        self._client: TelegramClient | None = None
        self.seen = SeenUpdates(shared=shared)
        self._tasks: set[asyncio.Task] = set()
        self._chat_locks: dict[str, list[Any]] = {}  # chat id -> [lock, number of tasks using it]
        self._poller: asyncio.Task | None = None
        self._app: Any = None  # the Rasa server, for its domain's intents (which button payloads are real)

    @property
    def client(self) -> TelegramClient:
        if self._client is None:
            self._client = TelegramClient(self.config, shared=self.shared)
        return self._client

    def get_output_channel(self) -> OutputChannel | None:
        return TelegramOutput(self.client) if self.config.token else None

    # -- incoming updates ---------------------------------------------------------------------

    def _secret_ok(self, request: Request) -> bool:
        expected = self.config.webhook_secret
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        return bool(expected) and hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))

    def dispatch(self, update: Update, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> bool:
        """Schedule ``update`` unless it was seen before; returns whether it was new."""
        if not self.seen.first_time(update.update_id):
            logger.info("telegram update %s already handled, skipped", update.update_id)
            return False
        task = asyncio.get_running_loop().create_task(self._handle(update, on_new_message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _handle(self, update: Update, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        client = self.client
        query = update.callback_query
        if query is not None:  # at once, before waiting for the chat's turn: stops the button's spinner
            await client.call(
                "cq", lambda: client.bot.answer_callback_query(query.id), "answerCallbackQuery", paced=False
            )
        chat = update.effective_chat
        if chat is None:
            return
        chat_id = str(chat.id)
        entry = self._chat_locks.setdefault(chat_id, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:  # one chat's messages reach Rasa in the order they were sent
                await self._handle_in_order(update, chat_id, on_new_message)
        except Exception:
            logger.exception("telegram update %s failed", update.update_id)
            await self.client.send_text(chat_id, ERROR_REPLY)
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                self._chat_locks.pop(chat_id, None)

    async def _handle_in_order(
        self, update: Update, chat_id: str, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> None:
        client = self.client
        out = TelegramOutput(client, buffered=True)
        try:
            await self._route(update, chat_id, out, on_new_message)
        finally:
            await out.flush()

    async def _route(
        self, update: Update, chat_id: str, out: TelegramOutput, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> None:
        client = self.client
        private = update.effective_chat.type == "private"
        metadata = {"channel": "telegram", "chat_type": update.effective_chat.type}

        query = update.callback_query
        if query is not None:
            if not private:
                return
            if query.message is not None and isinstance(query.message, Message):
                msg_id = query.message.message_id
                await client.call(
                    chat_id,
                    lambda: client.bot.edit_message_reply_markup(chat_id, msg_id, reply_markup=None),
                    "editMessageReplyMarkup",
                    paced=False,
                )
            payload = client.keys.decode(query.data or "")
            payload, refusal = screen_text(payload) if payload else ("", None)
            if not payload:
                await client.send_text(chat_id, refusal if refusal and query.data else EXPIRED_BUTTON_REPLY)
                return
            # callback data comes from the resident's client: a button's intent, never an EXTERNAL_ push
            await self._converse(
                resident_text(payload, True, *app_vocabulary(self._app)), out, chat_id, metadata, on_new_message
            )
            return

        msg = update.message or update.edited_message
        if msg is None:
            return
        text, refusal = screen_text(msg.text) if msg.text is not None else ("", None)
        command = text.split(maxsplit=1)[0].split("@")[0].lower() if text.startswith("/") else ""
        if not private:
            if command in _COMMANDS_TO_GREET:
                await client.send_text(chat_id, GROUP_REPLY)
            return
        if refusal:  # empty after cleaning, or over-long: answered here, never parsed by NLU
            await client.send_text(chat_id, refusal)
        elif text:
            if command in _COMMANDS_TO_GREET:
                text = GREET_PAYLOAD
            elif command:
                text = resident_text(text, allow_intents=False)  # residents cannot inject intents by typing "/intent"
            await self._converse(text, out, chat_id, metadata, on_new_message)
        elif msg.location is not None and msg.venue is None:
            await client.send_text(chat_id, LOCATION_REPLY)
        elif any(getattr(msg, kind, None) for kind in _VOICE_KINDS):
            await client.send_text(chat_id, VOICE_REPLY)
        elif any(getattr(msg, kind, None) for kind in _NON_TEXT_KINDS):
            await client.send_text(chat_id, NON_TEXT_REPLY)

    async def _converse(
        self,
        text: str,
        out: TelegramOutput,
        chat_id: str,
        metadata: dict[str, Any],
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> None:
        """One turn through Rasa; a turn that produced no message at all (action server down) gets a retry hint."""
        announce(self._app, text)  # the action server encodes the question while Rasa parses it
        await on_new_message(UserMessage(text, out, chat_id, input_channel=self.name(), metadata=metadata))
        if not out.pending:
            await out.send_response(chat_id, {"text": NO_REPLY_RETRY})

    # -- polling and webhook registration -------------------------------------------------------

    async def _poll(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        """Long-poll getUpdates until cancelled; errors back off up to 30 s and never end the loop."""
        client = self.client
        await client.call(
            "poll", lambda: client.bot.delete_webhook(drop_pending_updates=False), "deleteWebhook", paced=False
        )
        offset: int | None = None
        backoff = 1.0
        logger.info("telegram polling started")
        while True:
            try:
                updates = await client.bot.get_updates(
                    offset=offset, timeout=self.config.poll_timeout, allowed_updates=ALLOWED_UPDATES
                )
                backoff = 1.0
            except asyncio.CancelledError:
                raise
            except RetryAfter as exc:
                await asyncio.sleep(_seconds(exc.retry_after))
                continue
            except Exception as exc:  # network, 5xx, conflict, bad token: keep trying, slowly
                logger.warning("telegram getUpdates failed (%s); retry in %.0fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            for update in updates:
                offset = update.update_id + 1
                self.dispatch(update, on_new_message)

    async def _start(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        if not self.config.token:
            logger.info("telegram channel idle: TELEGRAM_TOKEN is not set")
            return
        if self.config.webhook_url:
            if not self.config.webhook_secret:
                logger.error("TELEGRAM_WEBHOOK_SECRET is not set: the webhook refuses every request")
            client = self.client
            ok = await client.call(
                "setup",
                lambda: client.bot.set_webhook(
                    self.config.webhook_url,
                    secret_token=self.config.webhook_secret or None,
                    allowed_updates=ALLOWED_UPDATES,
                ),
                "setWebhook",
                paced=False,
            )
            logger.info("telegram webhook %s", "registered" if ok else "NOT registered")
        else:
            self._poller = asyncio.get_running_loop().create_task(self._poll(on_new_message))

    async def _stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
            self._poller = None
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)
        if self._client is not None:
            await self._client.close()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("linli_telegram", __name__)
        install_server_limits(bp, self.limits)

        @bp.listener("after_server_start")
        async def start(app: Any, loop: Any) -> None:
            self._app = app
            try:
                await self._start(on_new_message)
            except Exception:  # a broken Telegram setup must not stop the other channels
                logger.exception("telegram channel failed to start")

        @bp.listener("before_server_stop")
        async def stop(app: Any, loop: Any) -> None:
            await self._stop()

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            mode = "off" if not self.config.token else ("polling" if self.config.polling else "webhook")
            return response.json({"status": "ok", "mode": mode})

        @bp.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            if not self._secret_ok(request):
                return response.json({"ok": False, "error": "forbidden"}, status=403)
            refusal = self.gate.refuse_body(request)
            if refusal:
                return refusal
            try:
                data = request.json
            except Exception:
                data = None
            if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
                return response.json({"ok": False, "error": "not a Telegram update"}, status=400)
            try:
                update = Update.de_json(data, self.client.bot)
            except Exception:
                logger.warning("telegram update %s could not be parsed", data.get("update_id"))
                return response.json({"ok": True, "ignored": True})
            new = self.dispatch(update, on_new_message)
            return response.json({"ok": True, "duplicate": not new})

        return bp
