"""Preparing a question before its action call (``/prepare``): the real assistant, encoder and retriever.

A prepared question must be answered without a further encode and with the very answer an unprepared one gets;
an encode in flight is awaited, never repeated; a failed one leaves the waiter to encode for itself.
"""

from __future__ import annotations

import copy
import threading

import numpy as np
import pytest

from bot.retrieval.prepared import Memo, Prepared, prepare, warm
from bot.retrieval.search import Retriever

QUESTIONS = [
    "在社区能办医保吗",  # one part
    "失业了去哪里登记？孩子放学后没人管怎么办？",  # two parts: one batch
    "家裡老人沒人照看，社區能上門照顧嗎",  # 繁體
    "社区能办医宝吗",  # a homophone typo (医宝 → 医保)
    "How do I apply for elderly care at home?",
    "明天天气怎么样",  # declined by the scope layer
]


class CountingEncoder:
    """The real embedder, with every text it is asked to encode recorded (and, if set, a gate to hold it)."""

    def __init__(self, real, gate: threading.Event | None = None, fail: bool = False):
        """``fail``: the first call raises (after the gate opens)."""
        self.real, self.gate, self.fail = real, gate, fail
        self.calls: list[list[str]] = []
        self.entered = threading.Event()

    def queries(self, texts):
        self.calls.append(list(texts))
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(30)
        if self.fail and len(self.calls) == 1:
            raise RuntimeError("encoder failed")  # the first encode only
        return self.real.queries(texts)

    @property
    def texts(self) -> list[str]:
        return [t for call in self.calls for t in call]


class CountingSpeller:
    def __init__(self, real):
        self.real, self.calls = real, 0

    def correct(self, text: str) -> str:
        self.calls += 1
        return self.real.correct(text)

    def __getattr__(self, name):
        return getattr(self.real, name)


def fresh(assistant, **encoder):
    """The session's assistant with an empty query cache and preparation memo around a counting encoder."""
    bot = copy.copy(assistant.active)
    r = bot.retriever
    counting = CountingEncoder(r.embedder, **encoder)
    bot.retriever = Retriever(r.passages, r.faiss_index, r.bm25, r.analyze, counting, r.params)
    bot.prepared = Memo()
    return bot


def _same(a, b) -> bool:
    return (a.kind, a.answer, [s.id for s in a.sources], a.confidence) == (
        b.kind,
        b.answer,
        [s.id for s in b.sources],
        b.confidence,
    )


@pytest.mark.parametrize("question", QUESTIONS)
def test_a_prepared_question_is_answered_without_another_encode_and_the_same_answer(assistant, question):
    plain = fresh(assistant)
    expected = plain.ask(question)
    bot = fresh(assistant)
    warm(bot, question)
    warmed = bot.retriever.embedder.texts
    assert warmed == plain.retriever.embedder.texts  # the same queries, encoded the same way (batch or alone)
    answer = bot.ask(question)
    assert bot.retriever.embedder.texts == warmed  # nothing encoded after the prepare
    assert _same(answer, expected)
    if expected.kind != "out_of_scope":
        assert warmed  # a searched question did need an encode


def test_ask_reuses_the_text_preparation_and_the_memo_is_bounded(assistant):
    bot = fresh(assistant)
    bot.speller = CountingSpeller(bot.speller)
    warm(bot, "社区能办医宝吗")
    assert bot.speller.calls == 1
    answer = bot.ask("社区能办医宝吗")
    assert bot.speller.calls == 1  # the typo pass ran once, in the prepare
    assert "医保" in answer.answer
    memo = Memo(size=3)
    for i in range(5):
        memo.put(Prepared(f"q{i}", "hans", f"q{i}", (f"q{i}",), (), (f"q{i}",)))
    assert memo.get("q0") is None and memo.get("q1") is None and memo.get("q4") is not None
    assert prepare(bot, "在社区能办医保吗") is prepare(bot, "在社区能办医保吗")


def test_text_ask_would_refuse_is_not_prepared(assistant):
    bot = fresh(assistant)
    for text in ("", "   ", "!!!", "好" * (bot.max_question_chars + 1), None, 5):
        assert warm(bot, text) is None
    assert bot.retriever.embedder.calls == []


def test_an_encode_in_flight_is_awaited_by_a_second_thread_not_repeated(assistant):
    gate = threading.Event()
    bot = fresh(assistant, gate=gate)
    r = bot.retriever
    out: dict[str, np.ndarray] = {}
    first = threading.Thread(target=lambda: out.__setitem__("prepare", r.prefetch(["失业登记"]) or 1))
    first.start()
    assert r.embedder.entered.wait(30)  # the prepare is inside the encoder now
    second = threading.Thread(target=lambda: out.__setitem__("ask", r.query_vector("失业登记")))
    second.start()
    second.join(0.3)
    assert second.is_alive()  # the ask waits for the encode in flight
    gate.set()
    first.join(30)
    second.join(30)
    assert r.embedder.calls == [["失业登记"]]  # one encode for both
    assert np.array_equal(out["ask"], r.query_vector("失业登记"))
    assert r.encodes["encoded"] == 1 and r.encodes["awaited"] == 1 and r.encodes["hit"] == 1
    np.testing.assert_allclose(out["ask"], assistant.active.retriever.embedder.queries(["失业登记"]), atol=1e-6)


def test_a_failed_encode_in_flight_leaves_the_waiter_to_encode_itself(assistant):
    gate = threading.Event()
    bot = fresh(assistant, gate=gate, fail=True)
    r = bot.retriever
    errors, out = [], {}

    def prepare_side():
        try:
            r.prefetch(["失业登记"])
        except RuntimeError as e:
            errors.append(e)

    first = threading.Thread(target=prepare_side)
    first.start()
    assert r.embedder.entered.wait(30)
    second = threading.Thread(target=lambda: out.__setitem__("vec", r.query_vector("失业登记")))
    second.start()
    second.join(0.2)
    assert second.is_alive()
    gate.set()
    first.join(30)
    second.join(30)
    assert len(errors) == 1  # the prepare's own encode failed and said so
    assert r.embedder.calls == [["失业登记"], ["失业登记"]]  # the waiter encoded for itself
    np.testing.assert_allclose(out["vec"], assistant.active.retriever.embedder.queries(["失业登记"]), atol=1e-6)
    assert not r._inflight  # nothing left claimed: the next lookup encodes afresh
    r.query_vector("失业登记")
    assert len(r.embedder.calls) == 3
