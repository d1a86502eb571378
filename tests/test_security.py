"""Security evidence: no personal data in any log, Rasa's HTTP API only with its token, no secrets in the tree,
and the trust boundaries of issue 11 (who a resident is, what a message may claim, what each server accepts).

The committee inbox's own authorization matrix is ``tests/test_inbox_authz.py``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.stack import APP_PYTHON, REPO, _stop, _wait, free_port, running_stack

NAME, PHONE = "王建国", "13912345678"
TRACKING = re.compile(r"YS-\d{8}-\d{4,}")


@pytest.fixture(scope="module")
def system(shared_stack):
    """The shared action server + Rasa, and a committee inbox on the same SQLite store, every process logging to a file."""
    stack, work = shared_stack.stack, shared_stack.var_dir
    env = dict(os.environ) | {
        "LINLI_DATABASE_URL": shared_stack.db_url,
        "LINLI_VAR_DIR": str(work),
        "LINLI_LOG_LEVEL": "INFO",
        "LINLI_RASA_URL": stack.rasa_url,
        "LINLI_RASA_TOKEN": stack.token,
        "LINLI_INBOX_SECRET_KEY": secrets.token_hex(32),
        "LINLI_NOTIFY_BACKOFF_SECONDS": "0.5",
    }
    password = secrets.token_urlsafe(12)
    add = subprocess.run(
        [str(APP_PYTHON), "-m", "bot", "inbox", "adduser", "sec-admin", "--admin", "--password-stdin"],
        input=password + "\n",
        text=True,
        capture_output=True,
        cwd=REPO,
        env=env,
        timeout=300,
    )
    assert add.returncode == 0, add.stderr
    port = free_port()
    inbox_log = work / "inbox-security.log"
    with open(inbox_log, "wb") as log:
        inbox = subprocess.Popen(
            [str(APP_PYTHON), "-m", "bot", "inbox", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait(f"http://127.0.0.1:{port}/healthz", inbox, inbox_log, time.monotonic() + 180)
        stack.logs["inbox"] = inbox_log
        yield stack, f"http://127.0.0.1:{port}", password
    finally:
        stack.logs.pop("inbox", None)
        _stop(inbox)


# ---- Rasa's HTTP API -----------------------------------------------------------------------------------

API_CALLS = [
    ("GET", "/conversations/sec-x/tracker", None),
    ("GET", "/conversations/sec-x/story", None),
    ("POST", "/conversations/sec-x/trigger_intent", {"name": "greet"}),
    ("POST", "/conversations/sec-x/messages", {"text": "你好", "sender": "user"}),
    ("POST", "/conversations/sec-x/tracker/events", [{"event": "slot", "name": "tracking_number", "value": "x"}]),
    ("POST", "/model/parse", {"text": "你好"}),
    ("GET", "/status", None),
    ("GET", "/domain", None),
]


@pytest.mark.e2e
@pytest.mark.parametrize("method,path,body", API_CALLS, ids=[f"{m} {p}" for m, p, _ in API_CALLS])
def test_rasa_http_api_only_with_its_token(system, method, path, body):
    stack = system[0]
    url = stack.rasa_url + path
    with httpx.Client(timeout=60) as c:
        anonymous = c.request(method, url, json=body)
        wrong = c.request(method, url, json=body, params={"token": "not-" + stack.token})
        right = c.request(method, url, json=body, params={"token": stack.token}, headers={"Accept": "application/json"})
    assert anonymous.status_code == 401, anonymous.text[:200]
    assert wrong.status_code in (401, 403), wrong.text[:200]
    assert right.status_code == 200, right.text[:200]


@pytest.mark.e2e
def test_public_rasa_routes_leak_nothing(system):
    """Only the health line and the channel webhooks answer without a token."""
    stack = system[0]
    r = httpx.get(stack.rasa_url + "/", timeout=30)
    assert r.status_code == 200 and "Hello from Rasa" in r.text
    assert stack.token not in r.text


# ---- personal data in logs -----------------------------------------------------------------------------


def _grep_personal_data(logs: dict[str, Path]) -> list[str]:
    needles = [PHONE, "139 1234 5678", "139-1234-5678", NAME, NAME[1:]]
    hits = []
    for name, path in logs.items():
        text = path.read_text(errors="replace") if path.exists() else ""
        for ln in text.splitlines():
            if any(n in ln for n in needles):
                hits.append(f"{name}: {ln[:300]}")
    return hits


@pytest.mark.e2e
def test_contact_data_never_reaches_any_log(system):
    stack, inbox_url, password = system
    sender = f"sec-{secrets.token_hex(4)}"
    # a question that carries contact data (retrieval + feedback paths), then a consultation with contact
    stack.rest(sender, f"我叫{NAME}，电话{PHONE}，想问问老年人助餐怎么申请")
    steps = [
        "我要发起议事协商",
        f"楼道灯坏了一个月没人修，晚上很黑，请联系{NAME}，电话{PHONE}",
        '/inform{"community":"xingfu"}',
        '/inform{"contact_choice":"contact"}',
        "/affirm",
        NAME,
        PHONE,
        "/affirm",
    ]
    replies = [stack.rest(sender, s) for s in steps]
    told = TRACKING.findall(" ".join(m.get("text", "") for m in replies[-1]))
    assert told, f"no tracking number after the form: {replies}"
    tn = told[0]
    assert PHONE not in " ".join(m.get("text", "") for r in replies for m in r), (
        "the summary must show the phone masked"
    )

    with httpx.Client(base_url=inbox_url, timeout=60, follow_redirects=False) as c:
        page = c.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        login = c.post("/login", data={"username": "sec-admin", "password": password, "csrf_token": csrf, "next": "/"})
        assert login.status_code in (302, 303), login.text[:300]
        # a member looks the resident up by phone and by name, opens the item, accepts it with a note naming them
        for q in (PHONE, NAME):
            found = c.get("/consultations", params={"q": q})
            assert found.status_code == 200 and tn in found.text
        detail = c.get(f"/consultations/{tn}")
        assert detail.status_code == 200
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', detail.text).group(1)
        changed = c.post(
            f"/consultations/{tn}/status",
            data={"to_status": "accepted", "note": f"已电话联系{NAME}（{PHONE}）", "csrf_token": csrf},
        )
        assert changed.status_code in (302, 303), changed.text[:300]
    # the status push reaches the resident's conversation through Rasa's API
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        events = stack.tracker(stack.rest_id(sender))["events"]
        if any(
            e.get("event") == "user"
            and (e.get("parse_data") or {}).get("intent", {}).get("name") == "EXTERNAL_consultation_status"
            for e in events
        ):
            break
        time.sleep(1)
    else:
        pytest.fail("the status push never reached Rasa")
    time.sleep(1)  # let the processes flush their last log lines
    hits = _grep_personal_data(stack.logs)
    assert not hits, "personal data in logs:\n" + "\n".join(hits[:20])


# ---- secrets only from the environment -------------------------------------------------------------------

SECRET_PATTERNS = [
    ("telegram bot token", re.compile(r"\b\d{8,10}:[A-Za-z0-9_-]{35}\b")),
    ("private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("AWS key", re.compile(r"\bAKIA[0-9A-Z]{16}\b")),
    ("GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36}\b")),
    ("URL with password", re.compile(r"\b[a-z+]+://[^/\s:@'\"]+:[^@\s'\"${}]{3,}@")),
    (
        "assigned secret",
        re.compile(
            r"(?i)\b(password|passwd|secret|secret_key|api_key|auth_token|token)\b\s*[:=]\s*['\"][^'\"\s${}]{8,}['\"]"
        ),
    ),
    ("rasa --auth-token literal", re.compile(r"--auth-token[ =](?![\"']?\$)[A-Za-z0-9_-]{8,}")),
]
#: Test fixtures may hold throwaway credentials; production code and configuration may not.
SCANNED = re.compile(
    r"^(bot|actions|connectors|scripts|deploy|docs|bench)/|^[^/]+\.(ya?ml|toml|cfg|ini|sh|md|env)$|^Makefile$"
)


def _tree_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [f for f in out.splitlines() if (REPO / f).is_file()]


def test_no_hard_coded_secrets_in_the_tree():
    findings = []
    for rel in _tree_files():
        if not SCANNED.search(rel) or rel.endswith((".lock", ".png", ".ico", ".woff2")):
            continue
        text = (REPO / rel).read_text(errors="ignore")
        for what, pattern in SECRET_PATTERNS:
            for m in pattern.finditer(text):
                findings.append(f"{rel}: {what}: {m.group(0)[:60]}")
    assert not findings, "\n".join(findings)


def test_runtime_secrets_are_not_tracked():
    files = _tree_files()
    assert not [
        f for f in files if f == ".env" or f.startswith("var/") or f.endswith(("rasa_token", ".pem", ".key"))
    ], files


def test_yaml_secrets_come_from_the_environment():
    """Every token/secret/password key in the deployment YAML is empty or a ${VAR} reference."""
    import yaml

    bad = []
    for rel in ("credentials.yml", "endpoints.yml", "deploy/endpoints.scaleout.yml"):
        path = REPO / rel
        if not path.exists():
            continue

        def walk(node, where, rel=rel):
            if isinstance(node, dict):
                for k, v in node.items():
                    if re.search(r"(?i)token|secret|password|api_key", str(k)) and v not in (None, ""):
                        if not (isinstance(v, str) and re.fullmatch(r"\$\{[A-Z0-9_]+\}", v.strip())):
                            bad.append(f"{rel}: {where}{k} = {v!r}")
                    walk(v, f"{where}{k}.")
            elif isinstance(node, list):
                for i, v in enumerate(node):
                    walk(v, f"{where}{i}.")

        walk(yaml.safe_load(path.read_text()) or {}, "")
    assert not bad, bad


def test_settings_secrets_default_to_empty(monkeypatch):
    from bot.settings import Settings

    for var in ("LINLI_RASA_TOKEN", "LINLI_INBOX_SECRET_KEY", "LINLI_ACTION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    s = Settings(_env_file=None)
    for field in ("rasa_token", "inbox_secret_key", "action_token"):
        assert getattr(s, field) == "", field


# ---- issue 11: trust boundaries ------------------------------------------------------------------------

FORGED_NOTICE = "有新进展"  # the wording of ActionNotifyConsultationStatus's push
REST = "/webhooks/rest/webhook"


def _service(stack):
    from bot.consultations import ConsultationService
    from bot.settings import Settings

    url = stack.env["LINLI_DATABASE_URL"]  # the database the action server writes to
    return ConsultationService(url, settings=Settings(_env_file=None, database_url=url), use_embedding=False)


def _texts(messages) -> str:
    return " ".join(str(m.get("text") or "") for m in messages)


def _post(stack, path: str, body) -> httpx.Response:
    return stack.client.post(stack.rasa_url + path, json=body)


@pytest.fixture(scope="module")
def victims(system):
    """Consultations of a Telegram resident and of an Open311 integrator, filed in the shared database."""
    stack = system[0]
    svc = _service(stack)
    chat = str(800_000_000 + secrets.randbelow(10_000_000))
    telegram = svc.submit("telegram", chat, "m1", "xingfu", "楼道灯坏了一个月没人修")
    open311 = svc.submit("open311", "acme-city", "m2", "xingfu", "小区门口的路灯坏了")
    return svc, chat, telegram.tracking_no, open311.tracking_no


@pytest.mark.e2e
def test_a_rest_caller_cannot_read_or_withdraw_another_channels_consultation(system, victims):
    """Item 1: identity is (channel, sender). A REST caller naming a Telegram chat id or the Open311
    integrator as its sender finds nothing and withdraws nothing."""
    stack = system[0]
    svc, chat, tg_no, o311_no = victims
    for sender, number in ((chat, tg_no), ("acme-city", o311_no)):
        status = stack.rest(sender, f'/check_consultation_status{{"tracking_number":"{number}"}}')
        assert "没有查到" in _texts(status) and "楼道灯" not in _texts(status), status
        withdrawn = stack.rest(sender, f'/withdraw_consultation{{"tracking_number":"{number}"}}')
        assert "已撤回" not in _texts(withdrawn), withdrawn
        assert svc.get(number).status == "submitted"
    # the REST caller's conversation is its own namespace, not the Telegram chat's tracker
    assert stack.tracker(stack.rest_id(chat))["events"]
    assert not [e for e in stack.tracker(chat)["events"] if e.get("event") == "user"]


def test_the_service_matches_the_channel_and_sender_pair(system, victims):
    from bot.consultations import NotFoundError

    svc, chat, tg_no, o311_no = victims
    assert svc.status_for_resident(tg_no, "telegram", chat).tracking_no == tg_no
    for channel, sender, number in (
        ("rest", chat, tg_no),
        ("webchat", chat, tg_no),
        ("open311", "acme-city", o311_no),
        ("rest", "acme-city", o311_no),
    ):
        with pytest.raises(NotFoundError):
            svc.status_for_resident(number, channel, sender)
        with pytest.raises(NotFoundError):
            svc.withdraw(number, channel, sender)
    assert svc.get(o311_no).status == "submitted"


@pytest.mark.e2e
def test_web_chat_ids_cannot_be_another_channels_conversation(system):
    """A numeric id (a Telegram chat) or a REST conversation id is refused by the web chat."""
    stack = system[0]
    for sender in ("800000001", "-100123", "rest:local:alice"):
        r = _post(stack, "/webhooks/webchat/webhook", {"sender": sender, "message": "你好"})
        assert r.status_code == 400 and "会话编号" in r.json()["error"], (sender, r.text)


@pytest.mark.e2e
def test_rest_channel_and_metadata_cannot_be_claimed_by_the_client(system):
    """Item 3: a client's input_channel is ignored and its metadata lives under metadata.client,
    so is_external=true does not pass the handoff-reply guard."""
    stack = system[0]
    sender = f"meta-{secrets.token_hex(4)}"
    replies = stack.rest(
        sender,
        '/EXTERNAL_handoff_reply{"note":"您的补贴已批准，请转账手续费"}',
        input_channel="telegram",
        metadata={"is_external": True, "channel": "telegram"},
    )
    assert "补贴已批准" not in _texts(replies), replies
    assert replies and all(m.get("recipient_id") == sender for m in replies), replies
    user = [e for e in stack.tracker(stack.rest_id(sender))["events"] if e.get("event") == "user"][-1]
    assert user["input_channel"] == "rest"
    assert "is_external" not in user["metadata"]
    assert {k: user["metadata"].get(k) for k in ("channel", "integrator", "client")} == {
        "channel": "rest",
        "integrator": "local",
        "client": {"is_external": True, "channel": "telegram"},
    }


@pytest.mark.e2e
def test_residents_cannot_inject_official_pushes(system):
    """Item 13: EXTERNAL_ intents typed or sent as payloads on REST and web chat give no fake notice."""
    stack = system[0]
    forged = (
        '/EXTERNAL_consultation_status{"tracking_number":"YS-20260101-0001","status_label":"已办结","note":"请加微信"}'
    )
    rest = stack.rest(f"inj-{secrets.token_hex(4)}", forged)
    web = []
    for payload in (True, False):
        r = _post(
            stack,
            "/webhooks/webchat/webhook",
            {"sender": f"web-{secrets.token_hex(6)}", "message": forged, "payload": payload},
        )
        assert r.status_code == 200, r.text
        web += r.json()["messages"]
    typed = _post(
        stack,
        "/webhooks/webchat/webhook",
        {"sender": f"web-{secrets.token_hex(6)}", "message": "EXTERNAL: EXTERNAL_handoff_reply"},
    ).json()["messages"]
    for replies in (rest, web, typed):
        assert FORGED_NOTICE not in _texts(replies) and "请加微信" not in _texts(replies), replies
        assert "社区工作人员回复您" not in _texts(replies), replies
    # the inbox's real push (trigger_intent with the token) still works
    sender = f"push-{secrets.token_hex(4)}"
    stack.rest(sender, "你好")
    pushed = stack.trigger_intent(
        stack.rest_id(sender),
        "EXTERNAL_consultation_status",
        {"tracking_number": "YS-20260101-0001", "status": "accepted", "status_label": "已受理"},
    )
    assert FORGED_NOTICE in _texts(pushed["messages"]), pushed


@pytest.mark.e2e
def test_the_action_server_refuses_a_forged_tracker_without_its_token(system):
    """Item 2: a tracker posted straight to the action server files nothing without the shared token,
    and the server listens on loopback only."""
    stack = system[0]
    svc = _service(stack)
    sender = f"forged-{secrets.token_hex(4)}"
    slots = {
        "consultation_topic": "伪造的议事协商内容",
        "consultation_community": "xingfu",
        "contact_choice": "contact",
        "contact_consent": True,
        "contact_name": "张三",
        "contact_phone": "13800138000",
        "consultation_confirmed": True,
    }
    call = {
        "next_action": "action_submit_consultation",
        "sender_id": sender,
        "version": "3.6.0",
        "tracker": {
            "sender_id": sender,
            "slots": slots,
            "latest_message": {"text": "/affirm", "intent": {"name": "affirm"}},
            "events": [{"event": "user", "text": "/affirm", "input_channel": "telegram", "message_id": "x1"}],
            "latest_input_channel": "telegram",
            "active_loop": {},
            "paused": False,
            "followup_action": None,
            "latest_event_time": 1.0,
            "latest_action_name": "action_listen",
        },
        "domain": {},
    }
    with httpx.Client(timeout=30) as c:
        for headers in ({}, {"Authorization": "Bearer not-" + stack.action_token}):
            r = c.post(f"{stack.action_url}/webhook", json=call, headers=headers)
            assert r.status_code == 401, r.text
        assert c.post(f"{stack.action_url}/webhook", params={"token": "x"}, json=call).status_code == 401
        assert c.get(f"{stack.action_url}/actions").status_code == 401
        assert c.get(f"{stack.action_url}/health").status_code == 200
    assert svc.my_consultations("telegram", sender) == []
    port = int(stack.action_url.rsplit(":", 1)[1])
    listening = [
        ln.split()[1]
        for ln in Path("/proc/net/tcp").read_text().splitlines()[1:]
        + Path("/proc/net/tcp6").read_text().splitlines()[1:]
        if ln.split()[3] == "0A"
    ]
    mine = [a for a in listening if int(a.rsplit(":", 1)[1], 16) == port]
    assert mine and all(a.split(":")[0] in ("0100007F", "00000000000000000000000001000000") for a in mine), mine


@pytest.mark.e2e
def test_bodies_and_metadata_are_capped_with_a_chinese_413_or_400(system):
    """Item 4 and item 10's deep metadata: 413 for big bodies on every chat endpoint, 400 for deep metadata."""
    stack = system[0]
    big = "好" * 30_000  # 90 KB of UTF-8, 180 KB as JSON escapes
    for path, body in (
        (REST, {"sender": "big", "message": big}),
        ("/webhooks/webchat/webhook", {"sender": "web-big", "message": big}),
        ("/webhooks/webchat/updates", {"sender": "web-big", "pad": big}),
    ):
        r = _post(stack, path, body)
        assert r.status_code == 413, (path, r.status_code, r.text[:200])
        assert "请求内容太大" in r.json()["error"]
    deep: dict = {}
    node = deep
    for _ in range(600):
        node["x"] = {}
        node = node["x"]
    r = _post(stack, REST, {"sender": "deep", "message": "你好", "metadata": deep})
    assert r.status_code == 400 and "嵌套太深" in r.json()["error"], r.text[:300]
    wide = _post(stack, REST, {"sender": "wide", "message": "你好", "metadata": {"k": "x" * 8000}})
    assert wide.status_code == 400, wide.text[:300]
    # Sanic's own cap for the whole server (Rasa's API too): 1 MB
    huge = stack.client.post(
        f"{stack.rasa_url}/model/parse", params={"token": stack.token}, content=b'{"text": "' + b"a" * 2_000_000 + b'"}'
    )
    assert huge.status_code == 413
    assert "Traceback" not in stack.log_tail("rasa", 200_000)


@pytest.mark.e2e
def test_slash_text_is_not_logged_verbatim(system):
    """Item 6: "/" + words is not intent syntax; it is read as words, never logged as a failed intent parse."""
    stack = system[0]
    marker = f"{secrets.randbelow(10**6):06d}"
    replies = stack.rest(f"slash-{marker}", f"/请回电 139{marker}00 谢谢")
    assert replies
    user = [e for e in stack.tracker(stack.rest_id(f"slash-{marker}"))["events"] if e.get("event") == "user"][-1]
    assert not user["text"].startswith("/")
    time.sleep(0.5)
    assert f"139{marker}00" not in stack.log_tail("rasa", 500_000)


def test_log_records_are_written_on_one_line():
    """Item 6: a newline in user text cannot forge a log line (action server filter, Rasa launcher)."""
    import io
    import logging

    from actions.serve import OneLine
    from rasa_addons.run import one_line_records

    forged = "你好\n2026-12-01 12:00:00 INFO rasa.core admin logged in"
    log = logging.getLogger("linli.test.oneline")
    log.propagate = False
    previous = logging.getLogRecordFactory()
    outs = []
    try:
        for install in ("filter", "factory"):
            out = io.StringIO()
            handler = logging.StreamHandler(out)
            if install == "filter":
                handler.addFilter(OneLine())
            else:
                one_line_records()
            log.addHandler(handler)
            log.warning("user said %s", forged)
            log.removeHandler(handler)
            outs.append(out.getvalue())
    finally:
        logging.setLogRecordFactory(previous)
    for text in outs:
        assert text.splitlines() == ["user said 你好\\n2026-12-01 12:00:00 INFO rasa.core admin logged in"], text


@pytest.mark.e2e
def test_secrets_are_not_on_any_command_line_and_the_database_is_private(system):
    """Item 15: the Rasa and action tokens travel in the environment; the SQLite store is 0600."""
    stack = system[0]
    tokens = (stack.token, stack.action_token)
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmdline = (d / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            assert not any(t in cmdline for t in tokens), cmdline[:200]
    db = Path(stack.env["LINLI_DATABASE_URL"].removeprefix("sqlite:///"))
    assert db.exists() and (db.stat().st_mode & 0o077) == 0, oct(db.stat().st_mode)


def test_rasa_launcher_refuses_a_token_on_the_command_line_or_an_open_api():
    from rasa_addons.run import rasa_argv

    assert rasa_argv(["run", "--enable-api", "-p", "5005"], "t0k") == [
        "run",
        "--enable-api",
        "-p",
        "5005",
        "--auth-token",
        "t0k",
    ]
    for argv, token in ((["run", "--enable-api", "--auth-token", "x"], "t"), (["run", "--enable-api"], "")):
        with pytest.raises(ValueError):
            rasa_argv(argv, token)


@pytest.mark.e2e
def test_pushes_to_rest_residents_are_recorded_as_not_received(system):
    """Item 17: Rasa accepts a push to a REST conversation, but no one receives it: the row says so."""
    from bot.consultations import notify

    stack = system[0]
    svc = _service(stack)
    sender = f"push17-{secrets.token_hex(4)}"
    stack.rest(sender, "你好")
    rest_item = svc.submit("rest", stack.rest_id(sender), "p1", "xingfu", "垃圾站味道太大")
    svc.change_status(rest_item.tracking_no, "accepted", "sec-admin", "已安排清运")
    stats = notify.Deliverer(svc.Session, stack.rasa_url, stack.token).deliver_pending()
    assert stats.delivered >= 1, stats
    [row] = svc.delivery.outbox(rest_item.tracking_no)
    assert row.state == "not_pushable" and row.state_label == notify.NOT_PUSHABLE == row.last_error, row
    assert not notify.reaches_resident("rest") and notify.reaches_resident("telegram")


# ---- a production-like Rasa: REST keys, tight rates and timeouts, a lock store that is down ----------------

REST_KEY = secrets.token_urlsafe(24)
TG_SECRET = secrets.token_hex(8)


@pytest.fixture(scope="module")
def hardened():
    """REST keys configured (credential required), sender burst 3, a 2 s request deadline, and a Redis lock store
    on a closed port: every turn that reaches Rasa's processing raises, which is what the stream test needs."""
    env = {
        "LINLI_REST_KEYS": f"acme:{REST_KEY}",
        "LINLI_CHAT_SENDER_BURST": "3",
        "LINLI_CHAT_SENDER_PER_MINUTE": "1",
        "LINLI_RASA_REQUEST_TIMEOUT": "2",
        "TELEGRAM_WEBHOOK_SECRET": TG_SECRET,
    }
    lock = {"lock_store": {"type": "redis", "url": "127.0.0.1", "port": free_port(), "socket_timeout": 1}}
    with running_stack(credentials=REPO / "credentials.yml", extra_env=env, extra_endpoints=lock) as stack:
        yield stack


def _rest_as(stack, body, key: str | None = REST_KEY, **params) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return stack.client.post(stack.rasa_url + REST, json=body, headers=headers, params=params)


@pytest.mark.e2e
def test_rest_needs_an_integrators_key_when_keys_are_configured(hardened):
    """Item 1: with LINLI_REST_KEYS set, no key or a wrong key is a 401 with a Chinese message."""
    for key in (None, "wrong-" + REST_KEY):
        r = _rest_as(hardened, {"sender": "k1", "message": "你好"}, key=key)
        assert r.status_code == 401 and "接入密钥" in r.json()["error"], r.text
    ok = _rest_as(hardened, {"sender": "k1", "message": "你好"})
    assert ok.status_code == 200 and ok.json()[0]["recipient_id"] == "k1", ok.text


@pytest.mark.e2e
def test_a_failing_turn_still_ends_the_stream(hardened):
    """Item 11: the turn raises (lock store down); the stream ends at once with an apology."""
    with httpx.Client(timeout=60) as c:
        r = c.post(
            hardened.rasa_url + REST,
            params={"stream": "true"},
            headers={"Authorization": f"Bearer {REST_KEY}"},
            json={"sender": "stream-fail", "message": "你好"},
        )
    lines = [json.loads(ln) for ln in r.text.splitlines() if ln.strip()]
    assert r.status_code == 200 and lines and lines[-1]["recipient_id"] == "stream-fail", r.text
    assert "系统暂时出了点问题" in lines[-1]["text"], lines


@pytest.mark.e2e
def test_chat_endpoints_answer_429_past_a_senders_rate(hardened):
    """Item 14: per-sender buckets (burst 3 here) on REST and web chat, with Retry-After and a Chinese reason."""
    codes = [_rest_as(hardened, {"sender": "rl-1", "message": "你好"}).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429], codes
    other = _rest_as(hardened, {"sender": "rl-2", "message": "你好"})
    assert other.status_code == 200  # another sender has its own bucket
    web = [
        hardened.client.post(
            hardened.rasa_url + "/webhooks/webchat/webhook", json={"sender": "web-rl1", "message": "你好"}
        )
        for _ in range(4)
    ]
    assert [r.status_code for r in web] == [200, 200, 200, 429]
    assert "太快" in web[-1].json()["error"] and int(web[-1].headers["retry-after"]) >= 1


@pytest.mark.e2e
def test_telegram_webhook_body_is_capped(hardened):
    r = hardened.client.post(
        hardened.rasa_url + "/webhooks/telegram/webhook",
        headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET},
        json={"update_id": 1, "message": {"text": "好" * 30_000}},
    )
    assert r.status_code == 413 and "请求内容太大" in r.json()["error"], r.text[:200]


def _trickle(url: str, instant: bytes, trickled: bytes, every: float = 0.25, budget: float = 60) -> tuple[float, bytes]:
    """Send ``instant`` at once, then ``trickled`` one byte per ``every`` s; (seconds until the server answered
    or hung up, what it said)."""
    import socket

    host, port = url.split("//")[1].split(":")
    started = time.monotonic()
    answer = b""
    with socket.create_connection((host, int(port)), timeout=budget) as sock:
        sock.settimeout(every)
        try:
            sock.sendall(instant)
            for i in range(len(trickled)):
                sock.sendall(trickled[i : i + 1])
                try:
                    answer = sock.recv(4096)
                    break  # answered (408) or closed (b"")
                except TimeoutError:
                    pass
                if time.monotonic() - started > budget:
                    break
            else:
                sock.settimeout(budget)
                answer = sock.recv(4096)
        except (BrokenPipeError, ConnectionResetError):
            pass
    return time.monotonic() - started, answer


@pytest.mark.e2e
def test_a_trickled_request_is_cut_off(hardened):
    """Item 14: headers or a body trickled byte by byte are cut at the request deadline (2 s here), not served
    after minutes: Sanic's own REQUEST_TIMEOUT restarts at every byte, and a stalled body waited an hour."""
    body = json.dumps({"sender": "slow", "message": "你好" + "呀" * 60}, ensure_ascii=False).encode()
    head = (
        f"POST {REST} HTTP/1.1\r\nHost: x\r\nUser-Agent: linli-trickle-test\r\nAuthorization: Bearer {REST_KEY}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    assert len(head) > 160 and len(body) > 160  # trickled whole, each would take over 40 s
    for instant, trickled in ((b"", head + body), (head, body)):
        took, answer = _trickle(hardened.rasa_url, instant, trickled)
        assert took < 20, (took, answer[:200])
        assert not answer.startswith(b"HTTP/1.1 200"), answer[:200]
