"""Issue 14's whole closed loop as one story, on SQLite (the session's shared stack) and PostgreSQL (a stack of its
own, once per session): residents talk through the REST channel of the real Rasa + action servers; the committee
member and the township supervisor use the real inbox app (uvicorn, logged in, CSRF forms); pushes are delivered to
Rasa and read back from each resident's conversation, by content and in order.

The story: filed in chat with its due date (预计…前受理); a neighbour co-signs at intake; a third resident files the
same matter separately; accepted; an extension requested with a reason and approved by the supervisor (trail, the
new date pushed); past the new limit (the scheduler's clock and the inbox's clock stepped, no sleeping) it escalates
to the township; a 催办 is recorded and refused the second time that day; the committee merges the third item into
it; resolved, every resident is asked the 回访; the co-signers answer for themselves, the submitter's 不满意 with a
comment reopens it as rework."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest

from bot.closedloop import workdays
from bot.consultations import ConsultationService
from bot.consultations import models as m
from bot.db import dispose_engines
from bot.inbox.app import create_app
from bot.settings import Settings
from linli_common.replies import FOLLOWUP_QUESTION, status_push
from tests.conftest import pg_schema
from tests.dialogue_support import COSIGN_OFFER, TRACKING, buttons_of, choose, say, text_of
from tests.inbox_support import FAST_ARGON2, Server, csrf_from
from tests.stack import running_stack, unique_sender

pytestmark = pytest.mark.e2e

OWNER_TEXT = "幸福家园8号楼地下车库的排水泵坏了，一下雨车库就积水"
NEIGHBOUR_TEXT = "幸福家园8号楼地下车库排水泵坏了，下雨车库积水很深"
THIRD_TEXT = "幸福家园8号楼车库积水，排水泵一直没人修，车都泡了"
PUSH_PREFIX = "您的议事协商（受理编号"


@dataclass
class Backend:
    name: str
    stack: object  # tests.stack.Stack
    db_url: str


@pytest.fixture(scope="module")
def pg_backend(tmp_path_factory):
    """A stack of its own on a fresh PostgreSQL schema (skipped without PostgreSQL unless LINLI_REQUIRE_POSTGRES)."""
    work = tmp_path_factory.mktemp("pg-stack")
    with pg_schema() as url:
        try:
            ConsultationService(url, use_embedding=False).delivery.stop()  # migrated before the servers start
            env = {"LINLI_DATABASE_URL": url, "LINLI_VAR_DIR": str(work), "LINLI_LOG_LEVEL": "INFO"}
            with running_stack(extra_env=env) as stack:
                stack.warm_up()
                yield Backend("postgres", stack, url)
        finally:
            dispose_engines()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request):
    if request.param == "sqlite":
        shared = request.getfixturevalue("shared_stack")
        return Backend("sqlite", shared.stack, shared.db_url)
    return request.getfixturevalue("pg_backend")


class Clock:
    """The inbox's "now" (create_app(clock=...)), stepped by the test."""

    def __init__(self):
        self.now = None

    def __call__(self):
        return self.now or m.utcnow()


def _login(base: str, username: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30)
    page = client.get("/login")
    r = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_from(page.text), "next": "/"},
        follow_redirects=True,
    )
    assert r.status_code == 200 and "退出" in r.text, r.text[-500:]
    return client


def _form(client: httpx.Client, path: str, page: str, **data) -> httpx.Response:
    """POST an inbox form with the CSRF token of ``page``; returns the page it redirects to."""
    token = csrf_from(client.get(page).text)
    r = client.post(path, data=data | {"csrf_token": token}, follow_redirects=True)
    assert r.status_code == 200, r.text[-800:]
    return r


def _flash(html: str) -> str:
    found = re.search(r'class="flash[^"]*"[^>]*>(.*?)</', html, re.S)
    return found.group(1) if found else ""


def _overdue(html: str) -> str:
    """The supervisor page's table of overdue items ("" when it has none)."""
    found = re.search(r'id="overdue".*?</table>', html, re.S)
    return found.group(0) if found else ""


def _deliver(svc: ConsultationService, tracking_nos: list[str]) -> None:
    """Push every queued row of these items to Rasa (the inbox's deliverer, run by hand instead of its thread)."""
    for _ in range(20):
        rows = [o for tn in tracking_nos for o in svc.delivery.outbox(tn)]
        if all(o.delivered_at is not None for o in rows):
            return
        svc.delivery.deliver_pending(limit=500)
    raise AssertionError([(o.sender_id, o.state, o.last_error) for o in rows if o.delivered_at is None])


def _pushes(stack, sender: str) -> list[str]:
    """The status pushes in this resident's conversation, oldest first."""
    events = stack.tracker(stack.rest_id(sender))["events"]
    return [e["text"] for e in events if e["event"] == "bot" and (e.get("text") or "").startswith(PUSH_PREFIX)]


def _file(stack, sender: str, text: str) -> tuple[str, list[dict]]:
    """File a consultation anonymously in the chat (a co-sign offer, if any, declined); its number and the reply."""
    say(stack, sender, "我想反映个问题")
    r = choose(stack, sender, say(stack, sender, text), "幸福社区")
    say(stack, sender, "匿名就行")
    r = say(stack, sender, "/affirm")
    found = TRACKING.search(text_of(r))
    assert found, r
    return found.group(0), r


def _md(d) -> str:
    return f"{d.month}月{d.day}日"


def test_the_closed_loop_story(backend, tmp_path):
    stack = backend.stack
    tag = secrets.token_hex(3)
    member, supervisor = f"story-member-{tag}", f"story-sup-{tag}"
    settings = Settings(var_dir=tmp_path, database_url=backend.db_url, rasa_url=stack.rasa_url, rasa_token=stack.token)
    svc = ConsultationService(settings.sqlalchemy_url, settings=settings, use_embedding=False, hasher=FAST_ARGON2)
    committee = svc.route(OWNER_TEXT, "xingfu").committee
    svc.accounts.create_user(member, "member-pass-123", committee.id)
    svc.accounts.create_user(supervisor, "sup-pass-9876!", None, role="supervisor", township="城关街道")
    owner, neighbour, third = (unique_sender(n) for n in ("story-owner", "story-neighbour", "story-third"))
    clock = Clock()
    try:
        with Server(create_app(settings, svc, push_interval=0, scheduler_interval=0, clock=clock)) as inbox:
            _story(backend, svc, inbox.url, clock, member, supervisor, owner, neighbour, third)
    finally:
        svc.delivery.stop()
        dispose_engines()


def _story(backend, svc, base, clock, member, supervisor, owner, neighbour, third):
    stack = backend.stack
    # 1. filed in chat: the resident reads the due date
    tn, r = _file(stack, owner, OWNER_TEXT)
    item = svc.get(tn)
    assert item.sender_id == stack.rest_id(owner) and item.accept_by and item.complete_by
    line = item.due_line  # "预计12月3日前受理" (with the year when it falls in the next one)
    assert line.startswith("预计") and f"{_md(item.accept_by)}前受理" in line, line
    assert line in text_of(r), text_of(r)

    # 2. a neighbour describing the same matter is offered the co-sign at intake and accepts it
    say(stack, neighbour, "我想反映个问题")
    r = say(stack, neighbour, NEIGHBOUR_TEXT)
    r = say(stack, neighbour, buttons_of(r)["幸福社区"])
    assert COSIGN_OFFER in text_of(r) and tn in text_of(r), text_of(r)
    r = say(stack, neighbour, buttons_of(r)["附议"])
    assert tn in text_of(r) and svc.my_consultations("rest", stack.rest_id(neighbour)) == []
    # a third resident files the same matter separately (declining the offer)
    tn2, _ = _file(stack, third, THIRD_TEXT)
    assert tn2 != tn and svc.get(tn2).committee_id == item.committee_id

    alice = _login(base, member, "member-pass-123")
    sup = _login(base, supervisor, "sup-pass-9876!")
    page = f"/consultations/{tn}"
    html = alice.get(page).text
    assert "附议 1 人" in html and "受理期限" in html

    # 3. accepted by the committee
    r = _form(alice, f"{page}/status", page, to_status="accepted", note="已联系物业检修")
    assert "已受理" in _flash(r.text)

    # 4. an extension with a reason; the supervisor (not the member) approves it
    r = _form(alice, f"{page}/extension", page, days="2", reason="需要更换水泵，等待维修资金审批")
    assert "等待街道（乡镇）审批" in _flash(r.text)
    ext = svc.oversight.extensions(tracking_no=tn)[0]
    assert ext.state == "requested" and 'id="decide-form"' not in r.text
    assert tn in sup.get("/supervisor").text
    before = svc.get(tn).complete_by
    r = _form(sup, f"/extensions/{ext.id}/decide", page, decision="approve", note="同意延期", back=page)
    assert "已同意" in _flash(r.text)
    after = svc.get(tn).complete_by
    assert after == workdays.add_working_days(before, 2)
    trail = [e.note for e in svc.get(tn).trail if e.kind == "extension"]
    assert trail[0] == "申请延期2个工作日：需要更换水泵，等待维修资金审批" and "批准延期2个工作日" in trail[1]
    assert "同意延期" in trail[1] and supervisor in alice.get(page).text  # the trail shows who decided
    extended = f"办理期限延长2个工作日，预计{_md(after)}前办结。"

    # 5. past the new limit: the scheduler's pass at that clock escalates to the township, once
    late = workdays.end_of_day(workdays.add_working_days(after, 1), tz=svc.settings.timezone) + timedelta(hours=1)
    due = [i for i in svc.reminding.due_items() if i.tracking_no == tn]
    planned = svc.reminding.plan(due, late)
    assert [p.audience.name for p in planned] == ["STREET"]
    assert svc.reminding.send(planned, "story", late) == 1
    assert svc.reminding.send(svc.reminding.plan(due, late), "story", late) == 0  # never twice
    esc = [e for e in svc.get(tn).trail if e.kind == "escalation"]
    assert len(esc) == 1 and "已上报城关街道督办" in esc[0].note
    assert f"{planned[0].working_days_overdue}个工作日" in esc[0].note and planned[0].working_days_overdue >= 1
    assert "逾期督办" in alice.get(page).text
    assert tn not in _overdue(sup.get("/supervisor").text)  # today it is not overdue yet
    clock.now = late
    assert tn in _overdue(sup.get("/supervisor").text)
    clock.now = None

    # 6. 催办 from the chat: recorded, refused the second time the same working day
    r = say(stack, owner, f"催办 {tn}")
    assert "已为您催办" in text_of(r), text_of(r)
    r = say(stack, owner, f"催办 {tn}")
    assert "今天已经催办过" in text_of(r), text_of(r)
    assert svc.loop.counts(tn).urges == 1 and "催办 1 次" in alice.get(page).text

    # 7. the committee merges the third resident's item into it
    page2 = f"/consultations/{tn2}"
    r = _form(alice, f"{page2}/merge", page2, target=tn)
    assert "合并到" in _flash(r.text) and "附议 2 人" in r.text
    assert svc.get(tn2).status == "merged" and svc.get(tn2).merged_into == tn

    # 8. resolved: every resident is asked the 回访
    r = _form(alice, f"{page}/status", page, to_status="resolved", note="已更换排水泵")
    _deliver(svc, [tn, tn2])
    asked = {}
    for who in (owner, neighbour, third):
        events = stack.tracker(stack.rest_id(who))["events"]
        last = [e for e in events if e["event"] == "bot" and FOLLOWUP_QUESTION in (e.get("text") or "")]
        assert last, (who, _pushes(stack, who))
        asked[who] = {b["title"]: b["payload"] for b in last[-1]["data"]["buttons"]}
        assert set(asked[who]) == {"满意", "基本满意", "不满意"} and tn in asked[who]["满意"]
    # each answers for themselves; the co-signers' answers keep it resolved
    assert "感谢您的评价（满意）" in text_of(say(stack, neighbour, asked[neighbour]["满意"]))
    assert "感谢您的评价（基本满意）" in text_of(say(stack, third, asked[third]["基本满意"]))
    assert "回访已经结束" in text_of(say(stack, third, asked[third]["不满意"]))  # once each
    assert svc.get(tn).status == "resolved"
    # the submitter's typed 不满意 with a comment reopens it to the same committee, as rework
    r = say(stack, owner, "不满意，下雨车库还是积水")
    assert "重新办理" in text_of(r) and item.committee_name in text_of(r), text_of(r)
    got = svc.get(tn)
    assert got.status == "accepted" and got.committee_id == item.committee_id
    assert got.trail[-1].kind == "reopen" and "下雨车库还是积水" in got.trail[-1].note
    counts = svc.loop.counts(tn)
    assert (counts.cosigners, counts.urges, counts.reworks) == (2, 1, 1)
    with svc.Session() as s:
        answers = sorted(
            (f.sender_id, f.state, f.comment)
            for f in s.query(m.FollowUp).join(m.Consultation).where(m.Consultation.tracking_no == tn)
        )
    assert answers == sorted(
        [
            (stack.rest_id(owner), "unsatisfied", "不满意，下雨车库还是积水"),  # typed: its own comment
            (stack.rest_id(neighbour), "satisfied", ""),
            (stack.rest_id(third), "basically_satisfied", ""),
        ]
    )
    _deliver(svc, [tn, tn2])

    # 9. every push each resident received, by content and in order
    reopen_note = got.trail[-1].note
    accepted, resolved = status_push(tn, "已受理", "已联系物业检修"), status_push(tn, "已办结", "已更换排水泵")
    asked_text = resolved + "\n" + FOLLOWUP_QUESTION
    moved = status_push(tn2, "已合并", f"已合并到 {tn}，后续进展将按该编号通知。")
    want = {
        owner: [accepted, status_push(tn, "已受理", extended), asked_text],
        neighbour: [accepted, status_push(tn, "已受理", extended), asked_text, status_push(tn, "已受理", reopen_note)],
        third: [moved, asked_text, status_push(tn, "已受理", reopen_note)],
    }
    for who, texts in want.items():
        assert _pushes(stack, who) == texts, (who, _pushes(stack, who))

    # the resident's status reply has the (extended) due date in plain words
    r = say(stack, owner, f"查一下{tn}")
    assert "已受理" in text_of(r) and f"{_md(after)}前办结" in text_of(r), text_of(r)
    # the inbox detail page: the submitter's pushes apart from the co-signers' (masked)
    html = alice.get(page).text
    assert stack.rest_id(neighbour) not in html and stack.rest_id(third) not in html
    assert "回访不满意重办 1 次" in html
