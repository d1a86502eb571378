"""Issue 11, the committee inbox's trust boundaries: logout ends the session (a captured cookie stops
working), the per-account login limit holds across replicas and forged X-Forwarded-For, proxy headers are
believed only from configured proxies, slow clients are cut, out-of-range dates are 400s, guessable
passwords are refused, and the inbox says truthfully whether a resident can receive a push.

Real stores (SQLite and PostgreSQL), real uvicorn servers on loopback configured as ``bot inbox serve``.
"""

from __future__ import annotations

import io
import socket
import sys
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.consultations import models as m
from bot.errors import UserFacingError
from bot.inbox.app import create_app
from tests.inbox_support import PASSWORD, Server, csrf_from, csrf_of, login, make_env

REPO = Path(__file__).resolve().parent.parent
COOKIE = "linli_inbox"


@pytest.fixture(params=["sqlite", "postgres"])
def url(request):
    return request.getfixturevalue("migrated_sqlite_url" if request.param == "sqlite" else "migrated_pg_url")


@pytest.fixture
def env(tmp_path, url):
    return make_env(tmp_path / "var", url)


def _with_cookie(app, value: str) -> TestClient:
    c = TestClient(app)
    c.cookies.set(COOKIE, value)
    return c


# 9. logout ends the session --------------------------------------------------------------
def test_a_captured_cookie_stops_working_at_logout(env):
    app = create_app(env.settings, env.service, push_interval=0)
    alice = TestClient(app)
    login(alice, "alice")
    captured = alice.cookies.get(COOKIE)
    assert (
        _with_cookie(app, captured).get("/", follow_redirects=False).status_code == 200
    )  # the copy works while logged in
    assert alice.post("/logout", data={"csrf_token": csrf_of(alice)}, follow_redirects=False).status_code == 303
    assert _with_cookie(app, captured).get("/", follow_redirects=False).status_code == 303
    assert _with_cookie(app, captured).get("/consultations/export.csv", follow_redirects=False).status_code == 303
    # and on another replica (another app on the same database) too
    other = create_app(env.settings, env.service, push_interval=0)
    assert _with_cookie(other, captured).get("/", follow_redirects=False).status_code == 303


def test_password_change_and_deactivation_end_every_session(env):
    app = create_app(env.settings, env.service, push_interval=0)
    phone, laptop = TestClient(app), TestClient(app)
    login(phone, "bob")
    login(laptop, "bob")
    captured = phone.cookies.get(COOKIE)
    env.service.accounts.set_password("bob", "a-whole-new-secret-9")
    for c in (phone, laptop, _with_cookie(app, captured)):
        assert c.get("/", follow_redirects=False).status_code == 303
    login(phone, "alice")
    env.service.accounts.set_active("alice", False)
    assert phone.get("/", follow_redirects=False).status_code == 303
    with env.service.Session() as db:
        assert db.scalars(select(m.InboxSession)).all() == []


# 8. per-account limit across replicas; proxy headers only from configured proxies ---------
def _failed_login(client: httpx.Client, username: str, forwarded_for: str | None = None) -> httpx.Response:
    token = csrf_from(client.get("/login").text)
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return client.post(
        "/login", data={"username": username, "password": "not-the-password", "csrf_token": token}, headers=headers
    )


def test_account_limit_holds_across_replicas_and_forged_forwarded_for(env):
    """Two inbox replicas on one database, each failure from a new forged address: the account locks after 5."""
    replicas = [create_app(env.settings, env.service, push_interval=0) for _ in range(2)]
    with (
        Server(replicas[0]) as s1,
        Server(replicas[1]) as s2,
        httpx.Client(base_url=s1.url) as c1,
        httpx.Client(base_url=s2.url) as c2,
    ):
        for i in range(5):
            r = _failed_login((c1, c2)[i % 2], "alice", forwarded_for=f"198.51.100.{i}")
            assert r.status_code == 401, (i, r.status_code)
        for c in (c1, c2):
            r = _failed_login(c, "alice", forwarded_for="203.0.113.99")
            assert r.status_code == 429 and "分钟后再试" in r.text
            token = csrf_from(c.get("/login").text)  # the right password does not get through the lock either
            r = c.post("/login", data={"username": "alice", "password": PASSWORD["alice"], "csrf_token": token})
            assert r.status_code == 429
        assert login(c1, "bob").status_code == 200  # other accounts are unaffected
    with env.service.Session() as db:  # the forged header was not believed: the peer address was recorded
        assert set(db.scalars(select(m.LoginFailure.client))) == {"127.0.0.1"}


def test_forwarded_for_is_believed_only_from_configured_proxies(tmp_path):
    env = make_env(tmp_path, inbox_trusted_proxies="127.0.0.1", inbox_login_client_limit=3)
    with Server(create_app(env.settings, env.service, push_interval=0)) as s, httpx.Client(base_url=s.url) as c:
        for name in ("u1", "u2", "u3"):  # one client spraying usernames, behind the trusted proxy
            assert _failed_login(c, name, forwarded_for="203.0.113.7").status_code == 401
        assert _failed_login(c, "u4", forwarded_for="203.0.113.7").status_code == 429  # the per-client limit
        assert _failed_login(c, "u4", forwarded_for="203.0.113.8").status_code == 401  # another client behind the proxy
    with env.service.Session() as db:
        assert set(db.scalars(select(m.LoginFailure.client))) == {"203.0.113.7", "203.0.113.8"}


# 14. slow requests are cut ---------------------------------------------------------------
def _read_until_closed(sock: socket.socket, limit: float) -> bytes:
    sock.settimeout(limit)
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except TimeoutError:
        pytest.fail(f"the server kept a trickling connection open for {limit} s (got {data[:80]!r})")
    return data


@pytest.mark.parametrize(
    "sent",
    [
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ",  # headers never finish
        b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 400\r\n\r\nusername=al",  # body never finishes
    ],
)
def test_a_trickled_request_is_cut_with_408(tmp_path, sent):
    env = make_env(tmp_path, inbox_header_timeout=0.5, inbox_body_timeout=0.5)
    with Server(create_app(env.settings, env.service, push_interval=0)) as s:
        with socket.create_connection(("127.0.0.1", s.port)) as sock:
            sock.sendall(sent)
            data = _read_until_closed(sock, 20)
        assert data.startswith(b"HTTP/1.1 408") and "请求发送太慢".encode() in data
        assert httpx.get(s.url + "/healthz").status_code == 200  # the server itself is fine


# 10. out-of-range dates are 400s, not tracebacks --------------------------------------------
@pytest.mark.parametrize("path", ["/consultations", "/consultations/export.csv"])
@pytest.mark.parametrize(
    "params", [{"since": "0001-01-01"}, {"until": "9999-12-31"}, {"since": "1999-12-31", "until": "2100-01-01"}]
)
def test_extreme_dates_are_a_polite_400(tmp_path, path, params):
    env = make_env(tmp_path)
    c = TestClient(create_app(env.settings, env.service, push_interval=0), raise_server_exceptions=False)
    login(c, "root")
    r = c.get(path, params=params)
    assert r.status_code == 400 and "超出范围" in r.text and "Traceback" not in r.text
    assert (
        c.get(path, params={"since": "2000-01-01", "until": "2099-12-31"}).status_code == 200
    )  # the bounds themselves work


# 16. guessable passwords are refused --------------------------------------------------------
@pytest.mark.parametrize(
    "password", ["12345678", "password", "woaini1314", "qwertyuiop", "carol2026", "carolcarol", "aaaaaaaaaa"]
)
def test_guessable_passwords_are_refused_with_a_reason(tmp_path, password):
    env = make_env(tmp_path)
    with pytest.raises(UserFacingError) as e:
        env.service.accounts.create_user("carol", password, "xingfu-jwh")
    assert e.value.code == "weak_password" and "密码" in e.value.message
    with pytest.raises(UserFacingError):
        env.service.accounts.set_password("alice", password)
    assert env.service.accounts.get_user("carol") is None


def test_admin_page_refuses_a_common_password_in_chinese(tmp_path):
    env = make_env(tmp_path)
    admin = TestClient(create_app(env.settings, env.service, push_interval=0))
    login(admin, "root")
    token = csrf_of(admin)
    r = admin.post(
        "/admin/users",
        data={
            "username": "carol",
            "password": "password",
            "role": "member",
            "committee_id": "xingfu-jwh",
            "csrf_token": token,
        },
    )
    assert "太常见" in r.text and env.service.accounts.get_user("carol") is None
    r = admin.post("/admin/users/bob/password", data={"password": "bob12345", "csrf_token": token})
    assert "用户名" in r.text
    assert login(TestClient(admin.app), "bob").status_code == 200  # bob's password is unchanged
    r = admin.post(
        "/admin/users",
        data={
            "username": "carol",
            "password": "枇杷-晨跑-7号楼",
            "role": "member",
            "committee_id": "xingfu-jwh",
            "csrf_token": token,
        },
    )
    assert env.service.accounts.get_user("carol") is not None


def test_cli_refuses_a_common_password_in_chinese(tmp_path, monkeypatch, capsys):
    """`python -m bot inbox adduser` in this process (the real process: tests/test_inbox_oversight.py)."""
    from bot.cli import main
    from bot.settings import get_settings

    env = make_env(tmp_path)
    monkeypatch.setenv("LINLI_DATABASE_URL", env.settings.sqlalchemy_url)
    monkeypatch.setenv("LINLI_VAR_DIR", str(tmp_path))
    monkeypatch.setattr(sys, "stdin", io.StringIO("12345678\n"))
    get_settings.cache_clear()
    try:
        rc = main(["inbox", "adduser", "carol", "--committee", "xingfu-jwh", "--password-stdin"])
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert rc == 1 and "太常见" in err and "Traceback" not in err
    assert env.service.accounts.get_user("carol") is None


# 17. the inbox says whether the resident can receive a push ----------------------------------
def test_rest_residents_are_not_said_to_be_notified(tmp_path):
    env = make_env(tmp_path)
    rest = env.service.submit("rest", "integrator-user-1", "r1", "xingfu", "楼道灯坏了", category="public-affairs")
    tg = env.a[1]
    c = TestClient(create_app(env.settings, env.service, push_interval=0))
    login(c, "alice")
    page = c.get(f"/consultations/{rest.tracking_no}").text
    assert "收不到推送" in page and "保存并通知居民" not in page
    r = c.post(
        f"/consultations/{rest.tracking_no}/status",
        data={"to_status": "accepted", "note": "已派人", "csrf_token": csrf_of(c)},
    )
    assert "已通知居民" not in r.text and "将推送给居民" not in r.text and "收不到推送" in r.text
    page = c.get(f"/consultations/{tg.tracking_no}").text
    assert "推送到居民的Telegram聊天" in page and "保存并通知居民" in page
    r = c.post(
        f"/consultations/{tg.tracking_no}/status",
        data={"to_status": "accepted", "note": "已派人", "csrf_token": csrf_of(c)},
    )
    assert "状态说明将推送给居民" in r.text and "正在发送" in r.text


def test_rest_handoff_replies_are_not_said_to_be_sent(tmp_path):
    env = make_env(tmp_path)
    hid = env.service.handoffs.request("rest", "integrator-user-2", "xingfu", "想找工作人员").id
    c = TestClient(create_app(env.settings, env.service, push_interval=0))
    login(c, "alice")
    page = c.get("/handoffs").text
    assert "该渠道无法推送，请另行联系居民" in page  # the REST handoff (the others are Telegram: "回复将发送给居民")
    r = c.post(f"/handoffs/{hid}/close", data={"note": "已电话联系", "csrf_token": csrf_of(c)})
    assert "回复已发送给居民" not in r.text and "该渠道无法推送消息" in r.text
