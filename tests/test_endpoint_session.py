"""rasa_addons.endpoint_session: Rasa's endpoint calls over one kept-alive connection, and a call whose request a
closed connection refused is sent again on a fresh one (real aiohttp, real sockets, Rasa's own EndpointConfig)."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.stack import RASA_PYTHON, REPO

pytestmark = pytest.mark.rasa  # Rasa's own code in the engine env (not part of `make test-fast`)

# Runs in the engine env (Rasa 3.6). A raw HTTP/1.1 server: each connection serves requests in turn; with
# ``reset_second`` the second request on the first connection is answered by a TCP reset after its headers,
# while the client is still writing its large body (a keep-alive connection the server has given up on).
_SCRIPT = r"""
import asyncio, json, socket, struct, threading
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig
from rasa_addons import endpoint_session

log = []  # (connection number, request number on it, body bytes or "reset")

def serve(srv, reset_second):
    n = 0
    while True:
        conn, _ = srv.accept()
        n += 1
        threading.Thread(target=handle, args=(conn, n, reset_second and n == 1), daemon=True).start()

def handle(conn, n, reset_second):
    f = conn.makefile("rb")
    i = 0
    while True:
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            line = f.readline()
            if not line:
                return
            head += line
        i += 1
        length = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
        if reset_second and i == 2:
            log.append((n, i, "reset"))
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
            return
        body = f.read(length)
        log.append((n, i, len(body) if b"next_action" not in body else "action"))
        out = json.dumps({"n": n, "i": i, "events": [], "responses": []}).encode()
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(out), out))

def server(reset_second=False):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    threading.Thread(target=serve, args=(srv, reset_second), daemon=True).start()
    return f"http://127.0.0.1:{srv.getsockname()[1]}/webhook"

endpoint_session.install()
endpoint_session.install()  # idempotent
out = {}

async def main():
    ep = EndpointConfig(server(), headers={"Authorization": "Bearer t"})
    other = EndpointConfig(ep.url, headers={"Authorization": "Bearer u"})
    out["same_session"] = endpoint_session.shared_session(ep) is endpoint_session.shared_session(ep.copy())
    out["other_headers_other_session"] = endpoint_session.shared_session(other) is not endpoint_session.shared_session(ep)
    out["kept"] = [await ep.request(json={"x": i}, method="post") for i in range(3)]
    await asyncio.sleep(endpoint_session.KEEPALIVE_SECONDS + 0.5)
    out["after_idle"] = await ep.request(json={"x": 3}, method="post")
    del log[:]
    big = EndpointConfig(server(reset_second=True), headers={"Authorization": "Bearer t"})
    out["first"] = await big.request(json={"x": "a"}, method="post")
    try:  # not a custom action call: never sent again
        await big.request(json={"x": "b" * 8_000_000}, method="post")
    except Exception as e:
        out["not_an_action_call"] = type(e).__name__
    out["before_action_call"] = list(log)
    del log[:]
    big = EndpointConfig(server(reset_second=True), headers={"Authorization": "Bearer t"})
    action = RemoteAction("action_answer_question", big)
    tracker = DialogueStateTracker.from_events("s", [UserUttered("在社区能办医保吗")])
    args = (CollectingOutputChannel(), TemplatedNaturalLanguageGenerator({}), tracker, Domain.empty())
    out["first_action"] = await action.run(*args)
    out["retried_action"] = await action.run(*args)
    out["reset_log"] = list(log)
    await endpoint_session.close_all()
    out["closed"] = endpoint_session._sessions == {}

asyncio.run(main())
print(json.dumps(out))
"""


def test_one_connection_for_successive_calls_and_a_broken_action_call_is_sent_again():
    proc = subprocess.run(
        [str(RASA_PYTHON), "-c", _SCRIPT],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["same_session"] and out["other_headers_other_session"]
    assert [(k["n"], k["i"]) for k in out["kept"]] == [(1, 1), (1, 2), (1, 3)]  # stock Rasa: n 1, 2, 3
    assert out["after_idle"]["n"] == 2  # idle past KEEPALIVE_SECONDS: dropped by the client, a new connection
    assert (out["first"]["n"], out["first"]["i"]) == (1, 1)
    assert out["not_an_action_call"] == "ClientOSError"
    assert out["before_action_call"] == [[1, 1, len('{"x": "a"}')], [1, 2, "reset"]]
    assert out["first_action"] == out["retried_action"] == []  # Rasa's own events from the reply: none
    # the reset connection's action call went out again, on a fresh connection
    assert out["reset_log"] == [[1, 1, "action"], [1, 2, "reset"], [2, 1, "action"]]
    assert out["closed"]
