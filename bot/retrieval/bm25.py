"""Okapi BM25 over jieba tokens on a scipy sparse matrix.

Weights live in a sparse term × document matrix (scipy), so scoring a query touches only the
documents that contain its terms, with no arithmetic left per query.
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
    "城里": "城市",
    "市里": "城市",
    "村里": "农村 村",
    "乡下": "农村",
    "老人": "老年人",
    "老头": "老年人",
    "老太太": "老年人",
    "孩子": "儿童",
    "小孩": "儿童",
    "娃": "儿童",
    "宝宝": "婴幼儿 托育",
    "看病": "医疗",
    "医养": "医养康养 康养 养老",  # 医养结合: the plan's 医养康养相结合 of elderly care
    "工作": "就业",
    "打工": "务工 就业",
    "村医": "乡村医生",
    "下岗": "失业",
    "上班": "就业",
    "残疾": "残疾人",
    "社工": "社会工作",
    "看书": "阅读",
    "锻炼": "健身",
    "跳舞": "文体",
    # everyday care tasks → the catalogue's 助浴/助洁/助餐 wording
    "洗澡": "助浴",
    "擦身": "助浴",
    "打扫": "助洁",
    "做饭": "助餐",
    "送饭": "助餐 送餐",
    # living alone, being looked in on → 独居 / 探访 (巡访关爱)
    "人住": "独居",
    "独自": "独居",
    "看望": "探访",
    "探望": "探访",
    "隔三差五": "定期",
    "孤": "孤寡 独居",  # 孤老头子, 孤老太太: an old person on their own
    "老头子": "老年人",
    "上门来": "上门 探访",
    # premises a resident or unit could offer → the plan's 场地
    "空房": "场地",
    "空房子": "场地",
    "门面房": "场地",
    "闲置": "场地",
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
    """Okapi BM25 (k1, b) with the Lucene-style non-negative idf, as a sparse term × document weight matrix.

    Every (term, document) weight ``idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avg))`` is computed
    once at build time, so scoring a query is one scatter-add of a few matrix rows: at 100k passages that
    is what keeps hybrid search below one query encode. The floats are the ones the earlier postings
    implementation computed per query (same operations in the same order), so rankings and the gate's
    absolute scores are unchanged.
    """

    def __init__(self, docs: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75, progress: bool | None = None):
        from scipy import sparse
        from tqdm import tqdm

        self.k1, self.b = k1, b
        self.n_docs = len(docs)
        lengths = np.fromiter((len(d) for d in docs), dtype=np.float32, count=self.n_docs)
        avg = float(lengths.mean()) if self.n_docs else 1.0
        norm = (k1 * (1 - b + b * lengths / max(avg, 1e-9))).astype(np.float32)
        self._rows: dict[str, int] = {}
        term_ids: list[int] = []
        doc_ids = np.repeat(np.arange(self.n_docs, dtype=np.int64), lengths.astype(np.int64))
        # a bar only for big corpora (None: tqdm shows it when stderr is a terminal)
        bar = tqdm(
            docs, desc="BM25 index", unit="doc", disable=True if progress is False or self.n_docs < 20_000 else None
        )
        for doc in bar:
            term_ids.extend(self._rows.setdefault(t, len(self._rows)) for t in doc)
        tf = sparse.csr_matrix(
            (np.ones(len(term_ids), dtype=np.float32), (np.asarray(term_ids, dtype=np.int64), doc_ids)),
            shape=(len(self._rows), self.n_docs),
        )  # duplicates are summed: term frequencies
        tf.sum_duplicates()
        df = np.diff(tf.indptr)
        idf = np.log(1 + (self.n_docs - df + 0.5) / (df + 0.5))
        self.idf = dict(zip(self._rows, idf.tolist()))
        tfs = tf.data
        row_idf = np.repeat(idf.astype(np.float32), df)
        tf.data = row_idf * tfs * np.float32(k1 + 1) / (tfs + norm[tf.indices])
        self._weights = tf

    @property
    def vocabulary(self) -> set[str]:
        return set(self._rows)

    def scores(self, query: Sequence[str]) -> np.ndarray:
        """BM25 score of every document (zeros where no query term occurs)."""
        out = np.zeros(self.n_docs, dtype=np.float32)
        w = self._weights
        for term, qtf in Counter(query).items():
            row = self._rows.get(term)
            if row is None:
                continue
            a, z = w.indptr[row], w.indptr[row + 1]
            out[w.indices[a:z]] += w.data[a:z] if qtf == 1 else qtf * w.data[a:z]
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


def top_positive(scores: np.ndarray, k: int) -> list[int]:
    """Indices of the ``k`` best positive scores, best first, ties by index.

    The same list as ``np.argsort(-scores, kind="stable")[:k]`` without zeros, without sorting every
    document: only the positive ones, and of those only the ones that can still make the cut.
    """
    positive = np.flatnonzero(scores > 0)
    if len(positive) > k:
        cut = -np.partition(-scores[positive], k - 1)[k - 1]  # k-th best value; ties at it stay candidates
        positive = positive[scores[positive] >= cut]
    order = np.argsort(-scores[positive], kind="stable")[:k]
    return positive[order].tolist()
