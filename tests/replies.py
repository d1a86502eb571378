"""The words a resident reads for an action's message, rendered from domain.yml as Rasa renders a response.

Actions send fixed replies by name (``response="utter_…"`` plus variables); Rasa fills ``{name}`` from the variables
the action passed (and slots, which our responses do not use). A variable the action did not pass is an error here.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import yaml

DOMAIN = Path(__file__).resolve().parents[1] / "domain.yml"
_VARIABLE = re.compile(r"{([^\n{}]+?)}")


@functools.lru_cache(maxsize=1)
def responses() -> dict[str, list[dict]]:
    return yaml.safe_load(DOMAIN.read_text(encoding="utf-8"))["responses"]


def variables(response: str) -> set[str]:
    return {v for variant in responses()[response] for v in _VARIABLE.findall(variant.get("text") or "")}


def render(message: dict) -> str:
    """The text of one dispatcher message (its own ``text``, or its response's first variant filled in)."""
    name = message.get("response")
    if not name:
        return message.get("text") or ""
    template = responses()[name][0]["text"]
    return _VARIABLE.sub(lambda m: str(message[m.group(1)]), template)


def buttons(message: dict) -> list[dict]:
    """The response's own buttons, then those the action added (Rasa appends them)."""
    own = responses()[message["response"]][0].get("buttons", []) if message.get("response") else []
    return [*own, *(message.get("buttons") or [])]
