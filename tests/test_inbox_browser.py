"""The inbox in real headless Chromium (Debian's /usr/bin/chromium) against a real uvicorn server:
log in, see only your own committee's items, change a status (the resident is notified), export CSV."""

from __future__ import annotations

import csv
import io
import os
import shutil

import pytest

from bot.inbox.app import create_app
from tests.fake_api import FakeRasa
from tests.inbox_support import PASSWORD, Server, make_env

CHROMIUM = os.environ.get("LINLI_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM), reason="no Chromium at " + CHROMIUM
    ),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with FakeRasa(token="test-token") as rasa:
        env = make_env(tmp_path_factory.mktemp("browser"), rasa_url=rasa.url)
        with Server(create_app(env.settings, env.service, push_interval=30)) as server:
            yield env, server, rasa


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


def _login(page, base: str, user: str, password: str) -> None:
    page.goto(base + "/")
    assert "/login" in page.url
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")


def test_member_logs_in_changes_status_and_exports(stack, browser, tmp_path):
    env, server, rasa = stack
    ctx = browser.new_context(accept_downloads=True, locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    try:
        _login(page, server.url, "alice", PASSWORD["alice"])
        assert "幸福社区居民委员会" in page.inner_text("header")
        page.screenshot(path="/tmp/inbox_dashboard.png", full_page=True)

        page.click("nav >> text=诉求列表")
        page.wait_for_selector("#consultations")
        listed = page.locator("#consultations tbody tr td:first-child a").all_inner_texts()
        assert set(listed) == {x.tracking_no for x in env.a}
        assert "机密B" not in page.content()
        page.screenshot(path="/tmp/inbox_list.png", full_page=True)

        # a URL of another committee's item looks exactly like a missing one
        page.goto(f"{server.url}/consultations/{env.b[0].tracking_no}")
        assert "没有找到这条诉求" in page.inner_text("main")
        assert "机密B1" not in page.content()

        target = env.a[0]
        page.goto(f"{server.url}/consultations/{target.tracking_no}")
        page.select_option("#status-form select[name=to_status]", "accepted")
        page.fill("#status-form textarea[name=note]", "已联系市政，明天上午维修")
        page.click("#status-form button[type=submit]")
        page.wait_for_selector(".flash-ok")
        assert "已受理" in page.inner_text(".flash-ok")
        assert "已联系市政，明天上午维修" in page.inner_text(".trail")
        page.screenshot(path="/tmp/inbox_detail.png", full_page=True)
        assert env.service.get(target.tracking_no).status == "accepted"
        calls = rasa.wait(1)
        assert calls[0]["authorized"] and calls[0]["json"]["entities"]["tracking_number"] == target.tracking_no

        # rejection without a reason is refused with a clear message
        page.select_option("#status-form select[name=to_status]", "rejected")
        page.click("#status-form button[type=submit]")
        page.wait_for_selector(".flash-error")
        assert "请填写理由" in page.inner_text(".flash-error")
        assert env.service.get(target.tracking_no).status == "accepted"

        page.goto(f"{server.url}/consultations?status=accepted")
        with page.expect_download() as dl:
            page.click("#export")
        path = tmp_path / "export.csv"
        dl.value.save_as(path)
        raw = path.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
        assert [r[0] for r in rows[1:]] == [target.tracking_no] and rows[1][4] == "已受理"

        page.click("text=退出")
        page.wait_for_url(lambda u: "/login" in u)
        page.goto(f"{server.url}/consultations")
        assert "/login" in page.url
    finally:
        ctx.close()


def test_admin_sees_all_committees(stack, browser):
    env, server, _ = stack
    ctx = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    try:
        _login(page, server.url, "root", PASSWORD["root"])
        page.goto(server.url + "/consultations")
        listed = set(page.locator("#consultations tbody tr td:first-child a").all_inner_texts())
        assert {x.tracking_no for x in env.a + env.b} <= listed
        page.goto(server.url + "/admin/users")
        assert {"alice", "bob", "root"} <= set(page.locator("tbody td:first-child").all_inner_texts())
        page.screenshot(path="/tmp/inbox_users.png", full_page=True)
    finally:
        ctx.close()


def test_login_page_and_lockout_message(stack, browser):
    _, server, _ = stack
    ctx = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    try:
        page.goto(server.url + "/login")
        page.screenshot(path="/tmp/inbox_login.png")
        for _ in range(5):
            page.fill("input[name=username]", "bob")
            page.fill("input[name=password]", "wrong-password")
            page.click("button[type=submit]")
            page.wait_for_selector(".flash-error")
        page.fill("input[name=username]", "bob")
        page.fill("input[name=password]", PASSWORD["bob"])
        page.click("button[type=submit]")
        page.wait_for_selector(".flash-error")
        assert "分钟后再试" in page.inner_text(".flash-error")
    finally:
        ctx.close()
