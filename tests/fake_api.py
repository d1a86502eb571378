"""The common part of the tests' stand-ins for outside HTTP APIs (Telegram, WeChat, Rasa's HTTP API).

Each stand-in is a real HTTP server on a free loopback port, served from a thread. It records every call in
``calls`` under one condition variable, so a test waits for a call (:meth:`FakeAPI.wait_until`) instead of
sleeping. A subclass only says how to answer one request (:meth:`FakeAPI.respond`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


@dataclass
class Request:
    method: str
    path: str  # without the query string
    query: dict[str, list[str]]
    headers: Any  # email.message.Message of the request's headers
    body: bytes

    def params(self) -> dict[str, str]:
        """The query string as single values (the last one wins)."""
        return {k: v[-1] for k, v in self.query.items()}


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client hanging up mid-request (a server under test stopping) is normal here."""


class FakeAPI:
    """Base of the stand-ins. ``respond`` returns (status, JSON-able body); calls are recorded by ``record``."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self.server = _QuietServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self):
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread.is_alive():
            self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- recording ---------------------------------------------------------------------------------------
    def record(self, call: dict[str, Any]) -> None:
        with self._cond:
            self.calls.append({**call, "at": time.monotonic()})
            self._cond.notify_all()

    def matching(self, match: Callable[[dict[str, Any]], bool] | None = None) -> list[dict[str, Any]]:
        with self._cond:
            return [c for c in self.calls if match is None or match(c)]

    def wait_until(
        self,
        match: Callable[[dict[str, Any]], bool] | None = None,
        count: int = 1,
        timeout: float = 30.0,
        what: str = "calls",
    ) -> list[dict[str, Any]]:
        """Block until at least ``count`` recorded calls satisfy ``match``; returns them (TimeoutError after ``timeout``)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [c for c in self.calls if match is None or match(c)]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{what}: {len(found)} of {count} after {timeout}s; all calls: {self.calls}")
                self._cond.wait(min(left, 0.2))

    # -- HTTP --------------------------------------------------------------------------------------------
    def respond(self, request: Request) -> tuple[int, Any]:
        raise NotImplementedError

    def _handler(self) -> type:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet test output
                pass

            def _serve(self) -> None:
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, payload = fake.respond(Request(self.command, url.path, parse_qs(url.query), self.headers, body))
                data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _serve
            do_POST = _serve

        return Handler


class FakeRasa(FakeAPI):
    """Rasa's HTTP API as the inbox and the status-push deliverer call it (``trigger_intent``).

    Records ``{"path", "query", "json", "authorized"}`` per call. ``token``: calls without ``?token=<it>`` get 401.
    ``codes``: status codes of the next calls (then 200). ``answers``: the ``messages`` of the next answers, as
    a channel reports them (e.g. ``delivered_via``); then ``[]``.
    """

    def __init__(self, token: str | None = None, codes: tuple[int, ...] = (), answers: tuple[list[dict], ...] = ()):
        super().__init__()
        self.token = token
        self.codes = list(codes)
        self.answers = list(answers)

    def respond(self, request: Request) -> tuple[int, Any]:
        authorized = self.token is None or request.params().get("token") == self.token
        self.record(
            {
                "path": request.path,
                "query": request.query,
                "json": json.loads(request.body or b"{}"),
                "authorized": authorized,
            }
        )
        with self._cond:
            code = self.codes.pop(0) if self.codes else 200
            messages = self.answers.pop(0) if self.answers else []
        if not authorized:
            return 401, {"error": "unauthorized"}
        return code, {"tracker": {}, "messages": messages}

    def wait(self, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The calls once there are ``n`` (TimeoutError after ``timeout``)."""
        return self.wait_until(count=n, timeout=timeout, what="Rasa API calls")
