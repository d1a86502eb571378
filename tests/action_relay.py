"""An HTTP relay in front of a test stack's action server: Rasa's action endpoint points at it.

It forwards ``/webhook`` and ``/prepare`` to the action server as they come (the shared stack runs behind one, so
its traffic is the project's), and records when each arrived (and, for action calls, the caller's port: which connection it came on). A test can hold every ``/prepare`` open (``hold``)
or drop it without an answer (``mode = "drop"``) to show that a turn never waits for its announcement
(tests/test_prefetch_e2e.py). Only the last ``KEEP`` calls of each kind are kept.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

KEEP = 500


class ActionRelay(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: str = "", hold_seconds: float = 20.0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream = upstream  # the action server's base URL
        self.hold_seconds = hold_seconds
        self.prepares: deque[dict] = deque(maxlen=KEEP)  # arrival time, Authorization header, body
        self.webhooks: deque[dict] = deque(maxlen=KEEP)  # arrival time, the conversation's sender_id
        self.release = threading.Event()  # set: /prepare is forwarded at once; cleared: held until set (or timeout)
        self.release.set()
        self.mode = "forward"  # or "drop": close a /prepare's connection without an answer
        self.client = httpx.Client(timeout=120)
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def hold(self) -> None:
        """From now on every ``/prepare`` waits (up to ``hold_seconds``) until :attr:`release` is set."""
        self.release.clear()

    def __enter__(self) -> ActionRelay:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.release.set()
        self.shutdown()
        self.server_close()
        self.client.close()

    def handle_error(self, request, client_address) -> None:
        """Rasa hanging up mid-request (a stack stopping, an announcement's timeout) is normal here."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # a kept-alive caller would otherwise wait for delayed ACKs
    server: ActionRelay

    def log_message(self, *_args) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 — http.server's name
        relay = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        now = time.monotonic()
        if self.path.startswith("/prepare"):
            relay.prepares.append({"at": now, "auth": self.headers.get("Authorization"), "body": _json(body)})
            if relay.mode == "drop":
                self.close_connection = True
                return
            if not relay.release.wait(relay.hold_seconds):
                self._send(204, b"")  # held to the end: the announcer has long given up
                return
        else:
            relay.webhooks.append(
                {"at": now, "sender_id": (_json(body) or {}).get("sender_id"), "port": self.client_address[1]}
            )
        try:
            r = relay.client.post(
                f"{relay.upstream}{self.path}",
                content=body,
                headers={"Authorization": self.headers.get("Authorization", ""), "Content-Type": "application/json"},
            )
        except httpx.HTTPError:
            self.close_connection = True  # the action server is unreachable: so is its front
            return
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


def _json(body: bytes):
    try:
        return json.loads(body)
    except ValueError:
        return None
