"""Pushing queued status notifications and handoff replies to Rasa: on demand or from one background thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from bot.consultations import models as m
from bot.consultations import notify, tracking
from bot.consultations.records import DeliveryCounts, OutboxRecord


def _outbox_record(o: m.OutboxMessage) -> OutboxRecord:
    state = notify.delivery_state(o)
    return OutboxRecord(
        o.id,
        o.sender_id,
        o.channel,
        o.intent,
        o.payload,
        o.message,
        o.attempts,
        o.delivered_at,
        o.failed,
        o.last_error,
        o.handoff_id,
        state,
        notify.DELIVERY_LABELS[state],
    )


class Delivery:
    def __init__(self, sessions, settings: Callable[[], Any]):
        """``settings``: returns the current settings (read when a deliverer is made)."""
        self._sessions = sessions
        self._settings = settings
        self._thread: notify.DeliveryThread | None = None
        self._lock = threading.Lock()

    def deliverer(self, **overrides) -> notify.Deliverer:
        st = self._settings()
        kw = {"max_attempts": st.notify_max_attempts, "backoff_seconds": st.notify_backoff_seconds} | overrides
        rasa_url = kw.pop("rasa_url", st.rasa_url)
        token = kw.pop("token", st.rasa_token)
        return notify.Deliverer(self._sessions, rasa_url, token, **kw)

    def deliver_pending(self, *, limit: int = 100) -> DeliveryCounts:
        """Push queued notifications to Rasa once."""
        return self.deliverer().deliver_pending(limit)

    def start(self, interval: float = 5.0) -> notify.DeliveryThread:
        """Start (once) a background thread pushing queued notifications; woken on each status change."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = notify.DeliveryThread(self.deliverer(), interval)
                self._thread.start()
            return self._thread

    def stop(self) -> None:
        with self._lock:
            if self._thread is not None:
                self._thread.stop()
                self._thread = None

    def wake(self) -> None:
        thread = self._thread
        if thread is not None:
            thread.wake()

    def outbox(self, tracking_no: str | None = None, *, handoff_id: int | None = None) -> list[OutboxRecord]:
        """Queued/delivered pushes (ops, the inbox, tests), optionally of one consultation or one handoff."""
        q = select(m.OutboxMessage).order_by(m.OutboxMessage.id)
        if tracking_no is not None:
            q = q.join(m.Consultation).where(m.Consultation.tracking_no == tracking.normalize_tracking_no(tracking_no))
        if handoff_id is not None:
            q = q.where(m.OutboxMessage.handoff_id == handoff_id)
        with self._sessions() as s:
            return [_outbox_record(o) for o in s.scalars(q)]
