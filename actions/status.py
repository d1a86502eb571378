"""Consultation status for residents: lookup and withdrawal by tracking number, and status pushes."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import channel_of, consultations, polite, user_text
from actions.handoff import is_external
from linli_common.replies import status_push
from linli_common.tracking import IN_TEXT as TRACKING


def tracking_number_of(tracker: Tracker) -> str | None:
    """From the NLU entity, else from the text (case-insensitive), else None."""
    for value in (
        next(tracker.get_latest_entity_values("tracking_number"), None),
        tracker.latest_message.get("text") or "",
    ):
        m = TRACKING.search(str(value or ""))
        if m:
            return m.group(0).upper()
    return None


class ActionConsultationStatus(Action):
    def name(self) -> str:
        return "action_consultation_status"

    @polite
    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        number = tracking_number_of(tracker)
        svc = consultations()
        if number is None:
            mine = svc.my_consultations(channel_of(tracker), tracker.sender_id, limit=5)
            if not mine:
                dispatcher.utter_message(response="utter_ask_tracking_number")
                return []
            lines = [f"{r.tracking_no}：{r.status_label}（{r.committee_name}）" for r in mine]
            dispatcher.utter_message(response="utter_my_consultations", item_lines="\n".join(lines))
            return []
        info = svc.status_for_resident(number, channel_of(tracker), tracker.sender_id)
        notes = [t.note for t in info.trail if t.note]
        from actions.loop import urge_button

        dispatcher.utter_message(
            response="utter_consultation_status_with_note" if notes else "utter_consultation_status",
            buttons=[urge_button(info.tracking_no)] if info.is_open else [],
            tracking_no=info.tracking_no,
            status_label=info.status_label,
            committee_name=info.committee_name,
            updated_at=info.updated_at_text,
            latest_note=notes[-1] if notes else "",
            due_line=f"\n{info.due_line}" if info.due_line else "",
        )
        dispatcher.utter_message(
            json_message={
                "type": "consultation_status",
                "tracking_no": info.tracking_no,
                "status": info.status,
                "status_label": info.status_label,
            }
        )
        return [SlotSet("tracking_number", number)]


class ActionWithdrawConsultation(Action):
    def name(self) -> str:
        return "action_withdraw_consultation"

    @polite
    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        from rasa_addons.evidence import is_withdraw_request  # stdlib only: the engine guard's rule

        text = user_text(tracker)
        if text and not is_withdraw_request(text):  # typed words without an explicit withdrawal never withdraw
            dispatcher.utter_message(response="utter_withdraw_how")
            return []
        number = tracking_number_of(tracker)
        if number is None:
            dispatcher.utter_message(response="utter_withdraw_which")
            return []
        record = consultations().withdraw(number, channel_of(tracker), tracker.sender_id, note="居民在对话中撤回")
        dispatcher.utter_message(
            response="utter_withdrawn", tracking_no=record.tracking_no, committee_name=record.committee_name
        )
        return [SlotSet("tracking_number", number)]


class ActionNotifyConsultationStatus(Action):
    """Tells the resident about a status change pushed by the committee inbox (EXTERNAL_consultation_status)."""

    def name(self) -> str:
        return "action_notify_consultation_status"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        def entity(name: str) -> str:
            return str(next(tracker.get_latest_entity_values(name), None) or "").strip()

        number = entity("tracking_number")
        if not is_external(tracker) or not TRACKING.fullmatch(number):  # not the inbox's push (typed, forged, misread)
            dispatcher.utter_message(response="utter_default")
            return []
        label = entity("status_label") or entity("status") or "有更新"
        note = entity("note")
        asks = entity("followup") == "1"  # a resolution: the 回访 question and its buttons (actions.loop)
        if asks:
            from actions.loop import rating_buttons
            from linli_common.replies import FOLLOWUP_QUESTION

            text = status_push(number, label, note) + "\n" + FOLLOWUP_QUESTION  # the outbox stores the same words
            dispatcher.utter_message(text=text, buttons=rating_buttons(number))
        else:
            dispatcher.utter_message(text=status_push(number, label, note))  # the outbox stores the same words
        dispatcher.utter_message(
            json_message={
                "type": "consultation_status",
                "tracking_no": number,
                "status": entity("status"),
                "status_label": label,
                "note": note,
                "followup": asks,
            }
        )
        return [SlotSet("followup_tracking", number)] if asks else []
