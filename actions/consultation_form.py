"""The 议事协商 form: topic → community (buttons) → anonymous or contact (explicit consent) → summary → submit.

Cancel ("算了/取消") and interruptions are handled by rules; here: validation (invalid input is re-asked
politely), the dynamic slot list, the community buttons, the confirmation summary and the submission.
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import channel_of, confirming_message_id, consultations, polite, user_text
from actions.context import is_back_reference, last_substantive_message, meaningful, short
from bot.consultations import DatabaseUnavailable
from bot.consultations.validation import MAX_TEXT_CHARS, phone_number
from bot.errors import UserFacingError
from bot.privacy import mask, mask_name, mask_phone
from rasa_addons.evidence import (  # stdlib only, shared with the engine
    is_explicit_no,
    is_explicit_yes,
    is_process_question,
    is_question,
)

FORM_SLOTS = (
    "consultation_topic",
    "consultation_community",
    "contact_choice",
    "contact_consent",
    "contact_name",
    "contact_phone",
    "consultation_confirmed",
    "cosign_candidate",
    "cosign_choice",
)
# The store's limit: a topic is accepted even past max_question_chars, where MessageGuard labels the message
# message_too_long, because the topic slot maps from_text whatever the intent.
MIN_TOPIC, MAX_TOPIC = 5, MAX_TEXT_CHARS
_TRIGGER = re.compile(
    r"我要|我想|想要|想|要|帮我|发起|一个|一下|个|议事协商|协商|反映|提交|提出|提|意见|建议|诉求|问题|情况|投诉|"
    r"给|跟|找|向|和|居委会|村委会|业委会|社区|商量|登记|有|事情|事|[，,。.!！?？、\s]"
)
_NOT_TOPIC = re.compile(r"刚才|刚刚|上面|前面|之前|以上|那个|这个|那件|这件|说的|问的|就是")
_NAME = re.compile(r"^[\u4e00-\u9fffA-Za-z·•. ]{1,20}$")


def reset_form() -> list[dict[str, Any]]:
    return [SlotSet(s, None) for s in FORM_SLOTS] + [SlotSet("requested_slot", None)]


def carries_topic(text: str) -> bool:
    """ "我想反映小区停车太乱了" carries its topic; "我要发起议事协商", "就刚才那个事反映一下" do not."""
    return (
        len(_NOT_TOPIC.sub("", _TRIGGER.sub("", text))) >= 4 and len(text) <= MAX_TOPIC and not is_back_reference(text)
    )


def asks_how_it_proceeds(tracker: Tracker, text: str) -> bool:
    """ "多久有人回复？" typed where the form expects a topic or summary: a question to answer, not the answer."""
    return (tracker.latest_message.get("intent") or {}).get(
        "name"
    ) == "ask_consultation_process" and is_process_question(text)


def explicit_answer(tracker: Tracker) -> bool:
    """Consent and confirmation count only from a button (a payload) or explicit yes/no words, never NLU alone."""
    text = str(tracker.latest_message.get("text") or "").strip()
    return text.startswith("/") or is_explicit_yes(text) or is_explicit_no(text)


def is_village_matter(topic: str | None) -> bool:
    """村规民约, 村务公开, 集体收入 …: plainly a village's matter (the routing's own test, ``needs_village``)."""
    from bot.consultations.routing import VILLAGE_MATTER, normalize

    return bool(topic) and bool(VILLAGE_MATTER.search(normalize(str(topic))))


def find_community(value: str | None):
    """The community an answer names (id, name, or name without 社区/村, also inside a longer answer)."""
    return consultations().directory.find(value, in_text=True)


class ValidateConsultationForm(FormValidationAction):
    def name(self) -> str:
        return "validate_consultation_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        slots = ["consultation_topic", "consultation_community"]
        if tracker.get_slot("cosign_candidate"):  # 附议 offered before anything else is asked (actions.loop)
            slots.append("cosign_choice")
            if tracker.get_slot("cosign_choice") == "cosign":
                return slots
        slots.append("contact_choice")
        if tracker.get_slot("contact_choice") == "contact":
            slots.append("contact_consent")
            if tracker.get_slot("contact_consent") is True:
                slots += ["contact_name", "contact_phone"]
        return slots + ["consultation_confirmed"]

    async def extract_consultation_topic(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """ "我想反映小区停车太乱了" already carries the topic; 发起议事协商 pressed under an answer takes the
        resident's last substantive message (shown masked, and changeable with "改一下事项"); typed "我要发起议事协商"
        does so only after a described matter, not after a question."""
        if tracker.get_slot("consultation_topic") or tracker.get_slot("requested_slot"):
            return {}
        if (tracker.latest_message.get("intent") or {}).get("name") != "start_consultation":
            return {}
        text = user_text(tracker)
        if carries_topic(text):
            return {"consultation_topic": text}
        prior = last_substantive_message(tracker, own_content=carries_topic)
        # the button under an answer refers to that conversation; typed words only to a matter described just before
        if prior and len(prior) <= MAX_TOPIC and (not text or not is_question(prior)):
            dispatcher.utter_message(response="utter_topic_from_context", topic_preview=mask(short(prior)))
            return {"consultation_topic": prior}
        return {}

    def validate_consultation_topic(self, value: Any, dispatcher, tracker, domain) -> dict[str, Any]:
        text = str(value or "").strip()
        if asks_how_it_proceeds(tracker, text):  # "多久有人回复？" at the topic prompt: answered, not the topic
            dispatcher.utter_message(response="utter_consultation_process")
            return {"consultation_topic": None}
        if is_back_reference(text):  # "就是刚才说的那个事": the words it refers to, not these
            prior = last_substantive_message(tracker, own_content=carries_topic)
            if prior:
                text = prior
        if meaningful(text) < MIN_TOPIC:
            dispatcher.utter_message(response="utter_topic_too_short")
            return {"consultation_topic": None}
        if len(text) > MAX_TOPIC:
            dispatcher.utter_message(response="utter_topic_too_long", max_topic=MAX_TOPIC)
            return {"consultation_topic": None}
        community = tracker.get_slot("consultation_community")
        if community:  # a corrected topic: look for a co-sign again
            return {"consultation_topic": text, **self._cosign(tracker, text, community)}
        return {"consultation_topic": text}

    @staticmethod
    def _cosign(tracker: Tracker, topic: str | None, community_id: str) -> dict[str, Any]:
        from actions.loop import cosign_candidate

        return {"cosign_candidate": cosign_candidate(tracker, topic, community_id), "cosign_choice": None}

    def validate_cosign_choice(self, value: Any, dispatcher, tracker, domain) -> dict[str, Any]:
        from actions.loop import cosign_choice_of

        choice = cosign_choice_of(value)
        if choice is None:
            dispatcher.utter_message(response="utter_cosign_choice_again")
        return {"cosign_choice": choice}

    def validate_consultation_community(self, value: Any, dispatcher, tracker, domain) -> dict[str, Any]:
        community = find_community(value)
        if community is None:
            dispatcher.utter_message(response="utter_community_not_found")
            return {"consultation_community": None}
        if community.kind != "村" and is_village_matter(tracker.get_slot("consultation_topic")):
            # a village's matter is not sent to an urban 居委会: ask which village (the ask shows the villages)
            dispatcher.utter_message(response="utter_village_matter_not_urban", community=community.name)
            return {"consultation_community": None}
        return {
            "consultation_community": community.id,
            **self._cosign(tracker, tracker.get_slot("consultation_topic"), community.id),
        }

    def validate_contact_choice(self, value: Any, dispatcher, tracker, domain) -> dict[str, Any]:
        v = str(value or "").strip()
        if v in ("anonymous", "contact"):
            choice = v
        elif "匿名" in v or "不留" in v or "不用留" in v:
            choice = "anonymous"
        elif any(w in v for w in ("留", "实名", "电话", "联系")):
            choice = "contact"
        else:
            dispatcher.utter_message(response="utter_contact_choice_again")
            return {"contact_choice": None}
        return {"contact_choice": choice}

    def validate_contact_consent(self, value: Any, dispatcher, tracker, domain) -> dict[str, Any]:
        if not explicit_answer(tracker):  # e.g. a typed name that DIET read as affirm
            dispatcher.utter_message(response="utter_need_explicit_yes")
            return {"contact_consent": None}
        if value is True:
            return {"contact_consent": True}
        dispatcher.utter_message(response="utter_anonymous_after_all")
        return {"contact_consent": False, "contact_choice": "anonymous", "contact_name": None, "contact_phone": None}

    def validate_contact_name(self, value: Any, dispatcher, tracker, domain) -> dict[str, Any]:
        name = str(value or "").strip()
        if not _NAME.match(name):
            dispatcher.utter_message(response="utter_invalid_name")
            return {"contact_name": None}
        return {"contact_name": name}

    def validate_contact_phone(self, value: Any, dispatcher, tracker, domain) -> dict[str, Any]:
        phone = mobile_phone(value)
        if phone is None:
            dispatcher.utter_message(response="utter_invalid_phone")
        return {"contact_phone": phone}

    def validate_consultation_confirmed(self, value: Any, dispatcher, tracker, domain) -> dict[str, Any]:
        if not explicit_answer(tracker):
            dispatcher.utter_message(response="utter_need_explicit_confirm")
            return {"consultation_confirmed": None}
        return {"consultation_confirmed": value}


def mobile_phone(value: Any) -> str | None:
    """11-digit mainland mobile from "138 0000 1234", "+86-138…", full-width digits; None if it is not one.
    The store's phone rule (:func:`bot.consultations.validation.phone_number`); the chat asks for a mobile."""
    return phone_number(value, landline=False)


# The form's fixed questions are domain responses (utter_ask_<slot>); this one's buttons carry entity payloads,
# which Rasa's response templating would read as placeholders.
CONTACT_CHOICE_BUTTONS = [
    {"title": "匿名提交", "payload": '/inform{"contact_choice":"anonymous"}'},
    {"title": "留下联系方式", "payload": '/inform{"contact_choice":"contact"}'},
]


class ActionAskContactChoice(Action):
    def name(self) -> str:
        return "action_ask_contact_choice"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        dispatcher.utter_message(response="utter_ask_contact_choice", buttons=CONTACT_CHOICE_BUTTONS)
        return []


def community_buttons(places=None) -> list[dict[str, str]]:
    places = consultations().directory.communities() if places is None else places
    return [{"title": c.name, "payload": f'/inform{{"community":"{c.id}"}}'} for c in places]


class ActionAskConsultationCommunity(Action):
    def name(self) -> str:
        return "action_ask_consultation_community"

    @polite
    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        places = consultations().directory.communities()
        village = is_village_matter(tracker.get_slot("consultation_topic"))
        if village:  # a village's matter: only the villages (all places if the directory has none)
            places = [c for c in places if c.kind == "村"] or places
        ask = "utter_ask_village_community" if village else "utter_choose_community"
        dispatcher.utter_message(response=ask, buttons=community_buttons(places))
        return []


class ActionAskConsultationConfirmed(Action):
    """The summary the resident confirms before anything is stored."""

    def name(self) -> str:
        return "action_ask_consultation_confirmed"

    @polite
    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        topic = tracker.get_slot("consultation_topic") or ""
        route = consultations().route(topic, tracker.get_slot("consultation_community"))
        summary = {
            "topic_preview": mask(topic[:200], [tracker.get_slot("contact_name") or ""]),
            "community_name": route.community.name,
            "committee_name": route.committee.name,
        }
        if tracker.get_slot("contact_consent") and tracker.get_slot("contact_phone"):
            dispatcher.utter_message(
                response="utter_confirm_consultation_with_contact",
                **summary,
                contact_name_masked=mask_name(tracker.get_slot("contact_name") or ""),
                contact_phone_masked=mask_phone(tracker.get_slot("contact_phone")),
            )
        else:
            dispatcher.utter_message(response="utter_confirm_consultation", **summary)
        return []


class ActionSubmitConsultation(Action):
    def name(self) -> str:
        return "action_submit_consultation"

    @polite
    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        if tracker.get_slot("cosign_choice") == "cosign" and tracker.get_slot("cosign_candidate"):
            from actions.loop import submit_cosign

            try:
                return reset_form() + submit_cosign(dispatcher, tracker)
            except UserFacingError as e:  # joined already, closed meanwhile, …: nothing stored
                dispatcher.utter_message(text=e.message)
                return reset_form()
        if tracker.get_slot("consultation_confirmed") is not True:
            dispatcher.utter_message(response="utter_consultation_not_submitted")
            return reset_form()
        consent = tracker.get_slot("contact_consent") is True
        try:
            record = consultations().submit(
                channel=channel_of(tracker),
                sender_id=tracker.sender_id,
                message_id=confirming_message_id(tracker),
                community_id=tracker.get_slot("consultation_community"),
                text=tracker.get_slot("consultation_topic") or "",
                contact_name=tracker.get_slot("contact_name") if consent else None,
                contact_phone=tracker.get_slot("contact_phone") if consent else None,
                consent=consent,
            )
        except DatabaseUnavailable as e:
            # nothing was stored: keep what the resident filled in and ask for the confirmation again
            dispatcher.utter_message(response="utter_submit_retry", error_message=e.message)
            return [
                SlotSet("consultation_confirmed", None),
                ActiveLoop("consultation_form"),
                SlotSet("requested_slot", "consultation_confirmed"),
            ]
        dispatcher.utter_message(
            response="utter_consultation_submitted",
            tracking_no=record.tracking_no,
            committee_name=record.committee_name,
            due_line=f"\n{record.due_line}。" if record.due_line else "",
            buttons=[
                {
                    "title": "查询进度",
                    "payload": f'/check_consultation_status{{"tracking_number":"{record.tracking_no}"}}',
                }
            ],
        )
        dispatcher.utter_message(
            json_message={
                "type": "consultation_submitted",
                "tracking_no": record.tracking_no,
                "status": record.status,
                "status_label": record.status_label,
                "committee": {"id": record.committee_id, "name": record.committee_name, "type": record.committee_type},
            }
        )
        return reset_form() + [SlotSet("tracking_number", record.tracking_no)]


def pending_submission(tracker: Tracker) -> bool:
    """A confirmed consultation that was never acknowledged: a successful submit or a cancel clears the form."""
    return (
        tracker.get_slot("consultation_confirmed") is True
        and bool(tracker.get_slot("consultation_topic"))
        and bool(tracker.get_slot("consultation_community"))
        and not (tracker.active_loop or {}).get("name")
    )


class ActionAffirmOutsideForm(Action):
    """ "确认/好的" with no form running.

    If the last submission's answer was lost (the action server died mid-submission, so Rasa dropped the
    submit action's events), this is the resident pressing 确认提交 again: submit once more, keyed on the
    original confirmation, so it is stored once and its number told. Otherwise a plain acknowledgement.
    """

    def name(self) -> str:
        return "action_affirm"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        if pending_submission(tracker):
            return ActionSubmitConsultation().run(dispatcher, tracker, domain)
        dispatcher.utter_message(response="utter_affirm_ack")
        return []


class ActionCancelConsultation(Action):
    def name(self) -> str:
        return "action_cancel_consultation"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        dispatcher.utter_message(response="utter_consultation_cancelled")
        return [ActiveLoop(None)] + reset_form()
