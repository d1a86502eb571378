"""Outgoing pacing for Telegram: at most one message per chat per ``chat_interval`` and ``global_rate`` per second.

Time is cut into global slots of ``1/global_rate`` seconds, each carrying one message; a message takes
the first free slot not before its chat's next allowed time. Slots are reserved before sleeping, so
concurrent senders queue fairly, and a chat waiting far ahead does not hold back the other chats.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable


class RateLimiter:
    def __init__(
        self,
        chat_interval: float = 1.0,
        global_rate: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        max_chats: int = 100_000,
    ):
        self.chat_interval = chat_interval
        self.rate = global_rate
        self._clock = clock
        self._max_chats = max_chats
        self._taken: set[int] = set()
        self._next_chat: OrderedDict[Hashable, float] = OrderedDict()

    def reserve(self, chat: Hashable) -> float:
        """Reserve the next free slot for ``chat``; returns how many seconds to wait for it."""
        now = self._clock()
        floor = math.floor(now * self.rate)
        self._taken = {s for s in self._taken if s >= floor} if len(self._taken) > 4 * self.rate else self._taken
        earliest = max(now, self._next_chat.get(chat, 0.0))
        slot = math.ceil(earliest * self.rate - 1e-9)
        while slot in self._taken:
            slot += 1
        self._taken.add(slot)
        at = max(earliest, slot / self.rate)
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
