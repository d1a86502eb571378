"""The answer action over the real assistant: follow-up buttons, details on request, declines that stay declined."""

from __future__ import annotations

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.answers import FOLLOW_UPS, ActionAnswerQuestion, payload_aspect


def _tracker(text: str, intent: str, slots: dict | None = None, entities: list | None = None) -> Tracker:
    latest = {"text": text, "intent": {"name": intent, "confidence": 1.0}, "entities": entities or []}
    return Tracker("t-actions", slots or {}, latest, [], False, None, {}, "action_listen")


def _run(tracker: Tracker) -> tuple[list[dict], list]:
    dispatcher = CollectingDispatcher()
    events = ActionAnswerQuestion().run(dispatcher, tracker, {})
    return dispatcher.messages, events


def test_buttons_offer_the_four_details():
    assert [t for _, t, _ in FOLLOW_UPS] == ["怎么办", "要带什么", "在哪办", "哪个部门负责"]


def test_payload_names_its_aspect():
    assert payload_aspect(_tracker('/ask_how_to_apply{"aspect":"materials"}', "ask_how_to_apply")) == "materials"
    assert payload_aspect(_tracker("/ask_how_to_apply", "ask_how_to_apply")) is None
    assert payload_aspect(_tracker('/ask_how_to_apply{"aspect":"rm -rf"}', "ask_how_to_apply")) is None
    assert payload_aspect(_tracker("/ask_how_to_apply{not json", "ask_how_to_apply")) is None


def test_materials_button_answers_only_the_materials():
    from bot.retrieval import get_assistant

    svc = get_assistant().kb.service("home-elderly-care")
    payload = next(p for a, _, p in FOLLOW_UPS if a == "materials")
    messages, _ = _run(_tracker(payload, "ask_how_to_apply", {"current_service": svc.id}))
    text = messages[0]["text"]
    assert svc.how_to_apply.materials and all(m in text for m in svc.how_to_apply.materials)
    assert svc.how_to_apply.steps[0] not in text  # not the whole block again
    titles = [b["title"] for b in messages[0]["buttons"]]
    assert "要带什么" not in titles and "怎么办" in titles
    assert text.count("来源：") == 1 and "home-elderly-care" not in text


@pytest.mark.parametrize("question", ["北京的医保报销比例是多少", "我胸口疼，医保能报吗"])
def test_a_declined_topic_is_not_turned_into_a_service_card(question):
    messages, _ = _run(
        _tracker(question, "ask_service", entities=[{"entity": "service", "value": "medical-insurance-service"}])
    )
    text = messages[0]["text"]
    assert "来源" not in text and ("12345" in text or "120" in text)


def test_where_names_the_residents_own_committee_when_the_conversation_knows_the_community():
    """No real contact in the catalogue: the reply says whom to ask, in the resident's community when it is known."""
    from bot.retrieval import get_assistant

    kb = get_assistant().kb
    svc = next(s for s in kb.services if s.contact is None or s.contact.example)
    community = kb.communities[-1]
    office = next(m for m in community.committees if m.fallback)
    payload = next(p for a, _, p in FOLLOW_UPS if a == "where")
    messages, _ = _run(
        _tracker(payload, "ask_where", {"current_service": svc.id, "consultation_community": community.id})
    )
    assert office.name in messages[0]["text"] and "示例" not in messages[0]["text"]
    messages, _ = _run(_tracker(payload, "ask_where", {"current_service": svc.id}))
    assert office.name not in messages[0]["text"] and "居（村）委会" in messages[0]["text"]
    # a typed question in the same conversation gets the same local pointer
    messages, _ = _run(_tracker(f"{svc.name}在哪办", "ask_where", {"consultation_community": community.id}))
    assert office.name in messages[0]["text"]
