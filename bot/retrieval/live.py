"""The process-wide assistant that follows the published knowledge version, without a restart.

At most every ``settings.kb_reload_seconds`` a call reads the current-version pointer (one small file,
``bot.kb.versions``). When it names another version, a background thread builds that version's assistant
(knowledge base, index, gate) with the running embedder, reporting progress in :meth:`LiveAssistant.reload_status`;
then one reference assignment swaps it in. A call in flight keeps the assistant it started with, so every
answer comes wholly from the old or the new version, never from a half-built one. A build that fails
leaves the old version answering and is logged; it is tried again only when the pointer moves again.
Rasa is not involved: the NLU model does not depend on the documents.
"""

from __future__ import annotations

import logging
import threading
import time

from bot.kb.loader import load_kb
from bot.kb.versions import current_version, version_dir
from bot.retrieval.assistant import Assistant

log = logging.getLogger(__name__)


class LiveAssistant:
    """Behaves as the :class:`Assistant` of the current version (attribute access is delegated to it)."""

    def __init__(self, settings, assistant: Assistant | None = None):
        self._settings = settings
        self._active = assistant or Assistant.build(settings, progress=False)
        self._lock = threading.Lock()
        self._next_check = time.monotonic() + settings.kb_reload_seconds
        self._builder: threading.Thread | None = None
        self._failed: str | None = None
        self._status = {
            "version": self._active.kb.version,
            "building": None,
            "stage": "",
            "done": 0,
            "total": 0,
            "error": "",
        }

    @property
    def active(self) -> Assistant:
        """The assistant answering now (hold it for a sequence of calls that must see one version)."""
        return self._active

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        self.poll()
        return getattr(self._active, name)

    def reload_status(self) -> dict:
        return dict(self._status, version=self._active.kb.version)

    def poll(self) -> None:
        """Look at the pointer if the interval has passed; start a background build when it moved."""
        interval = self._settings.kb_reload_seconds
        if interval <= 0 or time.monotonic() < self._next_check:
            return
        with self._lock:
            if time.monotonic() < self._next_check:
                return
            self._next_check = time.monotonic() + interval
        wanted = current_version(self._settings.kb_dir)
        if wanted != self._active.kb.version and wanted != self._failed:
            self.reload(wanted)

    def reload(self, version: str | None = None) -> threading.Thread | None:
        """Build ``version`` (default: the one the pointer names) in the background and swap it in when ready.

        Returns the build thread, or None when that version already answers or a build is running."""
        version = version or current_version(self._settings.kb_dir)
        with self._lock:
            if version == self._active.kb.version or (self._builder is not None and self._builder.is_alive()):
                return None
            self._status.update(building=version, stage="load", done=0, total=0, error="")
            self._builder = threading.Thread(
                target=self._build, args=(version,), name=f"kb-reload-{version}", daemon=True
            )
            self._builder.start()
            return self._builder

    def _progress(self, stage: str, done: int, total: int) -> None:
        self._status.update(stage=stage, done=done, total=total)
        if stage == "embed" and total and (done == total or done % 256 == 0):
            log.info("knowledge version %s: embedded %d/%d passages", self._status["building"], done, total)

    def _build(self, version: str) -> None:
        started = time.perf_counter()
        try:
            kb = load_kb(version_dir(self._settings.kb_dir, version))
            fresh = Assistant.build(
                self._settings,
                kb=kb,
                embedder=self._active.retriever.embedder,
                progress=False,
                on_progress=self._progress,
            )
        except Exception as e:  # noqa: BLE001 — any failure keeps the old version answering
            self._failed = version
            self._status.update(building=None, stage="failed", error=f"{type(e).__name__}: {e}"[:500])
            log.error("knowledge version %s not loaded, %s keeps answering: %s", version, self._active.kb.version, e)
            return
        previous, self._active = self._active.kb.version, fresh  # the swap: one reference assignment
        self._failed = None
        self._status.update(building=None, stage="done", error="")
        log.info(
            "knowledge version %s answering (was %s), built in %.1f s", version, previous, time.perf_counter() - started
        )
