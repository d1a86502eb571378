"""The one place the channels read their configuration (environment, overridable by credentials.yml).

Rasa resolves ``${VAR}`` in credentials.yml but fails on unset variables, so the defaults live
here instead: a credentials value wins when it is non-empty, otherwise the environment is used.
"""

from __future__ import annotations

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

