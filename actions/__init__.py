"""Custom actions of the linli assistant: thin rasa_sdk adapters over the ``bot`` package.

One module per concern (answers, consultation form, status, handoff, feedback, indicators).
The action server warms the retrieval model up in the background once it serves (``start_warm_up``, called by
``actions.serve`` after server start in each worker), so the first question is not slow.
"""

import logging
import threading
import time

from bot.privacy import MaskingFilter

for _h in logging.getLogger().handlers:
    _h.addFilter(MaskingFilter())


def _warm_up() -> None:
    from actions.common import assistant, consultations

    started = time.perf_counter()
    for load in (assistant, consultations):
        try:
            load()
        except Exception:  # reported again (politely) on first use
            logging.getLogger(__name__).exception("warm-up of %s failed", load.__name__)
    try:  # one question through every lazy table (OpenCC's two dictionaries, jieba, the regex caches): ~0.2 s
        assistant().ask("社區有老年食堂嗎")
    except Exception:  # noqa: BLE001 — a warm-up only; a real question reports its own failure
        logging.getLogger(__name__).debug("warm-up question failed", exc_info=True)
    from bot.embedding import release_weight_pages

    # building the index and the scope prototypes touched far more of the embedding table than a query will
    released = release_weight_pages()
    logging.getLogger(__name__).info(
        "warm-up done in %.1f s (%d MB of mapped weights released)", time.perf_counter() - started, released // 1024
    )


def start_warm_up() -> None:
    """Load the assistant and the consultation service in a background thread.

    Not at import: a thread started while this package is still being imported waited forever on the
    import machinery (measured: the model never loaded until the first question)."""
    threading.Thread(target=_warm_up, name="linli-warm-up", daemon=True).start()
