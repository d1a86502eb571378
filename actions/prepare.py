"""``POST /prepare``: warm the caches for a question a resident has just typed, while Rasa is still parsing it.

The channels (``connectors.prefetch``) post ``{"text": …}`` as soon as a message arrives. The question's text
preparation and query encode (:func:`bot.retrieval.prepared.warm`) then run in a worker thread (onnxruntime
releases the GIL), so when Rasa calls ``action_answer_question`` a few milliseconds later, ``ask`` finds them
done, or waits for the encode already running (:class:`bot.retrieval.search.Retriever`) instead of starting
another. It only warms caches: every answer is the one ``ask`` gives anyway.

202: scheduled. 204: nothing to do (the model is still loading, prepares are queueing up, or ``ask`` would refuse
the text). 400 / 413: a bad or oversized body. Never 5xx. With several worker processes a prepare may land on
another worker than the action call: then it is merely wasted. ``GET /prepare`` reports counts (for the benches).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from sanic import Sanic, response
from sanic.request import Request

from actions.common import built
from linli_common.timeline import mark

MAX_BODY_BYTES = 16 * 1024
MAX_PENDING = 4  # prepares waiting or running; more are dropped (under load they would only arrive too late)
BAD_BODY = '请求格式不正确：请发送 JSON 对象 {"text": "居民发来的文字"}。'
TOO_LARGE = "请求体过大。"
log = logging.getLogger(__name__)


def text_of(body: bytes) -> str:
    """The ``text`` of a prepare body, or ValueError."""
    try:
        data = json.loads(body or b"")
    except Exception:  # JSONDecodeError, UnicodeDecodeError, RecursionError
        raise ValueError(BAD_BODY) from None
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        raise ValueError(BAD_BODY)
    return data["text"]


class Preparer:
    """Runs prepares one at a time in a thread of their own, never more than ``MAX_PENDING`` queued."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="linli-prepare")
        self._lock = threading.Lock()
        self._pending = 0
        self.counts: Counter = Counter()

    def submit(self, text: str) -> bool:
        """Schedule ``text``'s preparation; False when there is nothing to do now."""
        if not text.strip() or text.strip().startswith("/"):  # a button payload: ask never sees it (user_text)
            return False
        assistant = built("assistant")
        with self._lock:
            if assistant is None:
                self.counts["not_loaded"] += 1
                return False
            if self._pending >= MAX_PENDING:
                self.counts["busy"] += 1
                return False
            self._pending += 1
            self.counts["scheduled"] += 1
        self._pool.submit(self._run, getattr(assistant, "active", assistant), text)
        return True

    def _run(self, assistant, text: str) -> None:
        from bot.retrieval.prepared import warm

        mark("sdk.encode.start")
        try:
            outcome = "warmed" if warm(assistant, text) is not None else "refused"
        except Exception:  # noqa: BLE001 — a prepare only warms caches; ask will do (and report) the work itself
            log.debug("prepare failed", exc_info=True)
            outcome = "failed"
        mark("sdk.encode.end")
        with self._lock:
            self._pending -= 1
            self.counts[outcome] += 1

    def stats(self) -> dict:
        assistant = built("assistant")
        encodes = dict(assistant.retriever.encodes) if assistant is not None else {}
        with self._lock:
            return {"prepares": dict(self.counts), "encodes": encodes}


def install(app: Sanic) -> Preparer:
    """Add ``POST /prepare`` and ``GET /prepare`` to the action server's app (behind its token check)."""
    preparer = Preparer()

    @app.post("/prepare")
    async def prepare(request: Request):
        mark("sdk.prepare")
        if len(request.body or b"") > MAX_BODY_BYTES:
            return response.json({"error": TOO_LARGE}, status=413)
        try:
            text = text_of(request.body)
        except ValueError as e:
            return response.json({"error": str(e)}, status=400)
        return response.empty(status=202 if preparer.submit(text) else 204)

    @app.get("/prepare")
    async def prepare_stats(_: Request):
        return response.json(preparer.stats())

    return preparer
