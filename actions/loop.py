"""The closed loop in the chat: the co-sign (附议) offer at intake, 催办, and the follow-up (回访) answer.

Rules live in bot.consultations.loop_rules and the store's ``service.loop``; here only the words and buttons.
An urge needs evidence: the 催一下 button (a payload) or typed words with 催 and a tracking number.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import channel_of, consultations, polite, user_text
from actions.status import tracking_number_of
from rasa_addons.evidence import is_explicit_no, is_explicit_yes, is_urge_request, rating_of

RATING_BUTTONS = (("满意", "satisfied"), ("基本满意", "basically_satisfied"), ("不满意", "unsatisfied"))
RATING_LABELS = dict((v, k) for k, v in RATING_BUTTONS)
#: The polite reply to a follow-up answer the store refused, by its reason (names written out: Rasa's data check
#: sees which responses actions send).
FOLLOWUP_REFUSALS = {
    "answered": "utter_followup_answered",
    "not_resolved": "utter_followup_not_resolved",
    "withdrawn": "utter_followup_withdrawn",
    "merged": "utter_followup_merged",
}


def now() -> datetime:
    return datetime.now(UTC)


def rating_buttons(tracking_no: str) -> list[dict[str, str]]:
    return [
        {"title": title, "payload": f'/rate_followup{{"rating":"{value}","tracking_number":"{tracking_no}"}}'}
        for title, value in RATING_BUTTONS
    ]


def urge_button(tracking_no: str) -> dict[str, str]:
    return {"title": "催一下", "payload": f'/urge_consultation{{"tracking_number":"{tracking_no}"}}'}


def cosign_candidate(tracker: Tracker, topic: str | None, community_id: str | None) -> str | None:
    """The open item this topic may co-sign, or None (never an error: the form goes on without the offer)."""
    from bot.consultations.loop_rules import cosign_offer

    try:
        return cosign_offer(consultations(), topic or "", community_id, channel_of(tracker), tracker.sender_id, now())
    except Exception:  # the offer is a convenience: a lost database or model must not stop the intake
        from actions.common import log

        log.exception("co-sign candidates")
        return None


def cosign_choice_of(value: Any) -> str | None:
    v = str(value or "").strip()
    if v in ("cosign", "separate"):
        return v
    if "单独" in v or "另外" in v or "新提交" in v or is_explicit_no(v):
        return "separate"
    if "附议" in v or is_explicit_yes(v):
        return "cosign"
    return None


COSIGN_BUTTONS = [
    {"title": "附议", "payload": '/inform{"cosign_choice":"cosign"}'},
    {"title": "仍要单独提交", "payload": '/inform{"cosign_choice":"separate"}'},
]


class ActionAskCosignChoice(Action):
    def name(self) -> str:
        return "action_ask_cosign_choice"

    @polite
    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        number = tracker.get_slot("cosign_candidate") or ""
        rec = consultations().get(number)
        dispatcher.utter_message(
            response="utter_cosign_offer",
            cosign_no=number,
            status_label=rec.status_label if rec else "办理中",
            buttons=COSIGN_BUTTONS,
        )
        return []


def submit_cosign(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[dict[str, Any]]:
    """The form ended with 附议: join the candidate instead of storing a new item."""
    rec = consultations().loop.cosign(
        tracker.get_slot("cosign_candidate") or "",
        channel_of(tracker),
        tracker.sender_id,
        tracker.get_slot("consultation_community"),
    )
    dispatcher.utter_message(
        response="utter_cosigned",
        tracking_no=rec.tracking_no,
        status_label=rec.status_label,
        committee_name=rec.committee_name,
        cosigners=rec.cosigners,
        buttons=[
            {"title": "查询进度", "payload": f'/check_consultation_status{{"tracking_number":"{rec.tracking_no}"}}'}
        ],
    )
    dispatcher.utter_message(
        json_message={
            "type": "consultation_cosigned",
            "tracking_no": rec.tracking_no,
            "status": rec.status,
            "status_label": rec.status_label,
            "cosigners": rec.cosigners,
        }
    )
    return [SlotSet("tracking_number", rec.tracking_no)]


class ActionUrgeConsultation(Action):
    def name(self) -> str:
        return "action_urge_consultation"

    @polite
    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        from bot.consultations.loop_rules import urge

        text = user_text(tracker)
        number = tracking_number_of(tracker)
        if number is None or (text and not is_urge_request(text)):  # typed words need 催 and a number
            dispatcher.utter_message(response="utter_urge_which")
            return []
        rec = urge(consultations(), number, channel_of(tracker), tracker.sender_id, now())
        response = {"ok": "utter_urged", "already": "utter_urge_already"}.get(rec.reason, "utter_urge_closed")
        dispatcher.utter_message(
            response=response,
            tracking_no=rec.tracking_no,
            committee_name=rec.committee_name,
            status_label=rec.status_label,
        )
        dispatcher.utter_message(
            json_message={"type": "consultation_urged", "tracking_no": rec.tracking_no, "accepted": rec.accepted}
        )
        return [SlotSet("tracking_number", rec.tracking_no)]


def rating_comment(text: str) -> str:
    """A typed answer is its own comment ("不满意，灯还是不亮"); a bare rating word or a button carries none."""
    from rasa_addons.evidence import compact

    return "" if len(compact(text)) <= 5 else text


class ActionRateFollowup(Action):
    """The 回访 answer: a button (rate_followup) or typed words after the push asked (see answers_followup)."""

    def name(self) -> str:
        return "action_rate_followup"

    @polite
    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        text = user_text(tracker)
        rating = next(tracker.get_latest_entity_values("rating"), None) if not text else rating_of(text)
        if rating not in RATING_LABELS:
            dispatcher.utter_message(response="utter_followup_choose")
            return []
        svc = consultations()
        channel = channel_of(tracker)
        number = (
            tracking_number_of(tracker)
            or tracker.get_slot("followup_tracking")
            or svc.loop.pending_followup(channel, tracker.sender_id)
        )
        if number is None:
            dispatcher.utter_message(response="utter_followup_which")
            return []
        rec = svc.loop.rate(number, channel, tracker.sender_id, rating, rating_comment(text))
        info = {"tracking_no": rec.tracking_no, "merged_into": rec.merged_into or ""}
        if rec.reopened:
            committee = svc.get(rec.tracking_no)
            dispatcher.utter_message(
                response="utter_followup_reopened",
                committee_name=committee.committee_name if committee else "社区",
                **info,
            )
        elif rec.accepted:
            dispatcher.utter_message(response="utter_followup_thanks", rating_label=RATING_LABELS[rating], **info)
        else:
            dispatcher.utter_message(response=FOLLOWUP_REFUSALS[rec.reason], **info)
        dispatcher.utter_message(
            json_message={
                "type": "followup_answer",
                "tracking_no": rec.tracking_no,
                "accepted": rec.accepted,
                "reason": rec.reason,
                "reopened": rec.reopened,
            }
        )
        return [SlotSet("followup_tracking", None), SlotSet("tracking_number", rec.tracking_no)]


def answers_followup(tracker: Tracker) -> bool:
    """Typed "不满意/没解决/满意" right after a push asked the 回访 (DIET reads them as feedback on an answer)."""
    return bool(tracker.get_slot("followup_tracking")) and rating_of(user_text(tracker)) is not None
