"""Input rules of the consultation store: text, identifiers, phone numbers, usernames.

The phone rule lives here once: a mainland mobile (11 digits, +86 dropped) or a landline with its
area code. The chat forms ask for a mobile and call :func:`phone_number` with ``landline=False``;
the store also takes landlines (Open311, the CLI).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from bot.errors import UserFacingError
from linli_common.text import MAX_MESSAGE_CHARS, has_control, strip_control

MAX_TEXT_CHARS = MAX_MESSAGE_CHARS
MOBILE = re.compile(r"^1[3-9]\d{9}$")
LANDLINE = re.compile(r"^0\d{2,3}\d{7,8}$")
USERNAME = re.compile(r"^[A-Za-z0-9_.\-\u4e00-\u9fff]{2,64}$")
_PHONE_SEPARATORS = re.compile(r"[\s\-()（）]")
_COUNTRY_CODE = re.compile(r"^\+?86(?=1\d{10}$)")


def clean_text(value: object, *, field: str = "内容", max_chars: int = MAX_TEXT_CHARS, required: bool = True) -> str:
    """Strip control/invisible characters; polite errors for empty, wrong type or too long."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise UserFacingError(f"{field}需要是文字。", code="invalid_type")
    v = unicodedata.normalize("NFC", value)
    v = strip_control(v)
    v = re.sub(r"\n{3,}", "\n\n", v).strip()
    if required and not v:
        raise UserFacingError(f"{field}是空的，请写下您想反映的事情。", code="empty")
    if len(v) > max_chars:
        raise UserFacingError(
            f"{field}太长了（最多 {max_chars} 字，现在 {len(v)} 字），请精简后再提交。", code="too_long"
        )
    return v


def phone_number(value: object, *, landline: bool = True) -> str | None:
    """The number in canonical digits ("+86 138-0000-1234" → "13800001234", full-width digits too),
    or None when it is not a mobile (nor, with ``landline``, an area-coded landline)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    v = _PHONE_SEPARATORS.sub("", unicodedata.normalize("NFKC", str(value)).strip())
    v = _COUNTRY_CODE.sub("", v)
    if MOBILE.match(v) or (landline and LANDLINE.match(v)):
        return v
    return None


def clean_phone(value: object) -> str:
    """:func:`phone_number` for the store: a polite error instead of None."""
    if not isinstance(value, str | int):
        raise UserFacingError("联系电话需要是数字。", code="invalid_phone")
    phone = phone_number(value)
    if phone is None:
        raise UserFacingError("联系电话格式不对，请填写 11 位手机号或带区号的座机号。", code="invalid_phone")
    return phone


def ident(value: object, field: str, max_len: int = 200) -> str:
    """A channel, sender, message id or actor name: non-empty, no control characters, bounded."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip() or has_control(value):
        raise UserFacingError(f"这条消息缺少{field}，请重新发送一次。", code="invalid_input")
    value = value.strip()
    if len(value) > max_len:
        raise UserFacingError(f"{field}太长了，请重新发送一次。", code="invalid_input")
    return value


def client_key(channel: str, sender_id: str, message_id: str) -> str:
    """The idempotency key of one delivered message (a retried delivery finds the stored record)."""
    raw = f"{channel}\x1f{sender_id}\x1f{message_id}"
    return raw if len(raw) <= 200 else "sha256:" + hashlib.sha256(raw.encode()).hexdigest()
