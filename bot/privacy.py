"""Mask personal data before it leaves the committee: logs, Open311, residents' notices, every outside view.

:func:`mask` is the one masking function. Phones are found however they are written — separators
between digits ("139-8765-4321", "138 0013 8000"), a +86 / 86 / 0086 prefix, full-width digits
("＋86 １３８…") — and rewritten in one canonical masked form ("138****8000"), so no variant
keeps a readable number. ``mask_phone`` is the same function without names (kept for callers).
"""

from __future__ import annotations

import logging
import re
import unicodedata

# Between two digits of one number people write up to three separators: spaces (also the ideographic
# one), hyphens and dashes (ASCII and full-width), dots, parentheses — "(0571) 8888-6666", "139 - 8765 - 4321".
_SEP = r"[\s\-‐‑‒–—―－.．·・()（）]{0,3}"
_D = r"\d"  # str patterns: \d also matches full-width (and other Unicode) digits


def _digits(n: int) -> str:
    return "".join(f"{_SEP}{_D}" for _ in range(n))


_COUNTRY = rf"[(（]?(?:(?:[+＋]|[0０]{{2}})\s?)?[8８][6６][)）]?{_SEP}"
_MOBILE = re.compile(rf"(?<!\d)(?:{_COUNTRY})?([1１]{_SEP}[3-9３-９]{_digits(9)})(?!\d)")
_LANDLINE = re.compile(
    rf"(?<!\d)(?:[(（]?([0０](?:{_SEP}{_D}){{9,11}})|{_COUNTRY}[(（]?[0０]?[)）]?{_SEP}([1-9１-９](?:{_SEP}{_D}){{8,10}}))(?!\d)"
)
_ID_CARD = re.compile(rf"(?<!\d)(\d{_digits(16)}{_SEP}[\dXxＸｘ])(?![\dXxＸｘ])")


def _plain(digits: str) -> str:
    """ASCII digits (and X) of a matched number, separators dropped."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", digits) if ch.isdigit() or ch in "Xx").upper()


def _mask_mobile(m: re.Match) -> str:
    d = _plain(m.group(1))
    return f"{d[:3]}****{d[-4:]}"


def _mask_landline(m: re.Match) -> str:
    d = _plain(m.group(1) or "0" + m.group(2))  # +86 571 … → 0571 …
    area = 3 if d[1] in "12" else 4  # 010, 021 … three digits; others 0571 …
    return f"{d[:area]}-****{d[-4:]}"


def _mask_id(m: re.Match) -> str:
    d = _plain(m.group(1))
    return f"{d[:6]}********{d[-4:]}"


def mask_name(name: str) -> str:
    """张三丰 → 张**; keeps only the family name's first character."""
    name = name.strip()
    return name[:1] + "*" * max(len(name) - 1, 1) if name else ""


def mask(text: str, names: list[str] | tuple[str, ...] = ()) -> str:
    """``text`` with the given contact names, ID-card numbers, mobile and landline numbers masked."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    for n in names:
        if n and n.strip():
            text = text.replace(n.strip(), mask_name(n))
    text = _ID_CARD.sub(_mask_id, text)
    text = _MOBILE.sub(_mask_mobile, text)
    return _LANDLINE.sub(_mask_landline, text)


def mask_sender(sender_id: str) -> str:
    """A chat id as a committee may see it next to a co-signer: its last four characters only ("···8f3a")."""
    tail = str(sender_id or "").strip()[-4:]
    return f"···{tail}" if len(str(sender_id or "").strip()) > 4 else "···"


def mask_phone(text: str) -> str:
    """:func:`mask` without names (phones and ID numbers only)."""
    return mask(text)


class MaskingFilter(logging.Filter):
    """Logging filter that masks phone numbers and ID numbers in every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask(record.msg)
        if record.args:
            record.args = tuple(
                mask(a) if isinstance(a, str) else a
                for a in (record.args if isinstance(record.args, tuple) else (record.args,))
            )
        return True


class AccessLogFilter(MaskingFilter):
    """For uvicorn's access log: drop query strings (searches may hold names or phones), then mask."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                a.split("?", 1)[0] if isinstance(a, str) and a.startswith("/") else a for a in record.args
            )
        return super().filter(record)
