"""rasa_addons.action_response and .action_client: the same verdicts with the schema checked once; one kept-alive connection."""

from __future__ import annotations

import json
import subprocess

from tests.stack import RASA_PYTHON, REPO

# Runs in the engine env (Rasa 3.6): every response judged by Rasa's own check and by the installed one.
_SCRIPT = r"""
import json, sys
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa_addons import action_response

cases = json.loads(sys.stdin.read())
action = RemoteAction("action_answer_question", None)

def verdicts():
    out = []
    for case in cases:
        try:
            out.append(action._validate_action_result(case))
        except ValidationError as e:
            out.append("invalid: " + ("custom-actions" in e.message and "hint" or "no hint"))
    return out

stock = verdicts()
original = RemoteAction._validate_action_result
action_response.install()
action_response.install()  # idempotent
print(json.dumps({"stock": stock, "fast": verdicts(), "replaced": RemoteAction._validate_action_result is not original}))
"""

CASES = [
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "topic", "value": "电梯坏了"}], "responses": [{"text": "好的"}]},
    {"events": [{"event": "bot", "text": "您好"}, {"event": "action", "name": "action_listen"}]},
    {"responses": [{"text": "答复", "buttons": [{"title": "是", "payload": "/affirm"}]}]},
    {"events": "not a list"},
    {"events": [{"no_event_key": 1}]},
    {"events": [{"event": "slot"}]},  # a slot event without a name
    {"responses": ["a string, not an object"]},
    [],
]


def test_installed_check_gives_rasas_verdicts_and_hint():
    proc = subprocess.run(
        [str(RASA_PYTHON), "-W", "ignore", "-c", _SCRIPT],
        input=json.dumps(CASES, ensure_ascii=False),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["replaced"]
    assert out["fast"] == out["stock"]
    assert out["stock"][:4] == [True] * 4
    assert all(v == "invalid: hint" for v in out["stock"][4:]), out["stock"]


# Five action calls through Rasa's EndpointConfig.request to a local server: how many TCP connections carried them.
_CLIENT_SCRIPT = r"""
import asyncio, json
from aiohttp import web
from rasa.utils.endpoints import EndpointConfig
from rasa_addons import action_client

async def main():
    peers, auth = [], []
    async def hook(request):
        peers.append(request.transport.get_extra_info("peername")[1])
        auth.append(request.headers.get("Authorization"))
        return web.json_response({"events": [], "seen": len(peers)})
    app = web.Application()
    app.router.add_post("/webhook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    endpoint = EndpointConfig(f"http://127.0.0.1:{port}/webhook", headers={"Authorization": "Bearer t0k"})
    replies = [await endpoint.request(json={"n": i}, method="post") for i in range(5)]
    await runner.cleanup()
    return {"connections": len(set(peers)), "auth": sorted(set(auth)), "seen": [r["seen"] for r in replies]}

stock = asyncio.run(main())
action_client.install()
action_client.install()
kept = asyncio.run(main())
print(json.dumps({"stock": stock, "kept": kept}))
"""


def test_action_calls_share_one_kept_alive_connection():
    proc = subprocess.run(
        [str(RASA_PYTHON), "-W", "ignore", "-c", _CLIENT_SCRIPT],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["stock"]["connections"] == 5  # Rasa alone: one connection per call
    assert out["kept"]["connections"] == 1
    for run in out.values():
        assert run["auth"] == ["Bearer t0k"] and run["seen"] == [1, 2, 3, 4, 5]
