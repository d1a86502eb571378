"""A message typed wholly in pinyin (di bao yi ge yue ji qian), read back into characters before anything else.

Residents who can read characters but not pick them on a keyboard send the pinyin itself. Read as English, such a
message matched nothing or the wrong decline. This is the plain dictionary method of the simplest pinyin input
methods: each word of jieba's general dictionary (and each knowledge-base word, weighted up) is keyed by its toneless
pinyin, and the syllables are cut into the words that make the most likely reading (the sum of the words' log
frequencies, longer words preferred). Only a message whose every word is a pinyin syllable, and none an English
function word, is read this way; English stays English.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

_WORD = re.compile(r"[a-zA-Z]+|[^a-zA-Z\s]+")
# Short English words that are no pinyin: one of them shows a message is English (she, can, man, long are syllables)
_ENGLISH = frozenset("the is are am was be to in on of and or for my it we do does how what who".split())
_MAX_SYLLABLES = 4  # the longest word looked up, in syllables
_KB_WEIGHT = 5.0  # a knowledge-base word is read before a general word of the same sound
_MIN_FREQUENCY = 50  # rarer general words only cost memory (7 MB for the 52k kept, 68 MB for all 349k)


def _toneless(reading: str) -> str:
    """zhāng → zhang, lǜ → lv (the keyboard's v)."""
    plain = unicodedata.normalize("NFD", reading.replace("ü", "v"))
    return "".join(c for c in plain if not unicodedata.combining(c)).replace("u\u0308", "v")


@lru_cache(maxsize=1)
def _readings() -> tuple[dict[str, str], dict[str, list[str]]]:
    """Each character's first reading, and each listed phrase's readings (pypinyin's own tables)."""
    from pypinyin.phrases_dict import phrases_dict
    from pypinyin.pinyin_dict import pinyin_dict

    chars = {chr(code): _toneless(r.split(",")[0]) for code, r in pinyin_dict.items()}
    phrases = {w: [_toneless(r[0]) for r in rs] for w, rs in phrases_dict.items()}
    return chars, phrases


def _sound(word: str) -> tuple[str, ...] | None:
    chars, phrases = _readings()
    if word in phrases:
        return tuple(phrases[word])
    out = [chars.get(c) for c in word]
    return None if None in out else tuple(out)


@lru_cache(maxsize=1)
def syllables() -> frozenset[str]:
    """Every toneless syllable a character is read with."""
    from pypinyin.pinyin_dict import pinyin_dict

    return frozenset(_toneless(r) for readings in pinyin_dict.values() for r in readings.split(","))


def is_pinyin(text: str) -> bool:
    """Whether every word of ``text`` is a pinyin syllable (at least three) and none an English word."""
    pieces = _WORD.findall(text)
    words = [w.lower() for w in pieces if w.isascii() and w.isalpha()]
    if len(words) < 3 or any(re.search(r"[\u4e00-\u9fff]", p) for p in pieces):
        return False
    known = syllables()
    return all(w in known for w in words) and not any(w in _ENGLISH for w in words)


class PinyinReader:
    """Toneless syllables → the most likely characters (see module docstring)."""

    def __init__(self, general: dict[str, int], vocabulary: Iterable[str] = ()):
        self.best: dict[tuple[str, ...], tuple[str, float]] = {}
        for word, freq in general.items():
            if 1 <= len(word) <= _MAX_SYLLABLES and freq >= _MIN_FREQUENCY:
                self._add(word, math.log(freq))
        top = max((s for _, s in self.best.values()), default=10.0)
        for word in vocabulary:
            if 2 <= len(word) <= _MAX_SYLLABLES:
                self._add(word, top + _KB_WEIGHT)

    def _add(self, word: str, score: float) -> None:
        key = _sound(word)
        if key is not None and score > self.best.get(key, ("", -1e9))[1]:
            self.best[key] = (word, score)

    def read(self, text: str) -> str:
        """The characters the syllables most likely spell; punctuation and digits stay where they are."""
        out: list[str] = []
        run: list[str] = []
        for piece in _WORD.findall(text):
            if piece.isascii() and piece.isalpha():
                run.append(piece.lower())
                continue
            out.append(self._segment(run))
            run = []
            out.append(piece.strip())
        out.append(self._segment(run))
        return "".join(out)

    def _segment(self, syllables: list[str]) -> str:
        """The best cut of a run of syllables into words (dynamic programming over word ends)."""
        n = len(syllables)
        best: list[tuple[float, list[str]]] = [(0.0, [])] + [(-1e18, [])] * n
        for end in range(1, n + 1):
            for size in range(1, min(_MAX_SYLLABLES, end) + 1):
                hit = self.best.get(tuple(syllables[end - size : end]))
                if hit is None:
                    continue
                # a word of k syllables counts k times its score: reading 低保 beats 低 + 保
                score = best[end - size][0] + hit[1] * size
                if score > best[end][0]:
                    best[end] = (score, [*best[end - size][1], hit[0]])
            if best[end][0] <= -1e17:  # no word ends here: keep the syllable as typed
                best[end] = (best[end - 1][0] - 50.0, [*best[end - 1][1], syllables[end - 1]])
        return "".join(best[n][1])
