"""Shared plumbing for actions: lazily built bot services, channel/sender info, polite error replies.

Fixed reply texts live in domain.yml ``responses``; actions send them by name (``response="utter_…"``).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.errors import UserFacingError

log = logging.getLogger(__name__)
_lock = threading.Lock()
_locks: dict[str, threading.Lock] = {}
_cache: dict[str, Any] = {}


def _once(name: str, build: Callable[[], Any]) -> Any:
    """Build a service once; one lock per service, so the feedback store does not wait for the model to load."""
    if name not in _cache:
        with _lock:
            lock = _locks.setdefault(name, threading.Lock())
        with lock:
            if name not in _cache:
                _cache[name] = build()
    return _cache[name]


def built(name: str) -> Any | None:
    """A service ``_once`` has already built (``"assistant"`` …), or None: never builds or waits for one."""
    return _cache.get(name)


def assistant():
    from bot.retrieval import get_assistant

    return _once("assistant", get_assistant)


def consultations():
    from bot.consultations import ConsultationService

    return _once("consultations", ConsultationService.from_settings)


def feedback_store():
    from bot.feedback.store import FeedbackStore

    return _once("feedback", FeedbackStore.from_settings)


def channel_of(tracker: Tracker) -> str:
    return tracker.get_latest_input_channel() or "rest"


def message_id_of(tracker: Tracker) -> str:
    return str(tracker.latest_message.get("message_id") or f"{tracker.sender_id}:{len(tracker.events)}")


def confirming_message_id(tracker: Tracker, slot: str = "consultation_confirmed") -> str:
    """Id of the user message that set ``slot`` to true: the same on every retry of one confirmation.

    A submission keyed on it is idempotent even when the resident has to press 确认提交 again because
    the first attempt's answer was lost (action server killed mid-submission).
    """
    events = tracker.events or []
    for i in range(len(events) - 1, -1, -1):
        e = events[i]
        if e.get("event") == "slot" and e.get("name") == slot and e.get("value") is True:
            for j in range(i - 1, -1, -1):
                if events[j].get("event") == "user" and events[j].get("message_id"):
                    return str(events[j]["message_id"])
            break
    return message_id_of(tracker)


def user_text(tracker: Tracker) -> str:
    """The resident's words; empty for button payloads such as ``/ask_where``."""
    text = (tracker.latest_message.get("text") or "").strip()
    return "" if text.startswith("/") else text


def polite(run: Callable) -> Callable:
    """Never a traceback to a resident: UserFacingError → its message, anything else → apology."""

    @functools.wraps(run)
    def wrapper(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict):
        try:
            return run(self, dispatcher, tracker, domain)
        except UserFacingError as e:
            dispatcher.utter_message(text=e.message)
        except Exception:
            log.exception("action %s failed", self.name())
            dispatcher.utter_message(response="utter_action_error")
        return []

    return wrapper
