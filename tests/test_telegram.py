"""Telegram channel: pure helpers directly, then the real Rasa server against a stand-in Bot API.

The end-to-end part starts the action server and Rasa (``tests.stack``) with the project model and
the channel pointed at :mod:`tests.fake_telegram`; every assertion is on the Bot API calls the
connector really made. Replies are compared with the REST channel's answer to the same message,
so the tests follow the model instead of hard-coding its wording.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.config import TelegramConfig
from connectors.memory import CALLBACK_DATA_MAX_BYTES, PayloadKeys, SeenUpdates
from connectors.ratelimit import RateLimiter
from connectors.text import NON_TEXT_REPLY, citation_line, needs_citation, split_text, u16len
from tests.fake_telegram import FakeTelegram, callback_update, photo_update, text_update

# ---------------------------------------------------------------------------------------------
# Pure pieces (standard library only, so they import in the app env too)
# ---------------------------------------------------------------------------------------------


def _squash(s: str) -> str:
    return re.sub(r"\s+", "", s)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("社区服务医保。！？，；、 \n\nab😀")), max_size=400), st.integers(4, 80))
def test_split_keeps_every_character_and_respects_the_limit(text, limit):
    parts = split_text(text, limit)
    assert all(0 < u16len(p) <= limit for p in parts)
    assert _squash("".join(parts)) == _squash(text)


def test_split_prefers_paragraphs_then_sentences():
    a, b = "第一段" * 10, "第二段" * 10
    assert split_text(f"{a}\n\n{b}", 40) == [a, b]
    text = "社区服务站提供医保登记。" * 5  # 12 chars per sentence
    parts = split_text(text, 30)
    assert all(p.endswith("。") for p in parts), parts
    assert split_text("短消息", 4096) == ["短消息"]
    assert split_text("   ", 10) == []


def test_split_counts_emoji_as_two_units():
    parts = split_text("😀" * 5, 4)
    assert parts == ["😀😀", "😀😀", "😀"]


def test_citation_line_names_chapter_and_clause():
    line = citation_line(
        [
            {
                "type": "plan",
                "id": "plan-7-12",
                "title": "(七)强化为民服务功能 第12句",
                "chapter": "三、扩大城乡社区服务有效供给 › (七)强化为民服务功能",
                "text": "…",
            },
            {"type": "indicator", "id": "indicator-4", "chapter": "专栏1 主要指标"},
            {"id": "plan-7-12", "title": "(七)强化为民服务功能 第12句"},  # duplicate
            "not a dict",
        ]
    )
    assert line == "📖 出处：(七)强化为民服务功能 第12句；专栏1 主要指标"  # words, never ids
    assert needs_citation("好的") and not needs_citation("……\n来源：服务目录「社区老年助餐」")
    assert citation_line([]) == "" and citation_line(None) == ""


def test_seen_updates_forgets_by_age_and_by_size():
    now = [0.0]
    seen = SeenUpdates(max_size=3, ttl=10, clock=lambda: now[0])
    assert seen.first_time(1) and not seen.first_time(1)
    now[0] = 11
    assert seen.first_time(1)  # expired, so new again
    for k in (2, 3, 4):
        seen.first_time(k)
    assert len(seen) == 3
    assert seen.first_time(1)  # the oldest was dropped to make room


def test_long_payloads_map_to_short_callback_data():
    keys = PayloadKeys(max_size=2)
    short = "/greet"
    long = '/inform{"community": "幸福社区", "topic": "小区停车位不足，希望增加夜间临时停车区域"}'
    assert keys.encode(short) == short
    key = keys.encode(long)
    assert len(key.encode()) <= CALLBACK_DATA_MAX_BYTES and keys.decode(key) == long
    assert keys.encode(long) == key  # stable
    keys.encode(long + "1")
    keys.encode(long + "2")
    assert keys.decode(key) is None  # evicted: the channel answers "button expired"


def test_rate_limiter_spaces_one_chat_and_caps_the_total():
    now = [0.0]
    lim = RateLimiter(chat_interval=1.0, global_rate=30, clock=lambda: now[0])
    assert lim.reserve("a") == 0
    assert lim.reserve("a") == pytest.approx(1.0)
    assert lim.reserve("a") == pytest.approx(2.0)
    waits = [lim.reserve(f"chat{i}") for i in range(60)]  # 60 chats at once: 2 s to drain at 30/s
    assert len(set(round(w * 30) for w in waits)) == 60  # each in its own 1/30 s slot
    assert max(waits) <= 62 / 30  # chat "a" waiting ahead does not hold the others back
    slots = [round(w * 30) for w in waits + [0.0, 1.0, 2.0]]
    for start in range(0, 90):  # never more than 30 messages in any one-second window
        assert sum(start <= s < start + 30 for s in slots) <= 30
    lim.pause_chat("b", 5)
    assert lim.reserve("b") >= 5


def test_config_defaults_and_overrides(monkeypatch):
    for var in ("TELEGRAM_TOKEN", "TELEGRAM_WEBHOOK_URL", "TELEGRAM_API_BASE_URL", "TELEGRAM_MAX_MESSAGE_CHARS"):
        monkeypatch.delenv(var, raising=False)
    cfg = TelegramConfig.load({})
    assert cfg.api_base_url == "https://api.telegram.org/bot" and not cfg.polling and cfg.max_message_chars == 4096
    monkeypatch.setenv("TELEGRAM_TOKEN", "1:x")
    monkeypatch.setenv("TELEGRAM_MAX_MESSAGE_CHARS", "99999")
    cfg = TelegramConfig.load({"webhook_url": None})
    assert cfg.polling and cfg.max_message_chars == 4096
    assert not TelegramConfig.load({"webhook_url": "https://example.org/webhooks/telegram/webhook"}).polling


# ---------------------------------------------------------------------------------------------
# The real Rasa server with the channel, against the stand-in Bot API
# ---------------------------------------------------------------------------------------------

SECRET = "test-secret-3f9a"
SPLIT_LIMIT = 60  # lowered so that ordinary (short, ~110-character) answers are split too
QUESTION = "在社区能办医保吗"
_chat_ids = itertools.count(900_000_001)
_update_ids = itertools.count(1)


@pytest.fixture(scope="module")
def tg():
    """(stack, fake Bot API, webhook poster) with Rasa running the Telegram channel in polling mode."""
    from tests.stack import running_stack

    model = Path(os.environ["LINLI_TEST_MODEL"]) if os.environ.get("LINLI_TEST_MODEL") else None
    with FakeTelegram() as fake:
        env = {
            "TELEGRAM_TOKEN": fake.token,
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "TELEGRAM_API_BASE_URL": fake.base_url,
            "TELEGRAM_MAX_MESSAGE_CHARS": str(SPLIT_LIMIT),
            "TELEGRAM_POLL_TIMEOUT": "1",
        }
        creds = {"connectors.rest.RestInput": None, "connectors.telegram.TelegramInput": None}
        with running_stack(credentials=creds, extra_env=env, model=model) as stack:
            stack.warm_up(QUESTION)
            url = f"{stack.rasa_url}/webhooks/telegram/webhook"

            def post(update: dict, secret: str | None = SECRET) -> httpx.Response:
                headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
                return httpx.post(url, json=update, headers=headers, timeout=30)

            yield stack, fake, post


def _new_chat() -> int:
    return next(_chat_ids)


def _settled(fake: FakeTelegram, chat: int, quiet: float = 2.0, timeout: float = 60) -> list[dict]:
    """All sendMessage calls to ``chat`` once none arrived for ``quiet`` seconds."""
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        calls = fake.recorded("sendMessage", chat)
        if calls and len(calls) == last:
            return calls
        last = len(calls)
        time.sleep(quiet)
    raise TimeoutError(f"chat {chat} did not settle: {fake.recorded(chat_id=chat)}")


def _texts(calls: list[dict]) -> list[str]:
    return [c["params"]["text"] for c in calls]


def _rest_reply(stack, text: str) -> list[dict]:
    return stack.rest(f"rest-{next(_update_ids)}-{time.monotonic_ns()}", text)


def _expected(rest_messages: list[dict]) -> str:
    """What Telegram should show for a REST reply: texts with their citation lines, whitespace ignored."""
    out = []
    for msg in rest_messages:
        out.append(msg.get("text") or "")
        sources = (msg.get("custom") or {}).get("sources")
        if sources and all(needs_citation(m.get("text")) for m in rest_messages if m.get("text")):
            out.append(citation_line(sources))
    return _squash("".join(out))


def _user_intents(stack, chat: int) -> list[str]:
    events = stack.tracker(str(chat)).get("events", [])
    return [(e.get("parse_data") or {}).get("intent", {}).get("name") for e in events if e.get("event") == "user"]


@pytest.mark.e2e
def test_wrong_or_missing_secret_is_refused(tg):
    stack, fake, post = tg
    chat = _new_chat()
    assert post(text_update(next(_update_ids), chat, "你好"), secret="wrong").status_code == 403
    assert post(text_update(next(_update_ids), chat, "你好"), secret=None).status_code == 403
    assert post({"update_id": "x"}).status_code == 400
    assert fake.recorded(chat_id=chat) == []
    # the same message with the secret is answered, and is the chat's only turn: the refused ones left none
    assert post(text_update(next(_update_ids), chat, "你好")).status_code == 200
    fake.wait_for("sendMessage", chat_id=chat, timeout=60)
    assert _user_intents(stack, chat) == ["greet"]


@pytest.mark.e2e
def test_question_is_answered_like_the_rest_channel_with_its_citation(tg):
    stack, fake, post = tg
    chat = _new_chat()
    expected = _rest_reply(stack, QUESTION)
    assert post(text_update(next(_update_ids), chat, QUESTION)).status_code == 200
    sent = _texts(_settled(fake, chat))
    assert _squash("".join(sent)) == _expected(expected), (sent, expected)
    assert any((m.get("custom") or {}).get("sources") for m in expected), "the answer carries no sources"
    assert "".join(sent).count("来源：") == 1 and "📖 出处" not in "".join(sent)  # cited once, by the answer itself
    assert all(u16len(t) <= SPLIT_LIMIT for t in sent)


@pytest.mark.e2e
def test_start_greets_and_a_button_press_is_answered(tg):
    stack, fake, post = tg
    chat = _new_chat()
    post(text_update(next(_update_ids), chat, "/start"))
    greeting = _settled(fake, chat)
    assert _user_intents(stack, chat) == ["greet"]
    assert "".join(_texts(greeting)).strip()

    with_keyboard = [c for c in greeting if c["params"].get("reply_markup")]
    if not with_keyboard:  # the greeting has no buttons: an answer will
        post(text_update(next(_update_ids), chat, QUESTION))
        with_keyboard = [c for c in _settled(fake, chat) if c["params"].get("reply_markup")]
    assert with_keyboard, "no reply with an inline keyboard to press"
    rows = with_keyboard[-1]["params"]["reply_markup"]["inline_keyboard"]
    button = next(b for row in rows for b in row if "callback_data" in b)
    assert len(button["callback_data"].encode()) <= 64

    before = len(fake.recorded("sendMessage", chat))
    update = callback_update(next(_update_ids), chat, button["callback_data"], message_id=1001)
    assert post(update).status_code == 200
    answered = fake.wait_for(
        "answerCallbackQuery", where=lambda c: c["params"]["callback_query_id"] == update["callback_query"]["id"]
    )
    assert len(answered) == 1
    fake.wait_for("editMessageReplyMarkup", chat_id=chat)  # keyboard removed: a button is pressed once
    after = _settled(fake, chat)
    new = _texts(after[before:])
    assert new and all(t.strip() for t in new)
    assert "过期" not in "".join(new) and "出了点问题" not in "".join(new)


@pytest.mark.e2e
def test_duplicate_update_is_answered_once(tg):
    stack, fake, post = tg
    chat = _new_chat()
    update = text_update(next(_update_ids), chat, QUESTION)
    first, second = post(update), post(update)
    assert first.status_code == second.status_code == 200
    assert first.json()["duplicate"] is False and second.json()["duplicate"] is True
    once = _settled(fake, chat)
    assert _squash("".join(_texts(once))) == _expected(_rest_reply(stack, QUESTION))
    assert len(_user_intents(stack, chat)) == 1


@pytest.mark.e2e
def test_long_reply_is_split_and_paced(tg):
    stack, fake, post = tg
    chat = _new_chat()
    rest = _rest_reply(stack, QUESTION)
    assert max(u16len(m.get("text") or "") for m in rest) > SPLIT_LIMIT, "the answer is too short to exercise splitting"
    post(text_update(next(_update_ids), chat, QUESTION))
    sent = _settled(fake, chat)
    assert len(sent) > sum(1 for m in rest if m.get("text"))
    assert all(u16len(t) <= SPLIT_LIMIT for t in _texts(sent))
    assert _squash("".join(_texts(sent))) == _expected(rest)
    gaps = [b["at"] - a["at"] for a, b in itertools.pairwise(sent)]
    assert min(gaps) >= 0.9, gaps  # at most one message per second to one chat


@pytest.mark.e2e
def test_photo_gets_a_polite_reply_without_nlu(tg):
    stack, fake, post = tg
    chat = _new_chat()
    post(photo_update(next(_update_ids), chat))
    sent = _settled(fake, chat)
    assert _texts(sent) == [NON_TEXT_REPLY] or _squash("".join(_texts(sent))) == _squash(NON_TEXT_REPLY)
    events = stack.tracker(str(chat)).get("events", [])
    assert not [e for e in events if e.get("event") == "user"]


@pytest.mark.e2e
def test_polling_mode_reads_get_updates(tg):
    stack, fake, post = tg
    chat = _new_chat()
    assert fake.recorded("deleteWebhook"), "polling starts by removing any webhook"
    fake.push_update(text_update(next(_update_ids) + 500_000, chat, "你好"))
    sent = _settled(fake, chat)
    assert "".join(_texts(sent)).strip()
    assert _user_intents(stack, chat) == ["greet"]


@pytest.mark.e2e
def test_status_push_through_trigger_intent_reaches_the_chat(tg):
    stack, fake, post = tg
    chat = _new_chat()
    stack.trigger_intent(str(chat), "greet", output_channel="telegram")
    sent = _settled(fake, chat)
    assert sent and all(c["params"]["chat_id"] == str(chat) for c in sent)
    assert any(t.strip() for t in _texts(sent))


@pytest.mark.e2e
def test_server_errors_are_retried_with_backoff(tg):
    stack, fake, post = tg
    chat = _new_chat()
    fake.fail("sendMessage", times=2, status=500)
    post(text_update(next(_update_ids), chat, "你好"))
    calls = fake.wait_for("sendMessage", count=3, chat_id=chat)
    assert calls[0]["params"]["text"] == calls[1]["params"]["text"] == calls[2]["params"]["text"]
    first_gap, second_gap = calls[1]["at"] - calls[0]["at"], calls[2]["at"] - calls[1]["at"]
    assert first_gap >= 0.3 and second_gap >= 0.6  # 0.5 s then 1 s, with jitter
    assert httpx.get(f"{stack.rasa_url}/", timeout=5).status_code == 200  # still serving


@pytest.mark.e2e
def test_flood_control_retry_after_is_honoured(tg):
    stack, fake, post = tg
    chat = _new_chat()
    fake.fail("sendMessage", times=1, status=429, retry_after=2)
    post(text_update(next(_update_ids), chat, "你好"))
    calls = fake.wait_for("sendMessage", count=2, chat_id=chat)
    assert calls[1]["at"] - calls[0]["at"] >= 1.9
    assert calls[1]["params"]["text"] == calls[0]["params"]["text"]
