"""The closed loop's chat actions in process (tests/test_actions_inprocess.py style): the co-sign offer in the form,
催办 with evidence, the follow-up answer by button and by typed words, and forged identities. Real SQLite store,
real embedding model for the co-sign detector; no Rasa, no HTTP."""

from __future__ import annotations

import json

import pytest
from rasa_sdk.events import SlotSet

from actions import common
from actions.consultation_form import ActionSubmitConsultation, ValidateConsultationForm
from actions.feedback import ActionRecordFeedback
from actions.loop import ActionAskCosignChoice, ActionRateFollowup, ActionUrgeConsultation
from actions.status import ActionConsultationStatus, ActionNotifyConsultationStatus
from bot.consultations.service import ConsultationService
from tests.replies import render
from tests.test_actions_inprocess import SENDER, _form_turn, names, run, tracker, user

LIFT = "幸福家园3号楼的电梯坏了三天了，物业一直不修"
SIMILAR = "幸福家园3号楼电梯坏了好几天，没人来修"


@pytest.fixture
def svc(migrated_sqlite_url, monkeypatch):
    """The store the actions use (as in tests/test_actions_inprocess.py)."""
    service = ConsultationService(migrated_sqlite_url, use_embedding=False)
    monkeypatch.setitem(common._cache, "consultations", service)
    yield service
    service.delivery.stop()


def _neighbour_item(svc):
    return svc.submit("rest", "neighbour", "n-1", "xingfu", LIFT)


def _payload(intent: str, **entities):
    ents = [{"entity": k, "value": v} for k, v in entities.items()]
    return tracker([user("/" + intent, intent, ents)])


def _typed(text: str, intent: str, slots: dict | None = None):
    return tracker([user(text, intent)], slots)


def test_a_similar_open_item_is_offered_and_the_form_skips_to_the_cosign(svc):
    item = _neighbour_item(svc)
    t = _form_turn("consultation_community", "xingfu", "幸福社区", slots={"consultation_topic": SIMILAR})
    messages, events = run(ValidateConsultationForm(), t)
    assert SlotSet("cosign_candidate", item.tracking_no) in events
    assert events[-1] == SlotSet("requested_slot", "cosign_choice")
    offer, _ = run(
        ActionAskCosignChoice(), tracker([user("幸福社区", "inform")], {"cosign_candidate": item.tracking_no})
    )
    assert names(offer) == ["utter_cosign_offer"] and item.tracking_no in render(offer[0])
    assert [b["title"] for b in offer[0]["buttons"]] == ["附议", "仍要单独提交"]


def test_a_different_matter_gets_no_offer(svc):
    _neighbour_item(svc)
    t = _form_turn(
        "consultation_community", "xingfu", "幸福社区", slots={"consultation_topic": "社区食堂的饭菜太咸了，老人吃不惯"}
    )
    _, events = run(ValidateConsultationForm(), t)
    assert SlotSet("cosign_candidate", None) in events
    assert events[-1] == SlotSet("requested_slot", "contact_choice")


def test_cosign_choice_words_and_the_cosign_submission(svc):
    item = _neighbour_item(svc)
    slots = {"consultation_topic": SIMILAR, "consultation_community": "xingfu", "cosign_candidate": item.tracking_no}
    for typed, expected in (("附议", "cosign"), ("仍要单独提交", "separate"), ("嗯嗯好的", "cosign"), ("😀", None)):
        _, events = run(ValidateConsultationForm(), _form_turn("cosign_choice", typed, typed, slots=slots))
        assert SlotSet("cosign_choice", expected) in events, typed
    done = {**slots, "cosign_choice": "cosign"}
    messages, events = run(ActionSubmitConsultation(), tracker([user("/inform", "inform")], done))
    assert names(messages)[0] == "utter_cosigned" and item.tracking_no in render(messages[0])
    assert "已提交" in render(messages[0]) and SlotSet("tracking_number", item.tracking_no) in events
    assert svc.reports.count_for_committee(None) == 1  # no new item
    again, _ = run(ActionSubmitConsultation(), tracker([user("/inform", "inform")], done))
    assert "已经" in again[0]["text"] and svc.loop.counts(item.tracking_no).cosigners == 1


def test_urge_needs_a_number_and_once_a_day(svc):
    mine = svc.submit("rest", SENDER, "m-1", "xingfu", LIFT)
    messages, _ = run(ActionUrgeConsultation(), _typed("能不能催一下", "urge_consultation"))
    assert names(messages) == ["utter_urge_which"] and svc.loop.counts(mine.tracking_no).urges == 0
    messages, _ = run(ActionUrgeConsultation(), _payload("urge_consultation", tracking_number=mine.tracking_no))
    assert names(messages)[0] == "utter_urged"
    messages, _ = run(ActionUrgeConsultation(), _typed(f"催办 {mine.tracking_no.lower()}", "urge_consultation"))
    assert names(messages)[0] == "utter_urge_already" and "今天已经催办过" in render(messages[0])
    other = _neighbour_item(svc)  # someone else's number: no urge, the usual "not yours"
    messages, _ = run(ActionUrgeConsultation(), _typed(f"催办 {other.tracking_no}", "urge_consultation"))
    assert "没有查到" in messages[0]["text"] and svc.loop.counts(other.tracking_no).urges == 0


def test_status_reply_of_an_open_item_carries_the_urge_button(svc):
    mine = svc.submit("rest", SENDER, "m-1", "xingfu", LIFT)
    messages, _ = run(ActionConsultationStatus(), _typed(f"查一下{mine.tracking_no}", "check_consultation_status"))
    assert messages[0]["buttons"][0]["title"] == "催一下"
    assert mine.tracking_no in messages[0]["buttons"][0]["payload"]


def _resolved(svc):
    mine = svc.submit("rest", SENDER, "m-1", "xingfu", LIFT)
    svc.change_status(mine.tracking_no, "accepted", "member")
    svc.change_status(mine.tracking_no, "resolved", "member", "已修好")
    return mine


def test_the_resolution_push_asks_the_followup_with_buttons(svc):
    mine = _resolved(svc)
    push = next(o for o in svc.delivery.outbox(mine.tracking_no) if '"followup"' in o.payload)
    ents = [{"entity": k, "value": v} for k, v in json.loads(push.payload).items()]
    t = tracker(
        [
            {
                **user("EXTERNAL: EXTERNAL_consultation_status", "EXTERNAL_consultation_status", ents),
                "metadata": {"is_external": True},
            }
        ]
    )
    t.latest_message["metadata"] = {"is_external": True}
    messages, events = run(ActionNotifyConsultationStatus(), t)
    assert "满意" in messages[0]["text"] and [b["title"] for b in messages[0]["buttons"]] == [
        "满意",
        "基本满意",
        "不满意",
    ]
    assert messages[0]["text"] == push.message
    assert events == [SlotSet("followup_tracking", mine.tracking_no)]


def test_typed_unsatisfied_after_the_push_reopens_with_the_comment(svc):
    mine = _resolved(svc)
    t = _typed("不满意，电梯还是停\x07 😡", "feedback_negative", {"followup_tracking": mine.tracking_no})
    messages, events = run(ActionRecordFeedback(), t)
    assert names(messages)[0] == "utter_followup_reopened"
    got = svc.get(mine.tracking_no)
    assert got.status == "accepted" and "电梯还是停 😡" in got.trail[-1].note
    assert SlotSet("followup_tracking", None) in events
    messages, _ = run(
        ActionRateFollowup(), _payload("rate_followup", rating="satisfied", tracking_number=mine.tracking_no)
    )
    assert names(messages)[0] == "utter_followup_answered"


def test_feedback_words_without_a_pending_followup_stay_feedback(svc):
    messages, _ = run(ActionRecordFeedback(), _typed("不满意", "feedback_negative"))
    assert names(messages) == ["utter_feedback_sorry"]


def test_followup_for_a_withdrawn_item_and_forged_numbers(svc):
    mine = svc.submit("rest", SENDER, "m-1", "xingfu", LIFT)
    svc.withdraw(mine.tracking_no, "rest", SENDER)
    messages, _ = run(
        ActionRateFollowup(), _payload("rate_followup", rating="unsatisfied", tracking_number=mine.tracking_no)
    )
    assert names(messages)[0] == "utter_followup_withdrawn"
    other = _neighbour_item(svc)
    svc.change_status(other.tracking_no, "accepted", "member")
    svc.change_status(other.tracking_no, "resolved", "member")
    messages, _ = run(
        ActionRateFollowup(), _payload("rate_followup", rating="unsatisfied", tracking_number=other.tracking_no)
    )
    assert "没有查到" in messages[0]["text"] and svc.get(other.tracking_no).status == "resolved"
    messages, _ = run(
        ActionRateFollowup(), _payload("rate_followup", rating="great", tracking_number=other.tracking_no)
    )
    assert names(messages) == ["utter_followup_choose"]
    huge = "不满意" + "还是坏的" * 300
    messages, _ = run(ActionRateFollowup(), _typed(huge, "feedback_negative", {"followup_tracking": other.tracking_no}))
    assert names(messages) == ["utter_followup_choose"]  # too long to be an answer: asked again, nothing stored


@pytest.mark.parametrize(
    "text, urge",
    [
        ("催办 YS-20261201-0001", True),
        ("帮我催一下ys-20261201-0001", True),
        ("能不能催一下", False),  # no number: not an urge
        ("催办一般多久有回复？", False),
        ("查一下YS-20261201-0001", False),  # a number without 催: a status lookup
    ],
)
def test_an_urge_needs_a_number_and_the_word(text, urge):
    from rasa_addons.evidence import is_urge_request, lacks_evidence

    assert is_urge_request(text) is urge
    assert lacks_evidence("urge_consultation", text) is not urge


@pytest.mark.parametrize(
    "text, rating",
    [
        ("不满意", "unsatisfied"),
        ("还是没解决", "unsatisfied"),
        ("基本满意", "basically_satisfied"),
        ("满意", "satisfied"),
        ("修好了，谢谢", "satisfied"),
        ("低保怎么申请？", None),
        ("😀", None),
        ("", None),
        ("不满意" + "很" * 100, None),
    ],
)
def test_typed_followup_answers(text, rating):
    from rasa_addons.evidence import rating_of

    assert rating_of(text) == rating


@pytest.mark.parametrize("action", ["out_of_scope", "fallback"])
def test_a_typed_answer_with_a_comment_read_as_off_topic_still_answers_the_followup(svc, action):
    """DIET may read "不满意，车库还是积水" as out of scope or be unsure: right after the 回访 question it is the answer."""
    from actions.answers import ActionFallbackAnswer, ActionOutOfScope

    mine = _resolved(svc)
    act = ActionOutOfScope() if action == "out_of_scope" else ActionFallbackAnswer()
    t = _typed("不满意，下雨车库还是积水", "out_of_scope", {"followup_tracking": mine.tracking_no})
    messages, events = run(act, t)
    assert names(messages)[0] == "utter_followup_reopened"
    assert "下雨车库还是积水" in svc.get(mine.tracking_no).trail[-1].note
    messages, _ = run(act, _typed("这个超出范围了吧", "out_of_scope"))  # no follow-up asked: off topic as before
    assert "utter_followup_reopened" not in names(messages)
