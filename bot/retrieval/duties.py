"""Which responsible agencies answer "哪个部门负责" for one topic of the plan.

The plan names its responsible agencies once, at the end of each chapter. A short list ((五), (六): three
agencies) is the whole chapter's, so a question about any topic there is answered with all of it, whichever agency
the service catalogue puts first. A long list ((七): eleven agencies for eleven topics) is split by topic: the
catalogue's agency, plus any agency whose duties (agencies.yml) speak of the topic more closely than the catalogue
agency's do (儿童之家 → 市妇联, whose duties name 儿童友好社区). Pure functions over the knowledge base.
"""

from __future__ import annotations

import re

from bot.kb.loader import KnowledgeBase

#: A chapter naming at most this many agencies names them for all its topics alike.
FEW_AGENCIES = 4
#: How many topic words (rare character pairs) an agency's duties must share with a topic to be named for it.
MIN_SHARED = 4

_HAN2 = re.compile(r"[\u4e00-\u9fff]{2}")


def chapter_of(kb: KnowledgeBase, clause_id: str):
    """The chapter whose closing parenthesis is responsible for a clause or action id (None: no chapter)."""
    try:
        return kb.locate(clause_id)[1]
    except KeyError:
        return None


def names_all(chapter) -> bool:
    """Whether a chapter's agencies answer for every topic in it (a short list the plan does not split)."""
    return chapter is not None and 0 < len(chapter.agencies) <= FEW_AGENCIES


def topic_agencies(
    kb: KnowledgeBase, clause_id: str, topic: str, lead: str | None, common: frozenset[str] = frozenset()
) -> list[str]:
    """The agencies responsible for ``topic`` (a service's name and description, or a plan sentence) in the chapter
    of ``clause_id``, ``lead`` (the catalogue's agency) first.

    ``common``: character pairs too frequent in the plan to say what a topic is (社区, 服务)."""
    chapter = chapter_of(kb, clause_id)
    first = [lead] if lead else []
    if chapter is None:
        return first
    if names_all(chapter):
        return _uniq([*first, *chapter.agencies])
    words = _pairs(topic) - common
    duties = {a.name: a.duties for a in kb.agencies.agencies}
    scores = {name: len(_pairs(duties.get(name, "")) & words) for name in chapter.agencies}
    bar = max(MIN_SHARED, scores.get(lead, 0) + 1) if lead else MIN_SHARED
    closer = sorted((n for n in chapter.agencies if scores[n] >= bar), key=lambda n: -scores[n])
    return _uniq([*first, *closer])


def across_chapters_text(chapters, every: bool, count: bool) -> str:
    """The agencies of several chapters: those all of them name (``every``: 都列了), else each chapter's list;
    ``count``: how many distinct municipal agencies, then who."""
    if every:
        shared = [a for a in chapters[0].agencies if all(a in c.agencies for c in chapters[1:])]
        where = "、".join(c.numeral.join("()") for c in chapters)
        if not shared:
            return f"{where}没有共同列出的市级部门。"
        n = f"{len(shared)}个：" if count else ""
        return f"{where}都列为责任单位的市级部门有{n}{'、'.join(shared)}。"
    if count:
        distinct = _uniq([a for c in chapters for a in c.agencies])
        return f"共{len(distinct)}个市级部门：{'、'.join(distinct)}（各部分另有乡镇、街道按职责分工负责）。"
    return "；".join(f"{c.title}：{'、'.join(c.agencies)}" for c in chapters) + "。各部分都写“等部门”按职责分工负责。"


def _pairs(text: str) -> set[str]:
    return {text[i : i + 2] for i in range(len(text) - 1) if _HAN2.fullmatch(text[i : i + 2])}


def _uniq(items: list[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))
