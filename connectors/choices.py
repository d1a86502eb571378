"""Buttons for chat apps that have none (WeChat text): numbered lines, and the number typed back.

A reply's buttons become lines such as ``回复 1 办理材料``; the resident answers ``1`` (or ``１``, ``回复1``)
and the channel sends the button's payload to Rasa instead. The numbers of a conversation's latest
reply are remembered per sender — in process, and in the replicas' shared Redis when there is one — so
the answer may land on any replica. Standard library only.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from connectors.memory import SharedKeys

_CHOICE = re.compile(r"^(?:回复|选|选择|第)?\s*(\d{1,2})\s*(?:个|项|号)?\s*[.。、)）]?$")


def numbered_lines(buttons: Iterable[Any], start: int = 1) -> tuple[list[str], dict[str, str]]:
    """(lines to show, {number: payload}) for Rasa buttons; link buttons are shown as links, not numbered."""
    lines: list[str] = []
    options: dict[str, str] = {}
    number = start
    for b in buttons or ():
        if not isinstance(b, dict) or not str(b.get("title") or "").strip():
            continue
        title = " ".join(str(b["title"]).split())[:64]
        if b.get("url"):
            lines.append(f"{title}：{b['url']}")
            continue
        options[str(number)] = str(b.get("payload") or b["title"])
        lines.append(f"回复 {number} {title}")
        number += 1
    return lines, options


def typed_number(text: str) -> str | None:
    """The option number a resident typed ("1", "１", "回复 2", "3。"), else None."""
    m = _CHOICE.match(unicodedata.normalize("NFKC", text or "").strip())
    return str(int(m.group(1))) if m else None


class NumberedChoices:
    """The options of each sender's latest reply (at most ``max_size`` senders in process)."""

    TTL = 24 * 3600  # an option stays usable this long

    def __init__(self, max_size: int = 50_000, shared: SharedKeys | None = None):
        self.max_size, self.shared = max_size, shared
        self._options: OrderedDict[str, dict[str, str]] = OrderedDict()

    def remember(self, sender: str, options: dict[str, str]) -> None:
        """Replace the sender's options (an empty dict forgets them)."""
        self._options.pop(sender, None)
        if options:
            self._options[sender] = dict(options)
            while len(self._options) > self.max_size:
                self._options.popitem(last=False)
        if self.shared is not None:
            self.shared.put(f"choices:{sender}", json.dumps(options, ensure_ascii=False), self.TTL if options else 60)

    def payload(self, sender: str, text: str) -> str | None:
        """The payload behind the number in ``text``; None when it is no number of the sender's latest options."""
        number = typed_number(text)
        if number is None:
            return None
        options = self._options.get(sender)
        if self.shared is not None:
            raw = self.shared.get(f"choices:{sender}")
            if raw is not None:
                try:
                    options = json.loads(raw)
                except ValueError:
                    options = None
        return (options or {}).get(number) if isinstance(options, dict) else None
