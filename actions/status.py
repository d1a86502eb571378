"""Consultation status for residents: lookup and withdrawal by tracking number, and status pushes."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import channel_of, consultations, polite, user_text
from actions.handoff import is_external
from bot.consultations.tracking import IN_TEXT

TRACKING = IN_TEXT
ASK_NUMBER = "请发送受理编号（格式如 YS-20260101-0001），我帮您查。"


def tracking_number_of(tracker: Tracker) -> str | None:
    """From the NLU entity, else from the text (case-insensitive), else None."""
    for value in (next(tracker.get_latest_entity_values("tracking_number"), None), tracker.latest_message.get("text") or ""):
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
                dispatcher.utter_message(text=ASK_NUMBER)
                return []
            lines = [f"{r.tracking_no}：{r.status_label}（{r.committee_name}）" for r in mine]
            dispatcher.utter_message(text="您最近提交的事项：\n" + "\n".join(lines) + "\n发送编号可查看详细进展。")
            return []
        info = svc.status_for_resident(number, channel_of(tracker), tracker.sender_id)
        text = f"受理编号 {info.tracking_no}：{info.status_label}\n负责：{info.committee_name}\n更新时间：{info.updated_at_text}"
        notes = [t.note for t in info.trail if t.note]
        if notes:
            text += f"\n最新说明：{notes[-1]}"
        dispatcher.utter_message(text=text)
        dispatcher.utter_message(json_message={"type": "consultation_status", "tracking_no": info.tracking_no,
                                               "status": info.status, "status_label": info.status_label})
        return [SlotSet("tracking_number", number)]


class ActionWithdrawConsultation(Action):
    def name(self) -> str:
        return "action_withdraw_consultation"

    @polite
    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        from rasa_addons.evidence import is_withdraw_request  # stdlib only: the engine guard's rule

        text = user_text(tracker)
        if text and not is_withdraw_request(text):  # typed words without an explicit withdrawal never withdraw
            dispatcher.utter_message(text="如果要撤回已提交的事项，请发送“撤回”加受理编号，比如“撤回 YS-20260101-0001”。")
            return []
        number = tracking_number_of(tracker)
        if number is None:
            dispatcher.utter_message(text="要撤回哪一条？请发送“撤回”加受理编号，比如“撤回 YS-20260101-0001”。")
            return []
        record = consultations().withdraw(number, channel_of(tracker), tracker.sender_id, note="居民在对话中撤回")
        dispatcher.utter_message(text=f"已撤回受理编号 {record.tracking_no} 的事项，{record.committee_name}不会再继续处理。")
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
            dispatcher.utter_message(text="抱歉，我没太明白您的意思。可以换个说法，或者说“转人工”联系社区工作人员。")
            return []
        label = entity("status_label") or entity("status") or "有更新"
        note = entity("note")
        text = f"您的议事协商（受理编号 {number}）有新进展：{label}。" + (f"\n说明：{note}" if note else "")
        dispatcher.utter_message(text=text)
        dispatcher.utter_message(json_message={"type": "consultation_status", "tracking_no": number,
                                               "status": entity("status"), "status_label": label, "note": note})
        return []
