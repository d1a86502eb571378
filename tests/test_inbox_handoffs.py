"""Handoff requests (转人工) in the inbox: who sees them, masking, closing with a reply pushed to the resident."""

from __future__ import annotations

import html
import json
import re
from dataclasses import asdict

import httpx
from fastapi.testclient import TestClient

from bot.inbox.app import create_app
from tests.fake_api import FakeRasa
from tests.inbox_support import Server, csrf_of, login, make_env


def _client(env, user):
    c = TestClient(create_app(env.settings, env.service, push_interval=0))
    login(c, user)
    return c


def _open_section(page: str) -> str:
    return page.split("最近已处理")[0]


def test_fallback_member_sees_own_community_masked(tmp_path):
    env = make_env(tmp_path)
    alice = _client(env, "alice")
    assert 'href="/handoffs"' in alice.get("/consultations").text  # nav link for the 居委会
    page = alice.get("/handoffs").text
    assert f'id="handoff-{env.handoffs["a"]}"' in page and f'id="handoff-{env.handoffs["other"]}"' not in page
    assert "137****5678" in page and "13712345678" not in page
    assert "resident-h1" not in page  # the sender id is not shown
    assert "和平社区的人工请求" not in page and "Telegram" in page


def test_non_fallback_member_has_no_handoffs(tmp_path):
    env = make_env(tmp_path)
    bob = _client(env, "bob")
    assert 'href="/handoffs"' not in bob.get("/consultations").text
    r = bob.get("/handoffs")
    assert r.status_code == 403 and "居委会" in r.text


def test_admin_sees_all_with_community(tmp_path):
    env = make_env(tmp_path)
    page = _client(env, "root").get("/handoffs").text
    assert "和平社区的人工请求" in page and "137****5678" in page
    assert "和平社区" in page and "幸福社区" in page


def test_close_needs_a_note_and_other_communities_are_404(tmp_path):
    env = make_env(tmp_path)
    alice = _client(env, "alice")
    token = csrf_of(alice)
    r = alice.post(f"/handoffs/{env.handoffs['a']}/close", data={"note": "  \n ", "csrf_token": token})
    assert r.status_code == 200 and "请填写回复内容" in r.text
    assert env.service.handoffs.get(env.handoffs["a"]).status == "open"
    r = alice.post(f"/handoffs/{env.handoffs['other']}/close", data={"note": "越权", "csrf_token": token})
    assert r.status_code == 404 and env.service.handoffs.get(env.handoffs["other"]).status == "open"
    r = alice.post(f"/handoffs/{env.handoffs['a']}/close", data={"note": "已回电"})  # no CSRF token
    assert r.status_code in (400, 403) and env.service.handoffs.get(env.handoffs["a"]).status == "open"


def test_close_pushes_reply_to_the_resident(tmp_path):
    with FakeRasa(token="test-token") as rasa:
        env = make_env(tmp_path, rasa_url=rasa.url)
        app = create_app(env.settings, env.service, push_interval=30)  # only the wake-up can be this fast
        with Server(app) as server, httpx.Client(base_url=server.url) as c:
            login(c, "alice")
            hid = env.handoffs["a"]
            note = "您好，已安排网格员明天上午上门，有事可打 13900002222 <b>找我</b>"
            r = c.post(f"/handoffs/{hid}/close", data={"note": note, "csrf_token": csrf_of(c)}, follow_redirects=True)
            assert r.status_code == 200 and "回复已发送给居民" in r.text
            calls = rasa.wait(1)
            page = c.get("/handoffs").text
            again = c.post(
                f"/handoffs/{hid}/close", data={"note": "再回一次", "csrf_token": csrf_of(c)}, follow_redirects=True
            )
    assert calls == rasa.calls and len(calls) == 1 and calls[0]["authorized"]  # pushed once
    assert calls[0]["path"] == "/conversations/resident-h1/trigger_intent" and calls[0]["query"]["output_channel"] == [
        "telegram"
    ]
    assert calls[0]["json"] == {
        "name": "EXTERNAL_handoff_reply",
        "entities": {"note": "您好，已安排网格员明天上午上门，有事可打 139****2222 <b>找我</b>"},
    }
    assert f'id="handoff-{hid}"' not in _open_section(page)  # no longer open
    closed = page.split("最近已处理")[1]
    assert "alice" in closed and "139****2222" in closed and "<b>找我</b>" not in closed
    assert html.escape("<b>找我</b>") in closed
    assert "已经处理过了" in again.text and len(env.service.delivery.outbox(handoff_id=hid)) == 1


def test_close_from_non_chat_channel_is_not_pushed(tmp_path):
    env = make_env(tmp_path)
    hid = env.service.handoffs.request("open311", "city-hotline", "xingfu", "热线转来的人工请求").id
    alice = _client(env, "alice")
    page = alice.get("/handoffs").text
    row = re.search(rf'id="handoff-{hid}".*?</tr>', page, re.S).group(0)
    assert "Open311" in row and "无法推送" in row
    r = alice.post(f"/handoffs/{hid}/close", data={"note": "已电话答复", "csrf_token": csrf_of(alice)})
    assert r.status_code == 200 and "无法推送" in r.text
    assert env.service.handoffs.get(hid).status == "closed" and env.service.delivery.outbox(handoff_id=hid) == []
    assert json.dumps(asdict(env.service.handoffs.get(hid)), default=str, ensure_ascii=False).count("已电话答复") == 1
