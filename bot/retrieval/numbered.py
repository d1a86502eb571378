"""Numbered lists in a message (1 … 2 …, 1. … 2. …, 1) … 2) …): each number after the first starts a question."""

from __future__ import annotations

import re

_NUMBER_FIRST = re.compile(
    r"(?:^|(?<=[：:\n\s]))\s*[1１](?:[.、．)）:：]\s*|\s+|(?=[\u4e00-\u9fff])(?![个月年天次人岁号周名位项条元块栋楼层户]))(?=\S)"
)
_NUMBER_NEXT = re.compile(
    r"(?:\s+|(?<=[？?。；;！!]))[2-9２-９](?:[.、．)）:：]\s*|\s+|(?=[\u4e00-\u9fff])(?![个月年天次人岁号周名位项条元块栋楼层户]))(?=\S)"
)


def numbered(question: str) -> str:
    r"""A numbered list's markers as part breaks (``\x00\x01``, as ``split_parts`` marks them); the text unchanged
    when it numbers no list."""
    first = _NUMBER_FIRST.search(question)
    if first is None or not _NUMBER_NEXT.search(question, first.end()):
        return question
    head, rest = question[: first.start()], question[first.end() :]
    return head + _NUMBER_NEXT.sub("\x00\x01", rest)
