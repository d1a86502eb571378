"""Outgoing pacing for Telegram: at most one message per chat per ``chat_interval`` and ``global_rate`` per second.

Slots are reserved before sleeping, so concurrent senders queue up fairly instead of bursting.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import Callable, Hashable


class RateLimiter:
    def __init__(
        self,
        chat_interval: float = 1.0,
        global_rate: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        max_chats: int = 100_000,
    ):
        self.chat_interval = chat_interval
        self.global_interval = 1.0 / global_rate if global_rate > 0 else 0.0
        self._clock = clock
        self._max_chats = max_chats
        self._next_global = 0.0
        self._next_chat: "OrderedDict[Hashable, float]" = OrderedDict()

    def reserve(self, chat: Hashable) -> float:
        """Reserve the next free slot for ``chat``; returns how many seconds to wait for it."""
        now = self._clock()
        at = max(now, self._next_global, self._next_chat.get(chat, 0.0))
        self._next_global = at + self.global_interval
        self._next_chat[chat] = at + self.chat_interval
        self._next_chat.move_to_end(chat)
        while len(self._next_chat) > self._max_chats:
            self._next_chat.popitem(last=False)
        return at - now

    def pause_chat(self, chat: Hashable, seconds: float) -> None:
        """Telegram said "retry after": keep this chat quiet until then."""
        until = self._clock() + seconds
        self._next_chat[chat] = max(self._next_chat.get(chat, 0.0), until)

    async def wait(self, chat: Hashable) -> None:
        delay = self.reserve(chat)
        if delay > 0:
            await asyncio.sleep(delay)
