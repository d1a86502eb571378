"""Domain vocabulary for jieba, generated from the knowledge base.

The same dictionary is loaded by Rasa's JiebaTokenizer (``config.yml`` points at
``knowledge_base/jieba/``) and by our BM25 and routing, so entity spans and search
terms split the same way ("普惠托育" stays one token instead of "普惠/托育").
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from pathlib import Path

import jieba

from bot.kb.loader import KnowledgeBase

USER_DICT_NAME = "jieba/userdict.txt"
_WORD_FREQ = 2000
_CJK = re.compile(r"^[\u4e00-\u9fff（）()A-Za-z0-9]+$")


def domain_terms(kb: KnowledgeBase) -> list[str]:
    terms: set[str] = set()
    for s in kb.services:
        terms.update([s.name, *s.aliases, *s.populations])
    terms.update(a.name for a in kb.agencies.agencies)
    for d in kb.documents:
        terms.update(d.plan.all_agencies)
    for cat in kb.directory.categories:
        terms.update(cat.keywords)
    for c in kb.communities:
        terms.update([c.name, c.township, *c.compounds])
        terms.update(m.type for m in c.committees)
    terms.update(i.name for i in kb.indicators if len(i.name) <= 12)
    return sorted(t for t in terms if 2 <= len(t) <= 16 and _CJK.match(t) and " " not in t)


def render_user_dictionary(kb: KnowledgeBase) -> str:
    return "".join(f"{t} {_WORD_FREQ} n\n" for t in domain_terms(kb))


def user_dictionary_path(kb_dir: Path) -> Path:
    return kb_dir / USER_DICT_NAME


def write_user_dictionary(kb: KnowledgeBase, dry_run: bool = False) -> bool:
    """Write the dictionary; return True when it changed (or would change, with dry_run)."""
    path = user_dictionary_path(kb.kb_dir)
    text = render_user_dictionary(kb)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    if not dry_run:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return True


_TOKENIZER_LOCK = threading.Lock()


def tokenizer(kb_dir: Path) -> jieba.Tokenizer:
    """A jieba tokenizer with the domain dictionary (own instance: never mutates jieba's global one).

    Built once per folder; the lock keeps parallel first calls from each loading the dictionary."""
    with _TOKENIZER_LOCK:
        return _build_tokenizer(Path(kb_dir))


@lru_cache(maxsize=4)
def _build_tokenizer(kb_dir: Path) -> jieba.Tokenizer:
    jieba.setLogLevel(60)
    tok = jieba.Tokenizer()
    path = user_dictionary_path(kb_dir)
    if path.exists():
        tok.load_userdict(str(path))
    tok.initialize()
    return tok
