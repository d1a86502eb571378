"""The knowledge desk's own assistant: the hit test asks it, and publishing shows its index rebuild's progress.

Built in the background on first use (the embedding model takes a while to load), then a
:class:`bot.retrieval.live.LiveAssistant` that follows the published version like the action servers do;
a publish starts its rebuild at once, so the page can show the stages while the action servers do the same.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


class DeskIndex:
    def __init__(self, settings):
        self._settings = settings
        self._live = None
        self._lock = threading.Lock()
        self._loader: threading.Thread | None = None
        self._error = ""

    def get(self):
        """The live assistant, or None while it is still loading (its loading is started here)."""
        if self._live is None:
            with self._lock:
                if self._live is None and (self._loader is None or not self._loader.is_alive()):
                    self._loader = threading.Thread(target=self._load, name="kb-desk-index", daemon=True)
                    self._loader.start()
        return self._live

    def wait(self, seconds: float) -> object | None:
        """``get()``, waiting up to ``seconds`` for a first load (the hit test answers in one request)."""
        live = self.get()
        loader = self._loader
        if live is None and loader is not None:
            loader.join(seconds)
        return self._live

    def _load(self) -> None:
        try:
            from bot.retrieval.assistant import Assistant
            from bot.retrieval.live import LiveAssistant

            self._live = LiveAssistant(self._settings, Assistant.build(self._settings, progress=False))
            self._error = ""
        except Exception as e:  # noqa: BLE001 — shown on the page; the desk keeps working without it
            self._error = f"{type(e).__name__}: {e}"[:300]
            log.exception("knowledge desk index not loaded")

    def published(self) -> None:
        """A version was published or rolled back: rebuild now rather than at the next poll."""
        live = self.get()
        if live is not None:
            live.reload()

    def status(self) -> dict:
        if self._live is None:
            loading = self._loader is not None and self._loader.is_alive()
            return {
                "version": "",
                "building": "…" if loading else None,
                "stage": "failed" if self._error else ("loading" if loading else "idle"),
                "done": 0,
                "total": 0,
                "error": self._error,
            }
        return self._live.reload_status()
