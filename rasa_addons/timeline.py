"""Timeline marks around the engine's steps of a message, for ``bench/bench_webhook.py --timeline``.

Installed only when ``LINLI_TIMELINE`` is set (:mod:`linli_common.timeline`): each wrapped Rasa 3.6 method
marks ``<name>.start`` and ``<name>.end``, so the bench can tell NLU, policies, the action call, the tracker
store and what lies between them apart. Without the variable nothing is wrapped.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

from linli_common.timeline import enabled, mark


def _wrap(owner: Any, attr: str, name: str) -> None:
    original = getattr(owner, attr)
    if inspect.iscoroutinefunction(original):

        @functools.wraps(original)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            mark(f"{name}.start")
            try:
                return await original(*args, **kwargs)
            finally:
                mark(f"{name}.end")

    else:

        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            mark(f"{name}.start")
            try:
                return original(*args, **kwargs)
            finally:
                mark(f"{name}.end")

    setattr(owner, attr, wrapper)


def install() -> bool:
    """Wrap the steps (only with ``LINLI_TIMELINE`` set); True when installed."""
    if not enabled():
        return False
    from rasa.core.actions.action import RemoteAction
    from rasa.core.processor import MessageProcessor
    from rasa.utils.endpoints import EndpointConfig

    for attr, name in (
        ("handle_message", "proc"),
        ("log_message", "log_message"),
        ("parse_message", "nlu"),
        ("run_action_extract_slots", "extract_slots"),
        ("_predict_next_with_tracker", "policies"),
        ("_run_action", "run_action"),
        ("save_tracker", "save_tracker"),
    ):
        _wrap(MessageProcessor, attr, name)
    _wrap(RemoteAction, "run", "remote")
    _wrap(RemoteAction, "_action_call_format", "call_body")
    _wrap(EndpointConfig, "request", "http")
    return True
