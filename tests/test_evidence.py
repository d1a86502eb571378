"""Evidence rules of transactional intents (rasa_addons/evidence.py, stdlib only) and the in-form actions
that rely on them (consent, correction in place, topic from the conversation), in process."""

from __future__ import annotations

import re

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from rasa_addons import evidence
from tests.replies import render
from tests.stack import REPO

_ANNOTATION = re.compile(r"\[([^\]]+)\]\([^)]+\)")


def _examples(path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"]:
        if "intent" in item:
            out.setdefault(item["intent"], []).extend(
                _ANNOTATION.sub(r"\1", ln[2:].strip()) for ln in item["examples"].splitlines() if ln.startswith("- ")
            )
    return out


@pytest.mark.parametrize("path", ["nlu_data/nlu.yml", "tests/rasa/nlu_test.yml"])
def test_every_transactional_training_and_held_out_example_carries_its_evidence(path):
    """The rules must not demote what residents say when they do mean the transaction."""
    examples = _examples(REPO / path)
    missing = {i: [t for t in examples.get(i, []) if not check(t)] for i, check in evidence.EVIDENCE.items()}
    assert not any(missing.values()), missing


@pytest.mark.parametrize(
    "text", ["王阿姨", "李建国", "张三", "138 0000 1234", "是我本人", "对呀我叫王芳", "嗯嗯我姓刘", "不知道"]
)
def test_a_name_or_other_text_is_not_consent(text):
    assert not evidence.is_explicit_yes(text)
    assert evidence.lacks_evidence("affirm", text)


@pytest.mark.parametrize(
    "text", ["同意", "可以", "好的", "是的", "确认", "确认提交", "嗯，对", "可以的！", "好的好的", "OK", "👌"]
)
def test_explicit_yes_words_are_consent(text):
    assert evidence.is_explicit_yes(text)


@pytest.mark.parametrize(
    "intent,text",
    [
        ("goodbye", "好的我知道了，拜拜之前再问一句，社区食堂老人吃饭有优惠吗"),
        ("goodbye", "再见前问下，托育补贴怎么领？"),
        ("withdraw_consultation", "跟楼上邻居因为漏水闹纠纷了，社区能帮忙调解吗"),
        ("withdraw_consultation", "调解协议签了还能撤销吗"),
        ("start_consultation", "规划里议事协商那一部分是哪些部门负责的"),
        ("start_consultation", "第七章里的议事协商机制是什么意思"),
        ("check_consultation_status", "多久有人回复？"),
        ("check_consultation_status", "要多长时间"),
        ("check_consultation_status", "我提交的诉求一般几天能处理"),
        ("thanks", "谢谢，那残疾人两项补贴在哪里申请呢"),
        ("greet", "你好，请问社区养老服务站在哪个位置"),
        ("ask_consultation_process", "137-0000-5678"),
        ("ask_consultation_process", "王秀兰"),
    ],
)
def test_transactional_intent_without_evidence_is_demoted(intent, text):
    assert evidence.lacks_evidence(intent, text)


@pytest.mark.parametrize(
    "intent,text",
    [
        ("goodbye", "好的，拜拜"),
        ("goodbye", "今天就先到这里吧"),
        ("withdraw_consultation", "撤回 ys-20260101-0001"),
        ("withdraw_consultation", "我要撤回之前提交的诉求"),
        ("check_consultation_status", "YS-20260101-0001"),
        ("check_consultation_status", "我反映的事情处理得怎么样了"),
        ("start_consultation", "我想反映一下小区停车的问题"),
        ("start_consultation", "发起议事协商"),
        ("ask_consultation_process", "提交以后多久有人回复"),
        ("ask_consultation_process", "会不会泄露我的电话"),
    ],
)
def test_transactional_intent_with_evidence_is_kept(intent, text):
    assert not evidence.lacks_evidence(intent, text)


def test_tracking_number_pattern_agrees_with_the_app():
    from bot.consultations.tracking import IN_TEXT, PATTERN

    for text in ("YS-20260101-0001", "ys-20261231-12345"):
        assert evidence.has_tracking_number(text) and IN_TEXT.search(text)
        assert PATTERN.match(text.upper())
    for text in ("YS-2026011-0001", "YS20260101-0001", "编号20260101"):
        assert not evidence.has_tracking_number(text) and not IN_TEXT.search(text)


# --- actions in process -----------------------------------------------------------------------------------
def _tracker(
    events: list[dict], slots: dict | None = None, loop: str | None = None, latest: dict | None = None
) -> Tracker:
    latest = latest or next(
        (e["parse_data"] | {"text": e["text"]} for e in reversed(events) if e["event"] == "user"), {}
    )
    return Tracker("t1", slots or {}, latest, events, False, None, {"name": loop} if loop else {}, "action_listen")


def _user(text: str, intent: str) -> dict:
    return {
        "event": "user",
        "text": text,
        "parse_data": {"intent": {"name": intent, "confidence": 0.9}, "entities": [], "text": text},
    }


def test_last_substantive_message_skips_buttons_small_talk_and_stops_at_an_earlier_form():
    from actions.context import last_substantive_message

    events = [
        _user("小区电梯坏了三次", "nlu_fallback"),
        {"event": "action", "name": "action_submit_consultation"},
        _user("你好", "greet"),
        _user("楼道的灯坏了一个月了，晚上很黑", "ask_service"),
        _user("/feedback_positive", "feedback_positive"),
        _user("谢谢", "thanks"),
        _user("/start_consultation", "start_consultation"),
    ]
    assert last_substantive_message(_tracker(events)) == "楼道的灯坏了一个月了，晚上很黑"
    assert (
        last_substantive_message(_tracker(events[:4] + [_user("/start_consultation", "start_consultation")]))
        == "楼道的灯坏了一个月了，晚上很黑"
    )
    assert last_substantive_message(_tracker(events[:3] + [_user("/start_consultation", "start_consultation")])) is None


@pytest.mark.parametrize(
    "text,field",
    [
        ("社区选错了", "community"),
        ("改一下社区", "community"),
        ("电话填错了", "phone"),
        ("名字写错了", "name"),
        ("事项写得不对", "topic"),
        ("我不想匿名了", "contact"),
    ],
)
def test_correction_clears_only_that_field_and_the_confirmation(text, field):
    from actions.correction import ActionCorrectFormField

    slots = {
        "consultation_topic": "楼道堆满杂物",
        "consultation_community": "xingfu",
        "contact_choice": "contact",
        "contact_consent": True,
        "contact_name": "王阿姨",
        "contact_phone": "13800001234",
        "consultation_confirmed": None,
        "requested_slot": "consultation_confirmed",
    }
    d = CollectingDispatcher()
    events = ActionCorrectFormField().run(
        d, _tracker([_user(text, "correct_form_field")], slots, "consultation_form"), {}
    )
    cleared = {e["name"] for e in events if e["event"] == "slot" and e["value"] is None}
    expected = {
        "community": {"consultation_community"},
        "phone": {"contact_phone"},
        "name": {"contact_name"},
        "topic": {"consultation_topic"},
        "contact": {"contact_choice", "contact_consent", "contact_name", "contact_phone"},
    }[field]
    assert cleared == expected | {"consultation_confirmed", "requested_slot"}
    assert "重新填" in render(d.messages[0])


def test_typed_name_at_the_consent_question_is_re_asked_not_recorded():
    from actions.consultation_form import ValidateConsultationForm

    d = CollectingDispatcher()
    out = ValidateConsultationForm().validate_contact_consent(True, d, _tracker([_user("王阿姨", "affirm")]), {})
    assert out == {"contact_consent": None} and "同意" in render(d.messages[0])
    d = CollectingDispatcher()
    out = ValidateConsultationForm().validate_contact_consent(True, d, _tracker([_user("/affirm", "affirm")]), {})
    assert out == {"contact_consent": True}


@pytest.mark.parametrize(
    "text,expected",
    [
        ("社区选错了", True),
        ("改一下社区", True),
        ("社区不是这个", True),
        ("电话填错了", True),
        ("选错村了", True),
        ("村里的路灯坏了要换", False),
        ("小区垃圾分类的桶太少了", False),
        ("不对", False),
    ],
)
def test_a_correction_names_a_field_next_to_a_word_of_correction(text, expected):
    """DIET read "社区不是这个" as deny (the form said 没太明白): the guard turns such words into a correction."""
    assert evidence.is_correction(text) is expected


@pytest.mark.parametrize(
    "text,expected",
    [
        ("多久有人回复？", True),
        ("要多长时间", True),
        ("提交了会通知我吗", True),
        ("小区东门的路灯坏了一个多月，晚上很黑", False),
        ("小区垃圾分类的桶太少了", False),
        ("几天能有人回复", True),
        ("幸福路上的路灯坏了好几天，晚上走路很黑", False),  # 好几天 says how long it has lasted: a matter
        ("这几天楼下一直在施工，吵得睡不着", False),
    ],
)
def test_a_process_question_is_told_apart_from_a_matter(text, expected):
    assert evidence.is_process_question(text) is expected
    assert evidence.asks_about_the_process(text) is expected


def test_topic_taken_from_the_conversation_is_quoted_masked():
    """The quote repeats the resident's words: a phone in them is masked (tests/test_security.py caught it)."""
    import asyncio

    from actions.consultation_form import ValidateConsultationForm

    matter = "楼道的灯坏了一个月没人修，有事打我电话13912345678"
    events = [_user(matter, "nlu_fallback"), _user("/start_consultation", "start_consultation")]
    d = CollectingDispatcher()
    out = asyncio.run(ValidateConsultationForm().extract_consultation_topic(d, _tracker(events, {}, None), {}))
    assert out == {"consultation_topic": matter}  # stored as typed (the committee needs it) ...
    quote = render(d.messages[0])
    assert "楼道的灯" in quote and "13912345678" not in quote and "139****5678" in quote  # ... shown masked
    # typed "我要发起议事协商" after a question does not assume the question is the topic
    events = [_user("老年人助餐怎么申请？", "ask_how_to_apply"), _user("我要发起议事协商", "start_consultation")]
    d = CollectingDispatcher()
    assert asyncio.run(ValidateConsultationForm().extract_consultation_topic(d, _tracker(events, {}, None), {})) == {}
