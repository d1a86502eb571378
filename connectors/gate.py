"""The door of every chat endpoint on the Rasa server: body cap (413), rate limits (429), server timeouts.

A channel builds one :class:`RequestGate` and asks it first in each route::

    refusal = gate.refuse_body(request) or gate.refuse_rate(request, sender)
    if refusal: return refusal

:func:`install_server_limits` (registered by each of our channel blueprints; applied once) sets Sanic's
limits for the whole Rasa server: ``REQUEST_MAX_SIZE``, ``KEEP_ALIVE_TIMEOUT``, and a *total* deadline to
receive a request. Sanic 21.12's ``REQUEST_TIMEOUT`` restarts at every received byte and does not cover a
body that stops arriving (that waits for ``RESPONSE_TIMEOUT``, an hour in Rasa), so a request trickled
one byte at a time stayed open for minutes; the deadline here counts from the request's first byte.
"""

from __future__ import annotations

import logging
from time import monotonic
from typing import Any

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.config import ChannelLimits
from connectors.limits import RATE_LIMITED, InboundLimiter, body_too_large, body_too_large_message

logger = logging.getLogger(__name__)

_installed = False


class RequestGate:
    """Body cap and per-sender / per-peer rate limits of one channel (its own buckets)."""

    def __init__(self, limits: ChannelLimits, headers: dict[str, str] | None = None) -> None:
        self.limits = limits
        self.headers = headers or {}
        self.senders = InboundLimiter(limits.sender_per_minute, limits.sender_burst)
        self.peers = InboundLimiter(limits.peer_per_minute, limits.peer_burst)

    def refuse_body(self, request: Request) -> HTTPResponse | None:
        if body_too_large(request.headers, request.body, self.limits.max_body_bytes):
            return response.json(
                {"error": body_too_large_message(self.limits.max_body_bytes)}, status=413, headers=self.headers
            )
        return None

    def refuse_rate(self, request: Request, sender: str | None = None) -> HTTPResponse | None:
        """429 when the peer address or ``sender`` (the namespaced conversation id) is over its rate."""
        peer = request.ip or "?"
        for limiter, key in ((self.peers, peer), (self.senders, sender)):
            if key is not None and not limiter.allow(key):
                headers = {**self.headers, "Retry-After": str(limiter.retry_after(key))}
                return response.json({"error": RATE_LIMITED}, status=429, headers=headers)
        return None


def domain_vocabulary(request: Request) -> tuple[frozenset[str] | None, frozenset[str] | None]:
    """(intents, entities) of the loaded model's domain, for :func:`connectors.limits.resident_text`;
    (None, None) while no model is loaded."""
    return app_vocabulary(request.app)


def app_vocabulary(app: Any) -> tuple[frozenset[str] | None, frozenset[str] | None]:
    agent = getattr(getattr(app, "ctx", None), "agent", None)
    domain = getattr(agent, "domain", None)
    if domain is None:
        return None, None
    return frozenset(domain.intents), frozenset(domain.entities)


def install_server_limits(bp: Blueprint, limits: ChannelLimits) -> None:
    """Register the listener that applies ``limits`` to the Rasa server when it starts."""

    @bp.listener("before_server_start")
    async def apply(app: Any, _loop: Any) -> None:
        app.config.REQUEST_MAX_SIZE = limits.server_max_body_bytes
        app.config.REQUEST_TIMEOUT = limits.request_timeout
        app.config.KEEP_ALIVE_TIMEOUT = limits.keep_alive_timeout
        _limit_receive_time()


def _limit_receive_time() -> None:
    """Make ``REQUEST_TIMEOUT`` a deadline for receiving a whole request (headers and body)."""
    global _installed
    if _installed:
        return
    from sanic.exceptions import RequestTimeout
    from sanic.http import Stage as HttpStage
    from sanic.server.protocols.http_protocol import HttpProtocol

    received = HttpProtocol.data_received
    check = HttpProtocol.check_timeouts

    def receiving(http: Any) -> bool:
        return http is not None and (
            http.stage is HttpStage.REQUEST or (http.stage is HttpStage.HANDLER and bool(http.request_body))
        )

    def data_received(self: Any, data: bytes) -> None:
        http = getattr(self, "_http", None)
        ctx = getattr(getattr(self, "conn_info", None), "ctx", None)
        if ctx is not None and (http is None or http.stage is HttpStage.IDLE):
            ctx.linli_request_began = monotonic()  # first bytes of the next request on this connection
        received(self, data)

    def check_timeouts(self: Any) -> None:
        http = getattr(self, "_http", None)
        ctx = getattr(getattr(self, "conn_info", None), "ctx", None)
        began = getattr(ctx, "linli_request_began", None)
        if self._task and receiving(http) and began is not None and monotonic() - began > self.request_timeout:
            logger.info("request not received within %.0fs: connection closed", self.request_timeout)
            http.exception = RequestTimeout("Request Timeout")
            self._task.cancel()
            return
        check(self)

    HttpProtocol.data_received = data_received
    HttpProtocol.check_timeouts = check_timeouts
    _installed = True
