"""WeChat Official Account channel through the real stack (Rasa + action server) and a stand-in WeChat.

:mod:`tests.fake_wechat` plays both sides of WeChat: its server API (token, customer-service and
template messages, menu) and its callbacks to the account (signed; encrypted in safe mode with an
implementation independent of the connector's). Two stacks run one after the other:

* plaintext mode with a long passive budget, so every single-message answer comes back passively
  in the callback's HTTP reply (deterministic), and the inbox's status pushes;
* safe mode with a zero budget, so every answer that needs Rasa is delivered after "success" through
  the customer-service API (deterministic "slow" answers), with the channel memory in Redis.

Replies are compared with the REST channel's answer to the same message, so the tests follow the
model rather than hard-coding its wording.
"""

from __future__ import annotations

import itertools
import re
import secrets
import time

import httpx
import pytest

from connectors.choices import NumberedChoices, numbered_lines, typed_number
from connectors.config import WeChatConfig, conversation_id
from connectors.text import EXPIRED_BUTTON_REPLY, LOCATION_REPLY, NON_TEXT_REPLY, VOICE_REPLY, citation_line
from tests.fake_api import FakeRasa
from tests.fake_wechat import APP_ID, APP_SECRET, FakeWeChat, WeChatCallbacks, new_aes_key, signature, xml_of

TOKEN = "linli-callback-token-7c1e"
TEMPLATE = "tmpl-status-1"
QUESTION = "在社区能办医保吗"
TRACKING = re.compile(r"YS-\d{8}-\d{4}")
OPTION = re.compile(r"^回复 (\d+) (.+)$", re.M)
MENU = [{"name": "议事协商", "payload": "/start_consultation"}, {"name": "问医保", "payload": QUESTION}]
CUSTOM_SEND = "/cgi-bin/message/custom/send"
_openids = itertools.count(1)


def _openid() -> str:
    return f"oWx{secrets.token_hex(6)}{next(_openids):05d}"[:28]


def _squash(s: str) -> str:
    return re.sub(r"\s+", "", s)


def _settled(fake: FakeWeChat, openid: str, quiet: float = 2.0, timeout: float = 90) -> list[str]:
    """The customer-service texts to ``openid`` once none arrived for ``quiet`` seconds (at least one)."""
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        texts = fake.sent_texts(openid)
        if texts and len(texts) == last:
            return texts
        last = len(texts)
        time.sleep(quiet)
    raise TimeoutError(f"no settled messages for {openid}: {fake.recorded(touser=openid)}")


def _user_turns(stack, openid: str) -> list[dict]:
    return [e for e in stack.tracker(conversation_id(openid)).get("events", []) if e.get("event") == "user"]


def _expected_parts(rest: list[dict]) -> tuple[list[str], list[str], list[str]]:
    """(texts, citation lines, button titles) of a REST reply."""
    texts = [m["text"] for m in rest if m.get("text")]
    cites = [citation_line(m["custom"]["sources"]) for m in rest if (m.get("custom") or {}).get("sources")]
    titles = [b["title"] for m in rest for b in m.get("buttons") or []]
    return texts, cites, titles


def _assert_renders(answer: str, rest: list[dict]) -> None:
    texts, cites, titles = _expected_parts(rest)
    assert texts and cites, f"the REST answer has no text or no sources: {rest}"
    flat = _squash(answer)
    for part in texts + cites:
        assert _squash(part) in flat, (part, answer)
    numbered = dict((t, n) for n, t in OPTION.findall(answer))
    assert [numbered.get(t) for t in titles] == [str(i) for i in range(1, len(titles) + 1)], (titles, answer)


def _options(text: str) -> dict[str, str]:
    return {title.strip(): n for n, title in OPTION.findall(text)}


# =================================================================================================
# Pure pieces (standard library only)
# =================================================================================================


@pytest.mark.parametrize(
    "typed, number",
    [
        ("1", "1"),
        (" 2 ", "2"),
        ("１", "1"),
        ("回复 3", "3"),
        ("回复3", "3"),
        ("3。", "3"),
        ("第2个", "2"),
        ("02", "2"),
        ("1 2", None),
        ("一", None),
        ("123", None),
        ("1号楼漏水", None),
        ("", None),
    ],
)
def test_typed_number(typed, number):
    assert typed_number(typed) == number


def test_buttons_become_numbered_lines_and_links_stay_links():
    lines, options = numbered_lines(
        [
            {"title": "办理材料", "payload": "/ask_how_to_apply"},
            {"title": "  ", "payload": "/x"},  # no title: not shown
            {"title": "在线办理", "url": "https://gov.example.cn"},
            {"title": "哪个部门\n负责"},  # no payload: the title is sent, as Rasa does
        ],
        start=3,
    )
    assert lines == ["回复 3 办理材料", "在线办理：https://gov.example.cn", "回复 4 哪个部门 负责"]
    assert options == {"3": "/ask_how_to_apply", "4": "哪个部门\n负责"}


def test_choices_are_per_sender_replaced_and_bounded():
    choices = NumberedChoices(max_size=2)
    choices.remember("a", {"1": "/affirm", "2": "/deny"})
    choices.remember("b", {"1": "/greet"})
    assert choices.payload("a", "２") == "/deny" and choices.payload("b", "1") == "/greet"
    assert choices.payload("a", "3") is None and choices.payload("c", "1") is None
    choices.remember("a", {})  # a reply without buttons: the old numbers mean nothing any more
    assert choices.payload("a", "1") is None
    choices.remember("c", {"1": "/x"})
    choices.remember("d", {"1": "/y"})
    assert choices.payload("b", "1") is None  # the oldest sender was forgotten


def test_config_from_the_environment(monkeypatch):
    for var in (
        "WECHAT_APP_ID",
        "WECHAT_TOKEN",
        "WECHAT_ENCODING_AES_KEY",
        "WECHAT_API_BASE_URL",
        "WECHAT_PASSIVE_BUDGET",
        "WECHAT_MAX_TEXT_BYTES",
        "WECHAT_MENU",
    ):
        monkeypatch.delenv(var, raising=False)
    cfg = WeChatConfig.load({})
    assert not cfg.enabled and not cfg.safe_mode and cfg.api_base_url == "https://api.weixin.qq.com"
    assert cfg.passive_budget == 4.0 and cfg.max_text_bytes == 2048
    monkeypatch.setenv("WECHAT_APP_ID", APP_ID)
    monkeypatch.setenv("WECHAT_TOKEN", TOKEN)
    monkeypatch.setenv("WECHAT_ENCODING_AES_KEY", new_aes_key())
    monkeypatch.setenv("WECHAT_API_BASE_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("WECHAT_MAX_TEXT_BYTES", "99999")
    monkeypatch.setenv("WECHAT_PASSIVE_BUDGET", "many")
    cfg = WeChatConfig.load({"menu": MENU})
    assert cfg.enabled and cfg.safe_mode and cfg.api_base_url == "http://127.0.0.1:9"
    assert cfg.max_text_bytes == 2048 and cfg.passive_budget == 4.0 and "/start_consultation" in cfg.menu


def test_inbox_reads_the_delivery_path_from_rasas_answer():
    from bot.consultations.notify import delivery_of

    def answer(*messages):
        return httpx.Response(200, json={"tracker": {}, "messages": list(messages)})

    assert delivery_of(answer({"text": "a", "delivered_via": "customer_service"})) == (None, "customer_service")
    assert delivery_of(
        answer({"text": "a", "delivered_via": "customer_service"}, {"text": "b", "delivered_via": "template"})
    ) == (None, "template")
    error, via = delivery_of(answer({"text": "a", "delivered_via": "failed", "error": "rate limit reached (45009)"}))
    assert via is None and "45009" in error
    assert delivery_of(answer({"text": "a"})) == (None, None)  # other channels do not say
    assert delivery_of(httpx.Response(200, text="not json")) == (None, None)


def test_inbox_stores_and_shows_how_each_push_reached_the_resident(tmp_path):
    from fastapi.testclient import TestClient

    from bot.inbox.app import create_app
    from tests.inbox_support import PASSWORD, login, make_env

    rasa = FakeRasa(
        answers=(
            [{"text": "进展", "delivered_via": "customer_service"}],
            [
                {
                    "text": "进展",
                    "delivered_via": "failed",
                    "error": "outside the 48-hour customer-service window (45015)",
                }
            ],
            [{"text": "进展", "delivered_via": "template"}],
        )
    ).start()
    try:
        env = make_env(tmp_path, rasa_url=rasa.url)
        svc = env.service
        rec = svc.submit(
            "wechat", "oWxInboxTest0001", "m-wx-1", "xingfu", "楼道灯坏了，晚上很黑", category="public-affairs"
        )
        svc.change_status(rec.tracking_no, "accepted", "alice", "明天来修")
        assert svc.delivery.deliver_pending().delivered == 1
        svc.change_status(rec.tracking_no, "deliberating", "alice", "周二议事")
        assert svc.delivery.deliver_pending().retry == 1  # Rasa accepted it, WeChat did not deliver it: try again
        with TestClient(create_app(env.settings, svc, push_interval=0)) as client:
            assert login(client, "root", PASSWORD["root"]).status_code == 200
            page = client.get(f"/consultations/{rec.tracking_no}").text
            assert "微信客服消息" in page and "已尝试 1 次" in page
            svc.delivery.deliverer(backoff_seconds=0).retry_failed()
            assert svc.delivery.deliver_pending().delivered == 1
            page = client.get(f"/consultations/{rec.tracking_no}").text
        assert "微信客服消息" in page and "微信模板消息" in page and "已尝试" not in page
        assert [p.delivered_via for p in svc.pushes(rec.tracking_no)] == ["customer_service", "template"]
    finally:
        rasa.close()


# =================================================================================================
# Plaintext mode: passive replies, menu, numbered options, consultations and status pushes
# =================================================================================================


@pytest.fixture(scope="class")
def plain(tmp_path_factory):
    from tests.stack import running_stack

    db_url = f"sqlite:///{tmp_path_factory.mktemp('wechat') / 'linli.db'}"
    with FakeWeChat() as fake:
        env = {
            "WECHAT_APP_ID": APP_ID,
            "WECHAT_APP_SECRET": APP_SECRET,
            "WECHAT_TOKEN": TOKEN,
            "WECHAT_API_BASE_URL": fake.base_url,
            "WECHAT_PASSIVE_BUDGET": "30",
            "WECHAT_TEMPLATE_ID": TEMPLATE,
            "WECHAT_TEMPLATE_URL": "https://linli.example.cn/status",
            "LINLI_DATABASE_URL": db_url,
        }
        creds = {"connectors.rest.RestInput": None, "connectors.wechat.WeChatInput": {"menu": MENU}}
        with running_stack(credentials=creds, extra_env=env) as stack:
            stack.warm_up(QUESTION)
            wechat = WeChatCallbacks(f"{stack.rasa_url}/webhooks/wechat/webhook", TOKEN)
            try:
                yield stack, fake, wechat, db_url
            finally:
                wechat.close()


@pytest.mark.e2e
class TestPlaintext:
    def say(self, plain, openid: str, text: str) -> str:
        """One message; its passive reply (the budget is long enough for every single-message answer)."""
        stack, fake, wechat, _ = plain
        before = len(fake.sent_texts(openid))
        reply = wechat.reply(wechat.post(wechat.text(openid, text)))
        if reply is None:  # a reply longer than one WeChat message comes through the customer-service API
            texts = _settled(fake, openid)[before:]
            assert len(texts) >= 2, texts
            return "\n".join(texts)
        assert reply["MsgType"] == "text" and reply["ToUserName"] == openid and reply["FromUserName"].startswith("gh_")
        return reply["Content"]

    def test_url_verification(self, plain):
        stack, fake, wechat, _ = plain
        r = wechat.verify_url("echo-9f8e7d")
        assert r.status_code == 200 and r.text == "echo-9f8e7d"
        assert wechat.verify_url("echo", signature="0" * 40).status_code == 403
        assert wechat.verify_url("echo", timestamp=str(int(time.time()) - 3 * 24 * 3600)).status_code == 403  # replayed
        r = httpx.get(wechat.url, params={"echostr": "x"})
        assert r.status_code == 400 and "Traceback" not in r.text
        assert httpx.get(f"{stack.rasa_url}/webhooks/wechat/", timeout=5).json()["mode"] == "plaintext"

    def test_menu_is_created_with_click_payloads(self, plain):
        stack, fake, wechat, _ = plain
        created = fake.wait_for("/cgi-bin/menu/create")
        assert created[0]["body"]["button"] == [{"type": "click", "name": m["name"], "key": m["payload"]} for m in MENU]

    def test_question_is_answered_passively_with_its_citation(self, plain):
        stack, fake, wechat, _ = plain
        openid = _openid()
        rest = stack.rest(f"rest-{openid}", QUESTION)
        reply = wechat.reply(wechat.post(wechat.text(openid, QUESTION)))
        texts, cites, titles = _expected_parts(rest)
        if len("\n\n".join(texts + cites + titles).encode("utf-8")) < 1800:
            assert reply is not None, "an answer that fits one WeChat message comes back passively"
            assert fake.recorded(CUSTOM_SEND, openid) == []
        answer = reply["Content"] if reply else "\n".join(_settled(fake, openid))
        _assert_renders(answer, rest)
        assert "📖 出处" in answer

    def test_retried_message_is_answered_once(self, plain):
        stack, fake, wechat, _ = plain
        openid = _openid()
        message = wechat.text(openid, "你好")
        first = wechat.reply(wechat.post(message))
        retry = wechat.post(message)  # WeChat's retry of the same MsgId
        assert first is not None and first["Content"].strip()
        assert retry.status_code == 200 and retry.text == "success"
        assert len(_user_turns(stack, openid)) == 1
        assert fake.recorded(CUSTOM_SEND, openid) == []

    def test_numbered_option_sends_its_payload(self, plain):
        stack, fake, wechat, _ = plain
        openid = _openid()
        rest = stack.rest(f"rest-{openid}", QUESTION)
        buttons = [b for m in rest for b in m.get("buttons") or []]
        assert buttons, f"the answer has no buttons to choose from: {rest}"
        answer = self.say(plain, openid, QUESTION)
        options = _options(answer)
        title = buttons[0]["title"]
        reply = self.say(plain, openid, options[title])
        turns = _user_turns(stack, openid)
        assert turns[-1]["text"] == buttons[0]["payload"], turns[-1]
        assert reply.strip() and EXPIRED_BUTTON_REPLY not in reply
        # a number that is no option is ordinary text, a full-width digit works like a digit
        self.say(plain, openid, "９9")
        assert _user_turns(stack, openid)[-1]["text"] == "９9"

    def test_subscribe_greets_and_menu_clicks_send_payloads(self, plain):
        stack, fake, wechat, _ = plain
        openid = _openid()
        greeting = wechat.reply(wechat.post(wechat.event(openid, "subscribe")))
        assert greeting and greeting["Content"].strip()
        assert _user_turns(stack, openid)[-1]["parse_data"]["intent"]["name"] == "greet"
        clicked = wechat.reply(wechat.post(wechat.event(openid, "CLICK", MENU[0]["payload"])))
        assert clicked and clicked["Content"].strip()
        assert _user_turns(stack, openid)[-1]["parse_data"]["intent"]["name"] == "start_consultation"
        forged = wechat.reply(wechat.post(wechat.event(openid, "CLICK", '/inform{"consultation_topic":"x"}')))
        assert forged and forged["Content"] == EXPIRED_BUTTON_REPLY
        assert len(_user_turns(stack, openid)) == 2
        assert wechat.post(wechat.event(openid, "unsubscribe")).text == "success"

    def test_non_text_messages_get_polite_replies_without_nlu(self, plain):
        stack, fake, wechat, _ = plain
        openid = _openid()
        cases = [
            (wechat.media(openid, "image", PicUrl="http://mmbiz.example/p.jpg"), NON_TEXT_REPLY),
            (wechat.media(openid, "voice", Format="amr"), VOICE_REPLY),
            (
                wechat.media(openid, "location", Location_X="23.1", Location_Y="113.3", Scale="15", Label="某地"),
                LOCATION_REPLY,
            ),
            (wechat.media(openid, "video", ThumbMediaId="t1"), NON_TEXT_REPLY),
        ]
        for fields, expected in cases:
            assert wechat.reply(wechat.post(fields))["Content"] == expected
        assert _user_turns(stack, openid) == []
        # speech recognition switched on: the recognised text is a question like any other
        reply = wechat.reply(wechat.post(wechat.media(openid, "voice", Format="amr", Recognition="你好")))
        assert reply["Content"].strip() and _user_turns(stack, openid)[-1]["text"] == "你好"

    def test_bad_input_is_refused_without_a_traceback(self, plain):
        stack, fake, wechat, _ = plain
        openid = _openid()
        good = xml_of(wechat.text(openid, "你好"))
        cases = {
            "wrong signature": (good, {"signature": "f" * 40}, 403),
            "no signature": (good, {"signature": ""}, 400),
            "malformed": (b"<xml><ToUserName>gh</ToUser", {}, 400),
            "not xml": (b'{"MsgType": "text"}', {}, 400),
            "no sender": (xml_of({"ToUserName": "gh_x", "MsgType": "text", "Content": "hi", "MsgId": 1}), {}, 400),
            "forged sender": (xml_of({**wechat.text("../../etc", "hi")}), {}, 400),
            "xxe": (
                b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                b"<xml><ToUserName>gh_x</ToUserName><FromUserName>"
                + openid.encode()
                + b"</FromUserName><MsgType>text</MsgType><Content>&x;</Content><MsgId>7</MsgId></xml>",
                {},
                400,
            ),
            "billion laughs": (
                b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;&a;&a;">'
                b'<!ENTITY c "&b;&b;&b;&b;&b;&b;">]><xml><Content>&c;</Content></xml>',
                {},
                400,
            ),
            "huge": (b"<xml><Content>" + b"x" * 200_000 + b"</Content></xml>", {}, 413),
        }
        for name, (body, override, status) in cases.items():
            r = wechat.post_raw(body, **override)
            assert r.status_code == status, (name, r.status_code, r.text)
            assert "Traceback" not in r.text and "root:" not in r.text, name
        assert _user_turns(stack, openid) == []
        assert wechat.reply(wechat.post(wechat.text(openid, "你好")))["Content"].strip()  # still serving

    def test_expired_access_token_is_refreshed(self, plain):
        stack, fake, wechat, _ = plain
        openid = _openid()
        wechat.reply(wechat.post(wechat.text(openid, "你好")))
        stack.trigger_intent(
            conversation_id(openid), "greet", output_channel="wechat"
        )  # a push: customer-service API, new token
        sent_before = len(fake.wait_for(CUSTOM_SEND, openid))
        tokens_before = len(fake.recorded("/cgi-bin/token"))
        fake.expire_tokens()
        pushed = stack.trigger_intent(conversation_id(openid), "greet", output_channel="wechat")
        assert {m.get("delivered_via") for m in pushed["messages"] if m.get("text")} == {"customer_service"}
        refused = fake.recorded(CUSTOM_SEND, openid, ok=False)
        assert [c["errcode"] for c in refused] == [42001]
        assert len(fake.recorded("/cgi-bin/token")) == tokens_before + 1  # once, not once per message
        sent = fake.recorded(CUSTOM_SEND, openid, ok=True)[sent_before:]
        assert sent and all(c["params"]["access_token"] != refused[0]["params"]["access_token"] for c in sent)
        assert b"\\u" not in sent[-1]["raw"]  # UTF-8 JSON: WeChat would show \u escapes literally

    def test_consultation_is_filed_and_status_pushes_reach_the_resident(self, plain, tmp_path):
        from fastapi.testclient import TestClient

        from bot.consultations import ConsultationService
        from bot.inbox.app import create_app
        from bot.settings import Settings
        from tests.inbox_support import login

        stack, fake, wechat, db_url = plain
        openid = _openid()
        topic = "村里的账目好久没公开了，想反映一下"
        r = self.say(plain, openid, topic)
        r = self.say(plain, openid, _options(r)["柳树村"])
        r = self.say(plain, openid, _options(r)["匿名提交"])
        r = self.say(plain, openid, _options(r)["确认提交"])
        number = TRACKING.search(r).group(0)
        service = ConsultationService(db_url)
        record = service.get(number)
        assert (record.channel, record.sender_id, record.text) == ("wechat", conversation_id(openid), topic)
        r = self.say(plain, openid, f"查一下{number}")
        assert "已提交" in r

        deliver = service.delivery.deliverer(rasa_url=stack.rasa_url, token=stack.token, backoff_seconds=0)
        # inside the 48-hour window: a customer-service message
        service.change_status(number, "accepted", "li", "下周一开会商量")
        assert deliver.deliver_pending().delivered == 1
        text = fake.sent_texts(openid)[-1]
        assert number in text and "已受理" in text and "下周一开会商量" in text
        # outside it (WeChat answers 45015): the subscribed template message
        fake.close_window(openid)
        service.change_status(number, "deliberating", "li", "周二晚上议事会")
        assert deliver.deliver_pending().delivered == 1
        template = fake.recorded("/cgi-bin/message/template/send", openid, ok=True)[-1]["body"]
        assert template["template_id"] == TEMPLATE and template["url"] == "https://linli.example.cn/status"
        assert number in template["data"]["content"]["value"]
        assert [p.delivered_via for p in service.pushes(number)] == ["customer_service", "template"]

        # the committee inbox shows which way each push went
        settings = Settings(var_dir=tmp_path, database_url=db_url, rasa_url=stack.rasa_url, rasa_token=stack.token)
        service.accounts.create_user("wx-root", "wx-root-pass-123", None, role="admin")
        with TestClient(create_app(settings, service, push_interval=0)) as client:
            assert login(client, "wx-root", "wx-root-pass-123").status_code == 200
            page = client.get(f"/consultations/{number}").text
        assert "微信客服消息" in page and "微信模板消息" in page

        # no template fallback for other errors: the push stays queued and is retried
        fake.fail(CUSTOM_SEND, 45009)  # daily quota
        service.change_status(number, "resolved", "li", "已公开账目")
        stats = deliver.deliver_pending()
        assert stats.retry == 1 and stats.delivered == 0
        assert deliver.deliver_pending().delivered == 1
        assert [p.delivered_via for p in service.pushes(number)][-1] == "template"


# =================================================================================================
# Safe mode (AES): every Rasa answer after "success" through the customer-service API, Redis memory
# =================================================================================================


@pytest.fixture(scope="class")
def safe():
    from tests.stack import running_stack

    aes_key = new_aes_key()
    with FakeWeChat(token_lifetime=10) as fake:  # the channel renews a token after 5 s, before WeChat expires it
        env = {
            "WECHAT_APP_ID": APP_ID,
            "WECHAT_APP_SECRET": APP_SECRET,
            "WECHAT_TOKEN": TOKEN,
            "WECHAT_ENCODING_AES_KEY": aes_key,
            "WECHAT_API_BASE_URL": fake.base_url,
            "WECHAT_PASSIVE_BUDGET": "0",
            "WECHAT_MAX_TEXT_BYTES": "300",  # lowered so that answers are split too
            "LINLI_REDIS_HOST": "127.0.0.1",
            "LINLI_REDIS_KEY_PREFIX": f"wxtest{secrets.token_hex(4)}",
        }
        creds = {"connectors.rest.RestInput": None, "connectors.wechat.WeChatInput": None}
        with running_stack(credentials=creds, extra_env=env) as stack:
            stack.warm_up(QUESTION)
            wechat = WeChatCallbacks(f"{stack.rasa_url}/webhooks/wechat/webhook", TOKEN, encoding_aes_key=aes_key)
            try:
                yield stack, fake, wechat
            finally:
                wechat.close()


@pytest.mark.e2e
class TestSafeMode:
    def test_url_verification(self, safe):
        stack, fake, wechat = safe
        assert wechat.verify_url("echo-aes").text == "echo-aes"
        assert httpx.get(f"{stack.rasa_url}/webhooks/wechat/", timeout=5).json()["mode"] == "safe"

    def test_slow_answer_comes_after_success_through_the_customer_service_api(self, safe):
        stack, fake, wechat = safe
        openid = _openid()
        rest = stack.rest(f"rest-{openid}", QUESTION)
        r = wechat.post(wechat.text(openid, QUESTION))
        assert r.status_code == 200 and r.text == "success"
        texts = _settled(fake, openid)
        assert all(len(t.encode("utf-8")) <= 300 for t in texts) and len(texts) >= 2
        _assert_renders("\n".join(texts), rest)

    def test_passive_reply_is_encrypted(self, safe):
        stack, fake, wechat = safe
        openid = _openid()
        r = wechat.post(wechat.media(openid, "image", PicUrl="http://mmbiz.example/p.jpg"))
        assert "<Encrypt>" in r.text and NON_TEXT_REPLY not in r.text
        assert wechat.reply(r)["Content"] == NON_TEXT_REPLY  # decrypts with WeChat's algorithm, signature checked

    def test_retried_message_is_answered_once(self, safe):
        stack, fake, wechat = safe
        openid = _openid()
        message = wechat.text(openid, "你好")
        assert wechat.post(message).text == "success"
        assert wechat.post(message).text == "success"  # the retry, recognised through Redis
        once = _settled(fake, openid)
        assert len(_user_turns(stack, openid)) == 1
        assert len(once) == len(fake.sent_texts(openid))

    def test_numbered_option_is_remembered_in_redis(self, safe):
        stack, fake, wechat = safe
        openid = _openid()
        rest = stack.rest(f"rest-{openid}", QUESTION)
        wechat.post(wechat.text(openid, QUESTION))
        options = _options("\n".join(_settled(fake, openid)))
        assert options, "no numbered options in the answer"
        wechat.post(wechat.text(openid, "1"))
        deadline = time.monotonic() + 60
        while len(_user_turns(stack, openid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        first = next(b for m in rest for b in m.get("buttons") or [])
        assert _user_turns(stack, openid)[-1]["text"] == first["payload"]

    def test_wrong_message_signature_or_plaintext_is_refused(self, safe):
        stack, fake, wechat = safe
        openid = _openid()
        assert wechat.post(wechat.text(openid, "你好"), msg_signature="0" * 40).status_code == 403
        assert wechat.post(wechat.text(openid, "你好"), signature="0" * 40).status_code == 403
        plain_body = xml_of(wechat.text(openid, "你好"))
        assert wechat.post_raw(plain_body).status_code == 400  # safe mode never accepts plaintext
        ts, nonce = str(int(time.time())), "42"
        garbage = "QUJD" * 11
        body = xml_of({"ToUserName": "gh_x", "Encrypt": garbage})
        r = wechat.post_raw(
            body,
            {
                "signature": signature(TOKEN, ts, nonce),
                "timestamp": ts,
                "nonce": nonce,
                "encrypt_type": "aes",
                "msg_signature": signature(TOKEN, ts, nonce, garbage),
            },
        )
        assert r.status_code == 400 and "Traceback" not in r.text
        time.sleep(1)
        assert _user_turns(stack, openid) == [] and fake.recorded(touser=openid) == []

    def test_access_token_is_renewed_before_it_expires(self, safe):
        stack, fake, wechat = safe
        openid = _openid()
        fetched = len(fake.recorded("/cgi-bin/token"))
        stack.trigger_intent(conversation_id(openid), "greet", output_channel="wechat")
        time.sleep(5.5)  # past the channel's renewal point (half of the 10 s lifetime)
        pushed = stack.trigger_intent(conversation_id(openid), "greet", output_channel="wechat")
        assert {m.get("delivered_via") for m in pushed["messages"] if m.get("text")} == {"customer_service"}
        assert len(fake.recorded("/cgi-bin/token")) > fetched
        assert [
            c for c in fake.recorded(CUSTOM_SEND) if c["errcode"] in (40001, 42001)
        ] == []  # never sent a stale token
