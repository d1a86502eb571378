"""The REST channel announces a resident's question to the action server (``POST /prepare``) without waiting,
and Rasa calls the action server over a kept-alive connection (``rasa_addons.endpoint_session``).

Real Rasa with the project's REST channel; its action endpoint is a loopback relay standing in for the action
server's front: it forwards ``/webhook`` to the real action server and holds each ``/prepare`` open until the
reply has arrived (the channel's announcement timeout is raised to 20 s, so a turn that waited for it would show).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from rasa_addons.endpoint_session import KEEPALIVE_SECONDS
from tests.stack import running_stack, unique_sender

HOLD_SECONDS = 20.0


class Relay(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream = ""
        self.prepares: list[dict] = []  # arrival time, Authorization header, body
        self.webhooks: list[float] = []
        self.webhook_ports: list[int] = []  # the client port of each action call's connection
        self.release = threading.Event()
        self.mode = "hold"  # or "drop": close the connection without an answer

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # a kept-alive caller would otherwise wait for delayed ACKs
    server: Relay

    def log_message(self, *_args) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 — http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/prepare"):
            self.server.prepares.append(
                {"at": time.monotonic(), "auth": self.headers.get("Authorization"), "body": json.loads(body)}
            )
            if self.server.mode == "drop":
                self.close_connection = True
                return
            self.server.release.wait(HOLD_SECONDS)
            self._send(204, b"")
            return
        self.server.webhooks.append(time.monotonic())
        self.server.webhook_ports.append(self.client_address[1])
        r = httpx.post(
            f"{self.server.upstream}{self.path}",
            content=body,
            headers={"Authorization": self.headers.get("Authorization", ""), "Content-Type": "application/json"},
            timeout=120,
        )
        self._send(r.status_code, r.content)

    def _send(self, status: int, body: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the announcer gave up waiting (its timeout): nothing to answer
            pass


@pytest.fixture(scope="module")
def relayed():
    relay = Relay()
    threading.Thread(target=relay.serve_forever, daemon=True).start()
    try:
        env = {"LINLI_PREFETCH_TIMEOUT": str(HOLD_SECONDS)}
        with running_stack(extra_env=env, action_endpoint=f"{relay.url}/webhook") as stack:
            relay.upstream = stack.action_url
            stack.rest(unique_sender("warm"), "在社区能办医保吗")  # the action server's model is loaded
            relay.release.set()  # let the warm-up's announcement go
            time.sleep(0.2)
            yield stack, relay
    finally:
        relay.release.set()
        relay.shutdown()
        relay.server_close()


def test_the_rest_channel_announces_the_question_and_replies_without_waiting(relayed):
    stack, relay = relayed
    relay.prepares.clear()
    relay.release.clear()
    question = "孩子放学后没人管，社区有托管服务吗"
    started = time.monotonic()
    replies = stack.rest(unique_sender("prefetch"), question)
    elapsed = time.monotonic() - started
    held = not relay.release.is_set()
    relay.release.set()
    assert replies and replies[0]["text"].strip()
    assert held and elapsed < HOLD_SECONDS / 2  # the reply came while the announcement was still held open
    assert [p["body"] for p in relay.prepares] == [{"text": question}]
    assert relay.prepares[0]["auth"] == f"Bearer {stack.action_token}"  # endpoints.yml's own header
    assert relay.prepares[0]["at"] < relay.webhooks[-1]  # announced before Rasa called the action


def test_button_payloads_are_not_announced_and_a_failing_prepare_does_not_touch_the_turn(relayed):
    stack, relay = relayed
    relay.prepares.clear()
    relay.release.set()
    assert stack.rest(unique_sender("button"), "/greet")
    time.sleep(0.3)
    assert relay.prepares == []
    relay.mode = "drop"
    try:
        replies = stack.rest(unique_sender("drop"), "失业了去哪里登记")
        assert replies and replies[0]["text"].strip()
        deadline = time.monotonic() + 10
        while not relay.prepares and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [p["body"]["text"] for p in relay.prepares][:1] == ["失业了去哪里登记"]
        replies = stack.rest(unique_sender("drop"), "老年食堂在哪里")  # the announcer recovered from the drop
        assert replies and replies[0]["text"].strip()
    finally:
        relay.mode = "hold"


def test_rasa_calls_the_action_server_over_one_kept_alive_connection(relayed):
    stack, relay = relayed
    relay.release.set()
    time.sleep(KEEPALIVE_SECONDS + 0.5)  # the earlier tests' connection has been let go
    relay.webhook_ports.clear()
    for text in ("在社区能办医保吗", "失业了去哪里登记", "老年食堂在哪里"):
        replies = stack.rest(unique_sender("keepalive"), text)
        assert replies and replies[0]["text"].strip()
    assert len(relay.webhook_ports) == 3 and len(set(relay.webhook_ports)) == 1  # stock Rasa: a new one per call
    time.sleep(KEEPALIVE_SECONDS + 0.5)  # idle: Rasa drops it before the server would
    replies = stack.rest(unique_sender("keepalive"), "普惠托育有什么条件")
    assert replies and replies[0]["text"].strip()
    assert len(relay.webhook_ports) == 4 and relay.webhook_ports[3] != relay.webhook_ports[0]
