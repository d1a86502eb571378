"""``rasa`` with its secrets from the environment: ``python -m rasa_addons.run run --enable-api …``.

Rasa 3.6 takes its HTTP API token only as ``--auth-token TOKEN``, which every local user can read in
``ps``. This launcher reads it from ``LINLI_RASA_TOKEN`` (or the file named by ``LINLI_RASA_TOKEN_FILE``)
and hands it to Rasa inside the process, so the command line never shows it. It also creates every
runtime file owner-only (umask 077), refuses ``--enable-api`` without a token, and writes every log
record on one line (a newline in a resident's message cannot forge a log line), validates action server
responses with a schema checked once (``rasa_addons.action_response``: half of Rasa's CPU per message otherwise),
parses well-formed button payloads without the NLU graph (``rasa_addons.payload_parse``: Rasa discards the
graph's work on them), skips two per-message wastes (``rasa_addons.event_types``, ``rasa_addons.log_copies``) and calls the action server over
kept-alive connections (``rasa_addons.endpoint_session``).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from linli_common import cores


def token_from_environment() -> str:
    token = os.environ.get("LINLI_RASA_TOKEN", "").strip()
    path = os.environ.get("LINLI_RASA_TOKEN_FILE", "").strip()
    if not token and path:
        token = Path(path).read_text(encoding="utf-8").strip()
    return token


def rasa_argv(argv: list[str], token: str) -> list[str]:
    """Rasa's arguments with ``--auth-token`` added; ValueError for a token on the command line or an open API."""
    if any(a == "--auth-token" or a.startswith("--auth-token=") for a in argv):
        raise ValueError("pass the token in LINLI_RASA_TOKEN (or LINLI_RASA_TOKEN_FILE), not on the command line")
    if argv[:1] == ["run"] and "--enable-api" in argv:
        if not token:
            raise ValueError("--enable-api needs LINLI_RASA_TOKEN: Rasa's HTTP API must never run without a token")
        return [*argv, "--auth-token", token]
    return list(argv)


def one_line_records() -> None:
    """Escape line breaks in every log record's message (tracebacks, kept in exc_text, stay readable)."""
    make = logging.getLogRecordFactory()

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = make(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is logging's business
            return record
        if "\n" in message or "\r" in message:
            record.msg, record.args = message.replace("\r", "\\r").replace("\n", "\\n"), None
        return record

    logging.setLogRecordFactory(factory)


def main() -> None:
    os.umask(0o077)
    one_line_records()
    try:
        argv = rasa_argv(sys.argv[1:], token_from_environment())
    except (OSError, ValueError) as e:
        print(f"rasa_addons.run: {e}", file=sys.stderr)
        sys.exit(2)
    sys.argv = ["rasa", *argv]
    cores.pin(cores.ENGINE)  # before TensorFlow and the event loop start their threads
    from rasa.__main__ import main as rasa_main

    from rasa_addons import action_response, endpoint_session, event_types, log_copies, payload_parse, timeline

    action_response.install()
    endpoint_session.install()
    payload_parse.install()
    event_types.install()
    log_copies.install()
    timeline.install()  # only with LINLI_TIMELINE set (the latency bench)

    rasa_main()


if __name__ == "__main__":
    main()
