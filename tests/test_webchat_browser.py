"""Web chat in real headless Chromium (Debian's) against the real Rasa server and action server.

A resident on a phone-sized screen opens the page, asks a question, sees the answer with its
citation (chapter + clause id, expandable quote), presses a button, and starts a consultation.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.fake_telegram import FakeTelegram, text_update
from tests.test_telegram import _settled

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
QUESTION = "在社区能办医保吗"
SCREENSHOT = Path("/tmp/linli-webchat-phone.png")


TG_SECRET = "browser-module-secret"
PUBLIC_URL = "https://linli.example.org/webhooks/telegram/webhook"


@pytest.fixture(scope="module")
def fake_tg():
    with FakeTelegram() as fake:
        fake.fail("setWebhook", times=1, status=502)  # a flaky start is retried, not fatal
        yield fake


@pytest.fixture(scope="module")
def stack(fake_tg):
    """Rasa with the web chat, and (sharing this server to save a startup) Telegram in webhook mode."""
    from tests.stack import running_stack

    model = Path(os.environ["LINLI_TEST_MODEL"]) if os.environ.get("LINLI_TEST_MODEL") else None
    creds = {
        "connectors.rest.RestInput": None,
        "connectors.webchat.WebChatInput": None,
        "connectors.telegram.TelegramInput": None,
    }
    env = {
        "TELEGRAM_TOKEN": fake_tg.token,
        "TELEGRAM_WEBHOOK_SECRET": TG_SECRET,
        "TELEGRAM_API_BASE_URL": fake_tg.base_url,
        "TELEGRAM_WEBHOOK_URL": PUBLIC_URL,
    }
    with running_stack(credentials=creds, extra_env=env, model=model) as s:
        s.warm_up()
        yield s


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield b
        b.close()


@pytest.fixture
def phone(browser, stack):
    ctx = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True, locale="zh-CN"
    )
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{stack.rasa_url}/webhooks/webchat/")
    yield page
    ctx.close()
    assert not errors, errors


def _bot_count(page) -> int:
    return page.locator("#log li.msg.bot").count()


def _wait_reply(page, before: int) -> None:
    """Wait (with locators only: the page's CSP forbids eval) until a new bot message arrived and typing stopped."""
    page.locator("#log li.msg.bot").nth(before).wait_for(timeout=60_000)
    expect(page.locator("#status")).to_have_text("", timeout=60_000)


def _ask(page, text: str) -> None:
    before = _bot_count(page)
    page.get_by_label("输入您的问题").fill(text)
    page.keyboard.press("Enter")
    _wait_reply(page, before)


def test_page_is_served_with_a_strict_content_security_policy(stack):
    r = httpx.get(f"{stack.rasa_url}/webhooks/webchat/", timeout=10)
    assert r.status_code == 200 and 'lang="zh-CN"' in r.text
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert httpx.get(f"{stack.rasa_url}/webhooks/webchat/static/chat.js", timeout=10).status_code == 200
    assert httpx.get(f"{stack.rasa_url}/webhooks/webchat/static/..%2Fwebchat.py", timeout=10).status_code == 404
    bad = httpx.post(f"{stack.rasa_url}/webhooks/webchat/webhook", content=b"{not json", timeout=10)
    assert bad.status_code == 400 and "error" in bad.json()
    empty = httpx.post(
        f"{stack.rasa_url}/webhooks/webchat/webhook", json={"sender": "web-x", "message": "   "}, timeout=10
    )
    assert empty.status_code == 200 and empty.json()["messages"][0]["text"]


def test_question_answer_with_citation_and_a_button(phone, stack):
    page = phone
    sender = page.evaluate("localStorage.getItem('linli.sender')")
    assert re.fullmatch(r"web-[0-9a-f]{24}", sender)

    _ask(page, QUESTION)
    expected = stack.rest("browser-check", QUESTION)
    sources = next((m["custom"]["sources"] for m in expected if (m.get("custom") or {}).get("sources")), None)
    assert sources, "the answer carries no sources"
    answer = page.locator("#log li.msg.bot").last
    first = sources[0]
    summary = answer.locator(".sources summary").first
    assert first["title"] in summary.inner_text() and first["id"] not in summary.inner_text()  # words, not ids
    quote = answer.locator(".sources blockquote").first
    assert not quote.is_visible()
    summary.focus()
    page.keyboard.press("Enter")  # keyboard opens the quote
    assert quote.is_visible() and quote.inner_text().strip() == (first.get("text") or "").strip()
    answer_text = next(m["text"] for m in expected if m.get("text"))
    assert re.sub(r"\s", "", answer.locator(".bubble").first.inner_text()) == re.sub(r"\s", "", answer_text)

    # the same conversation continues after a reload (sender id kept in localStorage)
    page.reload()
    assert page.evaluate("localStorage.getItem('linli.sender')") == sender

    _ask(page, "你好")
    buttons = page.locator("#log li.msg.bot").nth(_bot_count(page) - 1).locator(".buttons button")
    assert buttons.count() >= 1
    title = buttons.first.inner_text()
    before = _bot_count(page)
    buttons.first.click()
    _wait_reply(page, before)
    assert page.locator("#log li.msg.user").last.inner_text().endswith(title)
    assert buttons.first.is_disabled()  # one press per keyboard
    tracker = stack.tracker(sender)
    assert [e for e in tracker["events"] if e.get("event") == "user"], "the button reached Rasa"

    page.screenshot(path=str(SCREENSHOT), full_page=False)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # no horizontal scrolling on a phone


def test_consultation_link_and_hostile_text_is_shown_as_text(phone, stack):
    page = phone
    before = _bot_count(page)
    page.get_by_role("button", name="发起议事协商").click()
    _wait_reply(page, before)
    assert page.locator("#log li.msg.user").last.inner_text().endswith("我想发起议事协商")
    sender = page.evaluate("localStorage.getItem('linli.sender')")
    intents = [
        (e.get("parse_data") or {}).get("intent", {}).get("name")
        for e in stack.tracker(sender)["events"]
        if e.get("event") == "user"
    ]
    assert intents[-1] == "start_consultation"

    hostile = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
    _ask(page, hostile)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#log li.msg.user .bubble").last.inner_text() == hostile
    assert page.locator("#log img").count() == 0


def test_status_push_waits_in_the_mailbox_until_the_page_shows_it(phone, stack):
    """The committee's status push (trigger_intent, output_channel=webchat) reaches a resident who comes back later."""
    page = phone
    _ask(page, "你好")
    sender = page.evaluate("localStorage.getItem('linli.sender')")
    number = "YS-20261129-0042"
    pushed = stack.trigger_intent(
        sender,
        "EXTERNAL_consultation_status",
        {"tracking_number": number, "status": "accepted", "status_label": "已受理", "note": "下周一开会商量"},
        output_channel="webchat",
    )
    assert number in " ".join(m.get("text") or "" for m in pushed.get("messages", []))
    page.reload()  # the resident opens the page again: it fetches what waited for it
    push = page.locator("#log li.msg.bot .bubble", has_text=number)
    expect(push).to_have_count(1, timeout=30_000)
    assert "已受理" in push.inner_text() and "下周一开会商量" in push.inner_text()
    updates = f"{stack.rasa_url}/webhooks/webchat/updates"
    assert httpx.post(updates, json={"sender": sender}, timeout=30).json() == {"messages": []}  # taken once
    for bad in ({"sender": "../x"}, {"sender": 5}, {}, None):
        r = httpx.post(updates, json=bad, timeout=30)
        assert r.status_code == 400 and re.search(r"[\u4e00-\u9fff]", r.json()["error"]), r.text


def test_telegram_webhook_mode_registers_the_public_url_with_its_secret(stack, fake_tg):
    """With TELEGRAM_WEBHOOK_URL set, the channel calls setWebhook (secret included) and does not poll."""
    calls = fake_tg.wait_for("setWebhook", count=2)
    params = calls[-1]["params"]
    assert params["url"] == PUBLIC_URL and params["secret_token"] == TG_SECRET
    assert "callback_query" in params["allowed_updates"]
    assert httpx.get(f"{stack.rasa_url}/webhooks/telegram/", timeout=10).json()["mode"] == "webhook"
    chat = 800_000_001
    r = httpx.post(
        f"{stack.rasa_url}/webhooks/telegram/webhook",
        json=text_update(1, chat, "你好"),
        headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET},
        timeout=30,
    )
    assert r.status_code == 200
    assert _settled(fake_tg, chat)
    assert not fake_tg.recorded("getUpdates")
