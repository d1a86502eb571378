"""The closed loop's inbox pages in real headless Chromium against a real uvicorn server: the due-date column,
an extension requested by a member and approved by the township supervisor, the supervisor view, the scorecard
page, and an outcome published then read on the public page without logging in."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import update

from bot.consultations import models as m
from bot.db import dispose_engines
from bot.inbox.app import create_app
from tests import test_inbox_browser as base
from tests.fake_api import FakeRasa
from tests.inbox_support import PASSWORD, Server, database, make_env

pytestmark = base.pytestmark  # the same marks and Chromium skip
browser = base.browser  # the same module-scoped Chromium fixture
_login = base._login
SUP = ("jd", "jd-pass-4321!x")


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stack(request, tmp_path_factory):
    with database(request.param) as url, FakeRasa(token="test-token") as rasa:
        env = make_env(tmp_path_factory.mktemp("oversight-browser"), url, rasa_url=rasa.url)
        env.service.accounts.create_user(SUP[0], SUP[1], None, role="supervisor", township="城关街道")
        with env.service.Session.begin() as s:  # one long-overdue item
            s.execute(
                update(m.Consultation)
                .where(m.Consultation.id == env.a[0].id)
                .values(accept_by=date(2026, 11, 2), complete_by=date(2026, 11, 20))
            )
        try:
            with Server(create_app(env.settings, env.service, push_interval=30, scheduler_interval=0)) as server:
                yield env, server, rasa
        finally:
            env.service.delivery.stop()
            dispose_engines()


def _page(browser):
    ctx = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    return ctx, ctx.new_page()


def test_due_column_extension_request_and_supervisor_approval(stack, browser):
    env, server, _ = stack
    ctx, page = _page(browser)
    try:
        _login(page, server.url, "alice", PASSWORD["alice"])
        page.goto(server.url + "/consultations")
        header = page.locator("#consultations thead th").all_inner_texts()
        assert "期限" in header
        over = page.locator("#consultations .due-over").all_inner_texts()
        assert any("已超期" in t for t in over)
        assert page.locator("#badge-due").count() == 1
        page.screenshot(path="/tmp/inbox_due_list.png", full_page=True)

        target = env.a[1]
        page.goto(f"{server.url}/consultations/{target.tracking_no}")
        assert "办理期限" in page.inner_text("#deadlines")
        page.fill("#extension-form input[name=days]", "3")
        page.fill("#extension-form textarea[name=reason]", "需要等待业主大会表决")
        page.click("#extension-form button[type=submit]")
        page.wait_for_selector(".flash-ok")
        assert "等待街道（乡镇）审批" in page.inner_text(".flash-ok")
        assert "待审批" in page.inner_text("#deadlines")
        assert page.locator("#decide-form").count() == 0  # the requester gets no decision form
    finally:
        ctx.close()

    ctx, page = _page(browser)
    try:
        before = env.service.get(target.tracking_no).complete_by
        _login(page, server.url, *SUP)
        page.click("#nav-supervisor")
        page.wait_for_selector("#pending-extensions")
        assert target.tracking_no in page.inner_text("#pending-extensions")
        assert env.a[0].tracking_no in page.inner_text("#overdue")
        page.screenshot(path="/tmp/inbox_supervisor.png", full_page=True)
        page.goto(f"{server.url}/consultations/{target.tracking_no}")
        page.check("#decide-form input[value=approve]")
        page.fill("#decide-form input[name=note]", "同意延期")
        page.click("#decide-form button[type=submit]")
        page.wait_for_selector(".flash-ok")
        assert "已同意" in page.inner_text(".flash-ok")
        after = env.service.get(target.tracking_no).complete_by
        assert after > before and f"{after.month}月{after.day}日" in page.inner_text("#complete-by")
        assert "已同意" in page.inner_text("#deadlines")
    finally:
        ctx.close()


def test_scorecard_page(stack, browser):
    env, server, _ = stack
    ctx, page = _page(browser)
    try:
        _login(page, server.url, "root", PASSWORD["root"])
        page.click("nav >> text=考核")
        page.wait_for_selector("#scorecard-chart")
        assert page.locator("#scorecard-chart rect").count() >= 2
        assert "城关街道" in page.inner_text("#by-township")
        page.fill("input[name=since]", "2026-01-01")
        page.click("#period-form button[type=submit]")
        page.wait_for_selector("#by-committee")
        assert "2026-01-01" in page.inner_text("h1")
        page.screenshot(path="/tmp/inbox_scorecards.png", full_page=True)
    finally:
        ctx.close()


def test_publish_outcome_then_public_page(stack, browser):
    env, server, _ = stack
    ctx, page = _page(browser)
    target = env.a[0]  # filed with consent by 王小明, 13900001111
    try:
        _login(page, server.url, "alice", PASSWORD["alice"])
        page.goto(f"{server.url}/consultations/{target.tracking_no}")
        page.fill("#outcome-form textarea[name=outcome]", "经议事协商，王小明反映的路灯已修复（13900001111）")
        page.click("#outcome-form button[type=submit]")
        page.wait_for_selector(".flash-ok")
        assert "已公开协商结果" in page.inner_text(".flash-ok")
    finally:
        ctx.close()
    ctx, page = _page(browser)  # a visitor, not logged in
    try:
        page.goto(server.url + "/public/xingfu")
        text = page.inner_text("main")
        assert "路灯已修复" in text and "13900001111" not in text and "王小明" not in text
        assert "/login" not in page.url
        page.screenshot(path="/tmp/inbox_public.png", full_page=True)
    finally:
        ctx.close()
