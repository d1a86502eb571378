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

import yaml
from opencc import OpenCC

TERMS_FILE = Path(__file__).with_name("data") / "english_terms.yml"
DIALECT_FILE = Path(__file__).with_name("data") / "dialect_words.yml"
_LATIN = re.compile(r"[A-Za-z]")
_HAN = re.compile(r"[\u4e00-\u9fff]")


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
    raw = yaml.safe_load(DIALECT_FILE.read_text(encoding="utf-8"))["words"]
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
    raw = yaml.safe_load(TERMS_FILE.read_text(encoding="utf-8"))
    return [(re.compile(rf"\b(?:{pattern})", re.IGNORECASE), zh) for pattern, zh in raw["terms"].items()]


def chinese_terms(text: str) -> str:
    """The Chinese domain terms an English question's words name, space-separated ("" if none)."""
    return " ".join(dict.fromkeys(zh for pattern, zh in _terms() if pattern.search(text)))


_EN_JOINS = re.compile(r"\?\s+|;\s*|,\s*(?:and|also|plus)\s+|\s+and also\s+", re.IGNORECASE)
_EN_PREFACE = re.compile(r"^\s*(?:two|2|a couple of|some)\s+questions?\s*[:,-]\s*", re.IGNORECASE)


def english_parts(text: str, names_topic=bool, min_words: int = 3) -> list[str]:
    """The questions of an English message: cut at “?”, “;” and “, and …” where each side is a question of its own
    (three words or more whose Chinese terms pass ``names_topic``), after a preface such as “Two questions:”."""
    body = _EN_PREFACE.sub("", text)
    pieces = [p.strip(" ,.") for p in _EN_JOINS.split(body) if p.strip(" ,.?")]
    if len(pieces) > 1 and all(len(p.split()) >= min_words and names_topic(chinese_terms(p)) for p in pieces):
        return pieces
    return [text]


GISTS = {
    "service": "In short: a community service that can help; ask 怎么办 / 在哪办 for how and where.",
    "clause": "In short: the plan's own sentence is quoted above.",
    "indicator": "In short: the plan's figures (2020 base, 2025 target).",
    "agency": "In short: the responsible agencies are named above.",
    "qa": "In short: the community workers' answer to this question.",
    "out_of_scope": "Sorry, this is outside what I know: this city's community services and its plan.",
}


def english_gist(kind: str) -> str:
    return GISTS.get(kind, GISTS["out_of_scope"])
