"""A Redis ticket lock store whose every read-modify-write is one Redis transaction.

Rasa 3.6's ``RedisLockStore`` issues a ticket as GET → change in Python → SET. Inside one server that
is safe (the calls block the event loop), but two replicas can both read "no lock", both issue
ticket 0 and both believe it is their turn: one conversation's messages are then processed at the
same time and the SQL tracker store drops events (``tests/test_scaleout.py`` showed it). The same gap
lets one replica delete the lock right after another queued a ticket on it.

Here issuing, expiring, finishing and deleting run under WATCH/MULTI/EXEC (redis-py retries the
transaction when another replica changed the key in between), so tickets are unique and served in
order across replicas. Each key also gets a TTL a little past its last ticket's expiry, so a replica
killed mid-turn leaves nothing behind for good.

Configure in endpoints.yml (``deploy/endpoints.scaleout.yml``)::

    lock_store:
      type: rasa_addons.lock_store.AtomicRedisLockStore
      url: <redis host>   # plus port, db, password, key_prefix: as for type redis
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

T = TypeVar("T")
KEY_GRACE_SECONDS = 60  # the key outlives its last ticket by this much, then Redis drops it
#: Rasa polls a busy lock once a second: a resident's second quick message would wait up to 1 s for
#: nothing. A GET every 50 ms per waiting message costs Redis next to nothing.
POLL_SECONDS = 0.05


class AtomicRedisLockStore(RedisLockStore):
    """``RedisLockStore`` with atomic ticket operations; safe for several Rasa replicas."""

    def __init__(self, endpoint_config: EndpointConfig | None = None, **kwargs) -> None:
        if endpoint_config is not None:  # Rasa passes the endpoints.yml section for custom types
            kwargs = {"host": endpoint_config.url or "localhost", **endpoint_config.kwargs, **kwargs}
        super().__init__(**kwargs)

    def _change(self, conversation_id: str, change: Callable[[TicketLock | None], tuple[T, TicketLock | None]]) -> T:
        """Apply ``change`` to the stored lock atomically; a returned ``None`` lock deletes the key."""
        key = self.key_prefix + conversation_id

        def transaction(pipe) -> T:
            raw = pipe.get(key)
            lock = TicketLock.from_dict(json.loads(raw)) if raw else None
            result, new = change(lock)
            pipe.multi()
            if new is None or not new.tickets:
                pipe.delete(key)
            else:
                ttl = max(t.expires for t in new.tickets) - time.time() + KEY_GRACE_SECONDS
                pipe.set(key, new.dumps(), ex=max(1, math.ceil(ttl)))
            return result

        return self.red.transaction(transaction, key, value_from_callable=True)

    @asynccontextmanager
    async def lock(
        self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME, wait_time_in_seconds: float = POLL_SECONDS
    ) -> AsyncGenerator[TicketLock, None]:
        async with super().lock(conversation_id, lock_lifetime, wait_time_in_seconds) as lock:
            yield lock

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        def issue(lock: TicketLock | None):
            lock = lock or self.create_lock(conversation_id)
            return lock.issue_ticket(lock_lifetime), lock

        try:
            return self._change(conversation_id, issue)
        except Exception as e:  # same contract as the base class: the caller handles LockError
            raise LockError(f"Error while acquiring lock. Error:\n{e}") from e

    def update_lock(self, conversation_id: str) -> None:
        def expire(lock: TicketLock | None):
            if lock:
                lock.remove_expired_tickets()
            return None, lock

        self._change(conversation_id, expire)

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        def finish(lock: TicketLock | None):
            if lock:
                lock.remove_ticket_for(ticket_number)
            return None, lock

        self._change(conversation_id, finish)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        # finish_serving drops the key once no ticket is left, in the same transaction: a ticket
        # queued by another replica in between is never deleted with it
        self.finish_serving(conversation_id, ticket_number)
