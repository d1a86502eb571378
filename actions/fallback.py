"""Replaces Rasa's action_default_fallback: apologise, forget the unclear message, and resume an open form."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher

UNCLEAR = "抱歉，我没太明白您的意思。可以换个说法，或者说“转人工”联系社区工作人员。"
UNCLEAR_IN_FORM = "抱歉，这一步我没太明白。可以按提示回答或点选按钮；不想继续了就说“取消”。"


class ActionDefaultFallback(Action):
    def name(self) -> str:
        return "action_default_fallback"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        loop = (tracker.active_loop or {}).get("name")
        dispatcher.utter_message(text=UNCLEAR_IN_FORM if loop else UNCLEAR)
        events: list[dict[str, Any]] = [UserUtteranceReverted()]
        if loop:
            events.append(FollowupAction(loop))
        return events
