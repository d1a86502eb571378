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
        log.append((n, i, len(body)))
        out = json.dumps({"n": n, "i": i}).encode()
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
    out["retried"] = await big.request(json={"x": "b" * 8_000_000}, method="post")
    out["reset_log"] = list(log)
    await endpoint_session.close_all()
    out["closed"] = endpoint_session._sessions == {}

asyncio.run(main())
print(json.dumps(out))
"""


def test_one_connection_for_successive_calls_and_a_refused_request_is_sent_again():
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
    assert out["kept"] == [{"n": 1, "i": 1}, {"n": 1, "i": 2}, {"n": 1, "i": 3}]  # stock Rasa: n 1, 2, 3
    assert out["after_idle"]["n"] == 2  # idle past KEEPALIVE_SECONDS: dropped by the client, a new connection
    assert out["first"] == {"n": 1, "i": 1}
    assert out["retried"] == {"n": 2, "i": 1}  # the reset connection's request went out again on a fresh one
    assert out["reset_log"] == [
        [1, 1, len('{"x": "a"}')],
        [1, 2, "reset"],
        [2, 1, len(json.dumps({"x": "b" * 8_000_000}))],
    ]
    assert out["closed"]
