"""Replaces Rasa's action_default_fallback: apologise, forget the unclear message, and resume an open form."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher


class ActionDefaultFallback(Action):
    def name(self) -> str:
        return "action_default_fallback"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        loop = (tracker.active_loop or {}).get("name")
        dispatcher.utter_message(response="utter_default_in_form" if loop else "utter_default")
        events: list[dict[str, Any]] = [UserUtteranceReverted()]
        if loop:
            events.append(FollowupAction(loop))
        return events
