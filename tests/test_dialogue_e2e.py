"""Whole conversations through the REST webhook of a real Rasa server + action server (temp SQLite)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.dialogue_support import CJK, TRACKING, answer_of, buttons_of, choose, custom_of, say, text_of
from tests.stack import REPO, unique_sender

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def service(stack_service):
    return stack_service


@pytest.fixture(scope="module")
def kb():
    from bot.kb import load_kb

    return load_kb()


def test_greeting_and_small_talk(stack):
    sender = unique_sender("small-talk")
    r = say(stack, sender, "你好")
    assert CJK.search(text_of(r)) and "/start_consultation" in buttons_of(r).values()
    assert "程序" in text_of(say(stack, sender, "你是机器人吗"))
    assert CJK.search(text_of(say(stack, sender, "谢谢你")))
    assert "再见" in text_of(say(stack, sender, "拜拜"))


def test_question_with_follow_ups_resolves_the_service_in_focus(stack, kb, shared_stack):
    from bot.feedback.store import FeedbackStore

    feedback = FeedbackStore(shared_stack.db_url)
    sender = unique_sender("elderly-care")
    first = answer_of(say(stack, sender, "家里老人没人照看，社区能上门照顾吗"))
    assert first["kind"] == "service" and first["sources"], first
    svc = kb.service(first["services"][0]["id"])
    assert svc.category == "养老"
    r = say(stack, sender, "那要带什么材料？")
    follow = answer_of(r)
    assert follow["services"][0]["id"] == svc.id
    assert any(m in text_of(r) for m in svc.how_to_apply.materials)
    # the follow-up buttons are payloads the dialogue understands
    r = say(stack, sender, buttons_of(r)["哪个部门负责"])
    assert svc.agency in text_of(r) and answer_of(r)["services"][0]["id"] == svc.id
    ups = feedback.rating_counts()["up"]
    r = say(stack, sender, "/feedback_positive")
    assert "谢谢" in text_of(r)
    assert feedback.rating_counts()["up"] == ups + 1


def test_medical_insurance_question_cites_the_plan_and_agency(stack):
    sender = unique_sender("medical")
    r = say(stack, sender, "在社区能办医保吗")
    ans = answer_of(r)
    assert "市医保局" in text_of(r) or "市医保局" in ans["agencies"]
    assert any(s["type"] in ("plan", "service") for s in ans["sources"])
    r = say(stack, sender, "在哪里办呢")
    assert answer_of(r)["services"][0]["id"] == ans["services"][0]["id"]


def test_indicator_question_and_self_check(stack, kb):
    sender = unique_sender("worker")
    r = say(stack, sender, "社工师的指标是多少")
    ans = answer_of(r)
    assert ans["kind"] == "indicator" and "约束性" in text_of(r)
    r = say(stack, sender, "指标自检")
    assert "户数" in text_of(r)
    r = say(stack, sender, "我们社区户数1000，综合服务设施面积250平方米，社工师2人")
    check = custom_of(r, "indicator_self_check")[0]
    by_id = {x["indicator_id"]: x for x in check["results"]}
    assert by_id["indicator-4"]["met"] is False and by_id["indicator-8"]["met"] is False
    assert "未达标" in text_of(r)


def test_full_consultation_with_contact_reaches_the_right_committee(stack, service):
    sender = unique_sender("resident-contact")
    topic = "小区电梯经常坏，物业一直拖着不修"
    r = say(stack, sender, "我想反映个问题")
    assert "事情" in text_of(r)
    r = say(stack, sender, topic)
    community_buttons = buttons_of(r)
    assert "幸福社区" in community_buttons, r
    r = choose(stack, sender, r, "幸福社区")
    r = say(stack, sender, buttons_of(r)["留下联系方式"])
    assert "同意" in buttons_of(r)
    r = say(stack, sender, "/affirm")
    r = say(stack, sender, "王阿姨")
    r = say(stack, sender, "12345")
    assert "手机号" in text_of(r)  # re-asked politely
    r = say(stack, sender, "138 0000 1234")
    expected = service.route(topic, "xingfu").committee
    assert expected.name in text_of(r) and "确认" in text_of(r)
    assert "13800001234" not in text_of(r)  # masked in the summary
    r = say(stack, sender, "确认提交")
    number = TRACKING.search(text_of(r)).group(0)
    record = service.get(number)
    assert record.committee_id == expected.id and record.community_id == "xingfu"
    assert record.consent is True and record.contact_phone == "13800001234" and record.contact_name == "王阿姨"
    assert record.text == topic and record.sender_id == stack.rest_id(sender)
    # pressing 确认提交 once more after the answer arrived files nothing new (only a lost answer re-submits)
    r = say(stack, sender, "/affirm")
    assert not TRACKING.search(text_of(r)) and CJK.search(text_of(r)), r
    assert [c.tracking_no for c in service.my_consultations("rest", stack.rest_id(sender))] == [number]
    # status lookup by the resident; nobody else sees it
    r = say(stack, sender, f"查一下{number}")
    assert "已提交" in text_of(r) and expected.name in text_of(r)
    r = say(stack, unique_sender("someone-else"), f"查一下{number}")
    assert "已提交" not in text_of(r) and CJK.search(text_of(r))
    # the committee's status push reaches the resident
    pushed = stack.trigger_intent(
        stack.rest_id(sender),
        "EXTERNAL_consultation_status",
        {"tracking_number": number, "status": "accepted", "status_label": "已受理", "note": "下周一开会商量"},
    )
    pushed_text = text_of(pushed.get("messages", []))
    assert number in pushed_text and "已受理" in pushed_text and "下周一开会商量" in pushed_text


def test_anonymous_consultation_with_topic_in_first_message_then_withdraw(stack, service):
    sender = unique_sender("villager")
    topic = "村里的账目好久没公开了，想反映一下"
    r = say(stack, sender, topic)
    assert "柳树村" in buttons_of(r), r  # the topic was taken from the first message
    r = say(stack, sender, "柳树村")
    r = say(stack, sender, "匿名就行")
    assert "匿名" in text_of(r)
    r = say(stack, sender, "/affirm")
    number = TRACKING.search(text_of(r)).group(0)
    record = service.get(number)
    assert record.committee_id == service.route(topic, "liushu").committee.id
    assert record.committee_type in ("村务监督委员会", "居务监督委员会")
    assert record.contact_phone is None and record.consent is False
    r = say(stack, sender, f"撤回 {number}")
    assert "撤回" in text_of(r)
    assert service.get(number).status == "withdrawn"


def test_cancelled_form_stores_nothing(stack, service):
    sender = unique_sender("changed-mind")
    say(stack, sender, "发起议事协商")
    say(stack, sender, "楼道里堆满了杂物，存在消防隐患")
    r = say(stack, sender, "算了")
    assert "取消" in text_of(r)
    assert service.my_consultations("rest", stack.rest_id(sender)) == []
    r = say(stack, sender, "取消")
    assert "没有正在办理" in text_of(r)


def test_form_is_interrupted_by_a_question_and_resumed(stack, service):
    sender = unique_sender("interrupter")
    say(stack, sender, "我要发起议事协商")
    r = say(stack, sender, "小区门口的路灯坏了很久")
    assert "幸福社区" in buttons_of(r)
    r = say(stack, sender, "医保在哪里办")
    assert answer_of(r)["kind"] in ("service", "clause", "agency")
    assert "幸福社区" in buttons_of(r)  # the form asks again for the community
    r = say(stack, sender, "和平社区")
    assert "匿名提交" in buttons_of(r)
    r = say(stack, sender, "随便写点什么")
    assert "匿名" in text_of(r)  # invalid choice re-asked
    r = say(stack, sender, "取消")
    assert service.my_consultations("rest", stack.rest_id(sender)) == []


def test_out_of_scope_is_honest_and_recorded_as_a_gap(stack, shared_stack):
    sender = unique_sender("curious")
    r = say(stack, sender, "今天天气怎么样")
    assert not custom_of(r, "answer") and "范围" in text_of(r)
    r = say(stack, sender, "帮我办个护照")  # sounds like a service, but the knowledge base has none
    answers = custom_of(r, "answer")
    assert all(a["kind"] == "out_of_scope" and not a["sources"] for a in answers), answers
    assert "议事协商" in text_of(r) or "转人工" in buttons_of(r)
    env = dict(os.environ, LINLI_DATABASE_URL=shared_stack.db_url)
    out = subprocess.run(
        [sys.executable, "-m", "bot", "report", "gaps", "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "今天天气怎么样" in out.stdout and "帮我办个护照" in out.stdout


def handoff(stack, sender: str, summary: str = "想问水电费补贴怎么申请") -> dict:
    """转人工 through its form (community button, summary, no phone); returns the handoff payload."""
    r = say(stack, sender, "转人工")
    r = choose(stack, sender, r, "幸福社区")
    r = say(stack, sender, summary)
    r = say(stack, sender, buttons_of(r)["不用，在这里回复我"])
    return custom_of(r, "handoff")[0] | {"text": text_of(r)}


def test_handoff_records_and_says_when(stack):
    sender = unique_sender("needs-person")
    h = handoff(stack, sender)
    assert h["id"] and h["reply_within"] in h["text"]


def test_status_lookup_without_number_asks_for_it(stack):
    sender = unique_sender("no-number")
    r = say(stack, sender, "查询进度")
    assert "YS-" in text_of(r)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        " ",
        "啊" * 10000,
        "😀😀😀",
        "<script>alert(1)</script>",
        "'; DROP TABLE consultations; --",
        "\x00\x01\x02",
        '{"a": [1, 2]}',
    ],
)
def test_bad_input_gets_a_polite_reply(stack, bad):
    sender = unique_sender("bad-input")
    r = say(stack, sender, bad)
    joined = text_of(r)
    assert r and CJK.search(joined), (bad[:20], r)
    assert "<script>" not in joined


def test_consent_refused_becomes_anonymous_and_declining_the_summary_stores_nothing(stack, service):
    sender = unique_sender("cautious")
    say(stack, sender, "我想提个建议")
    r = say(stack, sender, "建议小区加装电动车充电桩，现在飞线充电太危险")
    r = choose(stack, sender, r, "清泉社区")
    r = say(stack, sender, buttons_of(r)["留下联系方式"])
    r = say(stack, sender, '/inform{"community":"heping"}')  # a stale button: not an answer to the consent question
    assert "同意" in buttons_of(r) and "没太明白" in text_of(r)
    r = say(stack, sender, "/deny")  # no consent to share contact details
    assert "匿名" in text_of(r) and "确认" in text_of(r)
    assert "称呼" not in text_of(r)
    r = say(stack, sender, "不要")
    assert "没有提交" in text_of(r)
    assert service.my_consultations("rest", stack.rest_id(sender)) == []


def test_clause_and_agency_questions_cite_the_plan(stack, kb):
    reader = unique_sender("chapter-reader")
    sender = unique_sender("policy-reader")
    r = say(stack, sender, "规划原文里关于红心物业是怎么说的")
    ans = answer_of(r)
    assert any(s["type"] == "plan" and "红心物业" in s["text"] for s in ans["sources"]), ans["sources"]
    r = say(stack, reader, "强化为民服务功能由哪些部门负责")
    ans = answer_of(r)
    assert ans["kind"] == "agency" and {"市医保局", "市民政局", "市残联"} <= set(ans["agencies"]), ans["agencies"]


def _intent(stack, sender: str) -> dict:
    """NLU result of the sender's last message (from the events: the tracker's latest_message can lag)."""
    users = [e for e in stack.tracker(stack.rest_id(sender))["events"] if e["event"] == "user"]
    return users[-1]["parse_data"]["intent"]


def test_over_long_and_unreadable_messages_get_guidance_not_a_guess(stack):
    sender = unique_sender("guarded")
    r = say(stack, sender, "你好" * 300)  # 600 chars of greetings: once answered with a greeting
    assert (_intent(stack, sender)["name"], _intent(stack, sender)["confidence"]) == ("message_too_long", 1.0)
    assert "太长" in text_of(r) and "我是邻里小助手" not in text_of(r)
    assert "/start_consultation" in buttons_of(r).values()
    r = say(stack, sender, "啊" * 10000)
    assert "太长" in text_of(r) and not custom_of(r, "answer")
    for noise in ("😀😀😀", "？？！……", "🎉 ～ 🎉"):
        r = say(stack, sender, noise)
        assert _intent(stack, sender)["name"] == "message_unreadable", noise
        assert "文字" in text_of(r) and not custom_of(r, "answer"), (noise, r)
    # control characters only: the REST channel strips them and answers before NLU
    before = _intent(stack, sender)
    r = say(stack, sender, "\x00\x01\x02")
    assert "请先输入" in text_of(r) and not custom_of(r, "answer"), r
    assert _intent(stack, sender) == before  # nothing reached Rasa's NLU
    r = say(stack, sender, "医保在哪里办")  # ordinary questions are untouched
    assert answer_of(r)["kind"] in ("service", "clause", "agency")
    r = say(stack, sender, "👍")  # a thumbs-up is feedback, not noise
    assert _intent(stack, sender)["name"] == "feedback_positive" and "谢谢" in text_of(r)


def test_long_topic_is_taken_by_the_form_up_to_the_store_limit(stack, service):
    sender = unique_sender("long-topic")
    say(stack, sender, "发起议事协商")
    r = say(
        stack, sender, "说明" + "楼下的烧烤店每天开到凌晨两点，油烟和噪音让整栋楼的老人孩子都睡不好。" * 100
    )  # > 2000 chars
    assert "2000" in text_of(r) and "幸福社区" not in buttons_of(r)  # re-asked, politely
    topic = "小区东门外的人行道被共享单车和电动车占满了，" * 25 + "希望社区协调物业和城管一起处理。"
    assert 500 < len(topic) <= 2000
    r = say(stack, sender, topic)
    assert _intent(stack, sender)["name"] == "message_too_long"  # the guard labels it, the form still takes it
    assert "幸福社区" in buttons_of(r), r
    r = say(stack, sender, "😀😀😀")  # not a community: re-asked with the buttons
    assert "文字" in text_of(r) and "幸福社区" in buttons_of(r)
    r = say(stack, sender, "和平社区是我家" * 100)  # a paste instead of a button
    assert "太长" in text_of(r) and "幸福社区" in buttons_of(r)
    r = choose(stack, sender, r, "幸福社区")
    r = say(stack, sender, buttons_of(r)["匿名提交"])
    r = say(stack, sender, "/affirm")
    number = TRACKING.search(text_of(r)).group(0)
    record = service.get(number)
    assert record.text == topic and record.community_id == "xingfu"


def test_worker_reply_to_a_handoff_reaches_the_resident(stack, service):
    impostor = unique_sender("impostor")
    sender = unique_sender("waits-for-worker")
    handoff_id = handoff(stack, sender)["id"]
    # the committee inbox closes it with a note; its outbox pushes EXTERNAL_handoff_reply to Rasa
    assert service.handoffs.close(handoff_id, "水电费补贴已帮您登记，明天上午十点给您回电", "worker-li").pushed
    assert (
        service.delivery.deliverer(rasa_url=stack.rasa_url, token=stack.token, backoff_seconds=0)
        .deliver_pending()
        .delivered
        >= 1
    )
    said = [e.get("text") or "" for e in stack.tracker(stack.rest_id(sender))["events"] if e["event"] == "bot"]
    assert "社区工作人员回复您：水电费补贴已帮您登记，明天上午十点给您回电" in said
    # the push in the middle of a form is relayed, then the form asks its question again
    say(stack, sender, "发起议事协商")
    pushed = stack.trigger_intent(stack.rest_id(sender), "EXTERNAL_handoff_reply", {"note": "材料已收到"})
    pushed_text = text_of(pushed.get("messages", []))
    assert "社区工作人员回复您：材料已收到" in pushed_text and "事情" in pushed_text
    r = say(stack, sender, "取消")
    assert "取消" in text_of(r) and service.my_consultations("rest", stack.rest_id(sender)) == []
    # a resident typing the intent's name does not fake a worker's reply
    r = say(stack, impostor, "EXTERNAL_handoff_reply")
    assert "社区工作人员回复您" not in text_of(r) and CJK.search(text_of(r))
