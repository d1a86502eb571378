"""The script and language a question is written in: 繁體 questions get 繁體 replies, English ones a gist.

Conversion uses OpenCC's tables (opencc-python-reimplemented): questions are read in simplified characters (the
knowledge base and the jieba dictionary are simplified), replies are converted back with Taiwan-standard glyphs.
English questions are searched with the Chinese domain terms their words name (``data/english_terms.yml``)
added, since BM25 and the domain-term evidence only know Chinese; the multilingual embedding reads both.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from opencc import OpenCC

from bot.kb.yamlload import load_file
from bot.retrieval.question import AGENCY_CUE, CLAUSE_CUE, INDICATOR_CUE, LIST_CUE, WHEN_CUE, aspect_of

TERMS_FILE = Path(__file__).with_name("data") / "english_terms.yml"
DIALECT_FILE = Path(__file__).with_name("data") / "dialect_words.yml"
_LATIN = re.compile(r"[A-Za-z]")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_ZH_LEAD = re.compile(r"^(还有|另外|以及|顺便问一?下|再问一?下)[，,：:\s]*")


@lru_cache(maxsize=1)
def _t2s() -> OpenCC:
    return OpenCC("t2s")


@lru_cache(maxsize=1)
def _s2t() -> OpenCC:
    return OpenCC("s2tw")


def script_of(text: str) -> str:
    """ "en" (mostly Latin letters), "hant" (traditional characters), or "hans"."""
    latin, han = len(_LATIN.findall(text)), len(_HAN.findall(text))
    if latin > 2 * han and latin >= 6:
        return "en"
    simplified = _t2s().convert(text)
    changed_to_simple = sum(a != b for a, b in zip(text, simplified))
    changed_to_trad = sum(a != b for a, b in zip(text, _s2t().convert(text)))
    return "hant" if changed_to_simple > changed_to_trad else "hans"


def to_simplified(text: str) -> str:
    return _t2s().convert(text)


def to_traditional(text: str) -> str:
    return _s2t().convert(text)


@lru_cache(maxsize=1)
def _dialect() -> tuple[re.Pattern, dict[str, str]]:
    raw = load_file(DIALECT_FILE)["words"]
    keys = sorted(raw, key=len, reverse=True)
    table = {re.sub(r"\(\?<?[=!][^)]*\)", "", k): v for k, v in raw.items()}  # a key without its lookarounds
    return re.compile("|".join(f"(?:{k})" for k in keys)), table


def to_mandarin(text: str) -> str:
    """Cantonese and Shanghainese words read as Mandarin (有冇 → 有没有, 边啲 → 哪些, 阿拉 → 我们), so that search and
    the wording cues understand a dialect question (``data/dialect_words.yml``)."""
    pattern, table = _dialect()
    return pattern.sub(lambda m: table[m.group(0)], text)


@lru_cache(maxsize=1)
def _terms() -> list[tuple[re.Pattern, str]]:
    raw = load_file(TERMS_FILE)
    return [(re.compile(rf"\b(?:{pattern})", re.IGNORECASE), zh) for pattern, zh in raw["terms"].items()]


def chinese_terms(text: str) -> str:
    """The Chinese domain terms an English question's words name, space-separated ("" if none)."""
    found = [zh for pattern, zh in _terms() if pattern.search(text)]
    return " ".join(dict.fromkeys([t for t in [_box_terms(text)] if t] + found))


_EN_BOX = re.compile(r"\b(?:box|column|table|panel)\s*(?:no\.?\s*|#)?([0-9])\b", re.IGNORECASE)
_EN_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth")
_EN_ROW = r"(?:action|item|row|indicator|entry|one)"
_EN_NTH = re.compile(
    rf"\b({'|'.join(_EN_ORDINALS)}|([1-8])(?:st|nd|rd|th))\s+{_EN_ROW}\b|\b{_EN_ROW}\s*(?:no\.?\s*|#)?([1-8])\b", re.I
)
_EN_ALL_ROWS = re.compile(
    r"\b(?:what|which|list|name|all)\b.*\b(?:actions|items|rows|indicators|entries)\b|\bhow many\b", re.I
)
_EN_WHICH_ROW = re.compile(rf"\bwhich {_EN_ROW}\b", re.IGNORECASE)


def _box_terms(text: str) -> str:
    """A table of the plan named in English (box 2, column 1) as the Chinese question about it would name it: one
    row by its place (the first action in box 2 → 专栏2第1项), every row (专栏2有哪几项), or the row a thing is in."""
    box = _EN_BOX.search(text)
    if not box:
        return ""
    label, rest = f"专栏{box.group(1)}", text[: box.start()] + text[box.end() :]
    nth = _EN_NTH.search(rest)
    if nth:
        word = nth.group(1).lower() if nth.group(1) else ""
        n = nth.group(2) or nth.group(3) or str(_EN_ORDINALS.index(word) + 1)
        return f"{label}第{n}项"
    if _EN_WHICH_ROW.search(rest):
        return f"{label}哪一项"
    return f"{label}有哪几项" if _EN_ALL_ROWS.search(rest) else label


_EN_HARD = re.compile(r"\?\s+|;\s*")  # a question ends
_EN_SOFT = re.compile(r",\s*(?:and|also|plus)\s+|\s+and also\s+", re.IGNORECASE)  # maybe a second question
_EN_PREFACE = re.compile(r"^\s*(?:two|2|a couple of|some)\s+questions?\s*[:,-]\s*", re.IGNORECASE)
_EN_LEAD = re.compile(r"^\s*(?:and|also|plus|then|besides)\b[\s,]*", re.IGNORECASE)
_EN_ASKS = re.compile(
    r"^(?:what|which|who|whom|whose|where|when|why|how|is|are|was|were|do|does|did|can|could|will|would|should|"
    r"shall|may|must|has|have|had)\b",
    re.IGNORECASE,
)


def english_parts(text: str, names_topic=bool, min_words: int = 3) -> list[str]:
    """The questions of an English message, cut where one ends (“?”, “;”) and at “, and …” before a question word,
    after a preface such as “Two questions:”. A piece that does not ask (“Name a few.”) stays with the one before; a
    question naming no topic of its own (“…, and what coverage is targeted?”) asks about the previous part's
    topic, so that topic's Chinese terms go with it (``names_topic``: does a text hold a topic word)."""
    pieces: list[str] = []
    for hard in _EN_HARD.split(_EN_PREFACE.sub("", text)):
        soft = _EN_SOFT.split(hard)
        for i, p in enumerate(soft):
            p = _EN_LEAD.sub("", p).strip(" ,.")
            if not p.strip("?"):
                continue
            on_its_own = _EN_ASKS.match(p) or _own_topic(p, names_topic)
            if i > 0 and pieces and not (on_its_own and len(p.split()) >= min_words):
                pieces[-1] = f"{pieces[-1]}, {p}"  # a soft join that starts no question of its own
            else:
                pieces.append(p)
    parts: list[str] = []
    topic = ""  # the topic terms of the last part that named one
    for p in pieces:
        own = _own_topic(p, names_topic)
        if parts and len(_HAN.findall(p)) >= 4:  # “…in 2020? 还有业委会那句怎么写的”: a Chinese question of its own
            parts.append(_ZH_LEAD.sub("", p))
        elif parts and (not _EN_ASKS.match(p) or len(p.split()) < min_words):
            parts[-1] = f"{parts[-1]}, {p}"
        elif own:
            parts.append(p)
            topic = own
        elif topic:
            parts.append(f"{p.rstrip('?')} {topic}")
        else:
            parts.append(p)
    if len(parts) > 1 and not _own_topic(parts[0], names_topic):
        parts[:2] = [f"{parts[0]}, {parts[1]}"]  # a first question naming nothing is asked about the second's topic
    return parts if len(parts) > 1 else [text]


def _own_topic(part: str, names_topic) -> str:
    """The subject an English part names: its Chinese terms, or the Chinese it quotes (专栏1, 社区协商)."""
    quoted = " ".join(_ZH_RUN.findall(part))
    return _topic_terms(chinese_terms(part), names_topic) or (quoted if quoted and names_topic(quoted) else "")


_ZH_RUN = re.compile(r"[\u4e00-\u9fff][\u4e00-\u9fff0-9]*")


def _topic_terms(terms: str, names_topic) -> str:
    """Of an English part's Chinese terms, those that name a subject, not the kind of answer (哪些部门负责, 怎么申请)."""
    cues = (AGENCY_CUE, CLAUSE_CUE, INDICATOR_CUE, LIST_CUE, WHEN_CUE)
    kept = [t for t in terms.split() if names_topic(t) and not aspect_of(t) and not any(c.search(t) for c in cues)]
    return " ".join(kept)


GISTS = {
    "service": "In short: a community service that can help; ask 怎么办 / 在哪办 for how and where.",
    "clause": "In short: the plan's own sentence is quoted above.",
    "indicator": "In short: the plan's figures (2020 base, 2025 target).",
    "agency": "In short: the responsible agencies are named above.",
    "qa": "In short: the community workers' answer to this question.",
    "out_of_scope": "Sorry, this is outside what I know: this city's community services and its plan.",
}


def english_gist(kind: str, *more: str) -> str:
    """The one-line English gist of a reply; of a two-part reply, one clause per kind of part answered."""
    kinds = [k for k in dict.fromkeys((kind, *more)) if k in GISTS and k != "out_of_scope"]
    if len(kinds) < 2:
        return GISTS.get(kind, GISTS["out_of_scope"])
    return "In short: " + "; ".join(GISTS[k].removeprefix("In short: ").rstrip(".") for k in kinds) + "."
