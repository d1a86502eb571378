"""What ``Assistant.ask`` does to a question's text before any search, and which queries it will then encode.

One function serves ``ask`` and the action server's ``/prepare`` (called as soon as a channel receives the
resident's text, while Rasa is still parsing it), so the two cannot drift: ``/prepare`` encodes exactly the
queries ``ask`` would, the same way (a multi-part question's batch as one call, a single query alone), so
``ask`` finds them cached and its answer is the one it would have given anyway. Preparing reads only the text
and the knowledge base; it never decides an answer.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from bot.errors import UserFacingError
from bot.retrieval.pinyin_input import PinyinReader, is_pinyin
from bot.retrieval.question import clean_question, has_topic, split_parts
from bot.retrieval.script import english_parts, script_of, to_mandarin, to_simplified

MEMO_SIZE = 512


@dataclass(frozen=True)
class Prepared:
    raw: str  # the cleaned question, as the answer quotes it back
    script: str  # "hans", "hant" or "en"
    q: str  # in simplified Mandarin with homophone typos corrected: what is answered
    parts: tuple[str, ...]
    batch: tuple[str, ...]  # a multi-part question's queries, encoded in one call before its parts are answered
    single: tuple[str, ...]  # queries encoded one by one as the parts are answered (as far as the text tells)


class Memo:
    """A bounded, thread-safe map of recent questions to their preparation (the typo pass costs ~2 ms)."""

    def __init__(self, size: int = MEMO_SIZE):
        self.size = size
        self._items: OrderedDict[str, Prepared] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, raw: str) -> Prepared | None:
        with self._lock:
            found = self._items.get(raw)
            if found is not None:
                self._items.move_to_end(raw)
            return found

    def put(self, prepared: Prepared) -> None:
        with self._lock:
            self._items[prepared.raw] = prepared
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def prepare(assistant, raw: str) -> Prepared:
    """The preparation of a cleaned question (``clean_question``) by ``assistant``, remembered per assistant."""
    found = assistant.prepared.get(raw)
    if found is not None:
        return found
    script = script_of(raw)  # typos are read by sound (医宝 → 医保) once the question is in simplified characters
    text = raw
    if script == "en" and is_pinyin(raw):  # di bao yi ge yue ji qian: Chinese typed as pinyin, not English
        text, script = _pinyin_reader(assistant).read(raw), "hans"
    q = assistant.speller.correct(to_mandarin(to_simplified(text) if script == "hant" else text))
    english = script == "en"
    names = assistant._names_topic
    parts = tuple(english_parts(q, names) if english else split_parts(q, names_topic=names))
    batch: tuple[str, ...] = ()
    if len(parts) > 1:
        batch = tuple(
            assistant.search_query(p, english) for p in parts if has_topic(p) and assistant.topics.classify(p) is None
        )
    first = assistant.search_query(parts[0], english)
    # the first part is searched unless the scope layer declines it first (a reviewed Q&A entry is looked for before)
    searched = bool(assistant.kb.qa) or assistant.topics.classify(parts[0], assistant.asking_end(parts[0])) is None
    single = (first,) if searched and first not in batch else ()
    prepared = Prepared(raw, script, q, parts, batch, single)
    assistant.prepared.put(prepared)
    return prepared


_READER_LOCK = threading.Lock()


def _pinyin_reader(assistant) -> PinyinReader:
    """The assistant's reader of pinyin messages, built on the first one (0.4 s, 7 MB: most never see one)."""
    with _READER_LOCK:
        reader = getattr(assistant, "_pinyin_reader", None)
        if reader is None:
            speller = assistant.speller
            reader = assistant._pinyin_reader = PinyinReader(speller.known, speller.vocabulary)
        return reader


def warm(assistant, text: object) -> Prepared | None:
    """Encode (or find cached) the queries ``assistant.ask(text)`` will encode; None for text ``ask`` would refuse."""
    try:
        raw = clean_question(text, assistant.max_question_chars)
    except UserFacingError:
        return None
    prepared = prepare(assistant, raw)
    if len(prepared.parts) > 1:
        assistant.retriever.prefetch(list(prepared.batch))
    for query in prepared.single:
        assistant.retriever.query_vector(query)
    return prepared
