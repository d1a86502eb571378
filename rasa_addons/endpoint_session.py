"""Call the action server over kept-alive connections: one HTTP session per endpoint, not one per call.

Rasa 3.6's ``EndpointConfig.request`` opens ``async with self.session()``: a new aiohttp ``ClientSession``
(connector, TCP connection) for every custom action call, closed right after it. The latency bench's timeline
(``bench/bench_webhook.py --timeline``) shows that setup in every retrieval reply. Here ``session()`` lends one
session per event loop and configuration (headers, basic auth) instead, which ``async with`` does not close; the
requests, headers, parameters, timeout and errors are Rasa's own. The server closes the sessions when it stops.

A connection the server has closed must never fail a turn (an earlier attempt failed 12 answers under load 20
with ``Cannot write to closing transport``: Rasa's loop, blocked by NLU, read a response seconds late and reused
the connection after the server's keep-alive had run out). So: an idle connection is dropped after
``KEEPALIVE_SECONDS``, far below the action server's 30 s (``actions/serve.py``); and a custom action call
(``RemoteAction.run``) that fails because its connection broke before any reply (the request refused by a closing
transport, a reset, a disconnect: the action server, Sanic, closes only idle connections, so it never ran that
call) is sent once more, on a fresh connection as Rasa would open it. Other endpoints, refused connections and
timeouts are not retried. Outside a running loop, and with ``LINLI_ACTION_KEEPALIVE=off``, Rasa's own behaviour
is kept.

:func:`install` is called by ``rasa_addons.run`` before Rasa starts.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
from typing import Any

KEEPALIVE_SECONDS = 2.0
ENABLED = os.environ.get("LINLI_ACTION_KEEPALIVE", "on").lower() not in ("0", "off", "false", "no")  # off: A/B bench
logger = logging.getLogger(__name__)
_installed = False
_sessions: dict[tuple, Any] = {}  # (loop id, headers, auth) → (loop, ClientSession)
_fresh = contextvars.ContextVar("linli_fresh_session", default=False)  # a retry: Rasa's own new session
_action_call = contextvars.ContextVar("linli_action_call", default=False)  # inside RemoteAction.run


class _Lent:
    """``async with`` over a shared session: enters it, never closes it."""

    def __init__(self, session: Any) -> None:
        self.session = session

    async def __aenter__(self) -> Any:
        return self.session

    async def __aexit__(self, *_exc: object) -> None:
        return None


def shared_session(config: Any) -> Any:
    """The kept-alive session for ``config`` on the running loop (created on first use)."""
    import aiohttp
    from rasa.core.constants import DEFAULT_REQUEST_TIMEOUT

    loop = asyncio.get_running_loop()
    auth = config.basic_auth or {}
    key = (
        id(loop),
        tuple(sorted((str(k), str(v)) for k, v in (config.headers or {}).items())),
        (auth.get("username"), auth.get("password")) if auth else None,
    )
    found = _sessions.get(key)
    if found is not None and found[0] is loop and not found[1].closed:
        return found[1]
    for k, (old_loop, _) in list(_sessions.items()):  # sessions of loops that are gone
        if old_loop.is_closed():
            del _sessions[k]
    session = aiohttp.ClientSession(
        headers=config.headers,
        auth=aiohttp.BasicAuth(auth["username"], auth["password"]) if auth else None,
        timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
        connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_SECONDS),
    )
    _sessions[key] = (loop, session)
    return session


def broken_connection(error: BaseException) -> bool:
    """True when ``error`` is a connection that broke before any response (not a refused connect, not a timeout)."""
    import aiohttp

    if isinstance(error, aiohttp.ClientConnectorError):
        return False
    return isinstance(error, (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError))


def install() -> None:
    """Make ``EndpointConfig.session`` lend the shared session inside a running loop (idempotent)."""
    global _installed
    if _installed or not ENABLED:
        return
    import rasa.core.run
    from rasa.utils.endpoints import EndpointConfig

    stock_session, stock_request = EndpointConfig.session, EndpointConfig.request

    def session(self: Any) -> Any:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return stock_session(self)
        return stock_session(self) if _fresh.get() else _Lent(shared_session(self))

    async def request(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await stock_request(self, *args, **dict(kwargs))  # Rasa's request deletes keys from its kwargs
        except Exception as e:
            if _fresh.get() or not _action_call.get() or not broken_connection(e):
                raise  # only action calls are sent again (other endpoints, e.g. a callback channel, may not be Sanic)
            logger.info("endpoint %s: a kept-alive connection broke before the reply (%s); sent again", self.url, e)
        token = _fresh.set(True)
        try:
            return await stock_request(self, *args, **kwargs)
        finally:
            _fresh.reset(token)

    EndpointConfig.session, EndpointConfig.request = session, request
    from rasa.core.actions.action import RemoteAction

    stock_run = RemoteAction.run

    async def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        token = _action_call.set(True)
        try:
            return await stock_run(self, *args, **kwargs)
        finally:
            _action_call.reset(token)

    RemoteAction.run = run
    close_resources = rasa.core.run.close_resources  # serve_application registers it after_server_stop by name

    async def close_with_sessions(app: Any, loop: Any) -> None:
        await close_resources(app, loop)
        await close_all()

    rasa.core.run.close_resources = close_with_sessions
    _installed = True


async def close_all() -> None:
    """Close the running loop's sessions (server shutdown, tests)."""
    loop = asyncio.get_running_loop()
    for k, (owner, session) in list(_sessions.items()):
        if owner is loop:
            del _sessions[k]
            await session.close()
