"""Reading the REST channel's replies in whole-conversation tests (tests/test_dialogue_*.py).

Those modules run on the session's shared stack (``stack`` and ``stack_service`` in tests/conftest.py): every
conversation there must be a new one (:func:`tests.stack.unique_sender`).
"""

from __future__ import annotations

import re

TRACKING = re.compile(r"YS-\d{8}-\d{4}")
CJK = re.compile(r"[\u4e00-\u9fff]")


def text_of(replies: list[dict]) -> str:
    return "\n".join(r.get("text", "") for r in replies if r.get("text"))


def custom_of(replies: list[dict], kind: str | None = None) -> list[dict]:
    return [
        r["custom"]
        for r in replies
        if isinstance(r.get("custom"), dict) and (kind is None or r["custom"].get("type") == kind)
    ]


def buttons_of(replies: list[dict]) -> dict[str, str]:
    return {b["title"]: b["payload"] for r in replies for b in r.get("buttons", []) or []}


def say(stack, sender: str, text: str) -> list[dict]:
    replies = stack.rest(sender, text)
    joined = text_of(replies)
    assert "Traceback" not in joined and "Exception" not in joined, joined
    return replies


def answer_of(replies: list[dict]) -> dict:
    answers = custom_of(replies, "answer")
    assert answers, f"no answer payload in {replies}"
    return answers[0]


COSIGN_OFFER = "附近居民已提过类似事项"


def choose(stack, sender: str, replies: list[dict], title: str) -> list[dict]:
    """Press the button ``title``; if the form then offers a co-sign (附议: another test of the shared stack filed the
    same matter in that community), answer 仍要单独提交 as a resident filing their own item would."""
    r = say(stack, sender, buttons_of(replies)[title])
    if COSIGN_OFFER in text_of(r):
        r = say(stack, sender, buttons_of(r)["仍要单独提交"])
    return r
