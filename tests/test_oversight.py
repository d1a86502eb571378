"""Closing the loop, oversight half, through the service on SQLite and PostgreSQL: stored due dates, the calendar
supplement and estimated years, extensions, reassignment, scheduler passes across two replicas, the digest."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, time
from http.server import BaseHTTPRequestHandler, HTTPServer
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from bot.closedloop import deadlines as dl
from bot.closedloop import workdays as wd
from bot.consultations import ConsultationService
from bot.consultations import models as m
from bot.errors import UserFacingError
from bot.inbox import scheduler
from bot.kb.models import CategoryLimits
from bot.settings import Settings
from tests.inbox_support import FAST_ARGON2, _kb

SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture(params=["sqlite", "postgres"])
def url(request):
    return request.getfixturevalue("migrated_sqlite_url" if request.param == "sqlite" else "migrated_pg_url")


@pytest.fixture
def svc(url, tmp_path):
    settings = Settings(var_dir=tmp_path, database_url=url, rasa_url="http://127.0.0.1:9")
    s = ConsultationService(url, _kb(), settings=settings, use_embedding=False, hasher=FAST_ARGON2)
    yield s
    s.engine.dispose()


def _file(svc, text="楼道灯坏了很久没人修", sender="r1", category="public-affairs", at=None):
    rec = svc.submit("telegram", sender, f"m-{sender}", "xingfu", text, category=category)
    if at is not None:  # back-date the item and its due dates (as if filed at ``at``)
        with svc.Session.begin() as s:
            c = s.get(m.Consultation, rec.id)
            c.created_at = at
            from bot.consultations import duedates

            duedates.stamp(s, c, svc.directory.kb_directory, svc.settings)
    return svc.get(rec.tracking_no)


# --- calendar ---------------------------------------------------------------------------------------------------


def test_year_end_item_with_10_day_limit_is_estimated_into_2027():
    limits = CategoryLimits(accept_days=2, complete_days=10)
    d = dl.due_dates(datetime(2026, 12, 28, 10, 0, tzinfo=SH), limits, cutoff=time(17), tz="Asia/Shanghai")
    assert wd.calendar_source(2027) == "estimated"  # chinesecalendar 1.11 stops at 2026; the supplement is empty
    # 12-28..12-31 are four working days, 1 January 2027 (a Friday) counts as Mon–Fri, then 4–8 January
    assert (d.accept_by, d.complete_by) == (date(2026, 12, 29), date(2027, 1, 8))
    assert d.estimated and "预估" in dl.resident_line(d, datetime(2026, 12, 28, tzinfo=SH), accepted=True)
    # fully within 2026: not an estimate
    assert not dl.due_dates(datetime(2026, 12, 1, 10, tzinfo=SH), CategoryLimits(), cutoff=time(17)).estimated


def test_national_day_week_2026_is_skipped():
    d = dl.due_dates(
        datetime(2026, 9, 30, 10, 0, tzinfo=SH),
        CategoryLimits(accept_days=2, complete_days=3),
        cutoff=time(17),
        tz="Asia/Shanghai",
    )
    # 30 Sept is day 1; 1–7 October are holidays; 8 October (Thursday) is the next working day
    assert d.accept_by == date(2026, 10, 8) and d.complete_by == date(2026, 10, 9) and not d.estimated


def test_supplement_file_overrides_and_fills_a_year(tmp_path, monkeypatch):
    (tmp_path / "workday_calendar.yml").write_text(
        "years:\n  2027:\n    holidays: [2027-01-01]\n    workdays: [2027-01-09]\n", encoding="utf-8"
    )
    from bot import settings as st

    monkeypatch.setattr(st, "get_settings", lambda: Settings(kb_dir=tmp_path))
    wd.supplement.cache_clear()
    wd.is_working_day.cache_clear()
    wd._year_prefix.cache_clear()
    try:
        assert wd.calendar_source(2027) == "supplement"
        assert not wd.is_working_day(date(2027, 1, 1)) and wd.is_working_day(date(2027, 1, 9))
        assert wd.is_working_day(date(2027, 1, 4)) and not wd.is_working_day(date(2027, 1, 10))
    finally:
        monkeypatch.undo()
        wd.supplement.cache_clear()
        wd.is_working_day.cache_clear()
        wd._year_prefix.cache_clear()
    assert wd.calendar_source(2027) == "estimated"


# --- storage, limits, resident line ---------------------------------------------------------------------------


def test_due_dates_are_stored_and_told_to_the_resident(svc):
    rec = _file(svc, at=datetime(2026, 12, 1, 2, 0, tzinfo=UTC))  # 10:00 Shanghai, a Tuesday
    limits = {c.id: c.limits for c in _kb().directory.categories}["public-affairs"]
    want = dl.due_dates(datetime(2026, 12, 1, 10, 0, tzinfo=SH), limits, cutoff=time(17), tz="Asia/Shanghai")
    assert (rec.accept_by, rec.complete_by, rec.due_estimated) == (want.accept_by, want.complete_by, False)
    status = svc.status_for_resident(rec.tracking_no, "telegram", "r1")
    assert status.due_line == f"预计{want.accept_by.month}月{want.accept_by.day}日前受理"
    svc.change_status(rec.tracking_no, "accepted", "alice")
    assert "前办结" in svc.status_for_resident(rec.tracking_no, "telegram", "r1").due_line


def test_admin_limit_override_applies_to_new_items_only(svc):
    before = _file(svc, sender="r-before")
    r = svc.oversight.set_limits("public-affairs", "5", "40", "root")
    assert (r.accept_days, r.complete_days, r.overridden) == (5, 40, True)
    after = _file(svc, sender="r-after")
    assert after.complete_by > before.complete_by and svc.get(before.tracking_no).complete_by == before.complete_by
    for bad in (("0", "10"), ("5", "3"), ("x", "10"), ("31", "40"), ("5", "121")):
        with pytest.raises(UserFacingError):
            svc.oversight.set_limits("public-affairs", *bad, "root")
    with pytest.raises(UserFacingError):
        svc.oversight.set_limits("no-such-category", 2, 10, "root")


# --- extensions -------------------------------------------------------------------------------------------------


def test_extension_state_machine_through_the_service(svc):
    svc.accounts.create_user("sup", "sup-pass-9876!", None, role="supervisor", township="城关街道")
    rec = _file(svc, sender="r-ext")
    with pytest.raises(UserFacingError):
        svc.oversight.request_extension(rec.tracking_no, "0", "理由", "alice")
    with pytest.raises(UserFacingError):
        svc.oversight.request_extension(rec.tracking_no, "3", "   ", "alice")
    e = svc.oversight.request_extension(rec.tracking_no, "3", "需要等业主大会表决", "alice")
    with pytest.raises(UserFacingError) as pending:
        svc.oversight.request_extension(rec.tracking_no, "2", "再申请", "alice")
    assert pending.value.code == "extension_pending"
    with pytest.raises(UserFacingError) as own:  # the requester never decides their own, even as a supervisor
        svc.oversight.decide_extension(e.id, True, "alice", township="城关街道", role="supervisor")
    assert own.value.code == "own_request"
    with pytest.raises(UserFacingError):  # a member cannot decide
        svc.oversight.decide_extension(e.id, True, "bob", township=None, role="member")
    with pytest.raises(UserFacingError):  # another township's supervisor does not even see it
        svc.oversight.decide_extension(e.id, True, "other", township="南湖街道", role="supervisor")
    done = svc.oversight.decide_extension(e.id, True, "sup", township="城关街道", role="supervisor", note="同意")
    assert done.state == "approved" and done.decided_by == "sup"
    after = svc.get(rec.tracking_no)
    assert after.complete_by == wd.add_working_days(rec.complete_by, 3)
    assert [t.kind for t in after.trail].count("extension") == 2
    with pytest.raises(UserFacingError):
        svc.oversight.decide_extension(e.id, False, "sup", township="城关街道", role="supervisor")
    with svc.Session() as s:  # the resident was told the new date through the outbox
        msgs = [o.message for o in s.scalars(select(m.OutboxMessage).where(m.OutboxMessage.sender_id == "r-ext"))]
    assert any("延长3个工作日" in x for x in msgs)
    e2 = svc.oversight.request_extension(rec.tracking_no, "2", "第二次", "alice")
    assert (
        svc.oversight.decide_extension(e2.id, False, "sup", township="城关街道", role="supervisor").state == "refused"
    )
    assert svc.get(rec.tracking_no).complete_by == after.complete_by


def test_supervisor_reassigns_within_the_township_only(svc):
    rec = _file(svc, sender="r-move")
    moved = svc.oversight.reassign(rec.tracking_no, "xingfu-wyxt", "sup", township="城关街道", note="属物业事项")
    assert moved.committee_id == "xingfu-wyxt" and moved.trail[-1].kind == "reassign"
    with pytest.raises(UserFacingError):  # 南湖街道's committee: not this township's
        svc.oversight.reassign(rec.tracking_no, "nanhu-jwh", "sup", township="城关街道")
    with pytest.raises(UserFacingError):
        svc.oversight.reassign(rec.tracking_no, "xingfu-wyxt", "sup", township="城关街道")  # no change
    with svc.Session() as s:
        msgs = [o.message for o in s.scalars(select(m.OutboxMessage).where(m.OutboxMessage.sender_id == "r-move"))]
    assert any("转由" in x for x in msgs)


def test_published_outcome_is_masked_and_public(svc):
    rec = svc.submit(
        "telegram",
        "r-pub",
        "m1",
        "xingfu",
        "路灯坏了",
        category="public-affairs",
        contact_name="王小明",
        contact_phone="13900001111",
        consent=True,
    )
    out = svc.oversight.publish_outcome(rec.tracking_no, "已联系王小明（13900001111）并修好路灯", "alice")
    assert "13900001111" not in out.outcome_text and "王小明" not in out.outcome_text
    pub = svc.oversight.public_outcomes("xingfu")
    assert [p.tracking_no for p in pub] == [rec.tracking_no] and "修好路灯" in pub[0].outcome
    assert svc.reports.outside_one(rec.tracking_no).outcome == out.outcome_text
    svc.oversight.publish_outcome(rec.tracking_no, "", "alice")
    assert svc.oversight.public_outcomes("xingfu") == []


# --- scheduler --------------------------------------------------------------------------------------------------


def _overdue_item(svc, sender):
    rec = _file(svc, sender=sender)
    with svc.Session.begin() as s:
        s.execute(
            update(m.Consultation)
            .where(m.Consultation.id == rec.id)
            .values(accept_by=date(2026, 11, 2), complete_by=date(2026, 11, 20))
        )
    return rec


def test_scheduler_pass_once_across_two_replicas(svc):
    items = [_overdue_item(svc, f"r-s{i}") for i in range(5)]
    now = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    results, barrier = [], threading.Barrier(2)

    def replica(name):
        barrier.wait()
        results.append(scheduler.run_pass(svc, holder=name, now=now))

    threads = [threading.Thread(target=replica, args=(f"replica-{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    sent = sum(r.jobs.get("reminders", {}).get("sent", 0) for r in results)
    again = scheduler.run_pass(svc, holder="replica-0", now=now)
    assert again.ran and again.jobs["reminders"]["sent"] == 0
    total = sent  # every item escalates twice (acceptance and completion both overdue), once in all
    with svc.Session() as s:
        n = len(s.scalars(select(m.StatusEvent).where(m.StatusEvent.kind == "escalation")).all())
    assert total == n == 2 * len(items)
    ov = svc.oversight.overdue(township="城关街道", now=now)
    assert {o.tracking_no for o in ov} >= {r.tracking_no for r in items}
    assert svc.oversight.overdue(township="南湖街道", now=now) == []


def test_a_registered_job_runs_and_a_failing_one_does_not_stop_the_pass(svc):
    calls = []
    scheduler.job("test_probe")(lambda service, now, holder: calls.append(holder) or {"ok": 1})
    scheduler.job("test_broken")(lambda service, now, holder: 1 / 0)
    try:
        r = scheduler.run_pass(svc, holder="h")
        assert calls == ["h"] and r.jobs["test_probe"] == {"ok": 1} and r.jobs["test_broken"]["error"]
    finally:
        scheduler.JOBS.pop("test_probe")
        scheduler.JOBS.pop("test_broken")


class _Hook(BaseHTTPRequestHandler):
    bodies: list = []
    fail = False

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).bodies.append(json.loads(body))
        self.send_response(500 if type(self).fail else 200)
        self.end_headers()

    def log_message(self, *a):
        pass


def test_daily_digest_to_a_real_local_http_server(url, tmp_path):
    srv = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    _Hook.bodies, _Hook.fail = [], True
    try:
        settings = Settings(
            var_dir=tmp_path, database_url=url, closedloop_digest_url=f"http://127.0.0.1:{srv.server_port}/hook"
        )
        svc = ConsultationService(url, _kb(), settings=settings, use_embedding=False, hasher=FAST_ARGON2)
        rec = _overdue_item(svc, "r-digest")
        now = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 local, after the digest hour
        assert scheduler.run_pass(svc, holder="a", now=now).jobs["digest"]["sent"] == 0  # webhook answered 500
        _Hook.fail = False
        assert scheduler.run_pass(svc, holder="a", now=now).jobs["digest"]["sent"] == 1  # retried
        assert scheduler.run_pass(svc, holder="b", now=now).jobs["digest"]["sent"] == 0  # once a day
        body = _Hook.bodies[-1]
        assert body["type"] == "linli.closedloop.digest" and body["date"] == "2026-12-01"
        assert rec.tracking_no in {o["tracking_no"] for o in body["overdue"]}
        assert {"township": "城关街道", "escalated": 1} in body["townships"]
        assert 2027 in body["estimated_years"]
        svc.engine.dispose()
    finally:
        srv.shutdown()


def test_scorecard_on_time_rates(svc):
    on_time = _file(svc, sender="r-ok")
    svc.change_status(on_time.tracking_no, "accepted", "alice")
    svc.change_status(on_time.tracking_no, "resolved", "alice", "已修好")
    late = _overdue_item(svc, "r-late")
    today = datetime.now(SH).date()
    card = svc.scorecards.compute(today, today, "xingfu-jwh")
    row = next(r for r in card.committees if r.key == "xingfu-jwh")
    assert row.filed == 2 and row.accept_due == 2 and row.accept_on_time == 1 and row.accept_rate == 0.5
    assert row.complete_due == 2 and row.complete_on_time == 1 and row.resolved == 1
    assert row.satisfaction_rate is None and row.loop.cosigns == 0  # loop_counts placeholder on this branch
    assert late.tracking_no
    town = next(t for t in card.townships if t.key == "城关街道")
    assert town.filed == 2 and town.accept_on_time == 1


def test_the_inbox_app_starts_and_stops_the_scheduler_thread(svc):
    import time as _time

    from fastapi.testclient import TestClient

    from bot.inbox.app import create_app

    rec = _overdue_item(svc, "r-thread")
    app = create_app(svc.settings, svc, push_interval=0, scheduler_interval=0.2)
    with TestClient(app):
        thread = app.state.scheduler
        assert thread is not None and thread.is_alive()
        deadline = _time.monotonic() + 60
        while _time.monotonic() < deadline:
            if any(t.kind == "escalation" for t in svc.get(rec.tracking_no).trail):
                break
            _time.sleep(0.1)
    assert not thread.is_alive()
    kinds = [t.kind for t in svc.get(rec.tracking_no).trail]
    assert kinds.count("escalation") == 2  # acceptance and completion overdue, each once however many passes ran


def test_an_item_filed_at_year_end_is_stored_as_an_estimate(svc):
    # public-affairs has a 10-working-day completion limit; filed Monday 28 December 2026, 10:00 Shanghai
    rec = _file(svc, sender="r-year-end", at=datetime(2026, 12, 28, 2, 0, tzinfo=UTC))
    assert (rec.accept_by, rec.complete_by, rec.due_estimated) == (date(2026, 12, 29), date(2027, 1, 8), True)
    svc.change_status(rec.tracking_no, "accepted", "alice")
    line = svc.status_for_resident(rec.tracking_no, "telegram", "r-year-end").due_line
    assert line.startswith("预计2027年1月8日前办结") and "预估" in line
    # 国庆 2026: filed 30 September, the acceptance date skips the holiday week
    oct_item = _file(svc, sender="r-national-day", at=datetime(2026, 9, 30, 2, 0, tzinfo=UTC))
    assert oct_item.accept_by == date(2026, 10, 8) and not oct_item.due_estimated
