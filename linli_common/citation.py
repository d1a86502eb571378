"""How a source is written in words for residents (ids such as ``plan-7-12`` stay in the JSON)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

#: How an answer's own text starts its citation line.
CITED_MARK = "来源："
#: How a channel starts the line it adds under a reply that carries sources but names none.
CHANNEL_MARK = "📖 出处："


def source_label(kind: str, title: str, document: str = "规划") -> str:
    """``服务目录「社区老年助餐」`` for a service, ``《规划》(七)强化为民服务功能 第4句`` for a document's sentence,
    ``社区问答「…」`` for a reviewed answer of the knowledge desk."""
    if kind == "qa":
        return f"社区问答「{title}」"
    return f"服务目录「{title}」" if kind == "service" else f"《{document}》{title}"


def source_line(labels: Iterable[str]) -> str:
    """The answer's one citation line: ``来源：`` and each label once, in order ("" without labels); labels in a row
    of one chapter or table name it once (``《规划》专栏1 …主要指标 第3项、第5项``)."""
    unique = list(dict.fromkeys(x for x in labels if x))
    groups: list[list[str]] = []  # [prefix, tail, tail …] or [label]
    for label in unique:
        head, _, tail = label.rpartition(" ")
        if head and groups and len(groups[-1]) > 1 and groups[-1][0] == head:
            groups[-1].append(tail)
        else:
            groups.append([head, tail] if head else [label])
    text = "；".join(f"{g[0]} {'、'.join(g[1:])}" if len(g) > 1 else g[0] for g in groups)
    return CITED_MARK + text if unique else ""


def short_chapter(chapter: str) -> str:
    """Last part of a chapter path: "三、… › (七)强化为民服务功能" -> "(七)强化为民服务功能"."""
    return chapter.split("›")[-1].strip() if chapter else ""


def channel_line(sources: Any, limit: int = 3) -> str:
    """The compact line a channel adds: ``📖 出处：(七)强化为民服务功能 第12句`` (source dicts, title or chapter)."""
    items: list[str] = []
    for src in sources or ():
        if not isinstance(src, dict):
            continue
        label = str(src.get("title") or "").strip() or short_chapter(str(src.get("chapter") or "")).strip()
        if label and label not in items:
            items.append(label)
        if len(items) >= limit:
            break
    return CHANNEL_MARK + "；".join(items) if items else ""


def names_its_sources(text: Any) -> bool:
    """True when a reply already cites its sources (the assistant's answers do): a channel adds no line."""
    return isinstance(text, str) and CITED_MARK in text
