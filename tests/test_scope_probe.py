"""The scope probe (bot.retrieval.probe): a logistic regression over the question embedding that declines
everyday problems no cue names, keeps in-scope questions answered, and never learns from a measure-only set.
The questions here are this file's own; the test checks they are not among the probe's training messages."""

import numpy as np
import pytest

from bot.retrieval import blind as B
from bot.retrieval.probe import Example, ScopeProbe, fit_logistic

UNSEEN_OFF_TOPIC = [
    "帮我看看这个合同有没有坑",
    "小区门口新开的奶茶店好喝吗",
    "我的快递三天没动了",
    "明天去爬山穿什么合适",
]
IN_SCOPE = ["社区有老年食堂吗", "孩子两岁没人带 附近有托育吗", "失业了去哪登记"]


@pytest.fixture(scope="module")
def training_texts(assistant):
    return {e.text for e in assistant.probe_examples()}


def test_newton_fit_separates_two_clusters_and_leaves_the_bias_unshrunk():
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(-1.0, 0.5, (100, 3)), rng.normal(1.0, 0.5, (100, 3))])
    y = np.r_[np.zeros(100), np.ones(100)]
    w, b = fit_logistic(x, y, l2=1.0)
    pred = (x @ w + b) > 0
    assert (pred == y.astype(bool)).mean() > 0.97
    w_heavy, b_heavy = fit_logistic(x + 5.0, y, l2=1e6)  # weights shrunk to ~0: the bias alone gives the base rate
    assert np.abs(w_heavy).max() < 1e-3 and abs(b_heavy) < 0.1


@pytest.mark.parametrize("question", UNSEEN_OFF_TOPIC)
def test_an_everyday_problem_no_cue_names_is_declined_by_the_probe(assistant, training_texts, question):
    assert question not in training_texts
    assert assistant.topics.classify(question) is None  # no cue: it is the learned layer that declines
    query = assistant.search_query(question)
    assert assistant.topics.by_similarity(assistant.scope_similarity(question, query), assistant.scope_margin) is None
    ans = assistant.ask(question)
    assert ans.kind == "out_of_scope" and not ans.sources
    assert any(ch.isdigit() for ch in ans.answer) or "社区服务" in ans.answer  # a pointer or what it can do


@pytest.mark.parametrize("question", IN_SCOPE)
def test_in_scope_questions_stay_answered(assistant, training_texts, question):
    assert question not in training_texts
    assert assistant.ask(question).kind != "out_of_scope"


def test_the_threshold_switches_the_probe_off(assistant):
    inner = assistant.active  # the live wrapper's current assistant
    saved = inner.probe_threshold
    try:
        inner.probe_threshold = float("inf")
        off = inner.ask(UNSEEN_OFF_TOPIC[1])
    finally:
        inner.probe_threshold = saved
    on = inner.ask(UNSEEN_OFF_TOPIC[1])
    assert off.topic is None  # without the probe only the gate's generic decline (or an answer) is left
    assert on.kind == "out_of_scope" and on.topic == "shopping"  # the nearest labelled messages' pointer
    assert "12315" in on.answer and "12345" in on.answer  # a guessed topic keeps the city hotline as a fallback
    assert "12345" not in inner.topics.reply_decline("shopping").reply  # which a cue's decline does not add


def test_no_measure_only_question_teaches_the_probe(training_texts):
    frozen = B.measured_texts()
    tuning = {e.text for e in B.tuning_examples(lambda q, p: "")}
    assert frozen & tuning  # two sets' writers typed some of the same questions …
    assert not frozen & training_texts  # … and none of those teaches the probe


def test_tuning_questions_teach_with_the_reply_their_pointer_names(assistant):
    examples = B.tuning_examples(assistant.topics.reply_for, ["blind_dev12"])
    out = [e for e in examples if e.out]
    assert out and all(not e.out for e in examples if e not in out)
    assert assistant.topics.reply_for("网购的东西坏了商家不退", ["12315"]) == "consumer"
    assert assistant.topics.reply_for("讲个笑话", ["社区服务", "规划"]) == "chitchat"
    assert assistant.topics.reply_for("随便说说", ["没有这个号码"]) == ""


class CountingEmbedder:
    """The real embedder, counting how many texts it encodes."""

    def __init__(self, inner):
        self.inner, self.model_id, self.encoded = inner, inner.model_id, 0

    def queries(self, texts):
        self.encoded += len(texts)
        return self.inner.queries(texts)


def test_training_vectors_are_encoded_once_per_text_and_cached(assistant, tmp_path):
    embedder = CountingEmbedder(assistant.retriever.embedder)
    examples = [Example("社区有没有助餐点", False), Example("今天股市怎么样", True, "finance")]
    first = ScopeProbe.build(embedder, examples, tmp_path)
    assert embedder.encoded == 2 and list(tmp_path.glob("scope-probe-*.npz"))
    second = ScopeProbe.build(embedder, examples, tmp_path)
    assert embedder.encoded == 2  # loaded from the cache
    ScopeProbe.build(embedder, [*examples, Example("社区有没有托育点", False)], tmp_path)
    assert embedder.encoded == 3  # only the new text is encoded
    vec = assistant.retriever.query_vector("基金亏了怎么办")
    assert first.p_out(vec) == pytest.approx(second.p_out(vec))
    assert first.verdict(vec).reply == "finance"


def test_the_cross_validation_table_adds_reports_by_count():
    from bot.retrieval.probe_cv import Tally, format_cv

    tally = Tally()
    tally.add({"accuracy": {"all": (0.9, 10)}, "offtopic_declined_with_pointer": (0.5, 4),
               "inscope_wrongly_declined": (1 / 6, 6)})  # fmt: skip
    tally.add({"accuracy": {"all": (1.0, 5)}, "offtopic_declined_with_pointer": (float("nan"), 0),
               "inscope_wrongly_declined": (0.0, 5)})  # fmt: skip
    assert (tally.correct, tally.total, tally.declined_ok, tally.offtopic) == (14, 15, 2, 4)
    assert (tally.wrongly_declined, tally.inscope) == (1, 11)
    text = format_cv({0.9: {"all": tally}})
    assert "14/15" in text and "0.500" in text and "0.091" in text


def test_following_up_what_the_community_said_is_answered_but_a_fee_for_it_is_a_scam(assistant, training_texts):
    follow_up = "网格员上午通知我，老人的高龄津贴批了，要带什么去领"
    scam = "有人打电话说是社区的，补贴下来了，要我先交三百手续费"
    assert follow_up not in training_texts and scam not in training_texts
    assert assistant.ask(follow_up).kind != "out_of_scope"
    declined = assistant.ask(scam)
    assert declined.kind == "out_of_scope" and "96110" in declined.answer
