"""Hand the conversation to a community worker: record the request and say when someone replies."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import channel_of, consultations, polite, user_text


class ActionHandoff(Action):
    def name(self) -> str:
        return "action_handoff"

    @polite
    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        last = tracker.get_slot("last_answer") or {}
        context = (last.get("question") if isinstance(last, dict) else "") or ""
        text = "；".join(t for t in (user_text(tracker), f"上一个问题：{context}" if context else "") if t) or "居民请求人工服务"
        handoff_id, when = consultations().request_handoff(
            channel_of(tracker), tracker.sender_id, tracker.get_slot("consultation_community"), text[:1000])
        dispatcher.utter_message(
            text=f"好的，已为您登记人工服务（登记号 {handoff_id}）。社区工作人员会在{when}回复您，请留意消息。"
                 "着急的事也可以直接到社区党群服务中心办理。")
        dispatcher.utter_message(json_message={"type": "handoff", "id": handoff_id, "reply_within": when})
        return []


def is_external(tracker: Tracker) -> bool:
    """True only for intents pushed through Rasa's token-protected /trigger_intent (the committee inbox).

    Rasa marks those ``metadata.is_external`` and words them "EXTERNAL: <intent>". No channel lets a
    resident set top-level metadata (REST keeps a client's under ``metadata.client``) or send an
    ``EXTERNAL_`` intent payload, so typed text, REST intent syntax and Telegram callback data never pass.
    """
    latest = tracker.latest_message or {}
    intent = str((latest.get("intent") or {}).get("name") or "")
    return (latest.get("metadata") or {}).get("is_external") is True and latest.get("text") == f"EXTERNAL: {intent}"


class ActionNotifyHandoffReply(Action):
    """Relays a worker's closing note, pushed by the committee inbox (EXTERNAL_handoff_reply, entity ``note``)."""

    def name(self) -> str:
        return "action_notify_handoff_reply"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        if not is_external(tracker):  # DIET misread typed text as the push intent
            dispatcher.utter_message(text="抱歉，我没太明白您的意思。可以换个说法，或者说“转人工”联系社区工作人员。")
            return []
        note = str(next(tracker.get_latest_entity_values("note"), None) or "").strip()
        if note:
            dispatcher.utter_message(text=f"社区工作人员回复您：{note}")
        else:
            dispatcher.utter_message(text="社区工作人员已处理您的求助。如还有问题，随时说“转人工”。")
        dispatcher.utter_message(json_message={"type": "handoff_reply", "note": note})
        return []
