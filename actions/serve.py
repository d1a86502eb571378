"""The action server as it must run: loopback by default, a shared token on every call.

``python -m rasa_sdk`` listens on 0.0.0.0 without authentication, so anyone who can reach port 5055
can post a forged tracker to ``/webhook`` and file a consultation with any channel, sender and
consent. This wrapper reuses rasa_sdk's Sanic app (``rasa_sdk.endpoint.create_app``) and adds:

* bind address ``LINLI_ACTION_HOST`` (default 127.0.0.1) and port ``LINLI_ACTION_PORT`` / ``--port``;
* ``LINLI_ACTION_TOKEN`` (required): every route but ``/health`` answers 401 without it. Rasa sends it
  as ``Authorization: Bearer …`` (endpoints.yml ``action_endpoint.headers``); ``?token=`` also works;
* ``POST /prepare``: a channel announces a resident's text so its query encode runs while Rasa parses it
  (:mod:`actions.prepare`, behind the same token);
* caps: body size (``LINLI_ACTION_MAX_BODY_BYTES``) and a 10 s request-read timeout; idle connections are kept
  30 s (Rasa's, kept alive for 2 s, never meet a closing one);
* ``LINLI_ACTION_WORKERS`` / ``--workers``: worker processes sharing the port (Sanic's worker manager,
  each built by :func:`build_app` in a fresh process; the ONNX weights are memory-mapped, so the page
  cache holds them once). rasa_sdk runs a synchronous action on its event loop, so one worker serves
  one action at a time: workers are what lets a second core encode meanwhile.

    LINLI_ACTION_TOKEN=… .venv/bin/python -m actions.serve [--port 5055] [--workers 2]
"""

from __future__ import annotations

import argparse
import hmac
import logging
import sys
from functools import partial

from sanic import Sanic, response
from sanic.request import Request

from linli_common import cores
from linli_common.timeline import enabled, mark

REFUSED = "动作服务器只接受带有共享令牌的请求（LINLI_ACTION_TOKEN）。"
WORKER_STARTUP_SECONDS = 600
NO_TOKEN = "LINLI_ACTION_TOKEN is not set: the action server refuses to run without a token"
log = logging.getLogger("actions.serve")


class OneLine(logging.Filter):
    """Escapes line breaks in a record's message: user text in a log line cannot forge another line."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "\n" in message or "\r" in message:
            record.msg, record.args = message.replace("\r", "\\r").replace("\n", "\\n"), None
        return True


def token_of(request: Request) -> str:
    scheme, _, value = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return str(request.args.get("token") or "")


def _domain_optional_executor():
    from rasa_sdk.executor import ActionExecutor

    class DomainOptional(ActionExecutor):
        """Runs a call that carries no domain with an empty one.

        Rasa 3.6 with ``enable_selective_domain`` (endpoints.yml) sends the domain only to the validate_* form
        actions; it knows nothing of rasa_sdk 3.12's digest protocol (answer 449, Rasa resends with the
        domain), so without this every other action would fail. None of them reads the domain."""

        def update_and_return_domain(self, payload, action_name):
            if payload.get("domain") is None:
                return {}
            return super().update_and_return_domain(payload, action_name)

    return DomainOptional


def build_app(token: str, max_body_bytes: int = 4 * 1024 * 1024) -> Sanic:
    """rasa_sdk's app with the ``actions`` package registered, behind the token check."""
    if not token:
        raise ValueError(NO_TOKEN)
    from rasa_sdk.endpoint import create_app

    executor = _domain_optional_executor()()
    executor.register_package("actions")
    app = create_app(executor, cors_origins=[])  # only Rasa calls it: no browser origin is allowed
    from actions.prepare import install

    install(app)  # POST /prepare: the channels announce a question while Rasa parses it (actions.prepare)
    app.config.REQUEST_MAX_SIZE = max_body_bytes
    app.config.REQUEST_TIMEOUT = 10
    # Rasa drops an idle connection after 2 s (rasa_addons.endpoint_session): far below this, even when its loop
    # reads a reply seconds late under load, so it never reuses one this server is closing
    app.config.KEEP_ALIVE_TIMEOUT = 30
    expected = token.encode("utf-8")

    @app.after_server_start
    async def warm_up(app: Sanic, _loop) -> None:  # in each serving process, never in the one managing workers
        from actions import start_warm_up

        start_warm_up()

    @app.on_request
    async def require_token(request: Request):
        mark(f"sdk.in.{request.path.strip('/')}")
        if request.path == "/health":
            return None
        if not hmac.compare_digest(token_of(request).encode("utf-8", "surrogatepass"), expected):
            log.warning("action call without a valid token refused (%s %s)", request.method, request.path[:64])
            return response.json({"error": REFUSED}, status=401, headers={"WWW-Authenticate": "Bearer"})
        return None

    if enabled():  # the latency bench's timeline (linli_common.timeline)

        @app.on_response
        async def sent(request: Request, _response) -> None:
            mark(f"sdk.out.{request.path.strip('/')}")

    return app


def configure_logging(level: str) -> None:
    """Root logging for this process: one line per record, phones masked (no forged or leaking lines)."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    from bot.privacy import MaskingFilter

    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, OneLine) for f in handler.filters):
            handler.addFilter(MaskingFilter())
            handler.addFilter(OneLine())


def worker_app(token: str, max_body_bytes: int, log_level: str) -> Sanic:
    """The app as each worker process builds it (``--workers N``): the same logging rules as ``main``."""
    configure_logging(log_level)
    return build_app(token, max_body_bytes)


def main(argv: list[str] | None = None) -> int:
    from bot.settings import get_settings

    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m actions.serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default=settings.action_host)
    parser.add_argument("--port", type=int, default=settings.action_port)
    parser.add_argument(
        "--workers", type=int, default=settings.action_workers, help="worker processes (default LINLI_ACTION_WORKERS)"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.workers <= 16:
        print(f"actions.serve: --workers must be between 1 and 16, not {args.workers}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    if not settings.action_token:
        print(f"actions.serve: {NO_TOKEN}", file=sys.stderr)
        return 2
    pinned = cores.pin(cores.ACTIONS, args.workers)  # before the encoder starts its threads
    log.info(
        "action server on http://%s:%d (token required, %d worker(s)%s)",
        args.host,
        args.port,
        args.workers,
        f", cores {sorted(pinned)}" if pinned else "",
    )
    if args.workers == 1:
        app = build_app(settings.action_token, settings.action_max_body_bytes)
        app.run(host=args.host, port=args.port, single_process=True, access_log=False, motd=False)
        return 0
    from sanic.worker.loader import AppLoader
    from sanic.worker.manager import WorkerManager

    # Sanic gives workers 30 s to report ready, then kills them all; importing faiss, jieba and the actions takes
    # longer than that on a busy 2-core machine (the encoder itself loads after startup, in the background)
    WorkerManager.THRESHOLD = 10 * WORKER_STARTUP_SECONDS

    # each worker process builds its own app (and model) from this factory; the token travels in the pickled
    # factory over the worker pipe, never on a command line
    loader = AppLoader(
        factory=partial(worker_app, settings.action_token, settings.action_max_body_bytes, settings.log_level)
    )
    app = loader.load()
    app.prepare(host=args.host, port=args.port, workers=args.workers, access_log=False, motd=False)
    Sanic.serve(primary=app, app_loader=loader)
    return 0


if __name__ == "__main__":
    sys.exit(main())
