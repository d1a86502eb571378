"""Co-sign (附议) candidates: is a new consultation the same problem, at the same place, as an open item?

Two signals, then one veto:
- the embedding cosine of the two texts (bot.embedding, both embedded as queries: a symmetric comparison);
- the overlap of their *problem* words (jieba search mode with the domain dictionary; place words, stop words and
  generic predicates such as 坏了 removed),
  as |A ∩ B| / min(|A|, |B|), so a short text inside a longer rewording still counts;
- a place veto: both texts name a building, unit, group, gate, compound or road and the names differ
  (3号楼电梯 vs 5号楼电梯 are two repairs). Chinese numerals are read as digits first (三号楼 = 3号楼).
score = w · cosine + (1 − w) · overlap; a candidate needs ``closedloop_cosign_threshold``. Weight and threshold
were chosen on tests/data/cosign_pairs.yml only (bench/bench_cosign.py --tune); the held-out half measures them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

import numpy as np

MAX_CHARS = 500

_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_NUMBER = re.compile(r"[零〇一二两三四五六七八九十]+(?=号|栋|幢|单元|组|楼|期|区)")
_PLACE_PATTERNS = {
    "building": re.compile(r"(\d+)\s*(?:号楼|栋|幢)"),  # a bare 3楼 is a floor, not a building
    "unit": re.compile(r"(\d+)\s*单元"),
    "group": re.compile(r"(\d+)\s*组"),
    "gate": re.compile(r"([东南西北])(?:门|大门)"),
    "side": re.compile(r"([东南西北])(?:边|侧|面)"),
}
_ROAD = re.compile(r"([\u4e00-\u9fff]{2})(大道|路|街)")
_NOT_ROAD_END = set("修走马过问带引让绕上下道铁公水电网线思出门的小条段口这那")
_STOP = set("的了是在有和也都就还又很太被把让给跟与及或着过吗呢吧啊呀么个一这那我我们你他她它们家里上下").union(
    {
        "坏",
        "坏了",
        "问题",
        "几天",
        "好几天",
        "天",
        "没",
        "不",
        "人",
        "社区",
        "小区",
        "好几",
        "好久",
        "一直",
        "总是",
        "老是",
        "能不能",
        "怎么",
        "一下",
        "没人",
        "有人",
        "好多",
        "几个",
        "很多",
        "现在",
        "已经",
        "今年",
        "到现在",
        "根本",
    }
)


def _cn_to_int(s: str) -> int:
    if "十" not in s:
        return int("".join(str(_CN_DIGITS[c]) for c in s))
    tens, _, ones = s.partition("十")
    return (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0)


def normalise(text: str) -> str:
    """Bounded, stripped text with Chinese numerals before place words read as digits (三号楼 → 3号楼)."""
    text = "".join(ch for ch in str(text)[:MAX_CHARS] if ch.isprintable()).strip()
    return _CN_NUMBER.sub(lambda m: str(_cn_to_int(m.group(0))), text)


@lru_cache(maxsize=1)
def _compound_names() -> tuple[tuple[str, str], ...]:
    """(surface form, canonical compound) from the directory, longest first; 'X小区' is also 'X'."""
    from bot.kb.loader import load_kb

    pairs: set[tuple[str, str]] = set()
    for c in load_kb().communities:
        for name in c.compounds:
            pairs.add((name, name))
            short = name.removesuffix("小区")
            if short != name and len(short) >= 2:
                pairs.add((short, name))
    return tuple(sorted(pairs, key=lambda p: -len(p[0])))


def _scan(text: str, compounds: Sequence[tuple[str, str]] | None = None) -> tuple[dict[str, frozenset[str]], list[str]]:
    """Place names in a (normalised) text by kind, and the spans that named them."""
    found: dict[str, set[str]] = {}
    spans: list[str] = []
    for kind, pattern in _PLACE_PATTERNS.items():
        for m in pattern.finditer(text):
            found.setdefault(kind, set()).add(m.group(1))
            spans.append(m.group(0))
    for m in _ROAD.finditer(text):
        if m.group(1)[-1] not in _NOT_ROAD_END and m.group(1)[0] not in _NOT_ROAD_END:
            found.setdefault("road", set()).add(m.group(1) + m.group(2))
            spans.append(m.group(0))
    rest = text
    for surface, canonical in compounds if compounds is not None else _compound_names():
        if surface in rest:
            found.setdefault("compound", set()).add(canonical)
            spans.append(surface)
            rest = rest.replace(surface, " ")
    return {k: frozenset(v) for k, v in found.items()}, spans


def places(text: str, compounds: Sequence[tuple[str, str]] | None = None) -> dict[str, frozenset[str]]:
    """Place names in a (normalised) text, by kind."""
    return _scan(text, compounds)[0]


def place_conflict(a: dict[str, frozenset[str]], b: dict[str, frozenset[str]]) -> bool:
    """Both name places of one kind and neither set contains the other (幸福路和光明路 vs 幸福路和建设路 differ;
    清泉大道 vs 清泉大道和南湖路 may be the same corner told shorter)."""
    return any(kind in b and not (a[kind] <= b[kind] or b[kind] <= a[kind]) for kind in a)


def _problem_words(text: str, place_words: Iterable[str]) -> frozenset[str]:
    from bot.kb.terms import tokenizer
    from bot.settings import get_settings

    stripped = text
    for w in sorted(place_words, key=len, reverse=True):
        stripped = stripped.replace(w, " ")
    # search mode also yields the parts of dictionary phrases (电梯坏了 → 电梯, 坏了), so rewordings still meet
    tokens = tokenizer(get_settings().kb_dir).lcut_for_search(stripped)
    return frozenset(
        t for t in tokens if t.strip() and t not in _STOP and any(ch.isalnum() for ch in t) and not t.isdigit()
    )


def overlap(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / min(len(a), len(b)) if a and b else 0.0


@dataclass(frozen=True, slots=True)
class Features:
    cosine: float
    overlap: float
    conflict: bool


@dataclass(frozen=True, slots=True)
class OpenText:
    id: str
    community: str
    text: str
    filed_at: datetime  # aware


@dataclass(frozen=True, slots=True)
class Candidate:
    item_id: str
    score: float
    cosine: float
    overlap: float


def _encode(texts: list[str]) -> np.ndarray:
    from bot.embedding import encode_queries

    return encode_queries(texts)


def features(
    pairs: Sequence[tuple[str, str]], encode: Callable[[list[str]], np.ndarray] | None = None
) -> list[Features]:
    """Features of many (a, b) pairs; all texts embedded in one batch."""
    if not pairs:
        return []
    norm = [(normalise(a), normalise(b)) for a, b in pairs]
    texts = sorted({t for p in norm for t in p})
    index = {t: i for i, t in enumerate(texts)}
    vectors = (encode or _encode)(texts)
    scans = {t: _scan(t) for t in texts}
    info = {t: (found, _problem_words(t, spans)) for t, (found, spans) in scans.items()}
    out = []
    for a, b in norm:
        (pa, wa), (pb, wb) = info[a], info[b]
        cos = float(np.dot(vectors[index[a]], vectors[index[b]]))
        out.append(Features(cos, overlap(wa, wb), place_conflict(pa, pb)))
    return out


def score(f: Features, weight: float) -> float:
    """0 when the places conflict, else the weighted sum of cosine and problem-word overlap."""
    return 0.0 if f.conflict else weight * f.cosine + (1.0 - weight) * f.overlap


def candidates(
    text: str,
    community: str,
    open_items: Iterable[OpenText],
    now: datetime,
    *,
    days: int | None = None,
    threshold: float | None = None,
    weight: float | None = None,
    limit: int = 3,
    encode: Callable[[list[str]], np.ndarray] | None = None,
) -> list[Candidate]:
    """Open items of the same community, filed in the last ``days`` days, that the new text may co-sign, best first."""
    from bot.settings import get_settings

    s = get_settings()
    days = s.closedloop_cosign_days if days is None else days
    threshold = s.closedloop_cosign_threshold if threshold is None else threshold
    weight = s.closedloop_cosign_embed_weight if weight is None else weight
    if not isinstance(text, str) or not normalise(text):
        return []
    since = now - timedelta(days=days)
    pool = [i for i in open_items if i.community == community and i.filed_at >= since and normalise(i.text)]
    if not pool:
        return []
    feats = features([(text, i.text) for i in pool], encode)
    found = [
        Candidate(i.id, round(score(f, weight), 4), round(f.cosine, 4), round(f.overlap, 4))
        for i, f in zip(pool, feats)
    ]
    found = [c for c in found if c.score >= threshold]
    return sorted(found, key=lambda c: -c.score)[:limit]
