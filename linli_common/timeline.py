"""Per-message timestamps for the latency bench: where a reply's milliseconds go, across both processes.

Off unless ``LINLI_TIMELINE`` names a file (``bench/bench_webhook.py --timeline`` sets it for its stack). Each
:func:`mark` appends one line ``<monotonic ns> <pid> <event>``: ``time.monotonic_ns`` is the system-wide
``CLOCK_MONOTONIC`` on Linux, so the engine's, the action server's and the bench's marks share one clock, and one
``write`` on an ``O_APPEND`` file keeps each short line whole. The bench assigns a mark to the message whose
request was in flight then (it sends one at a time). Disabled, a mark costs one global lookup.
"""

from __future__ import annotations

import os
import time

PATH = os.environ.get("LINLI_TIMELINE", "")
_fd: int | None = None


def enabled() -> bool:
    return bool(PATH)


def mark(event: str) -> None:
    """Record that ``event`` happens now (no-op unless ``LINLI_TIMELINE`` is set); never raises."""
    global _fd
    if not PATH:
        return
    try:
        if _fd is None:
            _fd = os.open(PATH, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.write(_fd, f"{time.monotonic_ns()} {os.getpid()} {event}\n".encode())
    except OSError:
        pass


def read(path: str) -> list[tuple[int, str]]:
    """(ns, event) of every mark in ``path``, in time order."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3:
                out.append((int(parts[0]), parts[2]))
    return sorted(out)
