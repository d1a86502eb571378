"""WeChat Official Account (service account) channel: the server callback at ``/webhooks/wechat/webhook``.

WeChat calls the callback for every message and gives up after 5 s, then retries the same message
twice. So each message is handled once (by ``MsgId``, events by sender + time; shared through Redis
with several replicas), and the answer goes back passively in the HTTP reply when it is ready within
a budget (~4 s) and fits one message; otherwise the callback answers ``success`` and the answer follows
through the customer-service message API. Safe mode (AES with the EncodingAESKey) uses wechatpy's
implementation of WeChat's published message crypto; XML is parsed with defusedxml (no DTDs, no
entities). Pushes from the committee inbox (``trigger_intent`` with ``output_channel=wechat``) go as
customer-service messages inside WeChat's 48-hour window and as a template message outside it; the
messages Rasa returns to the inbox say which (``delivered_via``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from defusedxml import ElementTree as SafeET
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from wechatpy.crypto import PrpCrypto

from connectors.channel import Named, shared_redis
from connectors.choices import NumberedChoices, numbered_lines
from connectors.config import WeChatConfig, conversation_id, openid_of
from connectors.memory import SeenUpdates, SharedKeys
from connectors.prefetch import announce
from connectors.text import (
    EXPIRED_BUTTON_REPLY,
    LOCATION_REPLY,
    NO_REPLY_RETRY,
    NON_TEXT_REPLY,
    VOICE_REPLY,
    citation_line,
    screen_text,
    split_text,
)
from linli_common.replies import ERROR_REPLY

logger = logging.getLogger(__name__)
logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines carry the access token in the URL

GREET_PAYLOAD = "/greet"
SUCCESS = "success"  # WeChat: "received, no passive reply"
MAX_CLOCK_SKEW = 24 * 3600  # older signed callbacks are replays (the dedup memory keeps a day)
_OPENID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# XML 1.0 forbids these characters; a reply containing one would be refused by WeChat
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")

#: errcodes of WeChat's server API the channel reacts to
TOKEN_ERRORS = {40001, 40014, 42001}  # invalid or expired access token: fetch a new one, try once more
WINDOW_ERRORS = {45015, 45047}  # outside the 48-hour window / too many messages without a reply from the user
RATE_ERRORS = {45009, 45011, 45033}  # daily or per-minute quota reached
BUSY = -1  # "system busy": try again shortly

VIA_CUSTOMER_SERVICE = "customer_service"
VIA_TEMPLATE = "template"
VIA_FAILED = "failed"


class BadCallback(ValueError):
    """A callback that is not a well-formed WeChat message (HTTP 400)."""


class WeChatApiError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(f"{code} {message}")
        self.code = code


# -- protocol: signatures, XML, crypto ------------------------------------------------------------


def signature(*parts: str) -> str:
    """WeChat's signature: SHA-1 of the parts sorted and joined (token, timestamp, nonce[, Encrypt])."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def parse_xml(body: bytes) -> dict[str, str]:
    """The top-level fields of a WeChat ``<xml>`` message; DTDs and entities are refused (XXE, billion laughs)."""
    try:
        root = SafeET.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except Exception as exc:  # ParseError, DTDForbidden, EntitiesForbidden, UnicodeDecodeError …
        raise BadCallback(f"not WeChat XML ({type(exc).__name__})") from None
    if root.tag != "xml":
        raise BadCallback("not WeChat XML (root)")
    return {child.tag: (child.text or "") for child in root if isinstance(child.tag, str)}


def _cdata(value: str) -> str:
    value = _XML_ILLEGAL.sub("", value)
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def text_reply_xml(to_user: str, from_user: str, content: str) -> str:
    """A passive text reply (WeChat's 被动回复 format)."""
    return (
        f"<xml><ToUserName>{_cdata(to_user)}</ToUserName><FromUserName>{_cdata(from_user)}</FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{_cdata(content)}</Content></xml>"
    )


class Crypto:
    """Safe mode: AES-256-CBC with the EncodingAESKey (wechatpy's PrpCrypto), signed with ``msg_signature``."""

    def __init__(self, config: WeChatConfig):
        import base64

        key = base64.b64decode(config.encoding_aes_key + "=")
        if len(key) != 32:
            raise ValueError("WECHAT_ENCODING_AES_KEY must be the 43 characters shown by WeChat")
        self.prp = PrpCrypto(key)
        self.token, self.app_id = config.token, config.app_id

    def decrypt(self, encrypted: str, msg_signature: str, timestamp: str, nonce: str) -> bytes:
        if not same(msg_signature, signature(self.token, timestamp, nonce, encrypted)):
            raise PermissionError("msg_signature")
        try:
            plain = self.prp.decrypt(encrypted, self.app_id)
        except Exception as exc:  # bad base64, padding, length or a different app id
            raise BadCallback(f"cannot decrypt ({type(exc).__name__})") from None
        return plain.encode("utf-8")

    def encrypt(self, xml: str, nonce: str) -> str:
        encrypted = self.prp.encrypt(xml, self.app_id).decode("ascii")
        timestamp = str(int(time.time()))
        return (
            f"<xml><Encrypt>{_cdata(encrypted)}</Encrypt>"
            f"<MsgSignature>{_cdata(signature(self.token, timestamp, nonce, encrypted))}</MsgSignature>"
            f"<TimeStamp>{timestamp}</TimeStamp><Nonce>{_cdata(nonce)}</Nonce></xml>"
        )


# -- WeChat's server API ---------------------------------------------------------------------------


class WeChatApi:
    """Access token (cached, shared between replicas, refreshed before expiry and on token errors) and sends."""

    def __init__(self, config: WeChatConfig, shared: SharedKeys | None = None, max_attempts: int = 3):
        self.config, self.shared, self.max_attempts = config, shared, max_attempts
        self._http: httpx.AsyncClient | None = None
        self._token: tuple[str, float] = ("", 0.0)  # (token, refresh after this wall-clock time)
        self._token_lock = asyncio.Lock()
        self._sending: dict[str, list[Any]] = {}  # openid -> [lock, users]: parts of one reply stay in order
        self.backoff_base = 0.5

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0))
        return self._http

    def _cached(self) -> str:
        token, refresh_at = self._token
        if token and time.time() < refresh_at:
            return token
        if self.shared is not None:
            raw = self.shared.get(f"wechat:token:{self.config.app_id}")
            try:
                token, refresh_at = json.loads(raw) if raw else ("", 0.0)
            except (ValueError, TypeError):
                token, refresh_at = "", 0.0
            if token and time.time() < float(refresh_at):
                self._token = (token, float(refresh_at))
                return token
        return ""

    async def access_token(self, stale: str = "") -> str:
        """A valid token; ``stale``: the token WeChat just refused (fetched anew unless another task already did)."""
        token = self._cached()
        if token and token != stale:
            return token
        async with self._token_lock:
            token = self._cached()
            if token and token != stale:
                return token
            r = await self.http.get(
                f"{self.config.api_base_url}/cgi-bin/token",
                params={
                    "grant_type": "client_credential",
                    "appid": self.config.app_id,
                    "secret": self.config.app_secret,
                },
            )
            data = r.json()
            if not data.get("access_token"):
                raise WeChatApiError(int(data.get("errcode") or -2), str(data.get("errmsg") or "no access_token"))
            lifetime = float(data.get("expires_in") or 7200)
            refresh_at = time.time() + lifetime - min(300.0, lifetime / 2)  # five minutes early (half for short ones)
            self._token = (str(data["access_token"]), refresh_at)
            if self.shared is not None:
                self.shared.put(
                    f"wechat:token:{self.config.app_id}", json.dumps(self._token), max(1.0, refresh_at - time.time())
                )
            logger.info("wechat access token fetched (valid %.0fs)", lifetime)
            return self._token[0]

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST ``body`` to an API path; retries busy/network errors, renews the token once; raises WeChatApiError."""
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")  # WeChat shows \\u escapes literally
        renewed = False
        stale = ""
        attempt = 0
        while True:
            attempt += 1
            try:
                token = await self.access_token(stale)
                r = await self.http.post(
                    f"{self.config.api_base_url}{path}",
                    params={"access_token": token},
                    content=data,
                    headers={"Content-Type": "application/json; charset=utf-8"},
                )
                answer = r.json()
            except (httpx.HTTPError, ValueError) as exc:
                if attempt >= self.max_attempts:
                    raise WeChatApiError(-2, f"network: {type(exc).__name__}") from None
                await asyncio.sleep(self.backoff_base * 2 ** (attempt - 1))
                continue
            code = int(answer.get("errcode") or 0)
            if code == 0:
                return answer
            if code in TOKEN_ERRORS and not renewed:
                logger.info("wechat access token refused (%s), fetching a new one", code)
                renewed, stale = True, token
                continue
            if code == BUSY and attempt < self.max_attempts:
                await asyncio.sleep(self.backoff_base * 2 ** (attempt - 1))
                continue
            raise WeChatApiError(code, str(answer.get("errmsg") or ""))

    def _lock(self, openid: str) -> list[Any]:
        entry = self._sending.setdefault(openid, [asyncio.Lock(), 0])
        entry[1] += 1
        return entry

    def _unlock(self, openid: str, entry: list[Any]) -> None:
        entry[1] -= 1
        if entry[1] == 0:
            self._sending.pop(openid, None)

    async def send_texts(self, openid: str, texts: list[str]) -> None:
        """Customer-service text messages, in order; raises WeChatApiError at the first refusal."""
        entry = self._lock(openid)
        try:
            async with entry[0]:
                for text in texts:
                    await self.post(
                        "/cgi-bin/message/custom/send", {"touser": openid, "msgtype": "text", "text": {"content": text}}
                    )
        finally:
            self._unlock(openid, entry)

    async def send_template(self, openid: str, text: str) -> None:
        data = {self.config.template_field: {"value": text[:200]}}
        body: dict[str, Any] = {"touser": openid, "template_id": self.config.template_id, "data": data}
        if self.config.template_url:
            body["url"] = self.config.template_url
        await self.post("/cgi-bin/message/template/send", body)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()


def describe(exc: WeChatApiError) -> str:
    if exc.code in WINDOW_ERRORS:
        return f"outside the 48-hour customer-service window ({exc})"
    if exc.code in RATE_ERRORS:
        return f"rate limit reached ({exc})"
    return str(exc)


# -- rendering Rasa's messages as WeChat texts -----------------------------------------------------


def render(messages: list[dict[str, Any]], max_bytes: int, start: int = 1) -> tuple[list[str], dict[str, str]]:
    """(WeChat texts, {number: payload}): one text per reply, cited sources under their answer, buttons numbered.

    A text longer than ``max_bytes`` (UTF-8) is split at natural boundaries; a UTF-16 unit is at most
    3 UTF-8 bytes, so ``split_text`` with a third of the bytes never exceeds the limit.
    """
    blocks: list[tuple[list[str], list[str]]] = []  # (text parts, numbered lines) per reply
    options: dict[str, str] = {}
    for message in messages:
        parts: list[str] = []
        if message.get("text"):
            parts.append(str(message["text"]).strip())
        custom = message.get("custom")
        if isinstance(custom, dict):
            if custom.get("text"):
                parts.append(str(custom["text"]).strip())
            line = citation_line(custom.get("sources") or ())
            if line and not parts and blocks:
                blocks[-1][0].append(line)  # Rasa sends an answer's payload after its text
            elif line:
                parts.append(line)
        for key in ("image", "attachment"):
            if message.get(key):
                parts.append(f"{'图片' if key == 'image' else '附件'}：{message[key]}")
        lines, more = numbered_lines(message.get("buttons") or message.get("quick_replies") or (), start + len(options))
        options.update(more)
        if any(parts) or lines:
            blocks.append(([p for p in parts if p], lines))
    joined = "\n\n".join("\n\n".join(parts + (["\n".join(lines)] if lines else [])) for parts, lines in blocks)
    return split_text(joined, max(1, max_bytes // 3)), options


class WeChatOutput(Named, CollectingOutputChannel):
    """Rasa's replies for WeChat. In a resident's turn they are only collected (the callback decides
    passive reply or customer-service API); for a push (``push=True``) each is sent at once and the
    collected message records ``delivered_via`` for the API caller (the inbox)."""

    CHANNEL = "wechat"

    def __init__(self, channel: WeChatInput, push: bool = False) -> None:
        super().__init__()
        self.channel, self.push = channel, push

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        # Rasa's collector would cut the text at every blank line into separate messages
        await self._persist_message(self._message(recipient_id, text=text.strip()))

    async def _persist_message(self, message: dict[str, Any]) -> None:
        if self.push:
            message = dict(
                message, **await self.channel.push(openid_of(str(message.get("recipient_id") or "")), message)
            )
        await super()._persist_message(message)


# -- the channel -------------------------------------------------------------------------------------


class WeChatInput(Named, InputChannel):
    """``GET /webhooks/wechat/webhook`` verifies the URL; ``POST`` receives messages and events."""

    CHANNEL = "wechat"
    LOADERS = (WeChatConfig.load, shared_redis)

    def __init__(self, config: WeChatConfig | None = None, shared: SharedKeys | None = None) -> None:
        self.config = config or WeChatConfig.load()
        self.shared = shared
        self.crypto = Crypto(self.config) if self.config.enabled and self.config.safe_mode else None
        self.api = WeChatApi(self.config, shared)
        self.seen = SeenUpdates(ttl=MAX_CLOCK_SKEW, shared=shared)
        self.choices = NumberedChoices(shared=shared)
        self.menu = self._menu_payloads()
        self._tasks: set[asyncio.Task] = set()
        self._user_locks: dict[str, list[Any]] = {}

    def get_output_channel(self) -> OutputChannel | None:
        return WeChatOutput(self, push=True) if self.config.enabled else None

    # -- menu --------------------------------------------------------------------------------------

    def _menu_buttons(self) -> list[dict[str, Any]]:
        if not self.config.menu:
            return []
        try:
            menu = json.loads(self.config.menu)
        except ValueError:
            logger.error("WECHAT_MENU is not JSON; the menu is left as it is")
            return []
        return menu if isinstance(menu, list) else []

    def _menu_payloads(self) -> set[str]:
        """Click-menu keys are the payloads themselves (WeChat allows 128 bytes); only these are accepted."""
        keys: set[str] = set()
        for button in self._menu_buttons():
            for b in [button, *(button.get("sub_button") or [])] if isinstance(button, dict) else []:
                if isinstance(b, dict) and b.get("payload"):
                    keys.add(str(b["payload"]))
        return keys

    def menu_body(self) -> dict[str, Any]:
        """The ``/cgi-bin/menu/create`` body for the configured menu (click buttons, optional sub-menus)."""

        def one(b: dict[str, Any]) -> dict[str, Any]:
            if b.get("sub_button"):
                return {
                    "name": str(b["name"]),
                    "sub_button": [one(s) for s in b["sub_button"] if isinstance(s, dict)][:5],
                }
            if b.get("url"):
                return {"type": "view", "name": str(b["name"]), "url": str(b["url"])}
            return {"type": "click", "name": str(b["name"]), "key": str(b.get("payload"))[:128]}

        return {"button": [one(b) for b in self._menu_buttons() if isinstance(b, dict) and b.get("name")][:3]}

    # -- sending -----------------------------------------------------------------------------------

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def send_later(self, openid: str, texts: list[str]) -> None:
        """The customer-service API for a reply that missed the passive window; errors are logged, never raised."""
        try:
            await self.api.send_texts(openid, texts)
        except WeChatApiError as exc:
            logger.error("wechat customer-service message to %s… not sent: %s", openid[:6], describe(exc))
        except Exception:
            logger.exception("wechat customer-service message failed")

    async def push(self, openid: str, message: dict[str, Any]) -> dict[str, Any]:
        """Send one pushed message now: customer-service message, else template message; says which."""
        texts, options = render([message], self.config.max_text_bytes)
        if not texts:
            return {}
        if options:
            self.choices.remember(openid, options)
        try:
            await self.api.send_texts(openid, texts)
            return {"delivered_via": VIA_CUSTOMER_SERVICE}
        except WeChatApiError as exc:
            if exc.code not in WINDOW_ERRORS or not self.config.template_id:
                logger.error("wechat push to %s… not sent: %s", openid[:6], describe(exc))
                return {"delivered_via": VIA_FAILED, "error": describe(exc)}
            logger.info("wechat push to %s…: %s; sending the template message", openid[:6], describe(exc))
        try:
            await self.api.send_template(openid, "\n".join(texts))
            return {"delivered_via": VIA_TEMPLATE}
        except WeChatApiError as exc:
            logger.error("wechat template push to %s… not sent: %s", openid[:6], describe(exc))
            return {"delivered_via": VIA_FAILED, "error": describe(exc)}

    # -- one resident turn -------------------------------------------------------------------------

    async def _turn(self, openid: str, text: str, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> list[str]:
        """Run ``text`` through Rasa (one sender's messages in order); the WeChat texts of the answer."""
        entry = self._user_locks.setdefault(openid, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                out = WeChatOutput(self)
                try:
                    await on_new_message(
                        UserMessage(
                            text,
                            out,
                            conversation_id(openid),
                            input_channel=self.name(),
                            metadata={"channel": "wechat"},
                        )
                    )
                except Exception:
                    logger.exception("wechat message failed")
                    return [ERROR_REPLY]
                texts, options = render(out.messages, self.config.max_text_bytes)
                self.choices.remember(openid, options)
                return texts or [NO_REPLY_RETRY]
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                self._user_locks.pop(openid, None)

    def _resident_text(self, msg: dict[str, str]) -> tuple[str, str | None]:
        """(text for Rasa, "") or ("", immediate reply) or ("", None) for events that need no reply."""
        kind = msg.get("MsgType", "").lower()
        openid = msg["FromUserName"]
        if kind == "event":
            event = msg.get("Event", "").lower()
            if event == "subscribe":
                return GREET_PAYLOAD, None
            if event == "click":
                key = msg.get("EventKey", "")
                return (key, None) if key in self.menu else ("", EXPIRED_BUTTON_REPLY)
            if event == "templatesendjobfinish":
                logger.info("wechat template message %s: %s", msg.get("MsgID", ""), msg.get("Status", ""))
            return "", ""
        if kind == "voice" and msg.get("Recognition", "").strip():
            raw = msg["Recognition"]
        elif kind == "text":
            raw = msg.get("Content", "")
        else:
            return "", VOICE_REPLY if kind == "voice" else LOCATION_REPLY if kind == "location" else NON_TEXT_REPLY
        text, refusal = screen_text(raw)
        if refusal:
            return "", refusal
        payload = self.choices.payload(openid, text)
        if payload is not None:
            return payload, None
        if text.startswith("/"):
            text = text.lstrip("/").strip() or "你好"  # residents cannot inject intents by typing "/intent"
        return text, None

    # -- HTTP ----------------------------------------------------------------------------------------

    def _signed(self, request: Request) -> HTTPResponse | None:
        """None when the query carries WeChat's valid signature; else the 400/403 to answer."""
        args = {k: request.args.get(k) for k in ("signature", "timestamp", "nonce")}
        if not all(isinstance(v, str) and v for v in args.values()):
            return response.text("missing signature, timestamp or nonce", status=400)
        if not self.config.enabled:
            return response.text("wechat channel not configured", status=403)
        if not same(args["signature"], signature(self.config.token, args["timestamp"], args["nonce"])):
            return response.text("forbidden", status=403)
        try:
            skew = abs(time.time() - int(args["timestamp"]))
        except ValueError:
            return response.text("bad timestamp", status=400)
        if skew > MAX_CLOCK_SKEW:
            return response.text("stale timestamp", status=403)
        return None

    async def _body(self, request: Request) -> bytes | None:
        """The request body, or None once it grows past ``max_body_bytes``."""
        cap = self.config.max_body_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > cap:
            return None
        chunks, size = [], 0
        while True:
            chunk = await request.stream.read()
            if chunk is None:
                break
            size += len(chunk)
            if size > cap:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    def _message(self, request: Request, body: bytes) -> dict[str, str]:
        """The (decrypted) message fields; raises BadCallback or PermissionError."""
        outer = parse_xml(body)
        if self.crypto is not None:
            if request.args.get("encrypt_type") != "aes" or "Encrypt" not in outer:
                raise BadCallback("safe mode expects an encrypted message")
            inner = self.crypto.decrypt(
                outer["Encrypt"],
                request.args.get("msg_signature") or "",
                request.args.get("timestamp") or "",
                request.args.get("nonce") or "",
            )
            msg = parse_xml(inner)
        else:
            msg = outer
        if not _OPENID.match(msg.get("FromUserName", "")) or not msg.get("ToUserName") or not msg.get("MsgType"):
            raise BadCallback("missing FromUserName, ToUserName or MsgType")
        return msg

    def _reply(self, request: Request, msg: dict[str, str], text: str) -> HTTPResponse:
        xml = text_reply_xml(msg["FromUserName"], msg["ToUserName"], text)
        if self.crypto is not None:
            xml = self.crypto.encrypt(xml, request.args.get("nonce") or secrets.token_hex(8))
        return response.text(xml, content_type="application/xml; charset=utf-8")

    async def receive(self, request: Request, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> HTTPResponse:
        refused = self._signed(request)
        if refused is not None:
            return refused
        body = await self._body(request)
        if body is None:
            return response.text("request too large", status=413)
        try:
            msg = self._message(request, body)
        except PermissionError:
            return response.text("forbidden", status=403)
        except BadCallback as exc:
            logger.warning("wechat callback refused: %s", exc)
            return response.text("bad request", status=400)
        openid = msg["FromUserName"]
        key = msg.get("MsgId") or f"{openid}:{msg.get('CreateTime', '')}:{msg.get('Event', '')}"
        if not self.seen.first_time(f"wechat:{key}"):
            logger.info("wechat message %s already handled, skipped", msg.get("MsgId") or "(event)")
            return response.text(SUCCESS)
        text, immediate = self._resident_text(msg)
        if not text:
            return self._reply(request, msg, immediate) if immediate else response.text(SUCCESS)
        announce(request.app, text)  # the action server encodes the question while Rasa parses it

        turn = asyncio.get_running_loop().create_task(self._turn(openid, text, on_new_message))
        self._tasks.add(turn)
        turn.add_done_callback(self._tasks.discard)
        try:
            texts = await asyncio.wait_for(asyncio.shield(turn), timeout=self.config.passive_budget)
        except asyncio.TimeoutError:
            texts = None
        except asyncio.CancelledError:  # WeChat hung up: the answer still reaches the resident
            turn.add_done_callback(lambda t: self._later(openid, t))
            raise
        if texts is None:
            turn.add_done_callback(lambda t: self._later(openid, t))
            return response.text(SUCCESS)
        if len(texts) == 1:
            return self._reply(request, msg, texts[0])
        self._spawn(self.send_later(openid, texts))  # several messages: only the API keeps them in order
        return response.text(SUCCESS)

    def _later(self, openid: str, turn: asyncio.Task[list[str]]) -> None:
        if not turn.cancelled() and turn.exception() is None:
            self._spawn(self.send_later(openid, turn.result()))

    async def _start(self) -> None:
        if not self.config.enabled:
            logger.info("wechat channel idle: WECHAT_APP_ID or WECHAT_TOKEN is not set")
            return
        logger.info("wechat channel on (%s mode)", "safe" if self.crypto else "plaintext")
        if self.config.passive_budget > 4.5:
            logger.warning("WECHAT_PASSIVE_BUDGET=%.1fs: WeChat gives up after 5 s", self.config.passive_budget)
        body = self.menu_body()
        if body["button"]:
            try:
                await self.api.post("/cgi-bin/menu/create", body)
                logger.info("wechat menu created (%d buttons)", len(body["button"]))
            except WeChatApiError as exc:
                logger.error("wechat menu not created: %s", describe(exc))

    async def _stop(self) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)
        await self.api.close()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("linli_wechat", __name__)

        @bp.listener("after_server_start")
        async def start(app: Any, loop: Any) -> None:
            try:
                await self._start()
            except Exception:  # a broken WeChat setup must not stop the other channels
                logger.exception("wechat channel failed to start")

        @bp.listener("before_server_stop")
        async def stop(app: Any, loop: Any) -> None:
            await self._stop()

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            mode = "off" if not self.config.enabled else ("safe" if self.crypto else "plaintext")
            return response.json({"status": "ok", "mode": mode})

        @bp.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            refused = self._signed(request)
            if refused is not None:
                return refused
            echo = request.args.get("echostr")
            if not echo:
                return response.text("missing echostr", status=400)
            return response.text(echo)

        @bp.route("/webhook", methods=["POST"], stream=True)
        async def webhook(request: Request) -> HTTPResponse:
            try:
                return await self.receive(request, on_new_message)
            except asyncio.CancelledError:
                raise
            except Exception:  # never a 5xx with a traceback; "success" stops WeChat retrying a poison message
                logger.exception("wechat callback failed")
                return response.text(SUCCESS)

        return bp
