"""合并到… on the inbox detail page, in real headless Chromium against a real uvicorn server: a member merges one
item into another of their committee; both trails say so, the merged item is 已合并 and its resident is told."""

from __future__ import annotations

import pytest

from bot.db import dispose_engines
from bot.inbox.app import create_app
from tests.fake_api import FakeRasa
from tests.inbox_support import PASSWORD, Server, database, make_env
from tests.test_inbox_browser import ARGS, CHROMIUM, _login
from tests.test_inbox_browser import pytestmark as browser_marks

pytestmark = browser_marks


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stack(request, tmp_path_factory):
    with database(request.param) as url, FakeRasa(token="test-token") as rasa:
        env = make_env(tmp_path_factory.mktemp("merge"), url, rasa_url=rasa.url)
        try:
            with Server(create_app(env.settings, env.service, push_interval=30)) as server:
                yield env, server, rasa
        finally:
            env.service.delivery.stop()
            dispose_engines()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


def test_member_merges_an_item_into_another(stack, browser):
    env, server, rasa = stack
    source, target = env.a[1], env.a[2]
    ctx = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    try:
        _login(page, server.url, "alice", PASSWORD["alice"])
        page.goto(f"{server.url}/consultations/{source.tracking_no}")
        assert "附议 0 人" in page.inner_text("#loop-counts")

        # another committee's item is refused on the page, nothing changes
        page.fill("#merge-form input[name=target]", env.b[0].tracking_no)
        page.click("#merge-form button[type=submit]")
        page.wait_for_selector(".flash-error")
        assert "本委员会" in page.inner_text(".flash-error")
        assert env.service.get(source.tracking_no).status == "submitted"

        page.fill("#merge-form input[name=target]", target.tracking_no.lower())
        page.click("#merge-form button[type=submit]")
        page.wait_for_selector(".flash-ok")
        assert page.url.endswith(f"/consultations/{target.tracking_no}")
        assert "合并到" in page.inner_text(".flash-ok")
        assert "附议 1 人" in page.inner_text("#loop-counts")
        assert source.tracking_no in page.inner_text(".trail")
        page.screenshot(path="/tmp/inbox_merge.png", full_page=True)

        merged = env.service.get(source.tracking_no)
        assert merged.status == "merged" and merged.merged_into == target.tracking_no
        page.goto(f"{server.url}/consultations/{source.tracking_no}")
        assert "已合并" in page.inner_text("main") and 'id="merge-form"' not in page.content()
        calls = rasa.wait(1)
        told = calls[0]["json"]["entities"]
        assert told["tracking_number"] == source.tracking_no and told["status"] == "merged"
        assert target.tracking_no in told["note"]
    finally:
        ctx.close()
