"""Small bounded memories: which updates were already handled, long button payloads, web-chat mailboxes.

With one Rasa process both live in process memory: Telegram redelivers an update only for a short
while, and a button whose payload was forgotten after a restart just asks the resident to ask again.
With several replicas (``LINLI_REDIS_HOST`` set, see ``connect_shared``) they are also kept in the
shared Redis, so a webhook retry that lands on another replica is still skipped, a button sent by one
replica works when pressed on another, and a restart forgets neither. A Redis hiccup never stops the
channel: it falls back to the process memory and logs a warning.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from connectors.config import SharedRedisConfig

logger = logging.getLogger(__name__)

CALLBACK_DATA_MAX_BYTES = 64
KEY_PREFIX = "#k:"


class SeenUpdates:
    """Remembers update ids for ``ttl`` seconds, at most ``max_size`` of them (oldest forgotten first)."""

    def __init__(
        self,
        max_size: int = 10_000,
        ttl: float = 24 * 3600,
        clock: Callable[[], float] = time.monotonic,
        shared: SharedKeys | None = None,
    ):
        self.max_size, self.ttl, self._clock, self.shared = max_size, ttl, clock, shared
        self._seen: OrderedDict[Hashable, float] = OrderedDict()

    def first_time(self, key: Hashable) -> bool:
        """True the first time ``key`` is offered (and records it), False for a repeat."""
        if self.shared is not None:
            first = self.shared.add(f"seen:{key}", "1", self.ttl)
            if first is not None:
                return first
        now = self._clock()
        while self._seen:
            oldest, at = next(iter(self._seen.items()))
            if now - at <= self.ttl and len(self._seen) < self.max_size:
                break
            self._seen.popitem(last=False)
        if key in self._seen:
            return False
        self._seen[key] = now
        return True

    def __len__(self) -> int:
        return len(self._seen)


class PayloadKeys:
    """Maps button payloads too long for Telegram's 64-byte ``callback_data`` to short keys and back."""

    TTL = 30 * 24 * 3600  # a button stays usable this long in the shared store

    def __init__(self, max_size: int = 50_000, shared: SharedKeys | None = None):
        self.max_size, self.shared = max_size, shared
        self._payloads: OrderedDict[str, str] = OrderedDict()

    def encode(self, payload: str) -> str:
        if len(payload.encode("utf-8")) <= CALLBACK_DATA_MAX_BYTES and not payload.startswith(KEY_PREFIX):
            return payload
        digest = hashlib.sha256(payload.encode("utf-8")).digest()
        key = KEY_PREFIX + base64.urlsafe_b64encode(digest[:12]).decode("ascii")
        self._payloads[key] = payload
        self._payloads.move_to_end(key)
        while len(self._payloads) > self.max_size:
            self._payloads.popitem(last=False)
        if self.shared is not None:
            self.shared.put(f"payload:{key}", payload, self.TTL)
        return key

    def decode(self, data: str) -> str | None:
        """The payload behind ``data``; None when it is a key this process no longer knows."""
        if not data.startswith(KEY_PREFIX):
            return data
        payload = self._payloads.get(data)
        if payload is not None:
            self._payloads.move_to_end(data)
        elif self.shared is not None:
            payload = self.shared.get(f"payload:{data}")
        return payload


class SharedKeys:
    """A few Redis string operations under one key prefix; each answers None when Redis fails."""

    def __init__(self, client: Any, prefix: str):
        self.client, self.prefix = client, prefix

    def _do(self, what: str, op: Callable[[], Any]) -> Any:
        try:
            return op()
        except Exception as e:  # redis.RedisError, timeouts: the process memory takes over
            logger.warning("shared channel memory unavailable (%s): %s", what, type(e).__name__)
            return None

    def add(self, key: str, value: str, ttl: float) -> bool | None:
        """Set ``key`` only if absent: True if this call set it, False if it existed, None on failure."""
        # redis-py answers None, not False, when SET NX finds the key: map it before _do's None means failure
        return self._do("add", lambda: bool(self.client.set(self.prefix + key, value, nx=True, ex=max(1, int(ttl)))))

    def put(self, key: str, value: str, ttl: float) -> None:
        self._do("put", lambda: self.client.set(self.prefix + key, value, ex=max(1, int(ttl))))

    def get(self, key: str) -> str | None:
        raw = self._do("get", lambda: self.client.get(self.prefix + key))
        return raw.decode("utf-8") if isinstance(raw, bytes) else raw

    def push(self, key: str, value: str, ttl: float, keep: int) -> bool | None:
        """Append to the list ``key``, keep its last ``keep`` items, refresh its TTL; None on failure."""

        def op() -> bool:
            pipe = self.client.pipeline(transaction=True)
            pipe.rpush(self.prefix + key, value).ltrim(self.prefix + key, -keep, -1).expire(
                self.prefix + key, max(1, int(ttl))
            )
            pipe.execute()
            return True

        return self._do("push", op)

    def drain(self, key: str) -> list[str] | None:
        """Take the whole list ``key`` (read and delete in one transaction); None on failure."""

        def op() -> list[str]:
            pipe = self.client.pipeline(transaction=True)
            items, _ = pipe.lrange(self.prefix + key, 0, -1).delete(self.prefix + key).execute()
            return [i.decode("utf-8") if isinstance(i, bytes) else i for i in items]

        return self._do("drain", op)


class Mailbox:
    """Messages pushed to web-chat residents (status changes, staff replies) until their page fetches them.

    A web page cannot be called back, so a push waits here: at most ``keep`` messages per resident for
    ``ttl`` seconds, oldest dropped first. With several replicas they wait in the shared Redis, so the
    page may ask any replica.
    """

    def __init__(
        self,
        keep: int = 20,
        ttl: float = 7 * 24 * 3600,
        max_senders: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        shared: SharedKeys | None = None,
    ):
        self.keep, self.ttl, self.max_senders, self._clock, self.shared = keep, ttl, max_senders, clock, shared
        self._boxes: OrderedDict[str, list[tuple[float, dict]]] = OrderedDict()

    def put(self, sender: str, message: dict) -> None:
        if self.shared is not None and self.shared.push(
            f"mail:{sender}", json.dumps(message, ensure_ascii=False), self.ttl, self.keep
        ):
            return
        box = self._boxes.setdefault(sender, [])
        box.append((self._clock(), message))
        del box[: -self.keep]
        self._boxes.move_to_end(sender)
        while len(self._boxes) > self.max_senders:
            self._boxes.popitem(last=False)

    def take(self, sender: str) -> list[dict]:
        """Every message waiting for ``sender``, oldest first; the mailbox is then empty."""
        now = self._clock()
        out = [m for at, m in self._boxes.pop(sender, []) if now - at <= self.ttl]
        if self.shared is not None:
            for raw in self.shared.drain(f"mail:{sender}") or []:
                try:
                    out.append(json.loads(raw))
                except ValueError:
                    continue
        return out


def connect_shared(config: SharedRedisConfig) -> SharedKeys | None:
    """The shared store when a Redis host is configured, else None (one replica, process memory only)."""
    if not config.host:
        return None
    import redis  # in the engine env with Rasa; imported only when configured

    client = redis.Redis(
        host=config.host,
        port=config.port,
        db=config.db,
        password=config.password or None,
        socket_timeout=1.0,
        socket_connect_timeout=1.0,
    )
    return SharedKeys(client, f"{config.key_prefix}:ch:")
