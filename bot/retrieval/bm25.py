"""Okapi BM25 over jieba tokens, dependency-free apart from numpy.

Postings are numpy arrays per term, so scoring a query touches only the documents that
contain its terms: fast enough for the real KB and for the 100k-passage bench corpus.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

import numpy as np

# Function words and question fillers residents type; they carry no topic.
STOPWORDS = frozenset(
    """的 了 吗 呢 啊 呀 吧 嘛 哦 哈 么 着 过 和 与 及 或 而 并 等 是 在 有 没 没有 就 都 也 还 又 要 想 会 能 可以 可 请 请问
    我 我们 我家 你 你们 您 他 她 它 他们 咱 咱们 这 那 这个 那个 这里 那里 哪 哪里 哪儿 哪个 什么 怎么 怎样 怎么样 如何 为什么 多少
    一下 一个 一些 个 些 给 让 把 被 对 从 到 向 为 以 之 其 该 各 将 于 上 下 里 中 不 不能 能不能 可不可以 有没有 是不是 吗？
    现在 今年 听说 知道 问 问问 一般 需要 应该 用 去 来 办 弄 搞 找 帮 帮忙 谢谢 你好 好 嗯
    规划 文件 原文 条款 条文 说法 意思 回事 怎么回事 提到 写 说 关于 具体 附近 周边 旁边 最近 一点 东西 事 事情 情况 时候""".split()
)
# Everyday words residents use for the plan's terms; added to the query, never replacing it.
COLLOQUIAL = {
    "城里": "城市", "市里": "城市", "村里": "农村 村", "乡下": "农村", "老人": "老年人", "老头": "老年人", "老太太": "老年人",
    "孩子": "儿童", "小孩": "儿童", "娃": "儿童", "宝宝": "婴幼儿 托育", "看病": "医疗", "工作": "就业", "打工": "务工 就业",
    "下岗": "失业", "上班": "就业", "残疾": "残疾人", "社工": "社会工作", "看书": "阅读", "锻炼": "健身", "跳舞": "文体",
    # everyday care tasks → the catalogue's 助浴/助洁/助餐 wording
    "洗澡": "助浴", "擦身": "助浴", "打扫": "助洁", "做饭": "助餐", "送饭": "助餐 送餐",
}
_TOKEN_OK = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")
_CJK_ONLY = re.compile(r"^[\u4e00-\u9fff]+$")


def expand_query(terms: list[str]) -> list[str]:
    """Add the plan's wording for colloquial terms (村里 → 农村)."""
    extra = [w for t in terms for w in COLLOQUIAL.get(t, "").split()]
    return terms + [w for w in extra if w not in terms]


def make_analyzer(cut: Callable[[str], list[str]], stopwords: Iterable[str] = STOPWORDS) -> Callable[[str], list[str]]:
    """Wrap a jieba cut function: lowercase, drop punctuation/whitespace and stopwords."""
    stops = frozenset(stopwords)

    def analyze(text: str) -> list[str]:
        out = []
        for tok in cut(text):
            tok = tok.strip().lower()
            if tok and _TOKEN_OK.search(tok) and tok not in stops:
                out.append(tok)
                if len(tok) >= 4 and _CJK_ONLY.match(tok):  # long compounds: also their bigrams
                    out.extend(tok[i : i + 2] for i in range(len(tok) - 1))
        return out

    return analyze


class BM25:
    """Okapi BM25 (k1, b) with the Lucene-style non-negative idf."""

    def __init__(self, docs: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75):
        self.k1, self.b = k1, b
        self.n_docs = len(docs)
        lengths = np.fromiter((len(d) for d in docs), dtype=np.float32, count=self.n_docs)
        avg = float(lengths.mean()) if self.n_docs else 1.0
        self._norm = (k1 * (1 - b + b * lengths / max(avg, 1e-9))).astype(np.float32)
        postings: dict[str, tuple[list[int], list[int]]] = {}
        for i, doc in enumerate(docs):
            for term, tf in Counter(doc).items():
                ids, tfs = postings.setdefault(term, ([], []))
                ids.append(i)
                tfs.append(tf)
        self._postings = {t: (np.asarray(ids, dtype=np.int64), np.asarray(tfs, dtype=np.float32)) for t, (ids, tfs) in postings.items()}
        self.idf = {t: math.log(1 + (self.n_docs - len(ids) + 0.5) / (len(ids) + 0.5)) for t, (ids, _) in self._postings.items()}

    @property
    def vocabulary(self) -> set[str]:
        return set(self._postings)

    def scores(self, query: Sequence[str]) -> np.ndarray:
        """BM25 score of every document (zeros where no query term occurs)."""
        out = np.zeros(self.n_docs, dtype=np.float32)
        for term, qtf in Counter(query).items():
            posting = self._postings.get(term)
            if posting is None:
                continue
            ids, tfs = posting
            out[ids] += qtf * self.idf[term] * tfs * (self.k1 + 1) / (tfs + self._norm[ids])
        return out

    def coverage(self, query: Sequence[str]) -> float:
        """Idf-weighted share of the query's distinct terms the corpus knows (unknown terms weigh most)."""
        terms = set(query)
        if not terms:
            return 0.0
        unknown = math.log(1 + (self.n_docs + 0.5) / 0.5)
        total = sum(self.idf.get(t, unknown) for t in terms)
        known = sum(self.idf[t] for t in terms if t in self.idf)
        return known / total if total else 0.0
