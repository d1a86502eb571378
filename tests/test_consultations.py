"""Consultation store, statuses, resident view, users and status pushes — on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from bot.consultations import AccessDenied, ConsultationService, DeliveryCounts, NotFoundError, Status, TransitionError
from bot.consultations import models as m
from bot.consultations.passwords import Argon2Hasher
from bot.db import dispose_engines
from bot.errors import UserFacingError
from bot.kb import load_kb
from tests.fake_api import FakeRasa
from tests.inbox_support import FAST_ARGON2

REPO = Path(__file__).resolve().parent.parent
TRACKING = re.compile(r"^YS-\d{8}-\d{4}$")


@pytest.fixture(scope="module")
def kb():
    return load_kb()


@pytest.fixture(params=["sqlite", "postgres"])
def url(request):
    """A database at the migration head (copied from one migrated once per process: tests/dbtemplate.py)."""
    return request.getfixturevalue("migrated_sqlite_url" if request.param == "sqlite" else "migrated_pg_url")


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_url(request):
    """An empty database: the tests of the migration chain itself."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture
def svc(url, kb):
    service = ConsultationService(url, kb, use_embedding=False)
    yield service
    service.delivery.stop()
    dispose_engines()


def _submit(svc, msg="m1", text="幸福家园的电梯坏了三天了，物业一直不修", sender="u1", **kw):
    return svc.submit("telegram", sender, msg, kw.pop("community_id", "xingfu"), text, **kw)


# store -------------------------------------------------------------------------------
def test_submit_stores_routes_and_numbers(svc):
    a = _submit(svc)
    assert a.created and TRACKING.match(a.tracking_no)
    assert a.status == "submitted" and a.status_label == "已提交"
    assert a.category == "property" and a.committee_id == "xingfu-yzh-xingfujiayuan"
    assert a.created_at.tzinfo is not None and a.created_at.utcoffset() == timedelta(0)
    b = _submit(svc, msg="m2", text="村里的账目一直不公开", community_id="liushu")
    assert b.committee_id == "liushu-cwjd" and b.committee_type == "村务监督委员会"
    assert int(b.tracking_no[-4:]) == int(a.tracking_no[-4:]) + 1
    got = svc.get(a.tracking_no.lower())
    assert got.text == a.text and [e.to_status for e in got.trail] == ["submitted"]


def test_retried_delivery_is_not_a_duplicate(svc):
    a = _submit(svc)
    b = _submit(svc, text="完全不同的文字也不会另存")
    assert not b.created and b.tracking_no == a.tracking_no and b.text == a.text
    assert svc.reports.count_for_committee(None) == 1
    c = _submit(svc, msg="m1", sender="u2")  # another sender's message id is another key
    assert c.created and c.tracking_no != a.tracking_no


def test_concurrent_retries_of_one_message_store_once(svc):
    with ThreadPoolExecutor(8) as pool:
        recs = list(pool.map(lambda _: _submit(svc, msg="same"), range(16)))
    assert len({r.tracking_no for r in recs}) == 1
    assert sum(r.created for r in recs) == 1
    assert svc.reports.count_for_committee(None) == 1


def test_contact_only_with_consent(svc):
    no = _submit(svc, msg="a", contact_name="张三", contact_phone="13812345678", consent=False)
    assert no.contact_name is None and no.contact_phone is None and not no.consent
    yes = _submit(svc, msg="b", contact_name="张三", contact_phone="+86 138-1234-5678", consent=True)
    assert yes.contact_name == "张三" and yes.contact_phone == "13812345678" and yes.consent


@pytest.mark.parametrize(
    "kwargs, code",
    [
        ({"text": ""}, "empty"),
        ({"text": "   \n\t "}, "empty"),
        ({"text": "\u0000\u0007\u200b"}, "empty"),
        ({"text": "电梯" * 1001}, "too_long"),
        ({"text": 12345}, "invalid_type"),
        ({"text": None}, "empty"),
        ({"community_id": "atlantis"}, "unknown_community"),
        ({"category": "nope"}, "unknown_category"),
        ({"contact_phone": "12345", "consent": True}, "invalid_phone"),
        ({"contact_phone": "1381234567a", "consent": True}, "invalid_phone"),
    ],
)
def test_bad_input_gets_polite_chinese(svc, kwargs, code):
    with pytest.raises(UserFacingError) as e:
        _submit(svc, **kwargs)
    assert e.value.code == code
    assert re.search(r"[\u4e00-\u9fff]", e.value.message) and "Traceback" not in e.value.message
    assert svc.reports.count_for_committee(None) == 0


def test_text_is_cleaned_and_stored_verbatim(svc):
    nasty = "路灯坏了\u0000\u0007 😀 <script>alert(1)</script> '; DROP TABLE consultations; --"
    r = _submit(svc, text=nasty)
    assert "\u0000" not in r.text and "\u0007" not in r.text
    assert "😀" in r.text and "<script>" in r.text and "DROP TABLE" in r.text
    assert svc.get(r.tracking_no).text == r.text
    assert r.category == "public-affairs"
    long_ok = _submit(svc, msg="x", text="路" * 2000)
    assert len(long_ok.text) == 2000


def test_community_by_chinese_name_and_default(svc):
    assert _submit(svc, msg="a", community_id="柳树村").community_id == "liushu"
    assert _submit(svc, msg="b", community_id=None).community_id == svc.settings.default_community


# statuses ----------------------------------------------------------------------------
def test_full_life_cycle_and_trail(svc):
    r = _submit(svc)
    svc.change_status(r.tracking_no, "accepted", "li", "已受理")
    svc.change_status(r.tracking_no, "议事中", "li", "下周二议事会")
    done = svc.change_status(r.tracking_no, Status.RESOLVED, "li", "电梯已修好")
    assert done.status == "resolved" and done.status_label == "已办结"
    assert [(e.from_status, e.to_status, e.actor) for e in done.trail] == [
        (None, "submitted", "resident"),
        ("submitted", "accepted", "li"),
        ("accepted", "deliberating", "li"),
        ("deliberating", "resolved", "li"),
    ]
    assert done.updated_at > done.created_at
    with pytest.raises(TransitionError) as e:
        svc.change_status(r.tracking_no, "accepted", "li")
    assert e.value.code == "final_status" and "已办结" in e.value.message


@pytest.mark.parametrize(
    "path, target, code",
    [
        ([], "resolved", "illegal_transition"),
        ([], "deliberating", "illegal_transition"),
        (["accepted"], "submitted", "illegal_transition"),
        (["accepted"], "accepted", "same_status"),
        ([], "withdrawn", "resident_only"),
        ([], "rejected", "note_required"),
        ([], "closed", "unknown_status"),
    ],
)
def test_illegal_transitions_are_refused(svc, path, target, code):
    r = _submit(svc)
    for p in path:
        svc.change_status(r.tracking_no, p, "li", "ok")
    with pytest.raises(TransitionError) as e:
        svc.change_status(r.tracking_no, target, "li", "")
    assert e.value.code == code and re.search(r"[\u4e00-\u9fff]", e.value.message)
    assert svc.get(r.tracking_no).status == (path[-1] if path else "submitted")


@pytest.mark.parametrize("final", ["resolved", "rejected", "withdrawn"])
def test_texts_about_final_statuses_read_naturally(svc, final):
    r = _submit(svc)
    svc.change_status(r.tracking_no, "accepted", "li", "好")
    if final == "withdrawn":
        svc.withdraw(r.tracking_no, "telegram", "u1")
    else:
        svc.change_status(r.tracking_no, final, "li", "理由")
    label = Status(final).label
    messages = []
    for attempt in (
        lambda: svc.change_status(r.tracking_no, "deliberating", "li"),
        lambda: svc.recategorize(r.tracking_no, "public-affairs", "li"),
        lambda: svc.withdraw(r.tracking_no, "telegram", "u1"),
    ):
        with pytest.raises(UserFacingError) as e:
            attempt()
        messages.append(e.value.message)
    assert all(f"已是“{label}”状态" in msg for msg in messages[:2]), messages
    assert (f"已经是“{label}”状态，无需重复" if final == "withdrawn" else f"已是“{label}”状态") in messages[2], messages
    assert not any("已“已" in msg for msg in messages)


def test_push_text_is_concise_chinese(svc):
    from bot.consultations.notify import status_message

    text = status_message("YS-20261129-0042", Status.REJECTED, "不属于本社区事务")
    assert text == "您的议事协商（受理编号 YS-20261129-0042）有新进展：不予受理。\n说明：不属于本社区事务"
    assert status_message("YS-20261129-0042", Status.ACCEPTED).endswith("已受理。")


def test_reject_needs_reason_then_records_it(svc):
    r = _submit(svc)
    out = svc.change_status(r.tracking_no, "rejected", "li", "不属于本委员会职责")
    assert out.status_label == "不予受理" and out.trail[-1].note == "不属于本委员会职责"


def test_withdraw_only_by_the_resident(svc):
    r = _submit(svc)
    svc.change_status(r.tracking_no, "accepted", "li")
    for channel, sender in (("telegram", "someone-else"), ("rest", "u1"), ("webchat", "u1")):
        with pytest.raises(NotFoundError):  # a resident is the pair (channel, sender)
            svc.withdraw(r.tracking_no, channel, sender)
    w = svc.withdraw(r.tracking_no, "telegram", "u1")
    assert w.status == "withdrawn" and w.trail[-1].actor == "resident"
    with pytest.raises(TransitionError):
        svc.withdraw(r.tracking_no, "telegram", "u1")


def test_member_scope_is_enforced(svc):
    r = _submit(svc)
    with pytest.raises(AccessDenied):
        svc.change_status(r.tracking_no, "accepted", "li", committee_id="xingfu-jwh")
    assert svc.change_status(r.tracking_no, "accepted", "li", committee_id=r.committee_id).status == "accepted"
    with pytest.raises(NotFoundError):
        svc.change_status("YS-20000101-9999", "accepted", "li")


# resident view -----------------------------------------------------------------------
def test_resident_sees_only_own_and_no_personal_data(svc):
    r = _submit(svc, contact_name="王小明", contact_phone="13912345678", consent=True)
    svc.change_status(r.tracking_no, "accepted", "zhang_member", "已联系王小明 13912345678")
    view = svc.status_for_resident(" " + r.tracking_no.lower().replace("-", "－") + " ", "telegram", "u1")
    assert view.tracking_no == r.tracking_no and view.status_label == "已受理"
    assert view.committee_name == "幸福家园业主委员会" and view.updated_at_text
    assert [t.status_label for t in view.trail] == ["已提交", "已受理"]
    dumped = json.dumps(asdict(view), ensure_ascii=False)
    assert "13912345678" not in dumped and "王小明" not in dumped and "zhang_member" not in dumped
    assert "电梯" not in dumped  # the text itself is not echoed either
    for channel, sender in (("telegram", "u2"), ("rest", "u1"), ("webchat", "u1")):
        with pytest.raises(NotFoundError):
            svc.status_for_resident(r.tracking_no, channel, sender)
    with pytest.raises(UserFacingError) as e:
        svc.status_for_resident("我的编号是多少", "telegram", "u1")
    assert e.value.code == "invalid_tracking_no"


# routing in the store ----------------------------------------------------------------
def test_recategorize_reroutes_and_is_in_the_trail(svc):
    r = _submit(svc, text="我有个事想问问")
    assert r.flagged_unroutable and r.committee_id == "xingfu-jwh" and r.category is None
    out = svc.recategorize(r.tracking_no, "affairs-disclosure", "li", "其实是问账目")
    assert out.category == "affairs-disclosure" and out.committee_id == "xingfu-jwjd" and not out.flagged_unroutable
    ev = out.trail[-1]
    assert (ev.kind, ev.from_category, ev.to_category, ev.committee_id, ev.actor) == (
        "recategorize",
        None,
        "affairs-disclosure",
        "xingfu-jwjd",
        "li",
    )
    assert out.status == "submitted"
    assert [c.tracking_no for c in svc.reports.list_for_committee("xingfu-jwjd")] == [r.tracking_no]
    assert svc.reports.list_for_committee("xingfu-jwh") == []


def test_list_filters_search_and_dashboard(svc, url):
    a = _submit(svc, msg="a")
    b = _submit(svc, msg="b", text="路灯坏了好几天 100%_真的")
    c = _submit(svc, msg="c", text="阳光苑停车位不够")
    svc.change_status(b.tracking_no, "accepted", "li")
    assert {x.tracking_no for x in svc.reports.list_for_committee(None)} == {
        a.tracking_no,
        b.tracking_no,
        c.tracking_no,
    }
    assert [x.tracking_no for x in svc.reports.list_for_committee("xingfu-jwh", status="accepted")] == [b.tracking_no]
    assert [x.tracking_no for x in svc.reports.list_for_committee(None, category="property", search="停车")] == [
        c.tracking_no
    ]
    assert [x.tracking_no for x in svc.reports.list_for_committee(None, search="100%_")] == [b.tracking_no]
    assert svc.reports.list_for_committee(None, search="' OR 1=1 --") == []
    today = a.created_at.astimezone(svc.tz).date()
    assert svc.reports.count_for_committee(None, since=today, until=today) == 3
    assert svc.reports.count_for_committee(None, since=today + timedelta(days=1)) == 0
    _age_status_events(svc, url, a.tracking_no, days=10)  # no status change for 10 days: overdue
    d = svc.reports.dashboard(None, overdue_days=7)
    assert d.by_status == {"submitted": 2, "accepted": 1}
    assert d.by_category == {"property": 2, "public-affairs": 1}
    assert d.weekly[-1][1] == 3 and len(d.weekly) == 8
    assert [x.tracking_no for x in d.overdue] == [a.tracking_no]
    assert (m.utcnow() - d.last_status_change[a.tracking_no]).days == 10
    assert svc.reports.dashboard("xingfu-jwjd").by_status == {}


def _age_status_events(svc, url, tracking_no, days):
    """Move every trail entry of one consultation ``days`` into the past (as if nothing happened since)."""
    with svc.engine.begin() as conn:
        rows = conn.execute(
            text(
                "SELECT e.id, e.at FROM status_events e JOIN consultations c ON c.id = e.consultation_id "
                "WHERE c.tracking_no = :n"
            ),
            {"n": tracking_no},
        ).all()
        for eid, at in rows:
            at = datetime.fromisoformat(at) if isinstance(at, str) else at
            conn.execute(
                text("UPDATE status_events SET at = :t WHERE id = :i"), {"t": at - timedelta(days=days), "i": eid}
            )


def test_overdue_counts_status_changes_not_other_edits(svc, url):
    stale = _submit(svc, msg="a", text="我有个事想问问")
    moving = _submit(svc, msg="b", text="路灯坏了")
    _age_status_events(svc, url, stale.tracking_no, days=9)
    _age_status_events(svc, url, moving.tracking_no, days=9)
    assert {x.tracking_no for x in svc.reports.dashboard(None, overdue_days=7).overdue} == {
        stale.tracking_no,
        moving.tracking_no,
    }
    # a category fix touches updated_at and the trail, but is no progress on the matter
    fixed = svc.recategorize(stale.tracking_no, "public-affairs", "li", "其实是公共事务")
    assert (m.utcnow() - fixed.updated_at).total_seconds() < 60
    # a status transition is progress
    svc.change_status(moving.tracking_no, "accepted", "li", "已受理")
    d = svc.reports.dashboard(None, overdue_days=7)
    assert [x.tracking_no for x in d.overdue] == [stale.tracking_no]
    assert (m.utcnow() - d.last_status_change[stale.tracking_no]).days == 9
    # closed matters are never overdue, however old
    _age_status_events(svc, url, moving.tracking_no, days=30)
    svc.change_status(stale.tracking_no, "rejected", "li", "重复反映")
    _age_status_events(svc, url, stale.tracking_no, days=30)
    assert [x.tracking_no for x in svc.reports.dashboard(None, overdue_days=7).overdue] == [moving.tracking_no]


def test_handoff(svc):
    ticket = svc.handoffs.request("telegram", "u1", "dongshan", "想找人工")
    hid = ticket.id
    assert hid > 0 and "小时" in ticket.reply_within
    [h] = svc.handoffs.list("dongshan-cwh")
    assert h.id == hid and h.text == "想找人工"
    svc.handoffs.close(hid)
    assert svc.handoffs.list("dongshan-cwh") == []
    assert svc.delivery.outbox(handoff_id=hid) == []  # closed without a note: nothing to tell the resident


def test_handoff_keeps_a_call_back_phone_only_with_consent(svc):
    with_consent = svc.handoffs.request(
        "webchat", "u2", "xingfu", "想问高龄津贴", contact_phone="+86 137-0000-5678", consent=True
    ).id
    without = svc.handoffs.request("webchat", "u3", "xingfu", "想问医保", contact_phone="13700005678", consent=False).id
    truthy = svc.handoffs.request("webchat", "u4", "xingfu", "想问低保", contact_phone="13700005678", consent="yes").id
    assert (svc.handoffs.get(with_consent).contact_phone, svc.handoffs.get(with_consent).consent) == (
        "13700005678",
        True,
    )
    for hid in (without, truthy):  # only a real True is consent; no consent, no phone stored
        assert (svc.handoffs.get(hid).contact_phone, svc.handoffs.get(hid).consent) == (None, False)
    with pytest.raises(UserFacingError):
        svc.handoffs.request("webchat", "u5", "xingfu", "想问", contact_phone="12345", consent=True)


def test_handoff_reply_is_queued_for_chat_channels_only(svc):
    chat = svc.handoffs.request("telegram", "u1", "dongshan", "电话 13812345678 找人工").id
    api = svc.handoffs.request("open311", "hotline", "dongshan", "热线转来的").id
    with pytest.raises(AccessDenied):
        svc.handoffs.close(chat, "已回电", "li", committee_id="xingfu-jwh")
    out = svc.handoffs.close(chat, "已给您回电 13812345678，明天上门", "li", committee_id="dongshan-cwh")
    assert out.status == "closed" and out.closed_by == "li" and out.pushed and out.closed_at is not None
    [row] = svc.delivery.outbox(handoff_id=chat)
    assert (row.channel, row.sender_id, row.intent) == ("telegram", "u1", "EXTERNAL_handoff_reply")
    assert json.loads(row.payload) == {"note": "已给您回电 138****5678，明天上门"}
    assert "13812345678" not in row.message and row.message.startswith("社区工作人员回复您")
    with pytest.raises(UserFacingError) as e:
        svc.handoffs.close(chat, "再关一次", "li")
    assert e.value.code == "already_closed" and len(svc.delivery.outbox(handoff_id=chat)) == 1
    assert not svc.handoffs.close(api, "已在热线系统答复", "li").pushed and svc.delivery.outbox(handoff_id=api) == []
    assert svc.handoffs.get(api).close_note == "已在热线系统答复"
    with pytest.raises(NotFoundError):
        svc.handoffs.close(999_999, "x", "li")
    rasa = FakeRasa().start()
    try:
        assert svc.delivery.deliverer(rasa_url=rasa.url, token="t").deliver_pending() == DeliveryCounts(1, 0, 0)
        [req] = rasa.calls
        assert req["path"] == "/conversations/u1/trigger_intent" and req["query"]["output_channel"] == ["telegram"]
        assert req["json"] == {
            "name": "EXTERNAL_handoff_reply",
            "entities": {"note": "已给您回电 138****5678，明天上门"},
        }
    finally:
        rasa.close()


def test_status_pushes_only_to_chat_channels(svc):
    chats = [svc.submit(ch, "u1", "m1", "xingfu", "路灯坏了") for ch in ("telegram", "rest", "webchat", "socketio")]
    api = svc.submit("open311", "city-hotline", "m1", "xingfu", "路灯坏了")
    for r in [*chats, api]:
        svc.change_status(r.tracking_no, "accepted", "li", "已受理")
    assert all(len(svc.delivery.outbox(r.tracking_no)) == 1 for r in chats)
    assert svc.delivery.outbox(api.tracking_no) == []
    assert svc.get(api.tracking_no).status == "accepted"  # the change itself went through
    custom = ConsultationService(
        svc.url,
        svc.kb,
        use_embedding=False,
        prepare=False,
        settings=svc.settings.model_copy(update={"notify_chat_channels": "telegram"}),
    )
    custom.change_status(chats[1].tracking_no, "deliberating", "li")
    assert len(svc.delivery.outbox(chats[1].tracking_no)) == 1  # rest is not a chat channel in that deployment


def test_trail_notes_are_natural_chinese(svc):
    auto = _submit(svc, msg="a")
    given = _submit(svc, msg="b", text="想反映个情况", category="public-affairs")
    lost = _submit(svc, msg="c", text="我有个事想问问")
    notes = [svc.get(r.tracking_no).trail[0].note for r in (auto, given, lost)]
    assert notes == [
        f"自动分派至幸福家园业主委员会（类别：{svc.directory.category_name('property')}）",
        f"按提交时选定的类别分派至幸福社区居民委员会（类别：{svc.directory.category_name('public-affairs')}）",
        "未能识别类别，已转至幸福社区居民委员会，请核对分类",
    ]
    assert (auto.committee_name, given.committee_name, lost.committee_name) == (
        "幸福家园业主委员会",
        "幸福社区居民委员会",
        "幸福社区居民委员会",
    )
    assert not any(re.search(r"[A-Za-z]", n) for n in notes)


# users -------------------------------------------------------------------------------
def test_users_hash_and_authenticate(svc, url, kb):
    """Production argon2 parameters (the service's default) hash and check the first user on SQLite; the rest, and
    everything on PostgreSQL (where what differs is the storage, not the hash), use the tests' cheaper parameters
    (still real argon2: tests/inbox_support.py): each production hash or check costs ~0.2 s of CPU here."""
    production = svc.engine.dialect.name == "sqlite"
    if not production:
        svc = ConsultationService(url, kb, use_embedding=False, prepare=False, hasher=FAST_ARGON2)
    u = svc.accounts.create_user("li", "correct horse", "xingfu-jwh")
    assert u.committee_name == "幸福社区居民委员会" and not u.is_admin
    with svc.engine.connect() as conn:
        stored = conn.execute(text("SELECT password_hash FROM committee_users")).scalar_one()
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert svc.accounts.authenticate("li", "correct horse").id == u.id
    if production:  # the stored hash carries the production parameters; from here on the cheaper ones
        default = Argon2Hasher()._h
        assert f"$m={default.memory_cost},t={default.time_cost},p={default.parallelism}$" in stored
        svc = ConsultationService(url, kb, use_embedding=False, prepare=False, hasher=FAST_ARGON2)
    assert svc.accounts.authenticate("li", "wrong password") is None
    assert svc.accounts.authenticate("nobody", "correct horse") is None
    with pytest.raises(UserFacingError):
        svc.accounts.create_user("li", "another pw!", "xingfu-jwh")
    with pytest.raises(UserFacingError):
        svc.accounts.create_user("wang", "short", "xingfu-jwh")
    with pytest.raises(UserFacingError):
        svc.accounts.create_user("wang", "long enough", None)  # a member needs a committee
    assert svc.accounts.create_user("root", "admin password", None, role="admin").is_admin
    svc.accounts.set_active("li", False)
    assert svc.accounts.authenticate("li", "correct horse") is None
    svc.accounts.set_active("li", True)
    svc.accounts.set_password("li", "new password")
    assert svc.accounts.authenticate("li", "new password") is not None


def test_sync_directory_is_idempotent(svc):
    first = svc.directory.sync()
    again = svc.directory.sync()
    assert first == again and first.committees == sum(len(c.committees) for c in svc.kb.communities)
    assert svc.directory.committee("liushu-cwjd").type == "村务监督委员会"


def test_schema_matches_models(fresh_url, kb):
    """The real migration chain on an empty database builds what the models declare."""
    svc = ConsultationService(fresh_url, kb, use_embedding=False)
    names = set(inspect(svc.engine).get_table_names())
    assert {
        "communities",
        "committees",
        "consultations",
        "status_events",
        "committee_users",
        "handoff_requests",
        "notification_outbox",
        "tracking_counters",
        "alembic_version",
    } <= names
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import bot.closedloop.lease  # noqa: F401  (the scheduler's lease and ledger: migration 0007)
    import bot.feedback.store  # noqa: F401  (feedback_events: the other store on the one database)

    with svc.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), m.Base.metadata)
    assert diff == []
    dispose_engines()


def test_upgrade_from_0001_keeps_data(fresh_url, kb):
    from bot.db import upgrade

    url = fresh_url
    upgrade(url, "0001")
    old = ConsultationService(url, kb, use_embedding=False, prepare=False)
    old.directory.sync()
    with old.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO handoff_requests (channel, sender_id, community_id, committee_id, text, status, created_at) "
                "VALUES ('telegram', 'u9', 'xingfu', 'xingfu-jwh', '旧的请求', 'open', :t)"
            ),
            {"t": m.utcnow().replace(tzinfo=None)},
        )
    upgrade(url)
    svc = ConsultationService(url, kb, use_embedding=False)
    [h] = svc.handoffs.list("xingfu-jwh")
    assert h.text == "旧的请求" and h.close_note == "" and h.closed_at is None
    assert svc.handoffs.close(h.id, "已处理", "li").pushed


# notifications -----------------------------------------------------------------------
def test_status_change_is_pushed_to_rasa_with_retries(svc):
    rasa = FakeRasa(codes=(500,)).start()
    try:
        r = svc.submit("telegram", "chat 42/x", "m1", "xingfu", "路灯坏了")
        svc.change_status(r.tracking_no, "accepted", "li", "明天维修")
        d = svc.delivery.deliverer(rasa_url=rasa.url, token="s3cret", backoff_seconds=0)
        assert d.deliver_pending() == DeliveryCounts(0, 1, 0)
        [row] = svc.delivery.outbox(r.tracking_no)
        assert row.attempts == 1 and "500" in row.last_error and row.delivered_at is None
        assert d.deliver_pending() == DeliveryCounts(1, 0, 0)
        assert d.deliver_pending() == DeliveryCounts(0, 0, 0)  # never twice
        assert len(rasa.calls) == 2
        req = rasa.calls[-1]
        assert req["path"] == "/conversations/chat%2042%2Fx/trigger_intent"  # the sender id quoted as one segment
        assert req["query"] == {"output_channel": ["telegram"], "token": ["s3cret"]}
        assert req["json"] == {
            "name": "EXTERNAL_consultation_status",
            "entities": {
                "tracking_number": r.tracking_no,
                "status": "accepted",
                "status_label": "已受理",
                "note": "明天维修",
            },
        }
        [row] = svc.delivery.outbox(r.tracking_no)
        assert row.delivered_at is not None and row.attempts == 2
    finally:
        rasa.close()


def test_push_survives_rasa_down_and_gives_up_after_max_attempts(svc):
    r = _submit(svc)
    svc.change_status(r.tracking_no, "accepted", "li")
    svc.change_status(r.tracking_no, "deliberating", "li")
    down = FakeRasa().start()
    dead_url = down.url
    down.close()  # nothing listens there now
    d = svc.delivery.deliverer(rasa_url=dead_url, backoff_seconds=0, max_attempts=2, timeout=2)
    assert d.deliver_pending().retry == 2
    assert d.deliver_pending().failed == 2
    rows = svc.delivery.outbox(r.tracking_no)
    assert len(rows) == 2 and all(x.failed and x.last_error and x.delivered_at is None for x in rows)
    rasa = FakeRasa().start()
    try:
        d2 = svc.delivery.deliverer(rasa_url=rasa.url, backoff_seconds=0)
        assert d2.retry_failed() == 2
        assert d2.deliver_pending().delivered == 2
        assert [q["json"]["entities"]["status"] for q in rasa.calls] == ["accepted", "deliberating"]
    finally:
        rasa.close()


def test_background_delivery_thread(svc):
    rasa = FakeRasa().start()
    try:
        svc.settings = svc.settings.model_copy(update={"rasa_url": rasa.url, "notify_backoff_seconds": 0})
        svc.delivery.start(interval=30)
        r = _submit(svc)
        svc.change_status(r.tracking_no, "accepted", "li")  # wakes the thread
        [call] = rasa.wait(1, timeout=10)  # well before the 30 s interval: the change woke the thread
        assert call["json"]["entities"]["tracking_number"] == r.tracking_no
    finally:
        svc.delivery.stop()
        rasa.close()


# migrations and CLI ------------------------------------------------------------------
def test_db_upgrade_command_from_any_directory(fresh_url, tmp_path, monkeypatch, capsys):
    """`python -m bot db upgrade` of an empty database from another directory: a real process on SQLite, the same
    entry point in this process on PostgreSQL (the process itself does not depend on the backend; each new one
    costs ~2.5 s of CPU); its second run (idempotent) and the listing in this process."""
    from alembic.script import ScriptDirectory

    from bot.cli import main
    from bot.db import alembic_config
    from bot.settings import get_settings

    url = fresh_url
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    monkeypatch.setenv("LINLI_DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    try:
        if url.startswith("sqlite"):
            p = subprocess.run(
                [sys.executable, "-m", "bot", "db", "upgrade"], capture_output=True, text=True, timeout=120
            )
            assert p.returncode == 0, p.stderr
            first = p.stdout
        else:
            assert main(["db", "upgrade"]) == 0
            first = capsys.readouterr().out
        assert f"revision {head}" in first  # from an empty database to the head
        assert main(["db", "upgrade"]) == 0  # idempotent
        assert f"revision {head}" in capsys.readouterr().out
        assert main(["consultations", "list", "--json"]) == 0
        assert capsys.readouterr().out == ""
    finally:
        get_settings.cache_clear()
        dispose_engines()
