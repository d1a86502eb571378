"""What a chat endpoint accepts from the outside: body size, metadata shape, request rate, intent payloads.

Every channel blueprint (REST, web chat and its mailbox, Telegram's webhook, and any new channel) calls
these before a request reaches Rasa, so a hostile client meets the same rules everywhere:

* :func:`body_too_large`: bodies over ``ChannelLimits.max_body_bytes`` (tens of KB) are answered 413;
* :func:`metadata_problem`: client metadata deeper or larger than the caps is answered 400;
* :class:`InboundLimiter`: per sender and per peer address, answered 429;
* :func:`resident_text`: a resident's text never becomes an ``EXTERNAL_…`` intent (those are pushes from
  the committee inbox) nor an intent with broken syntax (Rasa would log the raw text as a warning);
* :func:`log_safe`: user-controlled strings are logged on one line (no forged log lines).

Standard library only: importable from tests and from other channels without Rasa.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Hashable, Mapping
from typing import Any

BODY_TOO_LARGE = "请求内容太大（超过 {kb} KB）。请只发送文字消息，长内容请分几次发送。"
METADATA_TOO_BIG = "metadata 太大或嵌套太深：最多 {depth} 层、{kb} KB。"
RATE_LIMITED = "您发送得太快了，请稍等几秒再试。"

#: Intents only the committee inbox may trigger (through Rasa's token-protected ``trigger_intent``).
EXTERNAL_PREFIX = "EXTERNAL_"
# Rasa's intent syntax as button payloads use it: "/intent", "/intent{json}", "/intent@0.9{json}".
_INTENT_PAYLOAD = re.compile(r"^/([A-Za-z_][A-Za-z0-9_]{0,99})(@[0-9.]+)?(\{.*\})?$", re.DOTALL)
_LINE_BREAKS = str.maketrans({"\n": "\\n", "\r": "\\r", "\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\x85"})


def body_too_large(headers: Mapping[str, Any], body: bytes | None, limit: int) -> bool:
    """True when the declared or received body exceeds ``limit`` bytes."""
    declared = headers.get("content-length") if headers is not None else None
    try:
        if declared is not None and int(declared) > limit:
            return True
    except (TypeError, ValueError):
        pass
    return len(body or b"") > limit


def body_too_large_message(limit: int) -> str:
    return BODY_TOO_LARGE.format(kb=max(1, limit // 1024))


def metadata_depth(value: Any, stop_at: int) -> int:
    """Nesting depth of a JSON value (a scalar is 0), counted without recursion; stops past ``stop_at``."""
    deepest = 0
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > stop_at:
                return deepest
            stack.extend((v, depth) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def metadata_problem(metadata: Any, max_bytes: int, max_depth: int) -> str | None:
    """None when ``metadata`` fits the caps, else the Chinese explanation for a 400."""
    if metadata is None:
        return None
    message = METADATA_TOO_BIG.format(depth=max_depth, kb=max(1, max_bytes // 1024))
    if metadata_depth(metadata, max_depth) > max_depth:
        return message
    try:
        size = len(json.dumps(metadata, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    except (TypeError, ValueError):
        return message
    return message if size > max_bytes else None


def resident_text(
    text: str, allow_intents: bool, intents: Collection[str] | None = None, entities: Collection[str] | None = None
) -> str:
    """The text Rasa should see for what a resident sent.

    ``allow_intents``: the channel lets this message be a button payload (``/intent{…}``). Even then an
    ``EXTERNAL_…`` intent, a malformed one, or (when the domain's ``intents`` / ``entities`` are given) an
    unknown one loses its leading "/" and is read as words, as typed text always is: residents cannot
    inject pushes, and Rasa never logs their text as a failed intent parse (phones in the log).
    """
    if not text.startswith("/"):
        return text
    m = _INTENT_PAYLOAD.match(text)
    if (
        allow_intents
        and m
        and not m.group(1).startswith(EXTERNAL_PREFIX)
        and (intents is None or m.group(1) in intents)
    ):
        arguments = _json_object_or_none(m.group(3))
        if arguments is not None and (entities is None or set(arguments) <= set(entities)):
            return text
    return text.lstrip("/").strip() or "你好"


def _json_object_or_none(raw: str | None) -> dict | None:
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def log_safe(value: Any, limit: int = 64) -> str:
    """A user-controlled value for a log line: line breaks escaped, bounded length."""
    return str(value)[:limit].translate(_LINE_BREAKS)


class InboundLimiter:
    """Token buckets per key: ``burst`` requests at once, then ``per_minute`` on average.

    In process memory (each Rasa replica counts its own clients); bounded to ``max_keys`` keys, the
    least recently seen forgotten first.
    """

    def __init__(
        self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000
    ):
        self.rate = max(per_minute, 0.0) / 60.0
        self.burst = max(int(burst), 1)
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[Hashable, list[float]] = OrderedDict()

    def allow(self, key: Hashable) -> bool:
        """Take one token for ``key``; False when its bucket is empty."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = [float(self.burst), now]
        tokens = min(float(self.burst), bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        self._buckets.move_to_end(key)
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        if tokens < 1.0:
            bucket[0] = tokens
            return False
        bucket[0] = tokens - 1.0
        return True

    def retry_after(self, key: Hashable) -> int:
        """Whole seconds until ``key`` has a token again (for the Retry-After header)."""
        bucket = self._buckets.get(key)
        if bucket is None or self.rate <= 0:
            return 60
        return max(1, math.ceil((1.0 - bucket[0]) / self.rate))
