"""Hand the conversation to a community worker.

转人工 runs the handoff form: community (buttons), a one-line summary (taken from the conversation when the
resident already described the matter), and an optional call-back phone with explicit consent; then the
request is stored with all three and the resident is told when and how the reply comes. Inside the
consultation form the handoff is registered at once with what that form already knows.
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import channel_of, consultations, polite, user_text
from actions.consultation_form import (
    asks_how_it_proceeds,
    community_buttons,
    explicit_answer,
    find_community,
    mobile_phone,
)
from actions.context import last_substantive_message, meaningful, short
from bot.privacy import mask, mask_phone

HANDOFF_SLOTS = ("handoff_community", "handoff_summary", "handoff_consent", "handoff_phone")
MAX_SUMMARY = 300
_HANDOFF_WORDS = re.compile(
    r"转人工|人工服务|人工客服|人工|真人|客服|工作人员|网格员|社工|居委会的人|社区的人|联系我|给我|帮我|我要|我想|"
    r"找个?人?|请|转|能不能|可以|一下|和|跟|聊|[，,。.!！?？、\s]"
)


def _reset() -> list[dict[str, Any]]:
    return [SlotSet(s, None) for s in HANDOFF_SLOTS] + [SlotSet("requested_slot", None)]


def _own_summary(text: str) -> bool:
    """ "转人工，低保申请一直没批" carries a summary; "转人工" does not."""
    return meaningful(_HANDOFF_WORDS.sub("", text)) >= 4


def _reply(dispatcher: CollectingDispatcher, handoff_id: int, when: str, committee: str, phone: str | None) -> None:
    facts = {"handoff_id": handoff_id, "committee_name": committee, "reply_within": when}
    if phone:
        dispatcher.utter_message(response="utter_handoff_registered_phone", **facts, phone_masked=mask_phone(phone))
    else:
        dispatcher.utter_message(response="utter_handoff_registered", **facts)
    dispatcher.utter_message(json_message={"type": "handoff", "id": handoff_id, "reply_within": when})


def _committee_name(svc, handoff_id: int) -> str:
    handoff = svc.handoffs.get(handoff_id)
    return svc.directory.committee(handoff.committee_id).name if handoff else "社区工作人员"


class ActionHandoff(Action):
    """转人工 inside the consultation form: registered at once with the form's community and topic, then the form resumes."""

    def name(self) -> str:
        return "action_handoff"

    @polite
    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        topic = tracker.get_slot("consultation_topic") or last_substantive_message(tracker) or ""
        text = "；".join(t for t in (user_text(tracker), f"事项：{topic}" if topic else "") if t) or "居民请求人工服务"
        svc = consultations()
        community = tracker.get_slot("consultation_community")
        ticket = svc.handoffs.request(channel_of(tracker), tracker.sender_id, community, text[:1000])
        _reply(dispatcher, ticket.id, ticket.reply_within, _committee_name(svc, ticket.id), None)
        return []


class ValidateHandoffForm(FormValidationAction):
    def name(self) -> str:
        return "validate_handoff_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        slots = ["handoff_community", "handoff_summary", "handoff_consent"]
        return slots + ["handoff_phone"] if tracker.get_slot("handoff_consent") is True else slots

    async def extract_handoff_community(self, dispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        """The community the resident already chose in this conversation is not asked again."""
        if tracker.get_slot("handoff_community") or tracker.get_slot("requested_slot"):
            return {}
        known = tracker.get_slot("consultation_community")
        return {"handoff_community": known} if known else {}

    async def extract_handoff_summary(self, dispatcher, tracker: Tracker, domain: DomainDict) -> dict[str, Any]:
        """ "转人工，低保申请一直没批" or the matter described just before 转人工 is the summary."""
        if tracker.get_slot("handoff_summary") or tracker.get_slot("requested_slot"):
            return {}
        if (tracker.latest_message.get("intent") or {}).get("name") != "human_handoff":
            return {}
        text = user_text(tracker)
        summary = text if _own_summary(text) else last_substantive_message(tracker)
        return {"handoff_summary": summary[:MAX_SUMMARY]} if summary else {}

    def validate_handoff_community(self, value: Any, dispatcher, tracker, domain) -> dict[str, Any]:
        community = find_community(value)
        if community is None:
            dispatcher.utter_message(response="utter_community_not_found")
            return {"handoff_community": None}
        return {"handoff_community": community.id}

    def validate_handoff_summary(self, value: Any, dispatcher, tracker, domain) -> dict[str, Any]:
        text = " ".join(str(value or "").split())
        if asks_how_it_proceeds(tracker, text):
            dispatcher.utter_message(response="utter_consultation_process")
            return {"handoff_summary": None}
        if meaningful(text) < 4:
            dispatcher.utter_message(response="utter_handoff_summary_too_short")
            return {"handoff_summary": None}
        return {"handoff_summary": text[:MAX_SUMMARY]}

    def validate_handoff_consent(self, value: Any, dispatcher, tracker, domain) -> dict[str, Any]:
        if not explicit_answer(tracker):
            dispatcher.utter_message(response="utter_need_explicit_yes")
            return {"handoff_consent": None}
        return {"handoff_consent": value is True, **({} if value is True else {"handoff_phone": None})}

    def validate_handoff_phone(self, value: Any, dispatcher, tracker, domain) -> dict[str, Any]:
        phone = mobile_phone(value)
        if phone is None:
            dispatcher.utter_message(response="utter_invalid_phone")
        return {"handoff_phone": phone}


class ActionAskHandoffCommunity(Action):
    def name(self) -> str:
        return "action_ask_handoff_community"

    @polite
    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        dispatcher.utter_message(response="utter_handoff_choose_community", buttons=community_buttons())
        return []


class ActionSubmitHandoff(Action):
    def name(self) -> str:
        return "action_submit_handoff"

    @polite
    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        consent = tracker.get_slot("handoff_consent") is True
        phone = tracker.get_slot("handoff_phone") if consent else None
        community = tracker.get_slot("handoff_community")
        summary = tracker.get_slot("handoff_summary") or "居民请求人工服务"
        svc = consultations()
        ticket = svc.handoffs.request(
            channel_of(tracker), tracker.sender_id, community, summary[:1000], contact_phone=phone, consent=consent
        )
        dispatcher.utter_message(response="utter_handoff_summary", summary_preview=mask(short(summary)))
        _reply(dispatcher, ticket.id, ticket.reply_within, _committee_name(svc, ticket.id), phone)
        return _reset()


class ActionCancelHandoff(Action):
    def name(self) -> str:
        return "action_cancel_handoff"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        dispatcher.utter_message(response="utter_handoff_cancelled")
        return [ActiveLoop(None)] + _reset()


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
            dispatcher.utter_message(response="utter_default")
            return []
        note = str(next(tracker.get_latest_entity_values("note"), None) or "").strip()
        if note:
            dispatcher.utter_message(response="utter_handoff_reply", worker_note=note)
        else:
            dispatcher.utter_message(response="utter_handoff_done")
        dispatcher.utter_message(json_message={"type": "handoff_reply", "note": note})
        return []
