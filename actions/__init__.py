"""Custom actions of the linli assistant: thin rasa_sdk adapters over the ``bot`` package.

One module per concern (answers, consultation form, status, handoff, feedback, indicators).
In the action server the retrieval model is warmed up in the background at import, so the first question is not slow.
"""

import logging
import os
import sys
import threading

from bot.privacy import MaskingFilter

for _h in logging.getLogger().handlers:
    _h.addFilter(MaskingFilter())


def _warm_up() -> None:
    from actions.common import assistant, consultations

    for load in (assistant, consultations):
        try:
            load()
        except Exception:  # reported again (politely) on first use
            logging.getLogger(__name__).exception("warm-up of %s failed", load.__name__)


def _serves_actions() -> bool:
    """In the action server (or one of its ``--workers`` processes), not in the process that only manages them."""
    if os.environ.get("SANIC_WORKER_NAME"):
        return True
    return (getattr(sys.modules.get("__main__"), "__package__", None) in ("rasa_sdk", "actions")
            and os.environ.get("LINLI_ACTION_MANAGER") != "1")


if _serves_actions():
    threading.Thread(target=_warm_up, name="linli-warm-up", daemon=True).start()
