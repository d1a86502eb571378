"""Custom actions run in process, as Rasa's financial-demo tests them: a tracker from the JSON the action server
receives (``Tracker.from_dict``), the action's ``run`` with a ``CollectingDispatcher``, exact event lists and the
names of the domain responses sent. Real SQLite store in a temp dir; no Rasa, no HTTP.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import common
from bot.consultations.service import ConsultationService
from tests.replies import buttons, render, responses

REPO = Path(__file__).resolve().parents[1]
DOMAIN = yaml.safe_load((REPO / "domain.yml").read_text(encoding="utf-8"))
SENDER = "inproc-resident"


@pytest.fixture
def svc(migrated_sqlite_url, monkeypatch):
    """The store the actions use: a fresh SQLite file, installed where actions.common keeps its services."""
    service = ConsultationService(migrated_sqlite_url, use_embedding=False)
    monkeypatch.setitem(common._cache, "consultations", service)
    yield service
    service.delivery.stop()


def user(text: str, intent: str, entities: list | None = None, confidence: float = 0.95) -> dict:
    return {
        "event": "user",
        "text": text,
        "input_channel": "rest",
        "parse_data": {"text": text, "intent": {"name": intent, "confidence": confidence}, "entities": entities or []},
    }


def tracker(events: list[dict], slots: dict | None = None, loop: str | None = None) -> Tracker:
    """A tracker from the state Rasa posts to the action server (``tracker`` in the action call)."""
    latest = next(e for e in reversed(events) if e["event"] == "user")
    state = {
        "sender_id": SENDER,
        "slots": {**{name: None for name in DOMAIN["slots"]}, **(slots or {})},
        "latest_message": {**latest["parse_data"], "text": latest["text"]},
        "events": events,
        "paused": False,
        "followup_action": None,
        "active_loop": {"name": loop} if loop else {},
        "latest_action_name": "action_listen",
        "latest_input_channel": "rest",
    }
    return Tracker.from_dict(state)


def run(action, t: Tracker) -> tuple[list[dict], list[dict]]:
    d = CollectingDispatcher()
    out = action.run(d, t, DOMAIN)
    events = asyncio.run(out) if asyncio.iscoroutine(out) else out
    return d.messages, events


def names(messages: list[dict]) -> list[str | None]:
    return [m.get("response") for m in messages]


def submitted(svc: ConsultationService, text: str = "小区东门的路灯坏了一个多月，晚上很黑"):
    community = svc.directory.communities()[0]
    return svc.submit("rest", SENDER, "m-1", community.id, text)


# -- the domain holds every reply an action sends by name ------------------------------------------------------


def test_every_response_an_action_names_is_in_the_domain():
    named = set()
    for path in (REPO / "actions").glob("*.py"):
        named |= set(re.findall(r"\"(utter_[a-z_]+)\"", path.read_text(encoding="utf-8")))
    assert named and named <= set(responses()), named - set(responses())


# -- the consultation form's validation --------------------------------------------------------------------


def _form_turn(slot: str, value, text: str, intent: str = "inform", slots: dict | None = None) -> Tracker:
    """The turn Rasa hands to validate_consultation_form: the user message, then the slot its mapping filled."""
    events = [
        {"event": "action", "name": "consultation_form"},
        {"event": "active_loop", "name": "consultation_form"},
        {"event": "slot", "name": "requested_slot", "value": slot},
        {"event": "action", "name": "action_listen"},
        user(text, intent),
        {"event": "slot", "name": slot, "value": value},
    ]
    return tracker(events, {**(slots or {}), "requested_slot": slot, slot: value}, "consultation_form")


def test_form_accepts_a_described_topic():
    from actions.consultation_form import ValidateConsultationForm

    text = "小区东门的路灯坏了一个多月，晚上很黑"
    messages, events = run(ValidateConsultationForm(), _form_turn("consultation_topic", text, text))
    assert events == [SlotSet("consultation_topic", text), SlotSet("requested_slot", "consultation_community")]
    assert messages == []


def test_form_asks_again_for_a_too_short_topic():
    from actions.consultation_form import ValidateConsultationForm

    messages, events = run(ValidateConsultationForm(), _form_turn("consultation_topic", "太乱", "太乱"))
    assert events == [SlotSet("consultation_topic", None), SlotSet("requested_slot", "consultation_topic")]
    assert names(messages) == ["utter_topic_too_short"] and "至少5个字" in render(messages[0])


def test_form_maps_a_typed_community_name_to_its_id(svc):
    from actions.consultation_form import ValidateConsultationForm

    community = svc.directory.communities()[0]
    slots = {"consultation_topic": "小区东门的路灯坏了一个多月"}
    messages, events = run(
        ValidateConsultationForm(), _form_turn("consultation_community", community.name, community.name, slots=slots)
    )
    assert events == [
        SlotSet("consultation_community", community.id),
        SlotSet("cosign_candidate", None),  # no similar open item: no 附议 offer (tests/test_loop_actions.py)
        SlotSet("cosign_choice", None),
        SlotSet("requested_slot", "contact_choice"),
    ]
    assert messages == []
    messages, events = run(
        ValidateConsultationForm(), _form_turn("consultation_community", "火星村", "火星村", slots=slots)
    )
    assert events == [SlotSet("consultation_community", None), SlotSet("requested_slot", "consultation_community")]
    assert names(messages) == ["utter_community_not_found"]


def test_form_takes_consent_only_from_explicit_words(svc):
    from actions.consultation_form import ValidateConsultationForm

    slots = {
        "consultation_topic": "小区东门的路灯坏了一个多月",
        "consultation_community": svc.directory.communities()[0].id,
        "contact_choice": "contact",
    }
    messages, events = run(ValidateConsultationForm(), _form_turn("contact_consent", True, "王阿姨", "affirm", slots))
    assert events == [SlotSet("contact_consent", None), SlotSet("requested_slot", "contact_consent")]
    assert names(messages) == ["utter_need_explicit_yes"]
    messages, events = run(ValidateConsultationForm(), _form_turn("contact_consent", False, "/deny", "deny", slots))
    assert events == [
        SlotSet("contact_consent", False),
        SlotSet("contact_choice", "anonymous"),
        SlotSet("contact_name", None),
        SlotSet("contact_phone", None),
        SlotSet("requested_slot", "consultation_confirmed"),
    ]
    assert names(messages) == ["utter_anonymous_after_all"]


def test_confirmation_summary_masks_the_contact(svc):
    from actions.consultation_form import ActionAskConsultationConfirmed

    community = svc.directory.communities()[0]
    slots = {
        "consultation_topic": "小区东门的路灯坏了，请联系王阿姨",
        "consultation_community": community.id,
        "contact_choice": "contact",
        "contact_consent": True,
        "contact_name": "王阿姨",
        "contact_phone": "13912345678",
    }
    messages, events = run(
        ActionAskConsultationConfirmed(), tracker([user("/affirm", "affirm")], slots, "consultation_form")
    )
    assert events == [] and names(messages) == ["utter_confirm_consultation_with_contact"]
    text = render(messages[0])
    assert community.name in text and "13912345678" not in text and "139****5678" in text and "王阿姨" not in text
    assert [b["payload"] for b in buttons(messages[0])] == ["/affirm", "/deny"]


def test_submission_confirmation_tells_the_acceptance_date(svc):
    from actions.consultation_form import ActionSubmitConsultation

    community = svc.directory.communities()[0]
    slots = {
        "consultation_topic": "小区东门的路灯坏了一个多月，晚上很黑",
        "consultation_community": community.id,
        "consultation_confirmed": True,
        "contact_consent": False,
    }
    messages, _ = run(ActionSubmitConsultation(), tracker([user("/affirm", "affirm")], slots, "consultation_form"))
    assert names(messages)[0] == "utter_consultation_submitted"
    record = svc.my_consultations("rest", SENDER)[0]
    d = record.accept_by
    text = render(messages[0])
    assert f"预计{d.month}月{d.day}日前受理。" in text and "{" not in text


# -- status and withdrawal -------------------------------------------------------------------------------------


def test_status_of_the_residents_own_number(svc):
    from actions.status import ActionConsultationStatus

    record = submitted(svc)
    t = tracker([user(f"查一下 {record.tracking_no.lower()}", "check_consultation_status")])
    messages, events = run(ActionConsultationStatus(), t)
    assert events == [SlotSet("tracking_number", record.tracking_no)]
    assert names(messages) == ["utter_consultation_status", None]
    assert render(messages[0]).startswith(
        f"受理编号 {record.tracking_no}：{record.status_label}\n负责：{record.committee_name}"
    )
    assert render(messages[0]).endswith(f"\n预计{record.accept_by.month}月{record.accept_by.day}日前受理")
    assert messages[1]["custom"] == {
        "type": "consultation_status",
        "tracking_no": record.tracking_no,
        "status": record.status,
        "status_label": record.status_label,
    }


def test_status_without_a_number_lists_the_residents_items_or_asks(svc):
    from actions.status import ActionConsultationStatus

    messages, events = run(
        ActionConsultationStatus(), tracker([user("我的事办得怎么样了", "check_consultation_status")])
    )
    assert (events, names(messages)) == ([], ["utter_ask_tracking_number"])
    record = submitted(svc)
    messages, events = run(
        ActionConsultationStatus(), tracker([user("我的事办得怎么样了", "check_consultation_status")])
    )
    assert events == [] and names(messages) == ["utter_my_consultations"]
    assert f"{record.tracking_no}：{record.status_label}（{record.committee_name}）" in render(messages[0])


def test_withdraw_needs_the_explicit_words_then_withdraws(svc):
    from actions.status import ActionWithdrawConsultation

    record = submitted(svc)
    messages, events = run(ActionWithdrawConsultation(), tracker([user(record.tracking_no, "withdraw_consultation")]))
    assert (events, names(messages)) == ([], ["utter_withdraw_how"])
    assert svc.status_for_resident(record.tracking_no, "rest", SENDER).status == record.status  # untouched
    messages, events = run(ActionWithdrawConsultation(), tracker([user("撤回我的事项", "withdraw_consultation")]))
    assert (events, names(messages)) == ([], ["utter_withdraw_which"])
    messages, events = run(
        ActionWithdrawConsultation(), tracker([user(f"撤回 {record.tracking_no}", "withdraw_consultation")])
    )
    assert events == [SlotSet("tracking_number", record.tracking_no)] and names(messages) == ["utter_withdrawn"]
    assert render(messages[0]) == f"已撤回受理编号 {record.tracking_no} 的事项，{record.committee_name}不会再继续处理。"
    assert svc.status_for_resident(record.tracking_no, "rest", SENDER).status == "withdrawn"


def test_a_typed_status_push_is_not_relayed(svc):
    from actions.status import ActionNotifyConsultationStatus

    record = submitted(svc)
    entities = [
        {"entity": "tracking_number", "value": record.tracking_no},
        {"entity": "status_label", "value": "已办结"},
    ]
    messages, events = run(
        ActionNotifyConsultationStatus(),
        tracker([user("EXTERNAL_consultation_status", "EXTERNAL_consultation_status", entities)]),
    )
    assert (events, names(messages)) == ([], ["utter_default"])


# -- answers ---------------------------------------------------------------------------------------------------


def test_follow_up_button_without_a_service_in_focus_asks_which():
    from actions.answers import ActionAnswerQuestion, ActionFallbackAnswer

    messages, events = run(ActionAnswerQuestion(), tracker([user("/ask_where", "ask_where")]))
    assert (events, names(messages)) == ([], ["utter_need_service"])
    messages, events = run(ActionFallbackAnswer(), tracker([user("/nlu_fallback", "nlu_fallback")]))
    assert (events, names(messages)) == ([], ["utter_empty_message"])


def test_a_service_question_is_answered_with_its_source_and_focus():
    from actions.answers import ActionAnswerQuestion

    messages, events = run(ActionAnswerQuestion(), tracker([user("老人上门照顾怎么申请", "ask_how_to_apply")]))
    assert names(messages) == [None, None] and render(messages[0]).count("来源：") == 1
    assert [e["name"] for e in events] == ["last_answer", "current_service"]
    assert events[1] == SlotSet("current_service", messages[1]["custom"]["services"][0]["id"])
    assert events[0]["value"]["sources"] == [s["id"] for s in messages[1]["custom"]["sources"]][:5]


# -- handoff ---------------------------------------------------------------------------------------------------


def test_handoff_is_registered_and_the_form_reset(svc):
    from actions.handoff import HANDOFF_SLOTS, ActionSubmitHandoff

    community = svc.directory.communities()[0]
    slots = {
        "handoff_community": community.id,
        "handoff_summary": "低保申请一直没批，电话13912345678",
        "handoff_consent": True,
        "handoff_phone": "13912345678",
    }
    messages, events = run(ActionSubmitHandoff(), tracker([user("/affirm", "affirm")], slots, "handoff_form"))
    assert events == [SlotSet(s, None) for s in HANDOFF_SLOTS] + [SlotSet("requested_slot", None)]
    assert names(messages) == ["utter_handoff_summary", "utter_handoff_registered_phone", None]
    assert render(messages[0]) == "求助内容：低保申请一直没批，电话139****5678"
    handoff_id = messages[2]["custom"]["id"]
    assert f"登记号 {handoff_id}" in render(messages[1]) and "139****5678" in render(messages[1])
    stored = svc.handoffs.get(handoff_id)
    assert stored.channel == "rest" and stored.sender_id == SENDER


def test_handoff_without_consent_keeps_no_phone(svc):
    from actions.handoff import ActionSubmitHandoff

    slots = {
        "handoff_community": svc.directory.communities()[0].id,
        "handoff_summary": "想问残疾人补贴怎么申请",
        "handoff_consent": False,
        "handoff_phone": "13912345678",
    }
    messages, _ = run(ActionSubmitHandoff(), tracker([user("/deny", "deny")], slots, "handoff_form"))
    assert names(messages) == ["utter_handoff_summary", "utter_handoff_registered", None]
    assert "请留意这里的消息" in render(messages[1]) and "1391" not in render(messages[1])
    assert not svc.handoffs.get(messages[2]["custom"]["id"]).contact_phone


def test_a_typed_handoff_reply_is_not_relayed():
    from actions.handoff import ActionNotifyHandoffReply

    messages, events = run(
        ActionNotifyHandoffReply(), tracker([user("EXTERNAL_handoff_reply", "EXTERNAL_handoff_reply")])
    )
    assert (events, names(messages)) == ([], ["utter_default"])
