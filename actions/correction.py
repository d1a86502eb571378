"""Correct one answer of a running form in place ("社区选错了", "电话填错了"): re-ask that field, keep the rest.

The action clears the named slot (and the slots that depend on it) plus the confirmation; the rule then
runs the form again, which asks the first empty field — the one being corrected.
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

# field (button entity or keyword) → slots cleared, per form; the first slot is the one re-asked.
_FIELDS = {
    "consultation_form": {
        "topic": ("consultation_topic",),
        "community": ("consultation_community",),
        "contact": ("contact_choice", "contact_consent", "contact_name", "contact_phone"),
        "name": ("contact_name",),
        "phone": ("contact_phone",),
    },
    "handoff_form": {
        "topic": ("handoff_summary",),
        "community": ("handoff_community",),
        "contact": ("handoff_consent", "handoff_phone"),
        "phone": ("handoff_phone",),
    },
}
WHICH_FIELD_BUTTONS = [
    {"title": t, "payload": f'/correct_form_field{{"form_field":"{f}"}}'}
    for t, f in (("事项", "topic"), ("社区", "community"), ("联系方式", "contact"))
]
_LABELS = {"topic": "事项", "community": "社区（村）", "contact": "联系方式", "name": "称呼", "phone": "手机号"}
_CONFIRMATION = {"consultation_form": ("consultation_confirmed",), "handoff_form": ()}
# Checked in order: "不想匿名了，要留联系方式" is about the contact choice, not the phone.
_KEYWORDS = (
    ("contact", re.compile(r"匿名|实名|联系方式")),
    ("phone", re.compile(r"电话|手机|号码|手机号")),
    ("name", re.compile(r"名字|姓名|称呼|叫我")),
    ("community", re.compile(r"社区|村|小区|街道")),
    ("topic", re.compile(r"事项|事情|内容|问题|主题|描述|说的|求助")),
)


def field_of(text: str, entity: str | None) -> str | None:
    if entity:
        return entity
    for field, pattern in _KEYWORDS:
        if pattern.search(text or ""):
            return field
    return None


class ActionCorrectFormField(Action):
    def name(self) -> str:
        return "action_correct_form_field"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        form = (tracker.active_loop or {}).get("name")
        fields = _FIELDS.get(form or "")
        if fields is None:
            dispatcher.utter_message(response="utter_nothing_to_correct")
            return []
        field = field_of(
            str(tracker.latest_message.get("text") or ""), next(tracker.get_latest_entity_values("form_field"), None)
        )
        if (
            form == "consultation_form"
            and field in ("name", "phone")
            and tracker.get_slot("contact_consent") is not True
        ):
            field = "contact"  # anonymous so far: the resident wants to leave contact details after all
        if field not in fields:
            dispatcher.utter_message(response="utter_ask_which_field", buttons=WHICH_FIELD_BUTTONS)
            return []
        dispatcher.utter_message(response="utter_correcting_field", field_label=_LABELS[field])
        cleared = fields[field] + _CONFIRMATION[form]
        return [SlotSet(slot, None) for slot in cleared] + [SlotSet("requested_slot", None)]
