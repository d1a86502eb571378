"""👍/👎 on the last answer: recorded for the learning loop (masked question, no sender id)."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import channel_of, feedback_store, log


class ActionRecordFeedback(Action):
    def name(self) -> str:
        return "action_record_feedback"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        from actions.loop import ActionRateFollowup, answers_followup

        if answers_followup(tracker):  # "不满意/没解决" right after the resolution push asked the 回访
            return ActionRateFollowup().run(dispatcher, tracker, domain)
        positive = (tracker.latest_message.get("intent") or {}).get("name") == "feedback_positive"
        last = tracker.get_slot("last_answer")
        if isinstance(last, dict) and last.get("question"):
            try:
                feedback_store().record_rating(
                    1 if positive else -1,
                    last["question"],
                    answer_kind=last.get("kind"),
                    sources=last.get("sources") or [],
                    channel=channel_of(tracker),
                    kb_version=str(last.get("kb_version") or ""),
                )
            except Exception:
                log.exception("could not record a rating")
        dispatcher.utter_message(response="utter_feedback_thanks" if positive else "utter_feedback_sorry")
        return []
