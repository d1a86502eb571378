"""The closed loop through the REST webhook of a real Rasa server + action server (the shared stack): a co-sign
offered and accepted, the co-signer's status push, 催办 once and refused the same day, a resolution whose 回访
不满意 reopens the item as rework, and a follow-up answer for a withdrawn item answered politely."""

from __future__ import annotations

import json

import pytest

from tests.dialogue_support import CJK, buttons_of, custom_of, say, text_of
from tests.stack import unique_sender

pytestmark = pytest.mark.e2e

TANK = "幸福家园5号楼楼顶的水箱漏水，顶楼天花板一直在滴水"
TANK_AGAIN = "幸福家园5号楼楼顶水箱漏水了，顶楼天花板一直滴水"


@pytest.fixture(scope="module")
def service(stack_service):
    return stack_service


def _deliver(service, stack) -> None:
    service.delivery.deliverer(rasa_url=stack.rasa_url, token=stack.token, backoff_seconds=0).deliver_pending()


def _bot_events(stack, sender: str) -> list[dict]:
    return [e for e in stack.tracker(stack.rest_id(sender))["events"] if e["event"] == "bot"]


def test_cosign_urge_and_a_followup_that_reopens(stack, service):
    owner, neighbour = unique_sender("tank-owner"), unique_sender("tank-neighbour")
    item = service.submit("rest", stack.rest_id(owner), "m-1", "xingfu", TANK)

    # the neighbour describes the same matter: offered the co-sign, accepts it
    say(stack, neighbour, "我想反映个问题")
    r = say(stack, neighbour, TANK_AGAIN)
    r = say(stack, neighbour, buttons_of(r)["幸福社区"])
    assert "附近居民已提过类似事项" in text_of(r) and item.tracking_no in text_of(r), r
    r = say(stack, neighbour, buttons_of(r)["附议"])
    assert item.tracking_no in text_of(r) and "已提交" in text_of(r)
    assert custom_of(r, "consultation_cosigned")[0]["cosigners"] == 1
    assert service.my_consultations("rest", stack.rest_id(neighbour)) == []  # no second item
    # a second co-sign of the same item is refused politely
    say(stack, neighbour, "我想反映个问题")
    r = say(stack, neighbour, TANK_AGAIN)
    r = say(stack, neighbour, buttons_of(r)["幸福社区"])
    assert "附近居民已提过类似事项" not in text_of(r), r  # already joined: not offered again
    say(stack, neighbour, "取消")

    # the committee accepts: the co-signer hears it too
    service.change_status(item.tracking_no, "accepted", "member", "已联系物业")
    _deliver(service, stack)
    assert any(
        item.tracking_no in (e.get("text") or "") and "已受理" in e["text"] for e in _bot_events(stack, neighbour)
    )

    # 催办: once, then refused the same day; a question mentioning 催 without a number is not an urge
    r = say(stack, neighbour, f"催办 {item.tracking_no}")
    assert "已为您催办" in text_of(r), r
    r = say(stack, neighbour, f"催办 {item.tracking_no}")
    assert "今天已经催办过" in text_of(r), r
    r = say(stack, unique_sender("stranger"), f"催办 {item.tracking_no}")
    assert "已为您催办" not in text_of(r) and CJK.search(text_of(r))
    say(stack, owner, "催办一般多久有回复？")
    assert service.loop.counts(item.tracking_no).urges == 1

    # resolved: the owner is asked 满意 / 基本满意 / 不满意; 不满意 reopens it to the same committee
    service.change_status(item.tracking_no, "resolved", "member", "已更换水箱")
    _deliver(service, stack)
    asked = [e for e in _bot_events(stack, owner) if "请评价" in (e.get("text") or "")]
    assert asked, _bot_events(stack, owner)
    payloads = {b["title"]: b["payload"] for b in asked[-1]["data"]["buttons"]}
    assert set(payloads) == {"满意", "基本满意", "不满意"}
    r = say(stack, owner, payloads["不满意"])
    assert "重新办理" in text_of(r), r
    got = service.get(item.tracking_no)
    assert got.status == "accepted" and got.committee_id == item.committee_id
    assert service.loop.counts(item.tracking_no).reworks == 1
    r = say(stack, owner, payloads["满意"])  # a second answer: politely closed
    assert "回访已经结束" in text_of(r), r


def test_followup_answer_for_a_withdrawn_item_is_polite(stack, service):
    sender = unique_sender("withdrew")
    item = service.submit("rest", stack.rest_id(sender), "m-1", "xingfu", "社区健身器材的螺丝松了，孩子玩很危险")
    r = say(stack, sender, f"撤回 {item.tracking_no}")
    assert service.get(item.tracking_no).status == "withdrawn"
    payload = "/rate_followup" + json.dumps({"rating": "satisfied", "tracking_number": item.tracking_no})
    r = say(stack, sender, payload)
    assert "已撤回，不需要评价" in text_of(r), r
