"""Answer questions from the knowledge base with citations, follow-up buttons and the service in focus."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import assistant, channel_of, feedback_store, log, polite, user_text
from bot.privacy import mask
from bot.retrieval import ASPECTS
from linli_common.timeline import mark

#: Intent → aspect of the service under discussion (follow-ups such as "那要带什么材料？").
INTENT_ASPECT = {
    "ask_service": "overview",
    "ask_eligibility": "eligibility",
    "ask_how_to_apply": "how_to_apply",
    "ask_where": "where",
    "ask_agency": "agency",
}
#: Details on request under a short first reply: (aspect, title, payload). 要带什么 reuses the ask_how_to_apply
#: intent and names its aspect in the payload, read by :func:`payload_aspect`.
FOLLOW_UPS = [
    ("how_to_apply", "怎么办", "/ask_how_to_apply"),
    ("materials", "要带什么", '/ask_how_to_apply{"aspect":"materials"}'),
    ("where", "在哪办", "/ask_where"),
    ("agency", "哪个部门负责", "/ask_agency"),
]
_PAYLOAD = re.compile(r"^/\w+(\{.*\})\s*$", re.S)
CONSULT_BUTTON = {"title": "发起议事协商", "payload": "/start_consultation"}
HANDOFF_BUTTON = {"title": "转人工", "payload": "/human_handoff"}
THUMBS = [{"title": "👍", "payload": "/feedback_positive"}, {"title": "👎", "payload": "/feedback_negative"}]


def record_gap(tracker: Tracker, question: str, reason: str, kb_version: str = "") -> None:
    """Learning loop: keep what we could not answer (masked, no sender id) and which knowledge version failed."""
    try:
        feedback_store().record_unanswered(
            question, reason=reason, channel=channel_of(tracker), kb_version=kb_version or assistant().kb.version
        )
    except Exception:
        log.exception("could not record an unanswered question")


def clause_link(source: dict) -> dict:
    """A document's sentence links to its place in the original (the public clause page, ``LINLI_CLAUSE_URL``)."""
    from bot.settings import get_settings

    template = get_settings().clause_url
    if template and source.get("type") != "service" and "{id}" in template:
        ref = quote(str(source.get("id", "")), safe="")
        return dict(source, link=template.replace("{id}", ref) + ("" if "#" in template else f"#{ref}"))
    return source


def send_answer(dispatcher: CollectingDispatcher, answer, aspect: str | None) -> list[dict[str, Any]]:
    data = answer.to_dict()
    buttons: list[dict] = []
    if data["kind"] == "out_of_scope":
        buttons = [CONSULT_BUTTON, HANDOFF_BUTTON]
    else:
        if data["services"]:
            buttons += [{"title": t, "payload": p} for a, t, p in FOLLOW_UPS if a != aspect]
        buttons += [CONSULT_BUTTON, *THUMBS]
    dispatcher.utter_message(text=data["answer"], buttons=buttons)
    dispatcher.utter_message(
        json_message={
            "type": "answer",
            "kind": data["kind"],
            "sources": [clause_link(s) for s in data["sources"]],
            "kb_version": answer.kb_version,
            "agencies": data["agencies"],
            "services": data["services"],
        }
    )
    events: list[dict[str, Any]] = [
        SlotSet(
            "last_answer",
            {
                "question": mask(data["question"])[:300],
                "kind": data["kind"],
                "sources": [s["id"] for s in data["sources"]][:5],
                "kb_version": answer.kb_version,
            },
        )
    ]
    if data["services"]:
        events.append(SlotSet("current_service", data["services"][0]["id"]))
    return events


def payload_aspect(tracker: Tracker) -> str | None:
    """The aspect a follow-up button's payload names (``/ask_how_to_apply{"aspect":"materials"}``), if any."""
    m = _PAYLOAD.match((tracker.latest_message.get("text") or "").strip())
    if not m:
        return None
    try:
        value = json.loads(m.group(1)).get("aspect")
    except (ValueError, AttributeError):
        return None
    return value if value in ASPECTS else None


def _entity_service(tracker: Tracker) -> str | None:
    """A catalogue id from the NLU entity (synonyms map names/aliases to ids), if it is one."""
    value = next(tracker.get_latest_entity_values("service"), None)
    if not value:
        return None
    try:
        assistant().kb.service(value)
        return value
    except KeyError:
        return None


def known_community(tracker: Tracker) -> str | None:
    """The resident's community if this conversation has named it (a form or a handoff), for whom-to-ask contacts."""
    return tracker.get_slot("consultation_community") or tracker.get_slot("handoff_community")


class ActionAnswerQuestion(Action):
    def name(self) -> str:
        return "action_answer_question"

    @polite
    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        aspect = payload_aspect(tracker) or INTENT_ASPECT.get(intent)
        text = user_text(tracker)
        current = tracker.get_slot("current_service")
        bot = assistant()
        if not text:  # a follow-up button: the aspect of the service in focus
            if not current:
                dispatcher.utter_message(response="utter_need_service")
                return []
            return send_answer(
                dispatcher,
                bot.service_answer(current, aspect or "overview", community=known_community(tracker)),
                aspect,
            )
        mark("sdk.ask.start")
        answer = bot.ask(text, top_k=3, service_hint=current, community=known_community(tracker))
        mark("sdk.ask.end")
        if answer.kind == "out_of_scope" and not getattr(
            answer, "topic", None
        ):  # a topic the plan does not cover stays declined
            target = _entity_service(tracker) or (current if aspect and aspect != "overview" else None)
            if target:
                answer = bot.service_answer(
                    target, aspect or "overview", question=text, community=known_community(tracker)
                )
            elif not getattr(answer, "matter_category", None):  # a community matter is answered, not a gap
                record_gap(tracker, text, "out_of_scope", answer.kb_version)
        return send_answer(dispatcher, answer, aspect)


class ActionFallbackAnswer(Action):
    """Low NLU confidence: let retrieval try; it says honestly when the knowledge base has nothing."""

    def name(self) -> str:
        return "action_fallback_answer"

    @polite
    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        from actions.loop import ActionRateFollowup, answers_followup

        if answers_followup(tracker):  # a typed 回访 answer DIET was unsure of
            return ActionRateFollowup().run(dispatcher, tracker, domain)
        text = user_text(tracker)
        if not text:
            dispatcher.utter_message(response="utter_empty_message")
            return []
        answer = assistant().ask(
            text, top_k=3, service_hint=tracker.get_slot("current_service"), community=known_community(tracker)
        )
        if answer.kind == "out_of_scope" and not getattr(answer, "matter_category", None):
            record_gap(tracker, text, "nlu_fallback", answer.kb_version)
        return send_answer(dispatcher, answer, None)


class ActionOutOfScope(Action):
    def name(self) -> str:
        return "action_out_of_scope"

    @polite
    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        from actions.loop import ActionRateFollowup, answers_followup

        if answers_followup(
            tracker
        ):  # "不满意，车库还是积水" right after the 回访 question: the answer and its comment
            return ActionRateFollowup().run(dispatcher, tracker, domain)
        text = user_text(tracker)
        if text:
            record_gap(tracker, text, "out_of_scope_intent")
        dispatcher.utter_message(response="utter_off_topic")
        return []
