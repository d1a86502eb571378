"""The closed loop's inbox pages over a real SQLite store: due-date column and detail, extension request and
decision, the township supervisor's scope, reassignment, admin limits, scorecards (page and CSV), publishing an
outcome and the public page, Open311's outcome field, the health warning, the adduser CLI for a supervisor."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from bot.consultations import models as m
from bot.inbox.app import create_app
from tests.inbox_support import COMMITTEE_A, PASSWORD, csrf_of, login, make_env
from tests.stack import REPO

PASSWORD.setdefault("sup", "sup-pass-9876!")
PASSWORD.setdefault("sup2", "sup2-pass-9876!")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    e = make_env(tmp_path_factory.mktemp("oversight"))
    e.service.accounts.create_user("sup", PASSWORD["sup"], None, role="supervisor", township="城关街道")
    e.service.accounts.create_user("sup2", PASSWORD["sup2"], None, role="supervisor", township="南湖街道")
    with e.service.Session.begin() as s:  # the first A item is long overdue
        s.execute(
            update(m.Consultation)
            .where(m.Consultation.id == e.a[0].id)
            .values(accept_by=date(2026, 11, 2), complete_by=date(2026, 11, 20))
        )
    return e


@pytest.fixture(scope="module")
def app(env):
    return create_app(env.settings, env.service, push_interval=0, scheduler_interval=0)


def _client(app, user):
    c = TestClient(app)
    assert login(c, user).status_code == 200
    return c


@pytest.fixture(scope="module")
def alice(app):
    return _client(app, "alice")


@pytest.fixture(scope="module")
def sup(app):
    return _client(app, "sup")


@pytest.fixture(scope="module")
def admin(app):
    return _client(app, "root")


def test_list_has_a_due_column_with_overdue_highlighted(alice, env):
    html = alice.get("/consultations").text
    assert "<th>期限</th>" in html and "due-over" in html and "已超期" in html
    assert 'id="badge-due"' in html  # nav badge: near or past a limit
    detail = alice.get(f"/consultations/{env.a[1].tracking_no}").text
    d = env.service.get(env.a[1].tracking_no).accept_by
    assert f"{d.month}月{d.day}日" in detail and "剩" in detail


def test_dashboard_counts_and_calendar_warning(alice, app):
    html = alice.get("/").text
    assert 'id="tile-overdue"' in html and "2027年法定节假日安排尚未录入" in html
    body = TestClient(app).get("/healthz").json()
    assert body["ok"] and 2027 in body["calendar_estimated_years"] and body["warnings"]


def test_extension_request_then_supervisor_decides(alice, sup, env):
    no = env.a[2].tracking_no
    before = env.service.get(no).complete_by
    r = alice.post(
        f"/consultations/{no}/extension",
        data={"days": "abc", "reason": "x", "csrf_token": csrf_of(alice)},
        follow_redirects=True,
    )
    assert r.status_code == 200 and "延期天数应为" in r.text
    r = alice.post(
        f"/consultations/{no}/extension",
        data={"days": "4", "reason": "等待维修资金审批", "csrf_token": csrf_of(alice)},
        follow_redirects=True,
    )
    assert "等待街道（乡镇）审批" in r.text
    # a member cannot decide
    ext = env.service.oversight.extensions(tracking_no=no)[0]
    assert (
        alice.post(
            f"/extensions/{ext.id}/decide",
            data={"decision": "approve", "csrf_token": csrf_of(alice)},
            follow_redirects=False,
        ).status_code
        == 403
    )
    page = sup.get("/supervisor").text
    assert no in page and "等待维修资金审批" in page
    r = sup.post(
        f"/extensions/{ext.id}/decide",
        data={"decision": "approve", "note": "同意", "back": f"/consultations/{no}", "csrf_token": csrf_of(sup)},
        follow_redirects=True,
    )
    assert r.status_code == 200 and "已同意" in r.text
    assert env.service.get(no).complete_by > before


def test_requester_cannot_decide_own_even_as_admin(admin, env):
    no = env.a[3].tracking_no
    env.service.oversight.request_extension(no, 2, "材料不全", "root")
    ext = env.service.oversight.extensions(tracking_no=no)[-1]
    r = admin.post(
        f"/extensions/{ext.id}/decide",
        data={"decision": "approve", "csrf_token": csrf_of(admin)},
        follow_redirects=True,
    )
    assert "不能审批自己提出的延期申请" in r.text
    assert env.service.oversight.extensions(tracking_no=no)[-1].state == "requested"


def test_supervisor_scope_is_the_township(sup, app, env):
    listed = sup.get("/consultations").text
    assert env.a[0].tracking_no in listed and env.b[0].tracking_no in listed  # both 幸福社区 committees
    page = sup.get("/supervisor").text
    assert env.a[0].tracking_no in page and "已超过期限" in page and 'id="badge-escalated"' in sup.get("/").text
    other = _client(app, "sup2")
    assert other.get(f"/consultations/{env.a[0].tracking_no}").status_code == 404
    assert env.a[0].tracking_no not in other.get("/supervisor").text
    # a supervisor oversees, the committee acts: no status change through the supervisor's scope
    r = sup.post(
        f"/consultations/{env.a[1].tracking_no}/status",
        data={"to_status": "accepted", "csrf_token": csrf_of(sup)},
        follow_redirects=False,
    )
    assert r.status_code in (303, 403, 404)
    assert env.service.get(env.a[1].tracking_no).status == "submitted"


def test_supervisor_reassigns_and_resident_is_told(sup, app, env):
    no = env.a[4].tracking_no
    other = _client(app, "sup2")
    assert (
        other.post(
            f"/consultations/{no}/reassign",
            data={"committee_id": "nanhu-jwh", "csrf_token": csrf_of(other)},
            follow_redirects=False,
        ).status_code
        == 404
    )
    r = sup.post(
        f"/consultations/{no}/reassign",
        data={"committee_id": "nanhu-jwh", "csrf_token": csrf_of(sup)},
        follow_redirects=True,
    )
    assert "只能转给本街道" in r.text
    r = sup.post(
        f"/consultations/{no}/reassign",
        data={"committee_id": "xingfu-wyxt", "note": "物业负责", "csrf_token": csrf_of(sup)},
        follow_redirects=True,
    )
    assert "并通知居民" in r.text
    rec = env.service.get(no)
    assert rec.committee_id == "xingfu-wyxt" and rec.trail[-1].actor == "sup"
    assert any("转由" in p.message for p in env.service.pushes(no))


def test_admin_edits_limits_with_validation(admin, alice, env):
    assert alice.get("/admin/limits").status_code == 403
    assert "办理期限（工作日）" in admin.get("/admin/limits").text
    r = admin.post(
        "/admin/limits/public-affairs",
        data={"accept_days": "9", "complete_days": "3", "csrf_token": csrf_of(admin)},
        follow_redirects=True,
    )
    assert "办结期限不能短于受理期限" in r.text
    r = admin.post(
        "/admin/limits/public-affairs",
        data={"accept_days": "4", "complete_days": "25", "csrf_token": csrf_of(admin)},
        follow_redirects=True,
    )
    assert "受理4、办结25个工作日" in r.text
    lim = next(x for x in env.service.oversight.limits() if x.category == "public-affairs")
    assert (lim.accept_days, lim.complete_days, lim.overridden) == (4, 25, True)
    r = admin.post(
        "/admin/limits/no-such",
        data={"accept_days": "2", "complete_days": "5", "csrf_token": csrf_of(admin)},
        follow_redirects=True,
    )
    assert "flash-error" in r.text and "no-such" not in {x.category for x in env.service.oversight.limits()}


def test_scorecard_page_and_csv(admin, alice):
    html = admin.get("/scorecards").text
    assert 'id="scorecard-chart"' in html and "城关街道" in html and "按时受理率" in html
    r = alice.get("/scorecards.csv?since=2026-01-01&until=2026-12-31")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[1][:5] == ["层级", "名称", "街道（乡镇）", "提交数", "按时受理率"]
    names = [row[1] for row in rows[2:]]
    assert any("居民委员会" in n for n in names) and not any("业主委员会" in n for n in names)  # alice: own only
    assert alice.get("/scorecards?since=2026-13-40").status_code == 400


def test_publish_outcome_then_public_page_and_open311(alice, app, env):
    no = env.a[0].tracking_no  # filed with consent by 王小明, 13900001111
    r = alice.post(
        f"/consultations/{no}/outcome",
        data={"outcome": "经协商，王小明反映的路灯已修复，回访电话13900001111", "csrf_token": csrf_of(alice)},
        follow_redirects=True,
    )
    assert "已公开协商结果" in r.text
    anon = TestClient(app)
    page = anon.get("/public/xingfu")
    assert page.status_code == 200 and "路灯已修复" in page.text
    assert "13900001111" not in page.text and "王小明" not in page.text and "resident-a0" not in page.text
    assert anon.get("/public/no-such-community").status_code == 404
    assert "暂无公开" in anon.get("/public/heping").text


def test_adduser_cli_creates_a_supervisor(env, tmp_path, monkeypatch, capsys):
    """A real `python -m bot inbox adduser`; the refused township through the same entry point in this process."""
    import io
    import os

    from bot.cli import main
    from bot.settings import get_settings

    cmd = [sys.executable, "-m", "bot", "inbox", "adduser", "jd1", "--township", "城关街道", "--password-stdin"]
    envv = {**os.environ, "LINLI_DATABASE_URL": env.settings.sqlalchemy_url, "LINLI_VAR_DIR": str(tmp_path)}
    p = subprocess.run(cmd, input="jd-pass-1234!x\n", capture_output=True, text=True, cwd=REPO, env=envv, timeout=120)
    assert p.returncode == 0, p.stderr
    u = env.service.accounts.get_user("jd1")
    assert u.role == "supervisor" and u.township == "城关街道" and u.committee_id is None
    monkeypatch.setenv("LINLI_DATABASE_URL", env.settings.sqlalchemy_url)
    monkeypatch.setenv("LINLI_VAR_DIR", str(tmp_path))
    monkeypatch.setattr(sys, "stdin", io.StringIO("jd-pass-1234!x\n"))
    get_settings.cache_clear()
    try:
        rc = main(["inbox", "adduser", "jd2", "--township", "不存在街道", "--password-stdin"])
    finally:
        get_settings.cache_clear()
    assert rc == 1 and "没有找到这个街道" in capsys.readouterr().err
    assert env.service.accounts.get_user("jd2") is None


def test_member_of_committee_a_only(alice, env):
    assert alice.get(f"/consultations/{env.b[0].tracking_no}").status_code == 404
    assert alice.get("/supervisor").status_code == 403
    assert COMMITTEE_A


def test_admin_page_creates_a_supervisor(admin, env):
    page = admin.get("/admin/users").text
    assert "街道（乡镇）督办" in page and "城关街道" in page
    r = admin.post(
        "/admin/users",
        data={
            "username": "jd-web",
            "password": "jd-web-pass-77!",
            "role": "supervisor",
            "township": "",
            "csrf_token": csrf_of(admin),
        },
        follow_redirects=True,
    )
    assert "督办人员必须属于一个街道" in r.text and env.service.accounts.get_user("jd-web") is None
    r = admin.post(
        "/admin/users",
        data={
            "username": "jd-web",
            "password": "jd-web-pass-77!",
            "role": "supervisor",
            "township": "青山镇",
            "csrf_token": csrf_of(admin),
        },
        follow_redirects=True,
    )
    u = env.service.accounts.get_user("jd-web")
    assert u.role == "supervisor" and u.township == "青山镇" and "青山镇（街道/乡镇）" in r.text


@pytest.mark.parametrize(
    "path,data",
    [
        ("/consultations/{a}/extension", {"days": "99999999999999999999", "reason": "x"}),
        ("/consultations/{a}/extension", {"days": "😀", "reason": "\x00\x01"}),
        ("/consultations/{a}/extension", {"days": "3", "reason": "理" * 5000}),
        ("/extensions/²/decide", {"decision": "approve"}),
        ("/extensions/99999999999999999999/decide", {"decision": "approve"}),
        ("/extensions/-1/decide", {"decision": "refuse"}),
        ("/consultations/{a}/reassign", {"committee_id": "'; DROP TABLE consultations; --"}),
        ("/consultations/{a}/reassign", {"committee_id": "x" * 5000}),
        ("/consultations/{a}/outcome", {"outcome": "字" * 10000}),
        ("/admin/limits/public-affairs", {"accept_days": "1.5", "complete_days": "-1"}),
        ("/admin/limits/public-affairs", {"accept_days": "99999999999999999999", "complete_days": "😀"}),
    ],
)
def test_bad_input_on_the_new_forms_is_refused_politely(admin, env, path, data):
    no = env.b[1].tracking_no
    before = env.service.get(no)
    r = admin.post(path.format(a=no), data=data | {"csrf_token": csrf_of(admin)}, follow_redirects=True)
    assert r.status_code < 500 and "Traceback" not in r.text
    after = env.service.get(no)
    assert (after.complete_by, after.committee_id, after.outcome_text) == (
        before.complete_by,
        before.committee_id,
        before.outcome_text,
    )


def test_bad_period_and_community_are_4xx(admin, app):
    assert admin.get("/scorecards?since=2026-02-30").status_code == 400
    assert admin.get("/scorecards.csv?until=" + "9" * 500).status_code == 400
    assert TestClient(app).get("/public/..%2F..%2Fetc").status_code == 404
    assert TestClient(app).get("/public/" + "x" * 3000).status_code == 404
