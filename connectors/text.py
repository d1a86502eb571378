"""Shaping bot replies for chat apps: splitting long texts and a compact citation line.

Telegram counts a message's length in UTF-16 code units, so an emoji counts twice.
"""

from __future__ import annotations

from typing import Any

from linli_common.citation import channel_line as citation_line  # noqa: F401 (the channels' name for it)
from linli_common.citation import names_its_sources
from linli_common.text import MAX_MESSAGE_CHARS, strip_control

# Where a long text may be cut, best first: paragraph, line, sentence end, clause, space.
_BOUNDARIES = ("\n\n", "\n", "。", "！", "？", "!", "?", "；", ";", "，", ",", "、", " ")

TOO_LONG_REPLY = f"您的消息太长了（超过{MAX_MESSAGE_CHARS}字），请分几次发送，或只说一个问题。"
EMPTY_REPLY = "请先输入您想咨询的问题。"
#: When a turn produced no bot message at all (e.g. the action server is down and Rasa drops its events).
NO_REPLY_RETRY = (
    "抱歉，系统暂时有点忙，请稍后再试一次。如果刚才在提交议事协商，稍后再点一次“确认提交”即可，不会重复提交。"
)

NON_TEXT_REPLY = "抱歉，我目前只能看懂文字消息。请直接用文字描述您的问题，例如“社区能办医保吗？”"
LOCATION_REPLY = "收到您的位置啦，不过我还不能按位置查询。请告诉我您所在的社区名称，或直接用文字提问。"
VOICE_REPLY = "抱歉，我暂时听不了语音。请用文字描述您的问题，我来帮您查。"
EXPIRED_BUTTON_REPLY = "这个按钮已经过期了，请重新发送您的问题。"
GROUP_REPLY = "您好！为保护隐私，请私聊我咨询社区服务或发起议事协商。"


def u16len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def _prefix_within(text: str, limit: int) -> int:
    """Largest index i such that text[:i] fits into ``limit`` UTF-16 units (never splits a surrogate pair)."""
    used = 0
    for i, ch in enumerate(text):
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > limit:
            return i
    return len(text)


def split_text(text: str, limit: int = 4096) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` units, cutting at the most natural boundary.

    Boundaries are only accepted in the second half of a chunk so that no tiny fragments appear;
    whitespace at the cut is dropped, no non-space character is lost or reordered.
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    text = text.strip()
    parts: list[str] = []
    while text:
        if u16len(text) <= limit:
            parts.append(text)
            break
        hard = _prefix_within(text, limit)
        window = text[:hard]
        cut = 0
        for sep in _BOUNDARIES:
            pos = window.rfind(sep)
            if pos >= hard // 2:
                cut = pos + len(sep) if not sep.isspace() else pos
                break
        if cut <= 0:
            cut = hard
        head, text = text[:cut].rstrip(), text[cut:].lstrip()
        if head:
            parts.append(head)
    return parts


def clean_text(text: Any, max_chars: int = 4000) -> str:
    """Incoming user text without control characters and bounded in size (None/non-str -> "")."""
    if not isinstance(text, str):
        return ""
    return strip_control(text).strip()[:max_chars]


def screen_text(raw: Any) -> tuple[str, str | None]:
    """(text for Rasa, None) or ("", polite reply) for empty or over-long input, which must never reach NLU.

    The length is judged after control characters are removed, and before any truncation: a cut-off
    question would be answered as if it were whole.
    """
    if not isinstance(raw, str):
        return "", EMPTY_REPLY
    text = strip_control(raw).strip()
    if not text:
        return "", EMPTY_REPLY
    if len(text) > MAX_MESSAGE_CHARS:
        return "", TOO_LONG_REPLY
    return text, None


def needs_citation(text: Any) -> bool:
    """False when a reply already cites its sources (the assistant's answers do): the channel adds none."""
    return not names_its_sources(text)
