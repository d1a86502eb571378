"""Announce a resident's text to the action server (``POST /prepare``) the moment a channel receives it.

Rasa spends several milliseconds on NLU and policies before it calls the action that answers; meanwhile the action
server encodes the question's query (``actions.prepare``), the largest part of a retrieval reply's extra time.
Fire and forget: a daemon thread posts with a short timeout (a thread, not a task: Rasa's NLU holds the event loop
until the policies run), the turn never waits for it and never fails because of it (errors are logged at debug
level), and a full queue drops the announcement. The URL and credentials are Rasa's own action endpoint's
(endpoints.yml ``action_endpoint``) with ``/webhook`` replaced by ``/prepare``. Button payloads (``/intent…``) and
empty or over-long text are not announced: ``ask`` never runs on them. Used by every channel in ``connectors``.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import queue
import threading
from typing import Any
from urllib.parse import urlencode, urlsplit

from linli_common.text import MAX_QUESTION_CHARS
from linli_common.timeline import mark

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = float(os.environ.get("LINLI_PREFETCH_TIMEOUT", "0.5"))  # the tests raise it: a turn never waits
QUEUE_SIZE = 32
ENABLED = os.environ.get("LINLI_PREFETCH", "on").lower() not in ("0", "off", "false", "no")  # off: an A/B bench


def prepare_target(app: Any) -> tuple[str, dict[str, str]] | None:
    """(URL of ``/prepare``, headers) from the Rasa app's action endpoint; None without one (or no model loaded)."""
    endpoint = getattr(getattr(getattr(app, "ctx", None), "agent", None), "action_endpoint", None)
    url = getattr(endpoint, "url", None)
    if not isinstance(url, str):
        return None
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if parts.scheme not in ("http", "https") or not path.endswith("/webhook"):
        return None
    params = dict(getattr(endpoint, "params", None) or {})
    if getattr(endpoint, "token", None):  # Rasa's EndpointConfig sends a token as a query parameter
        params[endpoint.token_name] = endpoint.token
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    target = parts._replace(path=path[: -len("/webhook")] + "/prepare", query=query, fragment="").geturl()
    headers = {str(k): str(v) for k, v in (getattr(endpoint, "headers", None) or {}).items()}
    return target, headers


class Announcer:
    """One daemon thread posting queued announcements over kept-alive connections."""

    def __init__(self, timeout: float = TIMEOUT_SECONDS, size: int = QUEUE_SIZE) -> None:
        self.timeout = timeout
        self._queue: queue.Queue = queue.Queue(size)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._conns: dict[tuple[str, str], http.client.HTTPConnection] = {}

    def submit(self, url: str, headers: dict[str, str], text: str) -> bool:
        """Queue one announcement; False when the queue is full (it is dropped)."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="linli-prefetch", daemon=True)
                self._thread.start()
        body = json.dumps({"text": text}, ensure_ascii=False).encode("utf-8")
        try:
            self._queue.put_nowait((url, headers, body))
        except queue.Full:
            logger.debug("prefetch queue full: announcement dropped")
            return False
        return True

    def _loop(self) -> None:
        while True:
            self._post(*self._queue.get())

    def _post(self, url: str, headers: dict[str, str], body: bytes) -> None:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        for attempt in (1, 2):  # the server may have closed an idle kept-alive connection: one fresh try
            conn = self._conn(parts.scheme, parts.netloc)
            try:
                mark("prefetch.send")
                conn.request("POST", path, body, {**headers, "Content-Type": "application/json"})
                conn.getresponse().read()
                mark("prefetch.acked")
                return
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                self._conns.pop((parts.scheme, parts.netloc), None)
                if attempt == 2:
                    logger.debug("prefetch to %s failed: %s", parts.netloc, e)

    def _conn(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        conn = self._conns.get((scheme, netloc))
        if conn is None:
            cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            conn = self._conns[(scheme, netloc)] = cls(netloc, timeout=self.timeout)
        return conn


_announcer = Announcer()


def announce(app: Any, text: str) -> None:
    """Tell the action server that ``text`` is on its way through Rasa (see module docstring); never raises."""
    try:
        text = (text or "").strip()
        if not ENABLED or not text or text.startswith("/") or len(text) > MAX_QUESTION_CHARS:
            return
        target = prepare_target(app)
        if target is not None:
            _announcer.submit(target[0], target[1], text)
    except Exception:  # noqa: BLE001 — an announcement must never touch the turn
        logger.debug("prefetch not sent", exc_info=True)
