"""Indicator self-check for community workers: figures read from the message, compared with 2025 targets."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import polite, user_text


class ActionIndicatorSelfCheck(Action):
    def name(self) -> str:
        return "action_indicator_self_check"

    @polite
    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        from bot.indicators import format_results, parse_message, self_check

        figures = parse_message(user_text(tracker))
        if not figures:
            dispatcher.utter_message(response="utter_indicator_how_to")
            return []
        results = self_check(figures)
        dispatcher.utter_message(text=format_results(results))
        dispatcher.utter_message(
            json_message={"type": "indicator_self_check", "figures": figures, "results": [asdict(r) for r in results]}
        )
        return []
