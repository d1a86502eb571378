"""Which part of the plan, or which responsible body, a question names in the resident's own words.

Residents point at a chapter by its number (（七）, 第六部分), its title or the core of it (党建那一块), and at a
responsible body by a shorter name than the plan's (乡镇政府 for 各乡(镇)人民政府, 街道办 for 街道办事处). Pure
functions over the plan's chapters and the agency directory; nothing here knows individual questions.
"""

from __future__ import annotations

import re

_NUMERAL_REF = re.compile(
    r"[（(]\s*([一二三四五六七八九十]{1,2})\s*[)）]|第\s*([一二三四五六七八九十]{1,2})\s*(?:部分|节|章|条|块|项)|"
    r"(?:section|chapter|part)\s*[（(]?\s*(?:([一二三四五六七八九十]{1,2})|(10|[1-9])(?![0-9]))",
    re.IGNORECASE,
)
_ARABIC = dict(zip("1 2 3 4 5 6 7 8 9 10".split(), "一 二 三 四 五 六 七 八 九 十".split()))
_SECTION_WORD = r"\s*(?:那|这)?一?(?:部分|块|节|章|方面|section|part)"


def _title_forms(title: str) -> list[str]:
    """The ways a chapter's title is quoted: whole, without its opening verb (健全/构建/强化), without its last word."""
    core = re.sub(r"^[（(][^)）]*[)）]", "", title)
    forms = [core, core[2:], core[2:-2]]
    return [f for f in forms if len(f) >= 4]


def chapter_named(q: str, chapters) -> object | None:
    """The chapter a question points at: （七）/第七部分, its title (or most of it), or the head of its title followed
    by a section word (党建那一块, Party-building section → 党建 部分); None when it names none or several."""
    found = chapters_named(q, chapters)
    return found[0] if len(found) == 1 else None


def chapters_named(q: str, chapters) -> list:
    """Every chapter a question points at, in the order of the plan's chapters found (（六）和（七）→ both)."""
    found = []
    for m in _NUMERAL_REF.finditer(q):
        numeral = m.group(1) or m.group(2) or m.group(3) or _ARABIC.get(m.group(4) or "")
        found += [c for c in chapters if c.numeral == numeral]
    for c in chapters:
        forms = _title_forms(c.title)
        if any(f in q for f in forms):
            found.append(c)
        elif forms and re.search(re.escape(forms[-1][:2]) + _SECTION_WORD, q, re.IGNORECASE):
            found.append(c)
    return list(dict.fromkeys(found))


def agency_names(agency) -> set[str]:
    """The names a question may use for an agency: the plan's, the full one, either without 市 (or 市委), a 委员会 as
    residents say it (市发展和改革委员会 → 发改委), and for a township or street body the short form residents say
    (各乡(镇)人民政府 → 乡镇政府, 街道办事处 → 街道办)."""
    names = {agency.name, agency.full_name, agency.name.removeprefix("市"), agency.full_name.removeprefix("市")}
    names.add(re.sub(r"^市委", "", agency.name))  # 市委组织部 → 组织部
    if agency.full_name.endswith("委员会") and agency.name.endswith("局"):  # a 委员会 is said 委: 发改委, 卫健委
        names.add(agency.name.removeprefix("市")[:-1] + "委")
    head = re.fullmatch(r"市([\u4e00-\u9fff]{3})局", agency.name)
    if head:  # a three-character head said by its ends: 文广旅局 → 文旅局
        names.add(head.group(1)[0] + head.group(1)[2] + "局")
    short = re.sub(r"[()（）]", "", agency.name.removeprefix("各")).replace("人民政府", "政府")
    names |= {short, short.replace("办事处", "办")}
    return {n for n in names if len(n) >= 2}


_KIND = re.compile(r"(服务中心|中心|联合会|委员会|协会|局|部|联|协)$")
_FILLER = r"(?:的)?(?:那个|这个|那|这)|的"


def loose_head(agency) -> str:
    """The head of an agency's name, without its city prefix and the kind of body (乡村振兴 of 市乡村振兴服务中心)."""
    core = re.sub(r"^(市委|市|各)", "", agency.name)
    m = _KIND.search(core)
    return core[: m.start()] if m else ""


def loose_name(agency) -> re.Pattern | None:
    """How residents name an agency around a filler or without 服务: 乡村振兴那个服务中心, 乡村振兴的那个中心,
    乡村振兴中心, 人社那个局 (the head of its name, then the kind of body it is); None for a name without a kind."""
    core = re.sub(r"^(市委|市|各)", "", agency.name)
    m = _KIND.search(core)
    head = loose_head(agency)
    if len(head) < 2:
        return None
    kinds = [m.group(1)] + (["中心"] if m.group(1) == "服务中心" else [])
    ends = "|".join(re.escape(k) for k in kinds)
    bare = f"|{re.escape(head)}中心" if m.group(1) == "服务中心" else ""
    return re.compile(f"{re.escape(head)}(?:{_FILLER})(?:{ends}){bare}")


def name_in(name: str, q: str) -> bool:
    """Whether ``q`` names the agency ``name``: not as the start of another word (组织部 in 社会组织部分)."""
    return re.search(re.escape(name) + r"(?!分)", q) is not None
