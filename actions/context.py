"""The conversation so far: what the resident last said that describes a matter.

Pressing 发起议事协商 (or 转人工) under an answer used to drop the topic: the resident retyped it, or the
store kept "就是刚才说的…". The forms pre-fill from the resident's last substantive message instead.
"""

from __future__ import annotations

import re

from rasa_sdk import Tracker

#: Turns that never describe a matter (small talk, yes/no, buttons' intents, form answers, pushes).
NOT_A_MATTER = {
    "greet",
    "goodbye",
    "thanks",
    "affirm",
    "deny",
    "cancel",
    "inform",
    "feedback_positive",
    "feedback_negative",
    "human_handoff",
    "check_consultation_status",
    "withdraw_consultation",
    "bot_challenge",
    "ask_capabilities",
    "message_too_long",
    "message_unreadable",
    "correct_form_field",
    "ask_consultation_process",
    "indicator_self_check",
    "EXTERNAL_consultation_status",
    "EXTERNAL_handoff_reply",
}
#: A finished form: what was said before it belongs to that form, not to the next one.
FORM_ENDS = {
    "action_submit_consultation",
    "action_cancel_consultation",
    "action_submit_handoff",
    "action_cancel_handoff",
}
_BACK_REFERENCE = re.compile(r"刚才|刚刚|上面|前面|之前说|以上|就是那个|就这个|这个事|这件事|那个事|那件事|同上|上一个")
_FILLER = re.compile(
    r"就是|我|说的|问的|提到的|的|那个|这个|那件|这件|事情|事儿|事|问题|内容|一样|同上|发起|议事协商|协商|反映|"
    r"刚才|刚刚|上面|前面|之前|以上|上一个|吧|了|呀|啊|[，,。.!！?？、\s]"
)
MAX_TURNS_BACK = 8
MIN_MEANINGFUL = 5


def meaningful(text: str) -> int:
    """Number of CJK/alphanumeric characters (emoji and punctuation do not describe a matter)."""
    return sum(1 for c in text if "\u4e00" <= c <= "\u9fff" or c.isalnum())


def is_back_reference(text: str) -> bool:
    """ "就是刚才说的那个事" — refers to earlier words and adds (almost) nothing of its own."""
    return bool(_BACK_REFERENCE.search(text or "")) and meaningful(_FILLER.sub("", text or "")) < 4


def last_substantive_message(tracker: Tracker, own_content=None) -> str | None:
    """The resident's last earlier message that describes a matter (the current one excluded).

    Button payloads, small talk and form answers are skipped; the search stops at the end of an earlier form
    and after ``MAX_TURNS_BACK`` messages. ``own_content(text)`` tells whether a form-starting message carries
    its own topic (such a message counts as substantive).
    """
    events = tracker.events or []
    users_seen = 0
    skipped_latest = False
    for e in reversed(events):
        if e.get("event") == "action" and e.get("name") in FORM_ENDS:
            return None
        if e.get("event") != "user":
            continue
        if not skipped_latest:
            skipped_latest = True
            continue
        users_seen += 1
        if users_seen > MAX_TURNS_BACK:
            return None
        text = str(e.get("text") or "").strip()
        intent = ((e.get("parse_data") or {}).get("intent") or {}).get("name")
        if not text or text.startswith("/") or is_back_reference(text) or meaningful(text) < MIN_MEANINGFUL:
            continue
        if intent == "start_consultation":
            if own_content is not None and own_content(text):
                return text
            continue
        if intent in NOT_A_MATTER:
            continue
        return text
    return None


def short(text: str, limit: int = 60) -> str:
    """A quote that fits a phone screen."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
