"""Limits and the control-character rule for text residents and committee members type.

One rule for every entry point (channels, the consultation store, the inbox forms): C0/C1 controls but
tab and newline, zero-width and bidirectional marks, the BOM and lone surrogates (from ``"\\ud800"`` in JSON,
unencodable as UTF-8) are removed; ``\\r\\n``, ``\\r`` and the Unicode line/paragraph separators become ``\\n``.
"""

from __future__ import annotations

import re

#: Longest message a channel passes to Rasa, and longest text the consultation store keeps. Rasa 3.6 does not
#: cap input and DIET's memory grows with the square of the token count.
MAX_MESSAGE_CHARS = 2000
#: Longest question the assistant answers (``bot.settings.max_question_chars`` default, MessageGuard's max_chars).
MAX_QUESTION_CHARS = 500

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff\ud800-\udfff]")
_LINE_BREAK = re.compile(r"\r\n?|[\u2028\u2029]")


def strip_control(text: str) -> str:
    """``text`` with line breaks as ``\\n`` and the characters of ``CONTROL`` removed."""
    return CONTROL.sub("", _LINE_BREAK.sub("\n", text))


def has_control(text: str) -> bool:
    """True if ``text`` holds a character the rule removes (identifiers must not)."""
    return bool(CONTROL.search(text) or _LINE_BREAK.search(text))
