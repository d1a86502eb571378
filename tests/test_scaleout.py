"""Two Rasa replicas behind one conversation: Redis lock store + SQL tracker store on PostgreSQL.

Uses the shipped ``deploy/endpoints.scaleout.yml`` (values from the environment), a fresh PostgreSQL
database for the trackers and a dedicated Redis db number with a random key prefix. One resident's
messages alternate between the replicas, through a whole consultation form: after every turn both
replicas must report the same slots, active loop and events, and the form must progress as if one
server had handled it. Then concurrent messages to both replicas must be processed one at a time.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import secrets
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest
import yaml

from connectors.config import conversation_id
from tests.fake_telegram import FakeTelegram, text_update
from tests.fake_wechat import APP_ID, APP_SECRET, FakeWeChat, WeChatCallbacks
from tests.stack import (
    RASA,
    REPO,
    Stack,
    _rasa_env,
    _stop,
    _wait,
    action_server_cmd,
    ensure_model,
    free_port,
    rasa_cmd,
    secret_env,
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

PG_HOST, PG_PORT = "127.0.0.1", 5432
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_DB = int(os.environ.get("LINLI_TEST_REDIS_DB", "11"))
TRACKING = re.compile(r"YS-\d{8}-\d{4,}")
TG_SECRET = secrets.token_hex(16)
WX_TOKEN = secrets.token_hex(8)


def _admin():
    import psycopg

    last = None
    for user in ("postgres", "root"):
        try:
            return psycopg.connect(
                host=PG_HOST, port=PG_PORT, dbname="test", user=user, connect_timeout=3, autocommit=True
            ), user
        except psycopg.OperationalError as e:
            last = e
    if os.environ.get("LINLI_REQUIRE_POSTGRES"):
        pytest.fail(f"PostgreSQL on {PG_HOST}:{PG_PORT} is required: {last}")
    pytest.skip(f"PostgreSQL unreachable: {last}")


def _redis_cli(*args: str) -> str:
    return subprocess.run(
        ["redis-cli", "-h", REDIS_HOST, "-p", str(REDIS_PORT), "-n", str(REDIS_DB), *args],
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout


@pytest.fixture(scope="module")
def replicas():
    if "PONG" not in _redis_cli("ping"):
        pytest.skip("Redis on 127.0.0.1:6379 unreachable")
    model = ensure_model()
    admin, user = _admin()
    db = f"linli_scaleout_{secrets.token_hex(4)}"
    admin.execute(f'CREATE DATABASE "{db}"')
    admin.close()
    admin_db, _ = _admin()
    token = secrets.token_hex(12)
    prefix = f"linli{secrets.token_hex(4)}"
    action_port, ports = free_port(), [free_port(), free_port()]
    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="linli-scaleout-") as tmp, FakeTelegram() as tg, FakeWeChat() as wx:
        work = Path(tmp)
        (work / "credentials.yml").write_text(
            "connectors.rest.RestInput:\nconnectors.telegram.TelegramInput:\nconnectors.wechat.WeChatInput:\n"
        )
        app_url = f"postgresql+psycopg://{user}@{PG_HOST}:{PG_PORT}/{db}"
        env = _rasa_env() | {
            "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{action_port}/webhook",
            "LINLI_TRACKER_DB_HOST": PG_HOST,
            "LINLI_TRACKER_DB_PORT": str(PG_PORT),
            "LINLI_TRACKER_DB_NAME": db,
            "LINLI_TRACKER_DB_USER": user,
            "LINLI_TRACKER_DB_PASSWORD": "",
            "LINLI_REDIS_HOST": REDIS_HOST,
            "LINLI_REDIS_PORT": str(REDIS_PORT),
            "LINLI_REDIS_DB": str(REDIS_DB),
            "LINLI_REDIS_PASSWORD": "",
            "LINLI_REDIS_KEY_PREFIX": prefix,
            "LINLI_DATABASE_URL": app_url,
            **secret_env(token, token),
            "TELEGRAM_TOKEN": tg.token,
            "TELEGRAM_WEBHOOK_SECRET": TG_SECRET,
            "TELEGRAM_API_BASE_URL": tg.base_url,
            "TELEGRAM_CHAT_INTERVAL": "0",
            "TELEGRAM_WEBHOOK_URL": "https://example.invalid/webhooks/telegram/webhook",
            "WECHAT_APP_ID": APP_ID,
            "WECHAT_APP_SECRET": APP_SECRET,
            "WECHAT_TOKEN": WX_TOKEN,
            "WECHAT_API_BASE_URL": wx.base_url,
            "WECHAT_PASSIVE_BUDGET": "30",  # every short answer passive
        }
        logs = {name: work / f"{name}.log" for name in ("actions", "rasa0", "rasa1")}
        try:
            with open(logs["actions"], "wb") as log:
                procs.append(
                    subprocess.Popen(
                        action_server_cmd(action_port), cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
                    )
                )
            for i, port in enumerate(ports):
                with open(logs[f"rasa{i}"], "wb") as log:
                    procs.append(
                        subprocess.Popen(
                            rasa_cmd(model, port, work / "credentials.yml", REPO / "deploy" / "endpoints.scaleout.yml"),
                            cwd=REPO,
                            env=env,
                            stdout=log,
                            stderr=subprocess.STDOUT,
                        )
                    )
            deadline = time.monotonic() + float(os.environ.get("LINLI_TEST_START_TIMEOUT", "600"))
            _wait(f"http://127.0.0.1:{action_port}/health", procs[0], logs["actions"], deadline)
            for i, port in enumerate(ports):
                _wait(
                    f"http://127.0.0.1:{port}/status?token={token}",
                    procs[i + 1],
                    logs[f"rasa{i}"],
                    deadline,
                    ok=lambda r: r.status_code == 200 and bool(r.json().get("model_file")),
                )
            yield {
                "urls": [f"http://127.0.0.1:{p}" for p in ports],
                "token": token,
                "db": db,
                "app_url": app_url,
                "admin": admin_db,
                "prefix": prefix,
                "logs": logs,
                "tg": tg,
                "wx": wx,
            }
        finally:
            for p in reversed(procs):
                _stop(p)
            for key in _redis_cli("--scan", "--pattern", f"{prefix}:*").split():
                _redis_cli("del", key)
            admin_db.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            admin_db.close()


def _say(client: httpx.Client, url: str, sender: str, text: str) -> list[dict]:
    r = client.post(f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": text})
    assert r.status_code == 200, r.text
    return r.json()


def _tracker(client: httpx.Client, url: str, token: str, conversation: str) -> dict:
    """The tracker of a conversation id (a REST sender's is ``Stack.rest_id(sender)``: ``rest:local:<sender>``)."""
    r = client.get(f"{url}/conversations/{conversation}/tracker", params={"token": token})
    assert r.status_code == 200, r.text
    return r.json()


def _state(t: dict) -> tuple:
    slots = {k: v for k, v in t["slots"].items() if k != "session_started_metadata"}
    return slots, (t.get("active_loop") or {}).get("name"), len(t["events"]), t["latest_message"].get("text")


def test_form_alternating_between_replicas_stays_consistent(replicas):
    a, b = replicas["urls"]
    token = replicas["token"]
    sender = f"so-{secrets.token_hex(4)}"
    topic = "我们小区的电梯三天两头坏，物业一直拖着不修"
    turns = [  # (replica, message, check on the shared state after the turn)
        (a, "你好", lambda s: s[1] is None),
        (
            b,
            "我要发起议事协商",
            lambda s: s[1] == "consultation_form" and s[0]["requested_slot"] == "consultation_topic",
        ),
        (
            a,
            topic,
            lambda s: s[0]["consultation_topic"] == topic and s[0]["requested_slot"] == "consultation_community",
        ),
        (
            b,
            '/inform{"community":"xingfu"}',
            lambda s: s[0]["consultation_community"] == "xingfu" and s[0]["requested_slot"] == "contact_choice",
        ),
        (
            a,
            '/inform{"contact_choice":"anonymous"}',
            lambda s: (
                s[0]["contact_choice"] == "anonymous"
                and s[0]["requested_slot"] == "consultation_confirmed"
                and s[1] == "consultation_form"
            ),
        ),
        (b, "/affirm", lambda s: s[1] is None and TRACKING.fullmatch(s[0].get("tracking_number") or "")),
    ]
    replies: list[list[dict]] = []
    with httpx.Client(timeout=120) as c:
        for i, (url, text, check) in enumerate(turns):
            replies.append(_say(c, url, sender, text))
            sa, sb = (
                _state(_tracker(c, a, token, Stack.rest_id(sender))),
                _state(_tracker(c, b, token, Stack.rest_id(sender))),
            )
            assert sa == sb, f"turn {i} ({text}): replicas disagree:\nA={sa}\nB={sb}"
            assert check(sa), f"turn {i} ({text}): unexpected state {sa}\nreplies={replies[-1]}"
            assert replies[-1], f"turn {i} ({text}): no reply"
    told = TRACKING.findall(" ".join(m.get("text", "") for m in replies[-1]))
    assert told, replies[-1]
    # the consultation is stored once, under the number the resident was told, with the topic typed on replica A
    from sqlalchemy import create_engine, text

    eng = create_engine(replicas["app_url"])
    with eng.connect() as conn:
        rows = conn.execute(
            text("select tracking_no, text, community_id from consultations where sender_id = :s"),
            {"s": Stack.rest_id(sender)},
        ).all()
    eng.dispose()
    assert [(r[0], r[1], r[2]) for r in rows] == [(told[0], topic, "xingfu")]
    # trackers live in PostgreSQL: every user message of this conversation is there once
    assert _count_user_events(replicas, sender) == len(turns)


def _count_user_events(replicas, sender: str) -> int:
    import psycopg

    info = replicas["admin"].info
    with psycopg.connect(
        host=info.host, port=info.port, user=info.user, dbname=replicas["db"], autocommit=True
    ) as conn:
        return conn.execute(
            "select count(*) from events where sender_id = %s and type_name = 'user'", (Stack.rest_id(sender),)
        ).fetchone()[0]


def _log_errors(replicas) -> str:
    out = []
    for name, path in replicas["logs"].items():
        lines = path.read_text(errors="replace").splitlines()
        out += [f"{name}: {ln[:300]}" for ln in lines if re.search(r"ERROR|Exception|Error:", ln)][-6:]
    return "\n".join(out)


def test_concurrent_messages_to_both_replicas_are_serialized(replicas):
    """The Redis ticket lock makes the replicas take turns: no message lost, every turn complete.

    With Rasa's stock ``type: redis`` lock store this failed intermittently (two replicas drew the same
    ticket); ``deploy/endpoints.scaleout.yml`` uses ``rasa_addons.lock_store.AtomicRedisLockStore``.
    """
    a, b = replicas["urls"]
    sender = f"sc-{secrets.token_hex(4)}"
    messages = ["你好", "谢谢", "你是机器人吗", "你能做什么", "你好呀", "谢谢你", "您好", "多谢"]
    with httpx.Client(timeout=180) as c, concurrent.futures.ThreadPoolExecutor(len(messages)) as pool:
        results = list(pool.map(lambda im: _say(c, (a, b)[im[0] % 2], sender, im[1]), enumerate(messages)))
        t = _tracker(c, b, replicas["token"], Stack.rest_id(sender))
    assert all(results), ([m for m, r in zip(messages, results) if not r], _log_errors(replicas))
    events = [e for e in t["events"] if e["event"] in ("user", "action")]
    users = [e for e in events if e["event"] == "user"]
    assert sorted(u["text"] for u in users) == sorted(messages)
    # each user message is followed by the bot's turn ending in action_listen before the next user message
    for i, e in enumerate(events):
        if e["event"] == "user" and i > 0:
            assert events[i - 1]["event"] == "action" and events[i - 1]["name"] == "action_listen", events[
                max(0, i - 3) : i + 1
            ]
    assert events[-1]["name"] == "action_listen"
    assert _count_user_events(replicas, sender) == len(messages)
    # both replicas hold connections to the dedicated Redis db: the lock really is shared
    clients = [ln for ln in _redis_cli("client", "list").splitlines() if f" db={REDIS_DB} " in f" {ln} "]
    assert len(clients) >= 2, clients


def test_endpoints_use_the_atomic_lock_store():
    cfg = yaml.safe_load((REPO / "deploy" / "endpoints.scaleout.yml").read_text())
    assert cfg["lock_store"]["type"] == "rasa_addons.lock_store.AtomicRedisLockStore"
    assert cfg["tracker_store"]["type"] == "SQL"


def test_ticket_lock_excludes_across_processes():
    """Four processes × four concurrent turns on one conversation (bench/lock_contention.py): never two inside."""
    if "PONG" not in _redis_cli("ping"):
        pytest.skip("Redis on 127.0.0.1:6379 unreachable")
    rasa_python = RASA.parent / "python"
    proc = subprocess.run(
        [
            str(rasa_python),
            "-W",
            "ignore",
            str(REPO / "bench" / "lock_contention.py"),
            "--store",
            "atomic",
            "--json",
            "--db",
            str(REDIS_DB),
            "--rounds",
            "4",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    s = json.loads(proc.stdout.strip().splitlines()[-1])
    assert s["store"] == "atomic" and s["expected"] == 4 * 4 * 4
    assert (s["done"], s["overlaps"], s["lock_errors"], s["stalled"]) == (s["expected"], 0, 0, 0), s
    assert s["lock_keys_left"] == 0, s


def test_telegram_update_redelivered_to_the_other_replica_is_handled_once(replicas):
    """Telegram retries a webhook it thinks failed; behind a load balancer the retry reaches the other replica."""
    a, b = replicas["urls"]
    tg = replicas["tg"]
    chat = 700_000_000 + secrets.randbelow(10_000_000)
    first, later = text_update(chat, chat, "你好"), text_update(chat + 1, chat, "谢谢")
    headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
    with httpx.Client(timeout=60) as c:
        assert c.post(f"{a}/webhooks/telegram/webhook", json=first, headers=headers).status_code == 200
        tg.wait_for("sendMessage", chat_id=chat, timeout=120)
        assert c.post(f"{b}/webhooks/telegram/webhook", json=first, headers=headers).status_code == 200  # the retry
        assert c.post(f"{b}/webhooks/telegram/webhook", json=later, headers=headers).status_code == 200
        # one chat's updates are handled in order: once 谢谢 is answered, a re-run of 你好 would have shown
        tg.wait_for(
            "sendMessage", chat_id=chat, timeout=120, where=lambda call: "不客气" in str(call["params"].get("text"))
        )
        t = _tracker(c, a, replicas["token"], str(chat))
    assert [e["text"] for e in t["events"] if e["event"] == "user"] == ["你好", "谢谢"]


def test_wechat_retry_option_and_access_token_are_shared_between_replicas(replicas):
    """WeChat retries a callback on the other replica; a numbered option shown by one replica is typed to the other;
    both replicas push with one access token (a second one would invalidate the first after 5 minutes)."""
    a, b = replicas["urls"]
    wx = replicas["wx"]
    openid = f"oWxScale{secrets.token_hex(8)}"
    on_a = WeChatCallbacks(f"{a}/webhooks/wechat/webhook", WX_TOKEN)
    on_b = WeChatCallbacks(f"{b}/webhooks/wechat/webhook", WX_TOKEN)
    try:
        question = on_a.text(openid, "在社区能办医保吗")
        answer = on_a.reply(on_a.post(question))
        assert answer is not None and "回复 1 " in answer["Content"], answer
        assert on_b.post(question).text == "success"  # the retry, on the other replica
        on_b.reply(on_b.post(on_b.text(openid, "1")))
        with httpx.Client(timeout=60) as c:
            user = [
                e for e in _tracker(c, a, replicas["token"], conversation_id(openid))["events"] if e["event"] == "user"
            ]
            assert [e["text"] for e in user][0] == "在社区能办医保吗" and len(user) == 2
            assert user[1]["text"].startswith("/"), user[1]  # the first button's payload, not the digit
            for url in (a, b):
                r = c.post(
                    f"{url}/conversations/{conversation_id(openid)}/trigger_intent",
                    params={"token": replicas["token"], "output_channel": "wechat"},
                    json={"name": "greet", "entities": {}},
                )
                assert r.status_code == 200 and {
                    m.get("delivered_via") for m in r.json()["messages"] if m.get("text")
                } == {"customer_service"}
        assert len(wx.recorded("/cgi-bin/token")) == 1
        assert len(wx.tokens) == 1
        assert {c["params"]["access_token"] for c in wx.recorded("/cgi-bin/message/custom/send", openid)} == set(
            wx.tokens
        )
    finally:
        on_a.close()
        on_b.close()


def test_channel_memories_are_shared_through_redis():
    """Handled update ids, long button payloads and web-chat mailboxes, seen from two replicas' own clients;
    Redis down → process memory."""
    if "PONG" not in _redis_cli("ping"):
        pytest.skip("Redis on 127.0.0.1:6379 unreachable")
    prefix = f"mem{secrets.token_hex(4)}"
    script = f"""
from connectors.config import SharedRedisConfig
from connectors.memory import Mailbox, PayloadKeys, SeenUpdates, connect_shared
cfg = SharedRedisConfig(host="{REDIS_HOST}", port={REDIS_PORT}, db={REDIS_DB}, key_prefix="{prefix}")
one, two = connect_shared(cfg), connect_shared(cfg)          # two replicas, two connections
assert one is not two and one.client is not two.client
assert SeenUpdates(shared=one).first_time(42) is True
assert SeenUpdates(shared=two).first_time(42) is False       # the other replica skips the redelivery
assert SeenUpdates(shared=two).first_time(43) is True
long = '/inform{{"community": "幸福社区", "topic": "小区停车位不足，希望增加夜间临时停车区域"}}'
key = PayloadKeys(shared=one).encode(long)
assert key != long and PayloadKeys(shared=two).decode(key) == long   # a button pressed on the other replica
assert PayloadKeys().decode(key) is None                             # without Redis: unknown, as before
Mailbox(shared=one).put("web-1", {{"text": "您的诉求已受理"}})
Mailbox(shared=one).put("web-1", {{"text": "第二条"}})
assert Mailbox(shared=two).take("web-1") == [{{"text": "您的诉求已受理"}}, {{"text": "第二条"}}]  # the page polls the other replica
assert Mailbox(shared=one).take("web-1") == []                      # taken once
small = Mailbox(shared=one, keep=2)
for i in range(5):
    small.put("web-2", {{"text": str(i)}})
assert small.take("web-2") == [{{"text": "3"}}, {{"text": "4"}}]      # bounded, oldest dropped
down = connect_shared(SharedRedisConfig(host="127.0.0.1", port=1, key_prefix="{prefix}"))
seen = SeenUpdates(shared=down)
assert seen.first_time(7) is True and seen.first_time(7) is False    # Redis unreachable: process memory
keys = PayloadKeys(shared=down)
assert keys.decode(keys.encode(long)) == long
box = Mailbox(shared=down)
box.put("web-3", {{"text": "x"}})
assert box.take("web-3") == [{{"text": "x"}}] and box.take("web-3") == []
print("ok")
"""
    try:
        proc = subprocess.run(
            [str(RASA.parent / "python"), "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout + proc.stderr[-2000:]
        assert "shared channel memory unavailable" in proc.stderr  # the fallback is logged, not silent
        keys = _redis_cli("--scan", "--pattern", f"{prefix}:ch:*").split()
        assert sorted(k.split(":")[2] for k in keys) == ["payload", "seen", "seen"], keys
        ttl = int(_redis_cli("ttl", next(k for k in keys if ":seen:" in k)).strip())
        assert 0 < ttl <= 24 * 3600  # forgotten after a day, like the process memory
    finally:
        for key in _redis_cli("--scan", "--pattern", f"{prefix}:*").split():
            _redis_cli("del", key)
