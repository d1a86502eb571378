"""Mask personal data before anything reaches a log line."""

from __future__ import annotations

import logging
import re

_PHONE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)(0\d{2,3})-?\d{3,4}(\d{4})(?!\d)")
_ID_CARD = re.compile(r"(?<![0-9])(\d{6})\d{8}(\d{3}[0-9Xx])(?![0-9])")


def mask_phone(text: str) -> str:
    text = _ID_CARD.sub(r"\1********\2", text)
    text = _PHONE.sub(r"\1****\2", text)
    return _LANDLINE.sub(r"\1-****\2", text)


def mask_name(name: str) -> str:
    """张三丰 → 张**; keeps only the family name's first character."""
    name = name.strip()
    return name[:1] + "*" * max(len(name) - 1, 1) if name else ""


def mask(text: str, names: list[str] | tuple[str, ...] = ()) -> str:
    for n in names:
        if n and n.strip():
            text = text.replace(n.strip(), mask_name(n))
    return mask_phone(text)


class MaskingFilter(logging.Filter):
    """Logging filter that masks phone numbers and ID numbers in every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_phone(record.msg)
        if record.args:
            record.args = tuple(mask_phone(a) if isinstance(a, str) else a for a in (record.args if isinstance(record.args, tuple) else (record.args,)))
        return True


class AccessLogFilter(MaskingFilter):
    """For uvicorn's access log: drop query strings (searches may hold names or phones), then mask."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(a.split("?", 1)[0] if isinstance(a, str) and a.startswith("/") else a for a in record.args)
        return super().filter(record)

