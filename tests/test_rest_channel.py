"""Input limits and the no-reply fallback on all three channels, against the real Rasa server.

The stack runs with the project's ``credentials.yml`` (so ``rest`` is :mod:`connectors.rest`, not
Rasa's built-in one) and Telegram in webhook mode against :mod:`tests.fake_telegram`. The last test
stops the action server, so it stays last in this module.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import time
from pathlib import Path

import httpx
import pytest

from connectors.text import EMPTY_REPLY, MAX_MESSAGE_CHARS, NO_REPLY_RETRY, TOO_LONG_REPLY, screen_text
from tests.fake_telegram import FakeTelegram, callback_update, text_update

HAN = re.compile(r"[\u4e00-\u9fff]")
SECRET = "rest-channel-secret"
QUESTION = "在社区能办医保吗"  # answered by the action server (retrieval), with sources
HUGE = "<b>" * 20000  # 60 000 characters: the message that once asked DIET for a 57 GB tensor
RSS_LIMIT_KB = 3 * 1024 * 1024
_ids = itertools.count(1)


# ---- pure screening (standard library only) -------------------------------------------------------------


def test_screen_text_refuses_empty_and_over_long_and_strips_controls():
    assert screen_text("a" * MAX_MESSAGE_CHARS) == ("a" * MAX_MESSAGE_CHARS, None)
    assert screen_text("a" * (MAX_MESSAGE_CHARS + 1)) == ("", TOO_LONG_REPLY)
    assert screen_text(HUGE) == ("", TOO_LONG_REPLY)
    assert screen_text("你\x00好\x1b[0m\x7f\x85\ud800") == ("你好[0m", None)
    assert screen_text("a\nb\tc") == ("a\nb\tc", None)
    for empty in ("", "   ", "\x00\x01", "\u3000\n", None, 5, ["x"]):
        assert screen_text(empty) == ("", EMPTY_REPLY)
    # controls do not count towards the limit
    assert screen_text("\x00" * 5000 + "好")[0] == "好"


# ---- the running server ---------------------------------------------------------------------------------


def _pid_of(*needles: str) -> int:
    """Pid of the process (started by this test's stack) whose command line holds all ``needles``."""
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            argv = (d / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in argv]
        if all(n in args for n in needles):
            return int(d.name)
    raise LookupError(needles)


def _memory_kb(pid: int) -> dict[str, int]:
    """Current (VmRSS) and peak (VmHWM) resident memory of ``pid``."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


@pytest.fixture(scope="module")
def env():
    from tests.stack import REPO, running_stack

    model = Path(os.environ["LINLI_TEST_MODEL"]) if os.environ.get("LINLI_TEST_MODEL") else None
    with FakeTelegram() as tg:
        extra = {
            "TELEGRAM_TOKEN": tg.token,
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "TELEGRAM_API_BASE_URL": tg.base_url,
            "TELEGRAM_CHAT_INTERVAL": "0",
            "TELEGRAM_WEBHOOK_URL": "https://example.invalid/webhooks/telegram/webhook",
        }
        with running_stack(credentials=REPO / "credentials.yml", extra_env=extra, model=model) as stack:
            stack.warm_up(QUESTION)  # the action server loads its index on the first question
            rasa_pid = _pid_of("run", "--port", stack.rasa_url.rsplit(":", 1)[1])
            yield stack, tg, rasa_pid


def _rest(stack, body: bytes | dict, **params) -> httpx.Response:
    kw = (
        {"json": body} if isinstance(body, dict) else {"content": body, "headers": {"content-type": "application/json"}}
    )
    return stack.client.post(f"{stack.rasa_url}/webhooks/rest/webhook", params=params, **kw)


def _webchat(stack, sender: str, message) -> list[dict]:
    r = stack.client.post(f"{stack.rasa_url}/webhooks/webchat/webhook", json={"sender": sender, "message": message})
    assert r.status_code == 200, r.text
    return r.json()["messages"]


def _telegram(stack, tg, text: str) -> tuple[list[str], int]:
    """Post one private message to the webhook; the texts the bot sent to that chat once it went quiet."""
    chat = 700_000_000 + next(_ids)
    r = httpx.post(
        f"{stack.rasa_url}/webhooks/telegram/webhook",
        json=text_update(next(_ids) + 10_000, chat, text),
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
        timeout=30,
    )
    assert r.status_code == 200
    tg.wait_for("sendMessage", chat_id=chat, timeout=120)
    time.sleep(1.5)  # a turn may send several messages
    return [str(c["params"].get("text")) for c in tg.recorded("sendMessage", chat)], chat


def _user_texts(stack, conversation: str) -> list[str]:
    return [e.get("text") for e in stack.tracker(conversation).get("events", []) if e.get("event") == "user"]


@pytest.mark.e2e
def test_malformed_bodies_get_400_with_a_chinese_error(env):
    stack, _, _ = env
    bodies = [
        b"",
        b"null",
        b"[]",
        b"1",
        b'"x"',
        b"{",
        b"\xff\xfe",
        b"[" * 5000 + b"]" * 5000,
        b"{}",
        b'{"message": "hi"}',
        b'{"sender": null, "message": "hi"}',
        b'{"sender": 12, "message": "hi"}',
        b'{"sender": "", "message": "hi"}',
        b'{"sender": "a\\u0000b", "message": "hi"}',
        b'{"sender": "' + b"s" * 300 + b'", "message": "hi"}',
        b'{"sender": "a"}',
        b'{"sender": "a", "message": null}',
        b'{"sender": "a", "message": 5}',
        b'{"sender": "a", "message": ["x"]}',
        b'{"sender": "a", "message": {"text": "x"}}',
        b'{"sender": "a", "message": "x", "metadata": "m"}',
        b'{"sender": "a", "message": "x", "input_channel": 3}',
    ]
    for body in bodies:
        r = _rest(stack, body)
        assert r.status_code == 400, (body[:60], r.status_code, r.text[:200])
        assert HAN.search(r.json()["error"]), r.text
    assert stack.rest("after-garbage", "你好")  # still serving


@pytest.mark.e2e
def test_rest_keeps_rasa_contract_and_answers_empty_text_politely(env):
    stack, _, _ = env
    replies = stack.rest("contract-1", QUESTION, metadata={"k": "v"})
    assert replies and all(m["recipient_id"] == "contract-1" for m in replies)
    assert any(HAN.search(m.get("text") or "") for m in replies)
    assert any((m.get("custom") or {}).get("sources") for m in replies)  # custom payloads pass through
    for empty in ("", "   ", "\x00\x07"):
        assert stack.rest("contract-empty", empty) == [{"recipient_id": "contract-empty", "text": EMPTY_REPLY}]
    assert _user_texts(stack, stack.rest_id("contract-empty")) == []  # never reached NLU
    r = _rest(stack, {"sender": "contract-stream", "message": "你好"}, stream="true")
    assert r.status_code == 200
    lines = [ln for ln in r.text.splitlines() if ln.strip()]
    assert lines and all('"recipient_id"' in ln for ln in lines)
    stack.rest("contract-ctl", "你\x00好\x1b")
    assert _user_texts(stack, stack.rest_id("contract-ctl")) == ["你好"]
    # output_channel=rest still names this channel (status pushes from the inbox use it)
    pushed = stack.trigger_intent(stack.rest_id("contract-1"), "greet", output_channel="rest")
    assert "tracker" in pushed


@pytest.mark.e2e
def test_huge_message_is_refused_on_every_channel_and_rasa_memory_stays_normal(env):
    stack, tg, rasa_pid = env
    before = _memory_kb(rasa_pid)
    assert stack.rest("huge-rest", HUGE) == [{"recipient_id": "huge-rest", "text": TOO_LONG_REPLY}]
    assert stack.rest("huge-rest", "电梯坏了，" * 500)[0]["text"] == TOO_LONG_REPLY  # 2 500 characters
    assert _webchat(stack, "huge-web", HUGE) == [{"text": TOO_LONG_REPLY}]
    sent, chat = _telegram(stack, tg, "<b>" * 1365)  # Telegram itself caps messages at 4 096 characters
    assert sent == [TOO_LONG_REPLY]
    for sender in (stack.rest_id("huge-rest"), "huge-web", str(chat)):
        assert _user_texts(stack, sender) == [], sender
    # at the limit a message does reach NLU and is answered
    at_limit = "小区电梯坏了，" * (MAX_MESSAGE_CHARS // 7)
    replies = stack.rest("huge-limit", at_limit)
    assert replies and replies[0]["text"] != TOO_LONG_REPLY
    assert _user_texts(stack, stack.rest_id("huge-limit")) == [at_limit]
    after = _memory_kb(rasa_pid)
    print(f"rasa memory kB: before {before}, after {after}")
    assert after["VmHWM"] < RSS_LIMIT_KB, after
    assert httpx.get(stack.rasa_url + "/", timeout=10).status_code == 200
    assert any(HAN.search(m.get("text") or "") for m in stack.rest("huge-after", QUESTION))


@pytest.mark.e2e
def test_action_server_down_gives_a_retry_message_on_every_channel(env):
    """Rasa 3.6 sends nothing when the action server is unreachable; each channel says so politely."""
    stack, tg, _ = env
    # a turn with a message is untouched
    assert NO_REPLY_RETRY not in [m.get("text") for m in stack.rest("down-0", QUESTION)]
    os.kill(_pid_of("actions.serve", "--port", stack.action_url.rsplit(":", 1)[1]), signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(stack.action_url + "/health", timeout=2)
            time.sleep(0.5)
        except httpx.HTTPError:
            break
    assert stack.rest("down-1", QUESTION) == [{"recipient_id": "down-1", "text": NO_REPLY_RETRY}]
    assert _webchat(stack, "down-2", QUESTION) == [{"text": NO_REPLY_RETRY}]
    r = _rest(stack, {"sender": "down-3", "message": QUESTION}, stream="true")
    assert [json.loads(ln)["text"] for ln in r.text.splitlines() if ln.strip()] == [NO_REPLY_RETRY]
    sent, _ = _telegram(stack, tg, QUESTION)
    assert sent == [NO_REPLY_RETRY]
    # a button press is a turn too
    chat = 710_000_000 + next(_ids)
    httpx.post(
        f"{stack.rasa_url}/webhooks/telegram/webhook",
        json=callback_update(next(_ids) + 20_000, chat, QUESTION),
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
        timeout=30,
    )
    assert tg.wait_for("sendMessage", chat_id=chat, timeout=60)[-1]["params"]["text"] == NO_REPLY_RETRY
