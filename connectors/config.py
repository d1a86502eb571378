"""The one place the channels read their configuration (environment, overridable by credentials.yml).

Rasa resolves ``${VAR}`` in credentials.yml but fails on unset variables, so the defaults live
here instead: a credentials value wins when it is non-empty, otherwise the environment is used.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Mapping, Optional

TELEGRAM_API = "https://api.telegram.org/bot"
TELEGRAM_MAX_CHARS = 4096


def _pick(credentials: Optional[Mapping[str, Any]], key: str, env: str, default: str = "") -> str:
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
    def load(cls, credentials: Optional[Mapping[str, Any]] = None) -> "TelegramConfig":
        return cls(
            token=_pick(credentials, "token", "TELEGRAM_TOKEN"),
            webhook_secret=_pick(credentials, "webhook_secret", "TELEGRAM_WEBHOOK_SECRET"),
            api_base_url=_pick(credentials, "api_base_url", "TELEGRAM_API_BASE_URL", TELEGRAM_API) or TELEGRAM_API,
            webhook_url=_pick(credentials, "webhook_url", "TELEGRAM_WEBHOOK_URL"),
            max_message_chars=int(
                _number(_pick(credentials, "max_message_chars", "TELEGRAM_MAX_MESSAGE_CHARS"), TELEGRAM_MAX_CHARS, 20, TELEGRAM_MAX_CHARS)
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
    def load(cls, credentials: Optional[Mapping[str, Any]] = None) -> "WeChatConfig":
        menu = (credentials or {}).get("menu")
        return cls(
            app_id=_pick(credentials, "app_id", "WECHAT_APP_ID"),
            app_secret=_pick(credentials, "app_secret", "WECHAT_APP_SECRET"),
            token=_pick(credentials, "token", "WECHAT_TOKEN"),
            encoding_aes_key=_pick(credentials, "encoding_aes_key", "WECHAT_ENCODING_AES_KEY"),
            api_base_url=(_pick(credentials, "api_base_url", "WECHAT_API_BASE_URL", WECHAT_API) or WECHAT_API).rstrip("/"),
            passive_budget=_number(_pick(credentials, "passive_budget", "WECHAT_PASSIVE_BUDGET"), WECHAT_PASSIVE_BUDGET, 0.0, 60.0),
            max_text_bytes=int(_number(_pick(credentials, "max_text_bytes", "WECHAT_MAX_TEXT_BYTES"),
                                       WECHAT_MAX_TEXT_BYTES, 60, WECHAT_MAX_TEXT_BYTES)),
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
    def load(cls, credentials: Optional[Mapping[str, Any]] = None) -> "SharedRedisConfig":
        prefix = _pick(credentials, "redis_key_prefix", "LINLI_REDIS_KEY_PREFIX", "linli")
        return cls(
            host=_pick(credentials, "redis_host", "LINLI_REDIS_HOST"),
            port=int(_number(_pick(credentials, "redis_port", "LINLI_REDIS_PORT"), 6379, 1, 65535)),
            db=int(_number(_pick(credentials, "redis_db", "LINLI_REDIS_DB"), 0, 0, 1024)),
            password=_pick(credentials, "redis_password", "LINLI_REDIS_PASSWORD"),
            key_prefix=prefix if prefix.isalnum() else "linli",
        )

