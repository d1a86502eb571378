"""One kept-alive HTTP session per endpoint and event loop, instead of a new session (and TCP connection) per call.

Rasa 3.6's ``EndpointConfig.request`` opens ``async with self.session()`` on every call: a new aiohttp
``ClientSession``, a new connector and a new TCP connection to the action server for each custom action, then
closes them. Under ``bench/bench_load.py`` that was about a tenth of the Rasa process's CPU (py-spy). Here
``session()`` lends one session per (endpoint, event loop), whose connections stay open between calls;
leaving the ``async with`` does not close it.

Its idle connections close after :data:`KEEPALIVE_SECONDS`, shorter than the action server's own keep-alive
(``actions.serve``: 5 s), so the client always drops an idle connection before the server does and a call
never goes out on a connection the server is closing. :func:`install` is called by ``rasa_addons.run``.
"""

from __future__ import annotations

import asyncio
from typing import Any

KEEPALIVE_SECONDS = 2.0
_installed = False


class _Lent:
    """``async with`` over a shared session: enters to it, leaves it open."""

    def __init__(self, session: Any) -> None:
        self.session = session

    async def __aenter__(self) -> Any:
        return self.session

    async def __aexit__(self, *exc: object) -> bool:
        return False


def install() -> None:
    """Make ``EndpointConfig.session`` lend a per-loop kept-alive session (idempotent)."""
    global _installed
    if _installed:
        return
    import aiohttp
    from rasa.core.constants import DEFAULT_REQUEST_TIMEOUT
    from rasa.utils.endpoints import EndpointConfig

    fresh = EndpointConfig.session

    def session(self: EndpointConfig) -> Any:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop: the caller owns a fresh session, as in Rasa
            return fresh(self)
        lent: dict[Any, Any] = self.__dict__.setdefault("_linli_sessions", {})
        shared = lent.get(loop)
        if shared is None or shared.closed:
            auth = self.basic_auth and aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"])
            shared = aiohttp.ClientSession(  # as Rasa's session(), with a keep-alive connector
                headers=self.headers,
                auth=auth or None,
                timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
                connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_SECONDS),
            )
            lent.clear()  # a closed loop's session is not used again
            lent[loop] = shared
        return _Lent(shared)

    EndpointConfig.session = session
    _installed = True
