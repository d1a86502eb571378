"""The committee inbox over a real SQLite store: login, sessions, CSRF, throttling, list/filter/search,
detail and trail, status changes with notifications, CSV export, dashboard, user management, bad input."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from bot.consultations import models as m
from bot.inbox.app import create_app
from bot.inbox.auth import LoginThrottle
from bot.inbox.reporting import safe_cell
from bot.settings import get_settings
from tests.fake_api import FakeRasa
from tests.inbox_support import PASSWORD, Server, csrf_from, csrf_of, login, make_env


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return make_env(tmp_path_factory.mktemp("inbox"))


@pytest.fixture(scope="module")
def app(env):
    return create_app(env.settings, env.service, push_interval=0)


@pytest.fixture(scope="module")
def alice(app):
    c = TestClient(app)
    assert login(c, "alice").status_code == 200
    return c


@pytest.fixture(scope="module")
def admin(app):
    c = TestClient(app)
    assert login(c, "root").status_code == 200
    return c


# login, sessions ------------------------------------------------------------------------
def test_anonymous_is_sent_to_login_with_next(app):
    r = TestClient(app).get("/consultations?status=submitted", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=/consultations")


def test_login_sets_hardened_session_cookie_and_shows_own_committee(app):
    c = TestClient(app)
    page = c.get("/login")
    r = c.post(
        "/login",
        data={"username": "alice", "password": PASSWORD["alice"], "csrf_token": csrf_from(page.text), "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    home = c.get("/")
    assert "幸福社区居民委员会" in home.text and "概览" in home.text


def test_session_cookie_is_secure_over_https(app):
    c = TestClient(app, base_url="https://testserver")
    page = c.get("/login")
    assert "Secure" in page.headers["set-cookie"]
    r = c.post(
        "/login",
        data={"username": "alice", "password": PASSWORD["alice"], "csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "; Secure" in r.headers["set-cookie"]


def test_wrong_password_and_unknown_user_get_the_same_answer(app):
    c = TestClient(app)
    for user in ("alice", "nobody"):
        r = c.post(
            "/login",
            data={"username": user, "password": "wrong-password", "csrf_token": csrf_from(c.get("/login").text)},
        )
        assert r.status_code == 401 and "用户名或密码不正确" in r.text
    assert c.get("/", follow_redirects=False).status_code == 303


def test_login_rejects_offsite_next(app):
    c = TestClient(app)
    r = c.post(
        "/login",
        data={
            "username": "bob",
            "password": PASSWORD["bob"],
            "csrf_token": csrf_from(c.get("/login").text),
            "next": "//evil.example/x",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_logout_ends_session(app):
    c = TestClient(app)
    login(c, "bob")
    assert c.get("/consultations", follow_redirects=False).status_code == 200
    r = c.post("/logout", data={"csrf_token": csrf_of(c)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert c.get("/consultations", follow_redirects=False).status_code == 303


def test_tampered_cookie_is_anonymous(app):
    c = TestClient(app)
    login(c, "alice")
    value = c.cookies.get("linli_inbox")
    c.cookies.clear()
    c.cookies.set("linli_inbox", value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB"))
    assert c.get("/", follow_redirects=False).status_code == 303


def test_password_change_ends_existing_sessions(tmp_path):
    env = make_env(tmp_path)
    app = create_app(env.settings, env.service, push_interval=0)
    c = TestClient(app)
    login(c, "alice")
    assert c.get("/", follow_redirects=False).status_code == 200
    env.service.accounts.set_password("alice", "a-brand-new-pass")
    assert c.get("/", follow_redirects=False).status_code == 303
    env.service.accounts.set_active("bob", False)
    c2 = TestClient(app)
    r = login(c2, "bob")
    assert "用户名或密码不正确" in r.text


# CSRF -----------------------------------------------------------------------------------
def test_post_without_or_with_wrong_csrf_token_is_refused(alice, env):
    no = env.a[1].tracking_no
    for data in ({"to_status": "accepted"}, {"to_status": "accepted", "csrf_token": "forged" * 8}):
        r = alice.post(f"/consultations/{no}/status", data=data, follow_redirects=False)
        assert r.status_code == 403 and "刷新页面" in r.text
    assert env.service.get(no).status == "submitted"


def test_csrf_token_of_another_session_is_refused(app, alice, env):
    other = TestClient(app)
    login(other, "alice")
    foreign = csrf_of(other)
    r = alice.post(
        f"/consultations/{env.a[1].tracking_no}/status", data={"to_status": "accepted", "csrf_token": foreign}
    )
    assert r.status_code == 403
    assert env.service.get(env.a[1].tracking_no).status == "submitted"


def test_login_form_needs_csrf_too(app):
    r = TestClient(app).post(
        "/login", data={"username": "alice", "password": PASSWORD["alice"]}, follow_redirects=False
    )
    assert r.status_code == 403


# throttling -----------------------------------------------------------------------------
def test_five_failures_lock_the_username_politely(tmp_path):
    env = make_env(tmp_path)
    c = TestClient(create_app(env.settings, env.service, push_interval=0))
    token = csrf_from(c.get("/login").text)
    for _ in range(5):
        r = c.post("/login", data={"username": "alice", "password": "nope-nope", "csrf_token": token})
        assert r.status_code == 401
    r = c.post("/login", data={"username": "alice", "password": PASSWORD["alice"], "csrf_token": token})
    assert r.status_code == 429 and "分钟后再试" in r.text
    # another user from the same client is unaffected
    r = c.post(
        "/login", data={"username": "bob", "password": PASSWORD["bob"], "csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303


def test_throttle_window_slides(tmp_path):
    """Per account (in the database, whatever the client address) and per client address (any usernames)."""
    from datetime import UTC, datetime, timedelta

    env = make_env(tmp_path)
    wall, mono = [datetime(2026, 12, 1, 8, tzinfo=UTC)], [1000.0]
    t = LoginThrottle(
        env.service.Session, account_limit=3, client_limit=4, window=60, clock=lambda: mono[0], now=lambda: wall[0]
    )
    for ip in ("1.2.3.4", "5.6.7.8", "9.9.9.9"):  # a new address per try does not help
        t.failed("Alice", ip)
    assert t.retry_after("alice", "10.0.0.1") == 60
    assert t.retry_after("bob", "10.0.0.1") == 0
    wall[0] += timedelta(seconds=30)
    mono[0] += 30
    assert 29 <= t.retry_after("alice", "10.0.0.1") <= 31
    wall[0] += timedelta(seconds=31)
    mono[0] += 31
    assert t.retry_after("alice", "10.0.0.1") == 0
    t.failed("alice", "1.2.3.4")
    t.succeeded("alice", "1.2.3.4")
    assert t.retry_after("alice", "1.2.3.4") == 0
    for name in ("u1", "u2", "u3", "u4"):  # one address spraying usernames
        t.failed(name, "6.6.6.6")
    assert t.retry_after("someone-else", "6.6.6.6") > 0 and t.retry_after("someone-else", "7.7.7.7") == 0


# list, filters, search, pagination --------------------------------------------------------
def _numbers(html: str) -> set[str]:
    return set(re.findall(r"YS-\d{8}-\d{4,}", html))


def test_member_list_shows_only_own_committee(alice, env):
    r = alice.get("/consultations")
    seen = _numbers(r.text)
    assert {x.tracking_no for x in env.a} <= seen
    assert not seen & {x.tracking_no for x in env.b}
    assert "机密B" not in r.text


def test_member_cannot_widen_scope_with_committee_param(alice, env):
    r = alice.get("/consultations", params={"committee": "xingfu-jwjd"})
    assert not _numbers(r.text) & {x.tracking_no for x in env.b}
    r = alice.get("/", params={"committee": "xingfu-jwjd"})
    assert "机密B" not in r.text


def test_filters_and_search(alice, env):
    r = alice.get("/consultations", params={"category": "services-needs"})
    assert _numbers(r.text) == {env.a[2].tracking_no}
    r = alice.get("/consultations", params={"q": "路灯"})
    assert _numbers(r.text) == {env.a[0].tracking_no}
    r = alice.get("/consultations", params={"q": env.a[3].tracking_no[-4:]})
    assert env.a[3].tracking_no in _numbers(r.text)
    r = alice.get("/consultations", params={"q": "账目"})  # committee B's word: nothing for A
    assert _numbers(r.text) == set() and "没有符合条件的诉求" in r.text
    # the filter's days are local days (settings.timezone): the record's local date, not its UTC date
    today = env.a[0].created_at.astimezone(ZoneInfo(get_settings().timezone)).date().isoformat()
    r = alice.get("/consultations", params={"since": today, "until": today})
    assert {x.tracking_no for x in env.a} <= _numbers(r.text)
    r = alice.get("/consultations", params={"until": "2001-01-01"})
    assert _numbers(r.text) == set()


def test_status_filter(app, env):
    c = TestClient(app)
    login(c, "bob")
    no = env.b[0].tracking_no
    r = c.post(f"/consultations/{no}/status", data={"to_status": "accepted", "note": "", "csrf_token": csrf_of(c)})
    assert r.status_code == 200
    assert _numbers(c.get("/consultations", params={"status": "accepted"}).text) == {no}
    assert _numbers(c.get("/consultations", params={"status": "已受理"}).text) == {no}
    assert no not in _numbers(c.get("/consultations", params={"status": "submitted"}).text)


def test_admin_sees_all_and_can_narrow_to_a_committee(admin, env):
    all_numbers = {x.tracking_no for x in env.a + env.b}
    assert all_numbers <= _numbers(admin.get("/consultations").text)
    narrowed = _numbers(admin.get("/consultations", params={"committee": "xingfu-jwjd"}).text)
    assert narrowed == {x.tracking_no for x in env.b}


def test_pagination(tmp_path):
    env = make_env(tmp_path)
    for i in range(25):
        env.service.submit("telegram", "bulk", f"bulk{i}", "xingfu", f"第{i}号：路灯不亮", category="public-affairs")
    c = TestClient(create_app(env.settings, env.service, push_interval=0))
    login(c, "alice")
    p1 = c.get("/consultations", params={"q": "路灯不亮"})
    assert "第 1 / 2 页" in p1.text and len(_numbers(p1.text)) == 20
    p2 = c.get("/consultations", params={"q": "路灯不亮", "page": "2"})
    assert len(_numbers(p2.text)) == 5 and not _numbers(p1.text) & _numbers(p2.text)
    assert "page=1" in p2.text  # previous link keeps the filter
    assert "q=%E8%B7%AF" in p2.text
    for bad in ("0", "-3", "abc", "99999999999"):
        assert c.get("/consultations", params={"page": bad}).status_code == 200


# detail, status changes, notifications ------------------------------------------------------
def test_detail_shows_trail_and_escapes_html(alice, env):
    rec = env.a[4]
    r = alice.get(f"/consultations/{rec.tracking_no}")
    assert r.status_code == 200
    assert "<script>alert" not in r.text and "&lt;script&gt;" in r.text
    assert "已提交" in r.text and "办理记录" in r.text


def test_contact_shown_only_with_consent(alice, env):
    assert "王小明" in alice.get(f"/consultations/{env.a[0].tracking_no}").text
    assert "居民未留联系方式" in alice.get(f"/consultations/{env.a[1].tracking_no}").text


def test_member_gets_404_for_other_committee_exactly_like_missing(alice, env):
    foreign = alice.get(f"/consultations/{env.b[1].tracking_no}")
    missing = alice.get("/consultations/YS-20000101-9999")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.text == missing.text
    assert "机密B2" not in foreign.text


def test_status_change_rules_and_trail(app, env):
    c = TestClient(app)
    login(c, "alice")
    no = env.a[2].tracking_no
    token = csrf_of(c)
    r = c.post(f"/consultations/{no}/status", data={"to_status": "rejected", "note": "  ", "csrf_token": token})
    assert "请填写理由" in r.text and env.service.get(no).status == "submitted"
    r = c.post(f"/consultations/{no}/status", data={"to_status": "withdrawn", "note": "x", "csrf_token": token})
    assert "只有提交人本人可以撤回" in r.text
    r = c.post(f"/consultations/{no}/status", data={"to_status": "bogus", "csrf_token": token})
    assert r.status_code == 200 and "没有“bogus”这个状态" in r.text
    r = c.post(
        f"/consultations/{no}/status", data={"to_status": "accepted", "note": "已转社区服务站", "csrf_token": token}
    )
    assert "已受理" in r.text and "状态说明将推送给居民" in r.text  # a Telegram resident: the push reaches a chat
    r = c.post(
        f"/consultations/{no}/status", data={"to_status": "rejected", "note": "不属于本社区事务", "csrf_token": token}
    )
    rec = env.service.get(no)
    assert rec.status == "rejected"
    assert [(e.actor, e.to_status) for e in rec.trail][-2:] == [("alice", "accepted"), ("alice", "rejected")]
    assert "不属于本社区事务" in r.text and "该诉求不予受理，不能再更改状态" in r.text
    outbox = env.service.delivery.outbox(no)
    assert len(outbox) == 2 and "不予受理" in outbox[-1].message


def test_recategorize_hands_over_to_the_right_committee(tmp_path):
    env = make_env(tmp_path)
    c = TestClient(create_app(env.settings, env.service, push_interval=0))
    login(c, "alice")
    no = env.a[1].tracking_no
    r = c.post(
        f"/consultations/{no}/category",
        data={"category": "affairs-disclosure", "note": "涉及经费", "csrf_token": csrf_of(c)},
    )
    assert "转交" in r.text
    assert env.service.get(no).committee_id == "xingfu-jwjd"
    assert c.get(f"/consultations/{no}").status_code == 404  # now bob's
    bob = TestClient(c.app)
    login(bob, "bob")
    assert "分类：社区公共事务 → 村（居）务公开与财务监督" in bob.get(f"/consultations/{no}").text


def test_status_change_is_pushed_to_rasa_by_the_background_loop(tmp_path):
    with FakeRasa(token="test-token") as rasa:
        env = make_env(tmp_path, rasa_url=rasa.url)
        app = create_app(
            env.settings, env.service, push_interval=30
        )  # long interval: only the wake-up can be this fast
        with Server(app) as server:
            import httpx

            with httpx.Client(base_url=server.url) as c:
                login(c, "alice")
                no = env.a[0].tracking_no
                r = c.post(
                    f"/consultations/{no}/status",
                    data={"to_status": "accepted", "note": "明天派人维修", "csrf_token": csrf_of(c)},
                    follow_redirects=True,
                )
                assert r.status_code == 200
                calls = rasa.wait(1)
    assert calls == rasa.calls and len(calls) == 1 and calls[0]["authorized"]  # pushed once
    assert calls[0]["path"] == "/conversations/resident-a0/trigger_intent"
    assert calls[0]["query"]["output_channel"] == ["telegram"]
    assert calls[0]["json"]["entities"]["tracking_number"] == no
    assert calls[0]["json"]["entities"]["status"] == "accepted"
    assert env.service.delivery.outbox(no)[0].delivered_at is not None


# CSV export -------------------------------------------------------------------------------
def test_csv_export_is_excel_friendly_scoped_and_injection_safe(alice, env):
    r = alice.get("/consultations/export.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][0] == "受理编号" and b"\r\n" in r.content
    numbers = {row[0] for row in rows[1:]}
    assert numbers == {x.tracking_no for x in env.a}
    texts = [row[6] for row in rows[1:]]
    assert any(t.startswith("'=HYPERLINK") for t in texts)
    assert not any(t.startswith(("=", "+", "-", "@")) for row in rows[1:] for t in row)
    assert "13900001111" not in r.text and "王小明" not in r.text  # contact details stay in the inbox


def test_csv_export_honours_filters(alice, env):
    r = alice.get("/consultations/export.csv", params={"category": "services-needs"})
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [row[0] for row in rows[1:]] == [env.a[2].tracking_no]


@pytest.mark.parametrize(
    "value,expected",
    [
        ("=1+2", "'=1+2"),
        ("+86", "'+86"),
        ("-5", "'-5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("＝1", "'＝1"),
        ("正常文本", "正常文本"),
        ("a=b", "a=b"),
        (None, ""),
    ],
)
def test_safe_cell(value, expected):
    assert safe_cell(value) == expected


# dashboard --------------------------------------------------------------------------------
def test_dashboard_counts_chart_and_overdue(tmp_path):
    env = make_env(tmp_path, inbox_overdue_days=3)
    old = env.a[3]
    with env.service.Session.begin() as s:  # no status change for 5 days
        s.execute(
            update(m.StatusEvent)
            .where(m.StatusEvent.consultation_id == old.id)
            .values(at=m.utcnow() - timedelta(days=5))
        )
    c = TestClient(create_app(env.settings, env.service, push_interval=0))
    login(c, "alice")
    r = c.get("/")
    html = r.text
    assert re.search(r'tile-n">5<', html)  # A's total
    assert "超过 3 天未更新" in html
    overdue_section = html.split("超期未更新")[1]
    assert old.tracking_no in overdue_section and env.a[0].tracking_no not in overdue_section
    stale_day = (m.utcnow() - timedelta(days=5)).astimezone(ZoneInfo(env.settings.timezone)).strftime("%Y-%m-%d")
    assert stale_day in overdue_section  # shown with the last status change, not the last edit
    assert "社区公共事务" in html and "社区服务需求" in html and "村（居）务公开" not in html
    assert "<svg" in html and html.count('class="bar"') == 12
    assert "机密B" not in html


# users (admin) ---------------------------------------------------------------------------
def test_admin_creates_user_who_can_log_in(tmp_path):
    env = make_env(tmp_path)
    app = create_app(env.settings, env.service, push_interval=0)
    admin = TestClient(app)
    login(admin, "root")
    token = csrf_from(admin.get("/admin/users").text)
    r = admin.post(
        "/admin/users",
        data={
            "username": "carol",
            "password": "carol-pass-1",
            "role": "member",
            "committee_id": "xingfu-yzh-huayuan",
            "csrf_token": token,
        },
    )
    assert "已创建用户 carol" in r.text
    r = admin.post(
        "/admin/users",
        data={
            "username": "carol",
            "password": "carol-pass-1",
            "role": "member",
            "committee_id": "xingfu-yzh-huayuan",
            "csrf_token": token,
        },
    )
    assert "已经存在" in r.text
    r = admin.post(
        "/admin/users",
        data={
            "username": "dave",
            "password": "short",
            "role": "member",
            "committee_id": "xingfu-jwh",
            "csrf_token": token,
        },
    )
    assert "密码至少" in r.text
    carol = TestClient(app)
    assert "花园" in login(carol, "carol", "carol-pass-1").text
    admin.post("/admin/users/carol/active", data={"active": "0", "csrf_token": token})
    assert carol.get("/", follow_redirects=False).status_code == 303
    r = admin.post("/admin/users/root/active", data={"active": "0", "csrf_token": token})
    assert "不能停用自己的账号" in r.text


# bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "q", ["", "x" * 10_000, "😀🏠", "\x00\x01\x1b[31m", "' OR 1=1 --", "%_%", "<img src=x onerror=alert(1)>"]
)
def test_hostile_search_and_filters_never_break(alice, q):
    r = alice.get("/consultations", params={"q": q, "status": q[:20], "category": q[:30]})
    assert r.status_code == 200
    assert "<img src=x" not in r.text
    # an invalid date is a polite 400 naming the field (issue 11 #10), never a traceback or a silent filter
    bad = alice.get("/consultations", params={"q": q, "since": q[:20] or "x", "until": "2026-13-45"})
    assert bad.status_code == 400 and "日期格式无效" in bad.text and "Traceback" not in bad.text
    if q == "' OR 1=1 --" or q == "%_%":
        assert _numbers(r.text) == set()


@pytest.mark.parametrize("no", ["x" * 5000, "😀", "../../etc/passwd", "YS-2026' OR '1'='1", "%00"])
def test_hostile_tracking_numbers_are_404(alice, no):
    r = alice.get(f"/consultations/{no}")
    assert r.status_code == 404 and "Traceback" not in r.text


def test_huge_note_and_control_chars_are_cleaned(tmp_path):
    env = make_env(tmp_path)
    c = TestClient(create_app(env.settings, env.service, push_interval=0))
    login(c, "alice")
    no = env.a[0].tracking_no
    r = c.post(
        f"/consultations/{no}/status",
        data={"to_status": "accepted", "note": "好\x00的\x1b" + "长" * 10_000, "csrf_token": csrf_of(c)},
    )
    assert r.status_code == 200
    note = env.service.get(no).trail[-1].note
    assert note.startswith("好的") and len(note) <= 1000 and "\x00" not in note


def test_security_headers_and_no_store(alice):
    r = alice.get("/consultations")
    assert r.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"


# PostgreSQL -------------------------------------------------------------------------------
@pytest.mark.postgres
def test_inbox_and_open311_on_postgresql(tmp_path, migrated_pg_url):
    from bot.inbox.apikeys import ApiKeyStore

    env = make_env(tmp_path, migrated_pg_url)
    c = TestClient(create_app(env.settings, env.service, push_interval=0))
    login(c, "alice")
    assert _numbers(c.get("/consultations").text) == {x.tracking_no for x in env.a}
    assert _numbers(c.get("/consultations", params={"q": "%_%"}).text) == set()
    assert c.get(f"/consultations/{env.b[0].tracking_no}").status_code == 404
    no = env.a[0].tracking_no
    c.post(f"/consultations/{no}/status", data={"to_status": "accepted", "note": "好\x00的", "csrf_token": csrf_of(c)})
    assert env.service.get(no).status == "accepted"
    rows = list(
        csv.reader(
            io.StringIO(c.get("/consultations/export.csv", params={"status": "accepted"}).content.decode("utf-8-sig"))
        )
    )
    assert [r[0] for r in rows[1:]] == [no]
    assert re.search(r'tile-n">5<', c.get("/").text)
    key = ApiKeyStore.from_settings(env.settings).create("pg-test")
    body = c.get("/open311/v2/requests.json", params={"api_key": key, "status": "open"}).json()
    assert {x["service_request_id"] for x in body} == {x.tracking_no for x in env.a + env.b}
    r = c.post(
        "/open311/v2/requests.json", data={"api_key": key, "service_code": "property", "description": "电梯坏了"}
    )
    assert r.status_code == 201
