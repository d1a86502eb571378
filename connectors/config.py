"""The one place the channels read their configuration (environment, overridable by credentials.yml).

Rasa resolves ``${VAR}`` in credentials.yml but fails on unset variables, so the defaults live
here instead: a credentials value wins when it is non-empty, otherwise the environment is used.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TELEGRAM_API = "https://api.telegram.org/bot"
TELEGRAM_MAX_CHARS = 4096


def _pick(credentials: Mapping[str, Any] | None, key: str, env: str, default: str = "") -> str:
    value = (credentials or {}).get(key)
    if value not in (None, ""):
        return str(value).strip()
    return os.environ.get(env, default).strip()


def _number(raw: str, default: float, low: float, high: float) -> float:
    try:
        return min(max(float(raw), low), high)
    except (TypeError, ValueError):
        return default


@dataclass(frozen=True)
class TelegramConfig:
    token: str = ""
    webhook_secret: str = ""
    api_base_url: str = TELEGRAM_API
    webhook_url: str = ""  # public URL Telegram should call; empty + token => polling
    max_message_chars: int = TELEGRAM_MAX_CHARS  # lowered only by tests
    chat_interval: float = 1.0  # seconds between two messages to one chat
    global_rate: float = 30.0  # messages per second over all chats
    poll_timeout: int = 25  # long-poll seconds for getUpdates

    @property
    def polling(self) -> bool:
        return bool(self.token) and not self.webhook_url

    @classmethod
    def load(cls, credentials: Mapping[str, Any] | None = None) -> TelegramConfig:
        return cls(
            token=_pick(credentials, "token", "TELEGRAM_TOKEN"),
            webhook_secret=_pick(credentials, "webhook_secret", "TELEGRAM_WEBHOOK_SECRET"),
            api_base_url=_pick(credentials, "api_base_url", "TELEGRAM_API_BASE_URL", TELEGRAM_API) or TELEGRAM_API,
            webhook_url=_pick(credentials, "webhook_url", "TELEGRAM_WEBHOOK_URL"),
            max_message_chars=int(
                _number(
                    _pick(credentials, "max_message_chars", "TELEGRAM_MAX_MESSAGE_CHARS"),
                    TELEGRAM_MAX_CHARS,
                    20,
                    TELEGRAM_MAX_CHARS,
                )
            ),
            chat_interval=_number(_pick(credentials, "chat_interval", "TELEGRAM_CHAT_INTERVAL"), 1.0, 0.0, 10.0),
            global_rate=_number(_pick(credentials, "global_rate", "TELEGRAM_GLOBAL_RATE"), 30.0, 1.0, 30.0),
            poll_timeout=int(_number(_pick(credentials, "poll_timeout", "TELEGRAM_POLL_TIMEOUT"), 25, 0, 50)),
        )


WECHAT_API = "https://api.weixin.qq.com"
#: WeChat refuses a text longer than 2048 bytes (UTF-8), both as a passive reply and a customer-service message.
WECHAT_MAX_TEXT_BYTES = 2048
#: WeChat gives up on a callback after 5 s (then retries it twice more): answer passively within this budget.
WECHAT_PASSIVE_BUDGET = 4.0


@dataclass(frozen=True)
class WeChatConfig:
    """A WeChat Official Account (service account) callback; unset app id or token = channel idle."""

    app_id: str = ""
    app_secret: str = ""
    token: str = ""  # the callback's signature token (公众号后台 › 基本配置 › 令牌)
    encoding_aes_key: str = ""  # 43 characters; empty = plaintext mode, set = safe mode (AES)
    api_base_url: str = WECHAT_API
    passive_budget: float = WECHAT_PASSIVE_BUDGET  # seconds; later answers go through the customer-service API
    max_text_bytes: int = WECHAT_MAX_TEXT_BYTES  # lowered only by tests
    template_id: str = ""  # status pushes outside the 48-hour window; empty = no template fallback
    template_field: str = "content"  # the template's one data field that gets the push text
    template_url: str = ""  # page the template message opens (optional)
    max_body_bytes: int = 64 * 1024  # WeChat's callbacks are a few hundred bytes
    menu: str = ""  # JSON list of {"name", "payload"} (or {"name", "sub_button": [...]}); empty = menu untouched

    @property
    def enabled(self) -> bool:
        return bool(self.app_id and self.token)

    @property
    def safe_mode(self) -> bool:
        return bool(self.encoding_aes_key)

    @classmethod
    def load(cls, credentials: Mapping[str, Any] | None = None) -> WeChatConfig:
        menu = (credentials or {}).get("menu")
        return cls(
            app_id=_pick(credentials, "app_id", "WECHAT_APP_ID"),
            app_secret=_pick(credentials, "app_secret", "WECHAT_APP_SECRET"),
            token=_pick(credentials, "token", "WECHAT_TOKEN"),
            encoding_aes_key=_pick(credentials, "encoding_aes_key", "WECHAT_ENCODING_AES_KEY"),
            api_base_url=(_pick(credentials, "api_base_url", "WECHAT_API_BASE_URL", WECHAT_API) or WECHAT_API).rstrip(
                "/"
            ),
            passive_budget=_number(
                _pick(credentials, "passive_budget", "WECHAT_PASSIVE_BUDGET"), WECHAT_PASSIVE_BUDGET, 0.0, 60.0
            ),
            max_text_bytes=int(
                _number(
                    _pick(credentials, "max_text_bytes", "WECHAT_MAX_TEXT_BYTES"),
                    WECHAT_MAX_TEXT_BYTES,
                    60,
                    WECHAT_MAX_TEXT_BYTES,
                )
            ),
            template_id=_pick(credentials, "template_id", "WECHAT_TEMPLATE_ID"),
            template_field=_pick(credentials, "template_field", "WECHAT_TEMPLATE_FIELD", "content") or "content",
            template_url=_pick(credentials, "template_url", "WECHAT_TEMPLATE_URL"),
            menu=json.dumps(menu, ensure_ascii=False) if isinstance(menu, list) else _pick(None, "", "WECHAT_MENU"),
        )


@dataclass(frozen=True)
class SharedRedisConfig:
    """Redis shared by all Rasa replicas (the same variables as deploy/endpoints.scaleout.yml's lock store).

    Unset host: one replica, the channels keep their small memories in process.
    """

    host: str = ""
    port: int = 6379
    db: int = 0
    password: str = ""
    key_prefix: str = "linli"

    @classmethod
    def load(cls, credentials: Mapping[str, Any] | None = None) -> SharedRedisConfig:
        prefix = _pick(credentials, "redis_key_prefix", "LINLI_REDIS_KEY_PREFIX", "linli")
        return cls(
            host=_pick(credentials, "redis_host", "LINLI_REDIS_HOST"),
            port=int(_number(_pick(credentials, "redis_port", "LINLI_REDIS_PORT"), 6379, 1, 65535)),
            db=int(_number(_pick(credentials, "redis_db", "LINLI_REDIS_DB"), 0, 0, 1024)),
            password=_pick(credentials, "redis_password", "LINLI_REDIS_PASSWORD"),
            key_prefix=prefix if prefix.isalnum() else "linli",
        )


@dataclass(frozen=True)
class ChannelLimits:
    """What every chat endpoint accepts (see connectors/limits.py) and the Rasa server's own timeouts.

    The rates are per Rasa process: with N replicas behind a balancer a client gets at most N times as much.
    """

    max_body_bytes: int = 64 * 1024  # one channel request (REST, web chat, mailbox poll, Telegram update)
    max_metadata_bytes: int = 4 * 1024  # REST client metadata, stored under metadata.client
    max_metadata_depth: int = 8
    sender_per_minute: float = 60.0  # messages one resident may send …
    sender_burst: int = 20  # … after a burst of this many
    peer_per_minute: float = 600.0  # requests from one network address (all its senders)
    peer_burst: int = 300
    server_max_body_bytes: int = 1024 * 1024  # Sanic's REQUEST_MAX_SIZE for the whole Rasa server
    request_timeout: float = 10.0  # seconds to receive a whole request (headers and body), trickled or not
    keep_alive_timeout: float = 5.0  # an idle keep-alive connection is closed after this

    @classmethod
    def load(cls, credentials: Mapping[str, Any] | None = None) -> ChannelLimits:
        d = cls()

        def num(key: str, env: str, default: float, low: float, high: float) -> float:
            return _number(_pick(credentials, key, env), default, low, high)

        return cls(
            max_body_bytes=int(
                num("max_body_bytes", "LINLI_CHANNEL_MAX_BODY_BYTES", d.max_body_bytes, 1024, 1024 * 1024)
            ),
            max_metadata_bytes=int(
                num("max_metadata_bytes", "LINLI_CHANNEL_MAX_METADATA_BYTES", d.max_metadata_bytes, 0, 64 * 1024)
            ),
            max_metadata_depth=int(
                num("max_metadata_depth", "LINLI_CHANNEL_MAX_METADATA_DEPTH", d.max_metadata_depth, 1, 32)
            ),
            sender_per_minute=num("sender_per_minute", "LINLI_CHAT_SENDER_PER_MINUTE", d.sender_per_minute, 1, 1e6),
            sender_burst=int(num("sender_burst", "LINLI_CHAT_SENDER_BURST", d.sender_burst, 1, 1e6)),
            peer_per_minute=num("peer_per_minute", "LINLI_CHAT_PEER_PER_MINUTE", d.peer_per_minute, 1, 1e7),
            peer_burst=int(num("peer_burst", "LINLI_CHAT_PEER_BURST", d.peer_burst, 1, 1e7)),
            server_max_body_bytes=int(
                num(
                    "server_max_body_bytes",
                    "LINLI_RASA_MAX_BODY_BYTES",
                    d.server_max_body_bytes,
                    64 * 1024,
                    100_000_000,
                )
            ),
            request_timeout=num("request_timeout", "LINLI_RASA_REQUEST_TIMEOUT", d.request_timeout, 1, 600),
            keep_alive_timeout=num("keep_alive_timeout", "LINLI_RASA_KEEP_ALIVE_TIMEOUT", d.keep_alive_timeout, 1, 600),
        )


_INTEGRATOR = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
LOCAL_INTEGRATOR = "local"  # the namespace of the open loopback REST channel (no keys configured)


@dataclass(frozen=True)
class RestKeysConfig:
    """REST integrators' bearer keys: ``{sha256(key): integrator name}``.

    ``LINLI_REST_KEYS`` ("name:key,name2:key2") and/or ``LINLI_REST_KEYS_FILE`` (one "name key" per line,
    ``#`` comments). Empty: the REST channel is open to loopback clients only, as integrator ``local``.
    """

    keys: Mapping[str, str] = field(default_factory=dict)

    @property
    def required(self) -> bool:
        return bool(self.keys)

    def integrator(self, key: str) -> str | None:
        """The integrator owning bearer ``key``, or None (compares digests, not the secrets themselves)."""
        return self.keys.get(_digest(key)) if key else None

    @classmethod
    def load(cls, credentials: Mapping[str, Any] | None = None) -> RestKeysConfig:
        pairs: list[tuple[str, str]] = []
        for item in _pick(credentials, "keys", "LINLI_REST_KEYS").split(","):
            name, _, key = item.strip().partition(":")
            if item.strip():
                pairs.append((name.strip(), key.strip()))
        path = _pick(credentials, "keys_file", "LINLI_REST_KEYS_FILE")
        if path:
            for line in Path(path).read_text(encoding="utf-8").splitlines():
                line = line.split("#", 1)[0].strip()
                if line:
                    name, _, key = line.partition(" ")
                    pairs.append((name.strip(), key.strip()))
        keys: dict[str, str] = {}
        for name, key in pairs:
            if not _INTEGRATOR.match(name) or name == LOCAL_INTEGRATOR or len(key) < 16:
                raise ValueError(
                    f"REST key for {name!r}: the name must match {_INTEGRATOR.pattern} (not 'local') "
                    "and the key must have at least 16 characters"
                )
            keys[_digest(key)] = name
        return cls(keys)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


#: Rasa keys conversations by sender id alone: WeChat residents live under ``wechat:<OpenID>`` so that no other
#: channel's sender (web chat ids have no colon, REST ids start with ``rest:``) can open their conversation.
CONVERSATION_PREFIX = "wechat:"


def conversation_id(openid: str) -> str:
    return CONVERSATION_PREFIX + openid


def openid_of(conversation: str) -> str:
    """The OpenID WeChat's API needs, from a conversation id (pushes from the inbox use the stored id)."""
    return conversation[len(CONVERSATION_PREFIX) :] if conversation.startswith(CONVERSATION_PREFIX) else conversation
