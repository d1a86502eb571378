"""Look an event's class up by its type name once per name, not once per event.

Rasa 3.6's ``Event.resolve_by_type`` walks the whole ``Event`` subclass tree (``all_subclasses``, recursive,
with ``inspect.isabstract`` on each class) for every event it deserialises, and the tracker store
deserialises the whole conversation on every message: about 4 % of the Rasa process's CPU under
``bench/bench_load.py`` (py-spy). The classes are all defined at import time, so the class found for a name is
remembered; an unknown name is looked up (and refused, or given its default) exactly as before.

:func:`install` is called by ``rasa_addons.run`` before Rasa starts.
"""

from __future__ import annotations

from typing import Any

_installed = False


def install() -> None:
    """Replace ``Event.resolve_by_type`` with a remembering lookup (idempotent)."""
    global _installed
    if _installed:
        return
    from rasa.shared.core.events import Event

    lookup = Event.resolve_by_type
    found: dict[str, Any] = {}

    def resolve_by_type(type_name: str, default: Any = None) -> Any:
        cls = found.get(type_name)
        if cls is not None:
            return cls
        try:
            cls = lookup(type_name)  # raises ValueError for an unknown name, None for the legacy "topic"
        except ValueError:
            if default is not None:
                return default
            raise
        if cls is not None:
            found[type_name] = cls
        return cls

    resolve_by_type.lookup = lookup  # type: ignore[attr-defined]  # for tests
    Event.resolve_by_type = staticmethod(resolve_by_type)
    _installed = True
