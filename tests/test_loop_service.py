"""The closed loop's resident side in the store — co-signs, merges, 催办, follow-ups, counts — on SQLite and
PostgreSQL (bot.consultations.loop, bot.consultations.loop_rules, bot.consultations.loop_counts)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.consultations import ConsultationService, NotFoundError, Status
from bot.consultations import loop_rules as residents
from bot.consultations import models as m
from bot.consultations.loop_counts import LoopCounts, loop_counts
from bot.db import dispose_engines
from bot.errors import UserFacingError
from bot.kb import load_kb

LIFT = "幸福家园3号楼的电梯坏了三天了，物业一直不修"


@pytest.fixture(scope="module")
def kb():
    return load_kb()


@pytest.fixture(params=["sqlite", "postgres"])
def url(request):
    return request.getfixturevalue("migrated_sqlite_url" if request.param == "sqlite" else "migrated_pg_url")


@pytest.fixture
def svc(url, kb):
    service = ConsultationService(url, kb, use_embedding=False)
    yield service
    service.delivery.stop()
    dispose_engines()


def _submit(svc, sender="u1", msg="m1", text=LIFT, community="xingfu", channel="telegram"):
    return svc.submit(channel, sender, msg, community, text)


def _pushes(svc, tn):
    return [(o.sender_id, json.loads(o.payload)) for o in svc.delivery.outbox(tn)]


def test_cosign_joins_once_and_every_status_change_reaches_the_cosigner(svc):
    a = _submit(svc)
    rec = svc.loop.cosign(a.tracking_no, "telegram", "u2", "xingfu")
    assert rec.tracking_no == a.tracking_no and rec.status_label == "已提交" and rec.cosigners == 1
    with pytest.raises(UserFacingError) as twice:
        svc.loop.cosign(a.tracking_no, "telegram", "u2", "xingfu")
    assert twice.value.code == "already_joined"
    with pytest.raises(UserFacingError) as own:
        svc.loop.cosign(a.tracking_no, "telegram", "u1", "xingfu")
    assert own.value.code == "already_joined"
    with pytest.raises(UserFacingError) as other:
        svc.loop.cosign(a.tracking_no, "telegram", "u3", "liushu")
    assert other.value.code == "other_community"
    svc.change_status(a.tracking_no, "accepted", "member")
    assert sorted(s for s, p in _pushes(svc, a.tracking_no) if p["status"] == "accepted") == ["u1", "u2"]
    assert svc.loop.counts(a.tracking_no).cosigners == 1


def test_open_items_leave_out_the_residents_own_and_joined_items(svc):
    a = _submit(svc)
    b = _submit(svc, sender="u9", msg="m9", text="幸福家园小区门口的路灯不亮了")
    since = datetime.now(UTC) - timedelta(days=30)
    assert {o.tracking_no for o in svc.loop.open_items("xingfu", since, "telegram", "u1")} == {b.tracking_no}
    svc.loop.cosign(b.tracking_no, "telegram", "u1", "xingfu")
    assert svc.loop.open_items("xingfu", since, "telegram", "u1") == []
    assert {o.tracking_no for o in svc.loop.open_items("xingfu", since, "telegram", "u5")} == {
        a.tracking_no,
        b.tracking_no,
    }
    assert svc.loop.open_items("liushu", since, "telegram", "u5") == []


def test_urge_once_per_working_day_and_only_by_the_items_residents(svc):
    a = _submit(svc)
    now = datetime(2026, 12, 1, 3, tzinfo=UTC)  # a Tuesday
    first = residents.urge(svc, a.tracking_no, "telegram", "u1", now)
    assert first.accepted and first.urges == 1
    again = residents.urge(svc, a.tracking_no, "telegram", "u1", now + timedelta(hours=5))
    assert not again.accepted and again.reason == "already" and again.urges == 1
    with pytest.raises(NotFoundError):  # someone else's number: no urge
        residents.urge(svc, a.tracking_no, "telegram", "intruder", now)
    svc.loop.cosign(a.tracking_no, "telegram", "u2", "xingfu")
    assert residents.urge(svc, a.tracking_no, "telegram", "u2", now).accepted  # a co-signer may urge too
    assert residents.urge(svc, a.tracking_no, "telegram", "u1", now + timedelta(days=1)).accepted  # next working day
    assert svc.loop.counts(a.tracking_no).urges == 3
    svc.change_status(a.tracking_no, "rejected", "member", "不属于本委员会")
    closed = residents.urge(svc, a.tracking_no, "telegram", "u1", now + timedelta(days=2))
    assert not closed.accepted and closed.reason == "closed"


def test_resolution_asks_followup_and_unsatisfied_reopens_as_rework(svc):
    a = _submit(svc)
    svc.loop.cosign(a.tracking_no, "telegram", "u2", "xingfu")
    svc.change_status(a.tracking_no, "accepted", "member")
    svc.change_status(a.tracking_no, "resolved", "member", "已修好")
    resolved = [(s, p) for s, p in _pushes(svc, a.tracking_no) if p["status"] == "resolved"]
    assert {s: p.get("followup") for s, p in resolved} == {"u1": "1", "u2": "1"}  # the co-signer is asked too
    assert svc.loop.pending_followup("telegram", "u1") == a.tracking_no
    assert svc.loop.pending_followup("telegram", "u2") == a.tracking_no
    with pytest.raises(NotFoundError):  # a stranger does not rate the item
        svc.loop.rate(a.tracking_no, "telegram", "u7", "satisfied")
    with pytest.raises(UserFacingError):
        svc.loop.rate(a.tracking_no, "telegram", "u1", "unsatisfied", "太长" * 400)
    assert svc.loop.rate(a.tracking_no, "telegram", "u2", "basically_satisfied").accepted  # the co-signer's own answer
    assert svc.loop.rate(a.tracking_no, "telegram", "u2", "unsatisfied").reason == "answered"  # once each
    assert svc.get(a.tracking_no).status == Status.RESOLVED
    r = svc.loop.rate(a.tracking_no, "telegram", "u1", "unsatisfied", "电梯还是\x07停 😡")
    assert r.accepted and r.reopened
    got = svc.get(a.tracking_no)
    assert got.status == Status.ACCEPTED and got.committee_id == a.committee_id
    assert got.trail[-1].kind == "reopen" and "电梯还是停 😡" in got.trail[-1].note
    reopened = [(s, p) for s, p in _pushes(svc, a.tracking_no) if p["status"] == "accepted" and "不满意" in p["note"]]
    assert [s for s, _ in reopened] == ["u2"]  # the submitter who answered is told in the chat, not pushed
    second = svc.loop.rate(a.tracking_no, "telegram", "u1", "satisfied")
    assert not second.accepted and second.reason == "answered"
    assert svc.loop.counts(a.tracking_no).reworks == 1
    with svc.Session() as s:
        counts = loop_counts(
            s,
            [a.committee_id, "nobody"],
            datetime.now(UTC) - timedelta(hours=1),
            datetime.now(UTC) + timedelta(hours=1),
        )
    assert counts[a.committee_id] == LoopCounts(2, 0, 1, 1, 0, 1, 1)
    assert counts["nobody"] == LoopCounts(0, 0, 0, 0, 0, 0, 0)


def test_a_cosigners_unsatisfied_reopens_and_voids_the_others_followup(svc):
    a = _submit(svc)
    b = _submit(svc, sender="u3", msg="m3", text="幸福家园3号楼电梯又坏了，物业不管")
    svc.loop.cosign(a.tracking_no, "telegram", "u2", "xingfu")
    svc.loop.merge(b.tracking_no, a.tracking_no, "member")  # u3 joins through the merge
    svc.change_status(a.tracking_no, "accepted", "member")
    svc.change_status(a.tracking_no, "resolved", "member", "已修好")
    asked = {s for s, p in _pushes(svc, a.tracking_no) if p["status"] == "resolved" and p.get("followup") == "1"}
    assert asked == {"u1", "u2", "u3"}
    r = svc.loop.rate(a.tracking_no, "telegram", "u3", "unsatisfied", "还是坏的")
    assert r.accepted and r.reopened
    got = svc.get(a.tracking_no)
    assert got.status == Status.ACCEPTED and "还是坏的" in got.trail[-1].note
    told = {s for s, p in _pushes(svc, a.tracking_no) if p["status"] == "accepted" and "不满意" in p["note"]}
    assert told == {"u1", "u2"}  # everyone but the resident who answered
    assert svc.loop.rate(a.tracking_no, "telegram", "u1", "satisfied").reason == "not_resolved"  # void now
    assert svc.loop.pending_followup("telegram", "u2") is None
    svc.change_status(a.tracking_no, "resolved", "member", "这次真的修好了")  # asked again, each once
    assert svc.loop.rate(a.tracking_no, "telegram", "u1", "satisfied").accepted
    assert svc.loop.rate(a.tracking_no, "telegram", "u3", "satisfied").accepted
    assert svc.get(a.tracking_no).status == Status.RESOLVED
    with svc.Session() as s:
        rows = s.query(m.FollowUp.sender_id, m.FollowUp.state).order_by(m.FollowUp.id).all()
    assert rows == [
        ("u1", "void"),
        ("u2", "void"),
        ("u3", "unsatisfied"),
        ("u1", "satisfied"),
        ("u2", "pending"),
        ("u3", "satisfied"),
    ]


def test_followup_answers_for_withdrawn_or_merged_items_are_polite(svc):
    a = _submit(svc)
    svc.withdraw(a.tracking_no, "telegram", "u1")
    r = svc.loop.rate(a.tracking_no, "telegram", "u1", "satisfied")
    assert not r.accepted and r.reason == "withdrawn"
    b, c = _submit(svc, msg="m2"), _submit(svc, sender="u3", msg="m3")
    svc.loop.merge(b.tracking_no, c.tracking_no, "member")
    r = svc.loop.rate(b.tracking_no, "telegram", "u1", "unsatisfied")
    assert not r.accepted and r.reason == "merged" and r.merged_into == c.tracking_no
    open_item = _submit(svc, msg="m4")
    assert svc.loop.rate(open_item.tracking_no, "telegram", "u1", "satisfied").reason == "not_resolved"


def test_merge_moves_residents_trails_both_and_closes_the_source(svc):
    src, tgt = _submit(svc), _submit(svc, sender="u3", msg="m3")
    svc.loop.cosign(src.tracking_no, "telegram", "u2", "xingfu")
    with pytest.raises(UserFacingError):
        svc.loop.merge(src.tracking_no, src.tracking_no, "member")
    with pytest.raises(UserFacingError):
        svc.loop.merge(src.tracking_no, "YS-20000101-9999", "member")
    other = _submit(svc, sender="u4", msg="m4", text="村里的账目一直不公开", community="liushu")
    with pytest.raises(UserFacingError) as e:
        svc.loop.merge(src.tracking_no, other.tracking_no, "member")
    assert e.value.code == "other_committee"
    done = svc.loop.merge(src.tracking_no, tgt.tracking_no, "member", committee_id=src.committee_id)
    assert (done.source, done.target, done.joined) == (src.tracking_no, tgt.tracking_no, 2)
    s_rec, t_rec = svc.get(src.tracking_no), svc.get(tgt.tracking_no)
    assert s_rec.status == "merged" and s_rec.status_label == "已合并" and s_rec.merged_into == tgt.tracking_no
    assert tgt.tracking_no in s_rec.trail[-1].note and src.tracking_no in t_rec.trail[-1].note
    assert t_rec.trail[-1].kind == "merge" and t_rec.status == "submitted"
    told = {s for s, p in _pushes(svc, src.tracking_no) if p["status"] == "merged"}
    assert told == {"u1", "u2"}
    svc.change_status(tgt.tracking_no, "accepted", "member")
    assert {s for s, p in _pushes(svc, tgt.tracking_no) if p["status"] == "accepted"} == {"u1", "u2", "u3"}
    with pytest.raises(UserFacingError):  # a merged item is closed
        svc.loop.merge(src.tracking_no, tgt.tracking_no, "member")


def test_expire_followups_closes_unanswered_never_as_satisfied(svc):
    a = _submit(svc)
    svc.change_status(a.tracking_no, "accepted", "member")
    svc.change_status(a.tracking_no, "resolved", "member")
    with svc.Session() as s:
        s.query(m.FollowUp).update({m.FollowUp.asked_at: datetime(2026, 11, 27, 2, tzinfo=UTC)})  # a Friday
        s.commit()
    days = svc.settings.closedloop_followup_days
    assert residents.expire_followups(datetime(2026, 11, 28, 2, tzinfo=UTC), svc) == 0
    late = datetime(2026, 11, 27, 2, tzinfo=UTC) + timedelta(days=days + 5)
    assert residents.expire_followups(late, svc) == 1
    assert residents.expire_followups(late, svc) == 0
    r = svc.loop.rate(a.tracking_no, "telegram", "u1", "satisfied")
    assert not r.accepted and r.reason == "answered"
    with svc.Session() as s:
        counts = loop_counts(s, None, late - timedelta(minutes=1), late + timedelta(minutes=1))
    assert counts[a.committee_id].unanswered == 1 and counts[a.committee_id].satisfied == 0


def test_followup_expiry_counts_working_days():
    asked = datetime(2026, 9, 30, 2, tzinfo=UTC)  # the day before the National Day holiday
    assert not residents.followup_expired(asked, datetime(2026, 10, 8, 2, tzinfo=UTC), 2, tz="Asia/Shanghai")
    assert residents.followup_expired(asked, datetime(2026, 10, 13, 2, tzinfo=UTC), 2, tz="Asia/Shanghai")


@pytest.mark.parametrize("target", ["", "😀" * 40, "YS-2026\x00-0001", "x" * 5000, "' OR 1=1 --"])
def test_merge_form_refuses_bad_targets_politely(tmp_path, target):
    from fastapi.testclient import TestClient

    from bot.inbox.app import create_app
    from tests.inbox_support import csrf_of, login, make_env

    env = make_env(tmp_path / "inbox")
    try:
        client = TestClient(create_app(env.settings, env.service, push_interval=0))
        assert login(client, "alice").status_code == 200
        source = env.a[1].tracking_no
        r = client.post(
            f"/consultations/{source}/merge",
            data={"target": target, "csrf_token": csrf_of(client)},
            follow_redirects=False,
        )
        assert r.status_code in (303, 422), r.text
        assert env.service.get(source).status == "submitted"
        r = client.post(f"/consultations/{source}/merge", data={"target": env.a[2].tracking_no}, follow_redirects=False)
        assert r.status_code == 403 and env.service.get(source).status == "submitted"  # no CSRF token: refused
    finally:
        env.service.delivery.stop()
        dispose_engines()
