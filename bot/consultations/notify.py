"""Status pushes to the resident's chat through a transactional outbox.

A status change writes an outbox row in the same transaction, so nothing is lost when Rasa
is down; :class:`Deliverer` later POSTs each row to Rasa's
``/conversations/{sender}/trigger_intent`` (token-protected) and retries with exponential backoff.
Rows are claimed with a short lease before the HTTP call, so no transaction stays open while
waiting on the network and two deliverers never send the same row at the same time.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import timedelta
from urllib.parse import quote

import httpx
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.consultations.models import Consultation, Cosign, HandoffRequest, OutboxMessage, utcnow
from bot.consultations.records import DeliveryCounts
from bot.consultations.statuses import Status, parse_status
from bot.privacy import mask_phone
from linli_common.replies import FOLLOWUP_QUESTION, status_push

log = logging.getLogger(__name__)

INTENT = "EXTERNAL_consultation_status"
HANDOFF_INTENT = "EXTERNAL_handoff_reply"
#: Rasa input channels that hold a conversation a push can land in. Others (``open311``: an
#: integrator polls the API) have no chat, so pushing there would only fail and retry.
CHAT_CHANNELS = frozenset({"rest", "webchat", "socketio", "telegram", "wechat", "callback"})
#: Chat channels Rasa cannot push to: a REST integrator only receives replies to its own requests. Their
#: pushes still go to Rasa (the conversation's history shows them) but their rows say the resident was not
#: told (``delivery_state`` "not_pushable", ``last_error`` NOT_PUSHABLE), so the inbox never claims 已通知居民.
UNPUSHABLE_CHANNELS = frozenset({"rest"})
NOT_PUSHABLE = "REST 渠道无法推送，居民需主动查询"
#: What an outbox row's ``state`` means, for the inbox to show next to a status change.
DELIVERY_LABELS = {
    "delivered": "已通知居民",
    "pending": "正在通知居民",
    "failed": "通知失败",
    "not_pushable": NOT_PUSHABLE,
}
LEASE = timedelta(seconds=60)
MAX_BACKOFF = 3600.0


def is_chat_channel(channel: str | None, chat_channels: frozenset[str] | set[str] = CHAT_CHANNELS) -> bool:
    return bool(channel) and channel.strip().lower() in chat_channels


def reaches_resident(channel: str | None) -> bool:
    """False for a channel whose residents a push cannot reach (the inbox must not say 已通知居民)."""
    return bool(channel) and channel.strip().lower() not in UNPUSHABLE_CHANNELS


def delivery_state(row: OutboxMessage) -> str:
    """One of DELIVERY_LABELS' keys for an outbox row."""
    if not reaches_resident(row.channel):
        return "not_pushable"
    if row.delivered_at is not None:
        return "delivered"
    return "failed" if row.failed else "pending"


def status_message(tracking_no: str, status: Status, note: str = "") -> str:
    """The Chinese text of a push, as the resident reads it (linli_common.replies, shared with the action)."""
    return status_push(tracking_no, status.label, note)


def handoff_message(note: str) -> str:
    return f"社区工作人员回复您：{note.strip()}"


def _push(session: Session, consultation: Consultation, channel: str, sender_id: str, entities: dict, message: str):
    msg = OutboxMessage(
        consultation_id=consultation.id,
        channel=channel,
        sender_id=sender_id,
        intent=INTENT,
        payload=json.dumps(entities, ensure_ascii=False),
        message=message,
        attempts=0,
        next_attempt_at=utcnow(),
    )
    session.add(msg)
    return msg


def enqueue(
    session: Session,
    consultation: Consultation,
    note: str = "",
    *,
    chat_channels: frozenset[str] | set[str] = CHAT_CHANNELS,
    followup: bool = False,
    cosigners_only: bool = False,
    skip: tuple[str, str] | None = None,
) -> OutboxMessage | None:
    """Queue a push of ``consultation``'s current status to its resident and to every co-signer (call inside the
    status-change transaction); ``followup``: each push also asks the 回访 (满意/基本满意/不满意), one per resident;
    ``skip``: the (channel, sender) answered in the chat already (``cosigners_only``: the submitter).

    Returns the resident's row, None when the item came from a channel without a chat (co-signers are still told)."""
    status = parse_status(consultation.status)
    entities = {
        "tracking_number": consultation.tracking_no,
        "status": status.value,
        "status_label": status.label,
        "note": mask_phone(note.strip()),
    }
    text = status_message(consultation.tracking_no, status, entities["note"])
    if followup:
        asking, asked_text = entities | {"followup": "1"}, text + "\n" + FOLLOWUP_QUESTION
    else:
        asking, asked_text = entities, text
    owner = (consultation.channel, consultation.sender_id)
    for co in session.scalars(select(Cosign).where(Cosign.consultation_id == consultation.id).order_by(Cosign.id)):
        if is_chat_channel(co.channel, chat_channels) and (co.channel, co.sender_id) not in (skip, owner):
            _push(session, consultation, co.channel, co.sender_id, asking, asked_text)
    if cosigners_only or owner == skip or not is_chat_channel(consultation.channel, chat_channels):
        return None
    return _push(session, consultation, consultation.channel, consultation.sender_id, asking, asked_text)


def enqueue_handoff_reply(
    session: Session, handoff: HandoffRequest, note: str, *, chat_channels: frozenset[str] | set[str] = CHAT_CHANNELS
) -> OutboxMessage | None:
    """Queue the committee's closing note to the resident who asked for a person (same outbox)."""
    if not is_chat_channel(handoff.channel, chat_channels):
        return None
    masked = mask_phone(note.strip())
    msg = OutboxMessage(
        consultation_id=None,
        handoff_id=handoff.id,
        channel=handoff.channel,
        sender_id=handoff.sender_id,
        intent=HANDOFF_INTENT,
        payload=json.dumps({"note": masked}, ensure_ascii=False),
        message=handoff_message(masked),
        attempts=0,
        next_attempt_at=utcnow(),
    )
    session.add(msg)
    return msg


def delivery_of(response: httpx.Response) -> tuple[str | None, str | None]:
    """(error, path) from the messages Rasa returns: a channel that reports ``delivered_via`` (WeChat) may have
    failed to deliver although Rasa accepted the push; the path of the last delivered message is kept."""
    try:
        messages = response.json().get("messages") or []
    except (ValueError, AttributeError):
        return None, None
    vias = [m for m in messages if isinstance(m, dict) and m.get("delivered_via")]
    failed = [m for m in vias if m["delivered_via"] == "failed"]
    if failed:
        return f"channel: {str(failed[0].get('error') or 'not delivered')[:300]}", None
    return None, (str(vias[-1]["delivered_via"])[:32] if vias else None)


def trigger_url(rasa_url: str, sender_id: str) -> str:
    """Rasa does not unquote the conversation id in its routes: ":" and "@" (REST ids ``rest:<integrator>:…``)
    stay as they are, as the channels' own characters do."""
    return f"{rasa_url.rstrip('/')}/conversations/{quote(sender_id, safe=':@')}/trigger_intent"


class Deliverer:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        rasa_url: str,
        token: str = "",
        *,
        max_attempts: int = 8,
        backoff_seconds: float = 30.0,
        timeout: float = 5.0,
        client: httpx.Client | None = None,
    ):
        self.sessions = sessions
        self.rasa_url = rasa_url
        self.token = token
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.timeout = timeout
        self._client = client

    def _claim(self, limit: int) -> list[OutboxMessage]:
        now = utcnow()
        with self.sessions.begin() as s:
            q = (
                select(OutboxMessage)
                .where(
                    OutboxMessage.delivered_at.is_(None),
                    OutboxMessage.failed.is_(False),
                    OutboxMessage.next_attempt_at <= now,
                )
                .order_by(OutboxMessage.id)
                .limit(limit)
            )
            if s.get_bind().dialect.name == "postgresql":
                q = q.with_for_update(skip_locked=True)
            rows = list(s.scalars(q))
            for r in rows:
                r.next_attempt_at = now + LEASE
            s.flush()
            s.expunge_all()
            return rows

    def _post(self, client: httpx.Client, row: OutboxMessage) -> tuple[str | None, str | None]:
        """Send one row; (None, how it was delivered) on success, else (the error text, None)."""
        params = {"output_channel": row.channel}
        if self.token:
            params["token"] = self.token
        body = {"name": row.intent, "entities": json.loads(row.payload)}
        try:
            r = client.post(trigger_url(self.rasa_url, row.sender_id), params=params, json=body, timeout=self.timeout)
        except httpx.HTTPError as e:
            return f"{type(e).__name__}: {e}"[:500], None
        if 200 <= r.status_code < 300:
            return delivery_of(r)
        return f"HTTP {r.status_code}: {r.text[:300]}", None

    def _backoff(self, attempts: int) -> float:
        return min(self.backoff_seconds * (2 ** max(attempts - 1, 0)), MAX_BACKOFF)

    def deliver_pending(self, limit: int = 100) -> DeliveryCounts:
        """Try every due row once; how many were delivered, will be retried, were given up."""
        rows = self._claim(limit)
        stats = {"delivered": 0, "retry": 0, "failed": 0}
        if not rows:
            return DeliveryCounts(**stats)
        client = self._client or httpx.Client()
        try:
            for row in rows:
                error, via = self._post(client, row)
                now = utcnow()
                values: dict = {"attempts": OutboxMessage.attempts + 1}
                if error is None:
                    values |= {
                        "delivered_at": now,
                        "last_error": None if reaches_resident(row.channel) else NOT_PUSHABLE,
                        "delivered_via": via,
                    }
                    stats["delivered"] += 1
                else:
                    attempts = row.attempts + 1
                    gave_up = attempts >= self.max_attempts
                    values |= {
                        "last_error": error,
                        "failed": gave_up,
                        "next_attempt_at": now + timedelta(seconds=self._backoff(attempts)),
                    }
                    stats["failed" if gave_up else "retry"] += 1
                    log.warning("status push %s to Rasa failed (attempt %d): %s", row.id, attempts, mask_phone(error))
                with self.sessions.begin() as s:
                    s.execute(update(OutboxMessage).where(OutboxMessage.id == row.id).values(**values))
        finally:
            if self._client is None:
                client.close()
        return DeliveryCounts(**stats)

    def pending_count(self) -> int:
        with self.sessions() as s:
            return len(
                s.scalars(
                    select(OutboxMessage.id).where(
                        OutboxMessage.delivered_at.is_(None), OutboxMessage.failed.is_(False)
                    )
                ).all()
            )

    def retry_failed(self) -> int:
        """Give failed rows another round (ops: after fixing Rasa's URL or token)."""
        with self.sessions.begin() as s:
            res = s.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.delivered_at.is_(None),
                    or_(OutboxMessage.failed.is_(True), OutboxMessage.attempts > 0),
                )
                .values(failed=False, attempts=0, next_attempt_at=utcnow())
            )
            return res.rowcount or 0


class DeliveryThread(threading.Thread):
    """Background loop for a long-running process (the inbox app): delivers every ``interval`` s."""

    def __init__(self, deliverer: Deliverer, interval: float = 5.0):
        super().__init__(name="linli-status-push", daemon=True)
        self.deliverer = deliverer
        self.interval = interval
        self._stop_event = threading.Event()
        self._wake = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.deliverer.deliver_pending()
            except Exception:  # keep the loop alive; the row stays queued
                log.exception("status push loop")
            self._wake.wait(self.interval)
            self._wake.clear()

    def wake(self) -> None:
        """Deliver now (after a status change) instead of waiting for the interval."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop_event.set()
        self._wake.set()
        self.join(timeout)
