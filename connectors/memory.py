"""Small bounded memories: which updates were already handled, and long button payloads.

Both live in process memory on purpose: Telegram redelivers an update only for a short while,
and a button whose payload was forgotten after a restart just asks the resident to ask again.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections import OrderedDict
from typing import Callable, Hashable, Optional

CALLBACK_DATA_MAX_BYTES = 64
KEY_PREFIX = "#k:"


class SeenUpdates:
    """Remembers update ids for ``ttl`` seconds, at most ``max_size`` of them (oldest forgotten first)."""

    def __init__(self, max_size: int = 10_000, ttl: float = 24 * 3600, clock: Callable[[], float] = time.monotonic):
        self.max_size, self.ttl, self._clock = max_size, ttl, clock
        self._seen: "OrderedDict[Hashable, float]" = OrderedDict()

    def first_time(self, key: Hashable) -> bool:
        """True the first time ``key`` is offered (and records it), False for a repeat."""
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

    def __init__(self, max_size: int = 50_000):
        self.max_size = max_size
        self._payloads: "OrderedDict[str, str]" = OrderedDict()

    def encode(self, payload: str) -> str:
        if len(payload.encode("utf-8")) <= CALLBACK_DATA_MAX_BYTES and not payload.startswith(KEY_PREFIX):
            return payload
        digest = hashlib.sha256(payload.encode("utf-8")).digest()
        key = KEY_PREFIX + base64.urlsafe_b64encode(digest[:12]).decode("ascii")
        self._payloads[key] = payload
        self._payloads.move_to_end(key)
        while len(self._payloads) > self.max_size:
            self._payloads.popitem(last=False)
        return key

    def decode(self, data: str) -> Optional[str]:
        """The payload behind ``data``; None when it is a key this process no longer knows."""
        if not data.startswith(KEY_PREFIX):
            return data
        payload = self._payloads.get(data)
        if payload is not None:
            self._payloads.move_to_end(data)
        return payload
