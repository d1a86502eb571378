"""Shaping bot replies for chat apps: splitting long texts and a compact citation line.

Telegram counts a message's length in UTF-16 code units, so an emoji counts twice.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, List, Optional, Tuple

#: Longest message any channel passes to Rasa (the consultation store's limit). Rasa 3.6 does not cap
#: input and DIET's memory grows with the square of the token count: 20 000 tokens ask for ~57 GB.
MAX_MESSAGE_CHARS = 2000

# Where a long text may be cut, best first: paragraph, line, sentence end, clause, space.
_BOUNDARIES = ("\n\n", "\n", "。", "！", "？", "!", "?", "；", ";", "，", ",", "、", " ")
# C0/C1 controls (tab and newlines kept) and lone surrogates (from "\\ud800" in JSON; unencodable as UTF-8).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

TOO_LONG_REPLY = f"您的消息太长了（超过{MAX_MESSAGE_CHARS}字），请分几次发送，或只说一个问题。"
EMPTY_REPLY = "请先输入您想咨询的问题。"
#: When a turn produced no bot message at all (e.g. the action server is down and Rasa drops its events).
NO_REPLY_RETRY = "抱歉，系统暂时有点忙，请稍后再试一次。如果刚才在提交议事协商，稍后再点一次“确认提交”即可，不会重复提交。"

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


def split_text(text: str, limit: int = 4096) -> List[str]:
    """Split ``text`` into parts of at most ``limit`` units, cutting at the most natural boundary.

    Boundaries are only accepted in the second half of a chunk so that no tiny fragments appear;
    whitespace at the cut is dropped, no non-space character is lost or reordered.
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    text = text.strip()
    parts: List[str] = []
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
    return _CONTROL.sub("", text).strip()[:max_chars]


def screen_text(raw: Any) -> Tuple[str, Optional[str]]:
    """(text for Rasa, None) or ("", polite reply) for empty or over-long input, which must never reach NLU.

    The length is judged after control characters are removed, and before any truncation: a cut-off
    question would be answered as if it were whole.
    """
    if not isinstance(raw, str):
        return "", EMPTY_REPLY
    text = _CONTROL.sub("", raw).strip()
    if not text:
        return "", EMPTY_REPLY
    if len(text) > MAX_MESSAGE_CHARS:
        return "", TOO_LONG_REPLY
    return text, None


def short_chapter(chapter: str) -> str:
    """Last part of a chapter path: "三、… › (七)强化为民服务功能" -> "(七)强化为民服务功能"."""
    return chapter.split("›")[-1].strip() if chapter else ""


#: How an answer's own text starts its citation (bot.retrieval.answers.source_line).
CITED_MARK = "来源："


def citation_line(sources: Iterable[Any], limit: int = 3) -> str:
    """One compact line naming where an answer comes from, in words: "📖 出处：(七)强化为民服务功能 第12句".

    Ids (plan-7-12) are for the JSON only, never shown to residents."""
    items: List[str] = []
    seen = set()
    for src in sources or ():
        if not isinstance(src, dict):
            continue
        label = str(src.get("title") or "").strip() or short_chapter(str(src.get("chapter") or "")).strip()
        if label and label not in seen:
            seen.add(label)
            items.append(label)
        if len(items) >= limit:
            break
    return ("📖 出处：" + "；".join(items)) if items else ""


def needs_citation(text: Any) -> bool:
    """False when a reply already cites its sources (the assistant's answers do): the channel adds none."""
    return not (isinstance(text, str) and CITED_MARK in text)
