"""Typo tolerance by sound: a homophone typed by a pinyin keyboard (医宝, 科鞋, 志原者) or pinyin typed outright
(shegongshi) is read as the knowledge-base word it sounds like (医保, 科协, 志愿者, 社工师).

Residents type with pinyin input methods, so their typos are words that sound right and look wrong. The vocabulary
is the knowledge base's own words (search terms and domain terms); a span of the question is replaced only when it
is not itself a word (neither the knowledge base's nor jieba's general dictionary) and its toneless pinyin is that of
exactly one knowledge-base word of the same length, or of one clearly more used than the others.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from pypinyin import Style, lazy_pinyin

_CJK = re.compile(r"[\u4e00-\u9fff]+")
_LATIN = re.compile(r"[a-z]{5,}")
#: Pinyin typed syllable by syllable (wu she lian dong), as in English messages: runs of short Latin words.
_SPACED = re.compile(r"(?<![a-z])[a-z]{1,6}(?:[ '-]+[a-z]{1,6}){1,15}(?![a-z])", re.IGNORECASE)
_SPACED_MAX_SYLLABLES = 6
_SPACED_MIN_LETTERS = 8  # joined, at least this long: short runs of English words (she can, long man) spell nothing
_SPACED_MIN_LETTERS_IN_CHINESE = 5
_QUOTED = re.compile(r"“([\u4e00-\u9fff]{2,4})”")  # a term the plan itself puts in quotes: “社工师”, “五社联动”
_MIXED = re.compile(
    r"([\u4e00-\u9fff]{0,3})([a-z]{1,6})(?=([\u4e00-\u9fff]{0,3}))"
)  # 覆gai率: a syllable typed as pinyin
_WORD_LENGTHS = (4, 3, 2)
# Words residents ask with (谁负责, 哪个部门, 什么指标) that the passages' cut leaves out: typed wrong (谁付责) they are
# still the asking words.
ASKING_WORDS = ("负责", "牵头", "主管", "部门", "指标", "目标", "规划", "管理")
_FUNCTION_CHAR = 60000  # a character this frequent on its own in jieba's dictionary is mostly a word by itself


@lru_cache(maxsize=1 << 16)
def _sound(text: str) -> str:
    """Toneless pinyin, remembered: the typo pass asks it of every 2–4 character span of a question, and the spans of
    everyday words recur across questions (it was most of a never-asked question's preparation)."""
    return " ".join(lazy_pinyin(text, style=Style.NORMAL, errors="ignore"))


_FUZZY_INITIAL = re.compile(r"^(zh|ch|sh|l)")
_FUZZY_FINAL = re.compile(r"(?<=[aei])ng$|(?<=i)ng$")


def _fuzzy(sound: str) -> str:
    """A sound with the pairs pinyin keyboards' fuzzy mode merges (and many speakers do not tell apart): zh/z, ch/c,
    sh/s, l/n, in/ing, en/eng, an/ang (市名政局 is typed for 市民政局)."""
    merged = []
    for syl in sound.split():
        syl = _FUZZY_INITIAL.sub(lambda m: {"zh": "z", "ch": "c", "sh": "s", "l": "n"}[m.group(1)], syl)
        merged.append(_FUZZY_FINAL.sub("n", syl))
    return " ".join(merged)


class SoundSpeller:
    """Replaces homophone typos of knowledge-base words (see module docstring)."""

    def __init__(self, vocabulary: dict[str, float], known_words: dict[str, int], terms: Iterable[str] = ()):
        """``vocabulary``: knowledge-base word → how much it is used (higher wins a tie of sound);
        ``known_words``: the general dictionary (word → frequency), whose words are never taken for typos;
        ``terms``: the domain terms (service names, agencies …), the only targets for a span that holds a
        function character (是, 会, 想, 一 …: a span like 想先 is two words far more often than a typo of 乡贤)."""
        self.terms = frozenset(terms)
        self.vocabulary = {w: n for w, n in vocabulary.items() if _CJK.fullmatch(w) and 2 <= len(w) <= 4}
        self.known = known_words
        self.by_sound: dict[str, list[str]] = {}
        for w in sorted(self.vocabulary, key=lambda w: -self.vocabulary[w]):
            self.by_sound.setdefault(_sound(w), []).append(w)
        self.by_joined = {s.replace(" ", ""): ws for s, ws in self.by_sound.items()}
        self.terms_by_fuzzy: dict[str, list[str]] = {}
        for w in sorted(self.terms & self.vocabulary.keys()):
            self.terms_by_fuzzy.setdefault(_fuzzy(_sound(w)), []).append(w)
        self.by_letters = {k: ws for k, ws in self.by_joined.items() if len(k) >= 5}
        self.term_heads = frozenset(w[-1] for w in self.terms)  # a name ends in its head (局, 站, 会 …)

    @classmethod
    def from_texts(cls, texts: Iterable[str], cut, terms: Iterable[str], known_words) -> SoundSpeller:
        """The vocabulary of a knowledge base: the words its passages use (in how many passages) and its domain terms."""
        used: dict[str, float] = {}
        for text in texts:
            for w in set(cut(text)) | set(_QUOTED.findall(text)):
                used[w] = used.get(w, 0) + 1
        terms = list(terms)
        for t in [*terms, *ASKING_WORDS]:
            used[t] = used.get(t, 0) + 1
        return cls(used, known_words, terms)

    def correct(self, text: str) -> str:
        """``text`` with every homophone typo of a knowledge-base word replaced (unchanged when there is none)."""
        if " " in text and _SPACED.search(text):  # inside Chinese, even a short run is pinyin (有kang fu吗)
            fewest = _SPACED_MIN_LETTERS_IN_CHINESE if _CJK.search(text) else _SPACED_MIN_LETTERS
            text = _SPACED.sub(lambda m: self._spaced(m, fewest), text)
        text = _LATIN.sub(self._latin, text) if _LATIN.search(text.lower()) else text
        text = _MIXED.sub(self._mixed, text) if _CJK.search(text) else text
        return _CJK.sub(lambda m: self._run(m.group(0)), text)

    def _mixed(self, m: re.Match) -> str:
        """A syllable typed in pinyin inside Chinese (覆gai率 → 覆盖率): the word its neighbours and its sound spell."""
        before, latin, after = m.group(1), m.group(2).lower(), m.group(3)
        for i in range(len(before) + 1):
            for j in range(len(after), -1, -1):
                pre, post = before[i:], after[:j]
                if not pre and not post:
                    continue
                letters = "".join(_sound(pre).split()) + latin + "".join(_sound(post).split())
                words = [
                    w
                    for w in self.by_joined.get(letters, [])
                    if w.startswith(pre) and w.endswith(post) and len(w) > len(pre) + len(post)
                ]
                word = self._pick(words)
                if word is not None:
                    return before[:i] + word[: len(word) - len(post)]  # the lookahead's characters stay in the text
        return m.group(0)

    def _spaced(self, m: re.Match, fewest: int = _SPACED_MIN_LETTERS) -> str:
        """The longest run of the words that spells one knowledge-base word in pinyin (wu she lian dong → 五社联动)."""
        text = m.group(0)
        spans = [t.span() for t in re.finditer(r"[a-z]+", text, re.IGNORECASE)]
        for n in range(min(len(spans), _SPACED_MAX_SYLLABLES), 1, -1):
            for i in range(len(spans) - n + 1):
                start, end = spans[i][0], spans[i + n - 1][1]
                letters = "".join(text[a:b] for a, b in spans[i : i + n]).lower()
                word = self._pick(self.by_joined.get(letters, [])) if len(letters) >= fewest else None
                if word is not None:
                    return text[:start] + word + text[end:]
        return text

    def _latin(self, m: re.Match) -> str:
        word = self._pick(self.by_letters.get(m.group(0).lower(), []))
        return word or m.group(0)

    def _run(self, run: str) -> str:
        out, i = [], 0
        while i < len(run):
            for n in _WORD_LENGTHS:
                span = run[i : i + n]
                if len(span) < n:
                    continue
                named = self._named_term(span)
                if named is not None:
                    out.append(named)
                    i += n
                    break
                if self._is_word(run, i, n):
                    continue
                word = self._pick(self.by_sound.get(_sound(span), []))
                if word is not None and any(self.known.get(c, 0) >= _FUNCTION_CHAR for c in span):
                    word = word if word in self.terms else None
                if word is not None and word != span and word not in self.terms and self._name_inside(run, i, n):
                    word = None  # 要建社公站: 社公站 is 社工站, so 建社 is no typo of 建设
                if word is not None and word != span:
                    out.append(word)
                    i += n
                    break
            else:
                out.append(run[i])
                i += 1
        return "".join(out)

    def _named_term(self, span: str) -> str | None:
        """A name typed with a homophone inside (市人设局 → 市人社局): a span of three or four characters, itself no
        word, that sounds like exactly one domain term ending in the same character (its head: 局, 站, 会 …), even
        when the typo makes a general word (人设) that would otherwise protect it."""
        if len(span) < 3 or span[-1] not in self.term_heads or span in self.terms or self._real(span):
            return None
        names = [w for w in self.by_sound.get(_sound(span), []) if w in self.terms and w[-1] == span[-1]]
        if not names:  # said with a fuzzy pair (名政 for 民政): only a name, never a general word
            names = [w for w in self.terms_by_fuzzy.get(_fuzzy(_sound(span)), []) if w[-1] == span[-1]]
        if len(names) != 1:
            return None
        typed = [a for a, b in zip(span, names[0]) if a != b]  # 是医保局 is 是 + 医保局, not a typo of 市医保局
        return None if any(self.known.get(c, 0) >= _FUNCTION_CHAR for c in typed) else names[0]

    def _name_inside(self, run: str, i: int, n: int) -> bool:
        """Whether a misspelt domain name starts inside the span (its last characters begin the name)."""
        return any(self._named_term(run[j : j + m]) for j in range(i + 1, i + n) for m in (3, 4) if j + m <= len(run))

    def _is_word(self, run: str, i: int, n: int) -> bool:
        """Whether the span is no typo: it is a word, holds one, or cuts through one at its edge."""
        end = i + n
        return any(
            self._real(run[j : j + k]) for k in (2, 3, 4) for j in range(max(0, i - k + 1), min(end, len(run) - k + 1))
        )

    def _real(self, word: str) -> bool:
        return word in self.vocabulary or self.known.get(word, 0) > 0

    def _pick(self, words: list[str]) -> str | None:
        """The word a sound names: the only one, or one used at least twice as much as the next."""
        if not words:
            return None
        if len(words) == 1 or self.vocabulary[words[0]] >= 2 * self.vocabulary[words[1]]:
            return words[0]
        return None
