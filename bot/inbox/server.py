"""How the inbox is served (``bot inbox serve``, and the tests' real servers): uvicorn with read
timeouts, masked logs, and proxy headers believed only from configured proxies.

uvicorn has no header or body read timeout: a client trickling one byte a second keeps a
connection (and a slot) forever. :class:`TimedH11Protocol` gives every request ``inbox_header_timeout``
seconds for its headers and ``inbox_body_timeout`` for its body, then answers 408 and closes.

uvicorn's own default trusts ``X-Forwarded-For`` from 127.0.0.1, so anyone on the host (or a proxy
that passes the header through) could pick their address and dodge the login throttle. Here proxy
headers are off unless ``inbox_trusted_proxies`` names the proxies; then only those are believed.
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

_SLOW = "请求发送太慢，连接已关闭。".encode()
_SLOW_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
    b"content-length: %d\r\n\r\n" % len(_SLOW)
) + _SLOW


class TimedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on reading each request's headers and then its body."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._read_timer: asyncio.TimerHandle | None = None
        self._reading: str | None = None
        super().connection_made(transport)
        self._arm("headers")

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _follow(self) -> None:
        """Arm the deadline of what we are waiting for from the client, or none while the app works."""
        state = self.conn.their_state
        if state is h11.IDLE:
            if self.conn.trailing_data[0]:
                self._arm("headers")  # part of a request is in: the rest must come in time
            elif self._reading == "body":
                self._disarm()  # between requests: uvicorn's keep-alive timeout applies
        elif state is h11.SEND_BODY:
            self._arm("body")
        else:
            self._disarm()

    def _arm(self, phase: str) -> None:
        if self._reading == phase and self._read_timer is not None:
            return
        self._disarm()
        self._reading = phase
        delay = self.header_timeout if phase == "headers" else self.body_timeout
        self._read_timer = self.loop.call_later(delay, self._too_slow)

    def _disarm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
        self._read_timer, self._reading = None, None

    def _too_slow(self) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is None or not self.cycle.response_started:
            self.transport.write(_SLOW_RESPONSE)
        self.logger.info("closed a connection that sent its %s too slowly", self._reading)
        self.transport.close()


def timed_protocol(header_timeout: float, body_timeout: float) -> type[TimedH11Protocol]:
    return type(
        "TimedH11Protocol", (TimedH11Protocol,), {"header_timeout": header_timeout, "body_timeout": body_timeout}
    )


def trusted_proxies(settings, override: str | None = None) -> list[str]:
    value = override if override is not None else getattr(settings, "inbox_trusted_proxies", "")
    return [p.strip() for p in (value or "").split(",") if p.strip()]


def uvicorn_config(
    app,
    settings,
    *,
    host: str | None = None,
    port: int | None = None,
    forwarded_allow_ips: str | None = None,
    log_config=None,
    **extra,
):
    """The one uvicorn configuration of the inbox (production and tests)."""
    import uvicorn

    proxies = trusted_proxies(settings, forwarded_allow_ips)
    return uvicorn.Config(
        app,
        host=host or settings.inbox_host,
        port=port or settings.inbox_port,
        http=timed_protocol(settings.inbox_header_timeout, settings.inbox_body_timeout),
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or None,
        log_config=log_config if log_config is not None else uvicorn.config.LOGGING_CONFIG,
        timeout_keep_alive=5,
        h11_max_incomplete_event_size=16 * 1024,
        **extra,
    )
