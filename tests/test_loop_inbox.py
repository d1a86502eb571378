"""The inbox detail page's 通知居民 and 推送记录 with co-signers: the submitter's pushes decide what the page says
about notifying the resident; co-signers' pushes are listed apart, their chat ids masked (real app, TestClient)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from bot.consultations import models as m
from bot.db import dispose_engines
from bot.inbox.app import create_app
from tests.inbox_support import csrf_of, login, make_env

COSIGNER = "cosigner-chat-87654321"


@pytest.fixture
def env(tmp_path):
    e = make_env(tmp_path / "inbox")
    yield e
    e.service.delivery.stop()
    dispose_engines()


def _section(html: str, id_: str) -> str:
    m_ = re.search(rf'id="{id_}"[^>]*>(.*?)</(?:ul|dd|p)>', html, re.S)
    assert m_, f"no #{id_} on the page"
    return re.sub(r"<[^>]+>", " ", m_.group(1))


def test_notify_area_shows_the_submitters_pushes_and_cosigners_apart_masked(env):
    svc, item = env.service, env.a[0]  # filed on Telegram by resident-a0
    svc.loop.cosign(item.tracking_no, "telegram", COSIGNER, "xingfu")
    client = TestClient(create_app(env.settings, svc, push_interval=0, scheduler_interval=0))
    assert login(client, "alice").status_code == 200
    for status, note in (("accepted", "已派人查看路灯"), ("resolved", "路灯已更换")):
        r = client.post(
            f"/consultations/{item.tracking_no}/status",
            data={"to_status": status, "note": note, "csrf_token": csrf_of(client)},
            follow_redirects=True,
        )
        assert r.status_code == 200 and "已将" in r.text, r.text
    # the submitter's 不满意 reopens it: that push goes to the co-signer only, and it fails (bot blocked)
    assert svc.loop.rate(item.tracking_no, "telegram", "resident-a0", "unsatisfied", "灯还是不亮").reopened
    with svc.Session.begin() as s:
        s.execute(
            update(m.OutboxMessage).where(m.OutboxMessage.sender_id == "resident-a0").values(delivered_at=m.utcnow())
        )
        s.execute(update(m.OutboxMessage).where(m.OutboxMessage.sender_id == COSIGNER).values(failed=True))
    last_overall = svc.pushes(item.tracking_no)[-1]
    assert not last_overall.to_owner and "灯还是不亮" in last_overall.message  # the case the page got wrong

    html = client.get(f"/consultations/{item.tracking_no}").text
    notify = _section(html, "notify-owner")
    assert "提交人" in notify and "已送达" in notify and "失败" not in notify, notify
    assert "路灯已更换" in notify and "灯还是不亮" not in notify  # the submitter's latest push, not the co-signer's
    assert "1 条推送给附议居民" not in notify and "3 条推送给附议居民" in notify
    owner = _section(html, "owner-pushes")
    assert owner.count("已送达") == 2 and "已派人查看路灯" in owner and "灯还是不亮" not in owner
    assert "···" not in owner
    co = _section(html, "cosigner-pushes")
    assert co.count("发送失败") == 3 and "Telegram ···4321" in co and "灯还是不亮" in co
    assert COSIGNER not in html  # never the co-signer's full chat id


def test_without_cosigners_there_is_no_cosigner_list(env):
    client = TestClient(create_app(env.settings, env.service, push_interval=0, scheduler_interval=0))
    assert login(client, "alice").status_code == 200
    no = env.a[1].tracking_no
    html = client.get(f"/consultations/{no}").text
    assert "还没有推送" not in html and 'id="pushes"' not in html  # nothing sent yet: no push section
    client.post(
        f"/consultations/{no}/status",
        data={"to_status": "accepted", "note": "收到", "csrf_token": csrf_of(client)},
        follow_redirects=True,
    )
    html = client.get(f"/consultations/{no}").text
    assert "收到" in _section(html, "owner-pushes") and 'id="cosigner-pushes"' not in html
