"""The blind-set grader: what counts as a right answer, a decline, and what a held-out report may show."""

from __future__ import annotations

import pytest

from bot.retrieval.answers import Answer, Source
from bot.retrieval.blind import (
    BLIND_SETS,
    MEASURE_ONLY,
    BlindQuestion,
    format_report,
    grade,
    load_blind,
    missing_groups,
)


def _source(text: str) -> Source:
    return Source(type="plan", id="plan-x", title="t", chapter="c", text=text, score=1.0)


def _question(expect: str = "answer", must_all=None) -> BlindQuestion:
    return BlindQuestion(id="t1", question="?", kind="agency", expect=expect, must_all=must_all or [])


def test_every_registered_set_loads_with_the_fields_the_grader_needs():
    for name, path in BLIND_SETS.items():
        qs = load_blind(name)
        assert path.exists() and len(qs) >= 50, name
        assert len({q.id for q in qs}) == len(qs), f"{name}: duplicate ids"
        for q in qs:
            assert q.expect in ("answer", "decline"), (name, q.id)
            assert q.must_all if q.expect == "answer" else not q.must_all, (name, q.id)
    assert MEASURE_ONLY <= set(BLIND_SETS)


def test_each_group_needs_one_of_its_phrases_case_insensitively():
    assert missing_groups("市民政局 and QR", [["市民政局"], ["qr", "码"]]) == []
    assert missing_groups("市民政局", [["市民政局"], ["市住建局", "市委组织部"]]) == [["市住建局", "市委组织部"]]


def test_full_width_brackets_and_digits_match_their_half_width_phrases():
    assert missing_groups("村（居）务公开，覆盖率９０％", [["村(居)务公开"], ["90%"]]) == []
    assert missing_groups("村务公开", [["村(居)务公开"]]) == [["村(居)务公开"]]


def test_a_phrase_found_only_in_a_cited_source_counts_but_not_in_a_further_hit():
    q = _question(must_all=[["议事协调机制"]])
    cited = Answer("?", "clause", "原文如下。", sources=[_source("建立议事协调机制")], cited=1)
    uncited = Answer("?", "clause", "原文如下。", sources=[_source("无关"), _source("建立议事协调机制")], cited=1)
    assert grade(q, cited).correct
    assert not grade(q, uncited).correct


def test_a_traditional_reply_is_graded_on_its_simplified_form_too():
    q = _question(must_all=[["养老服务"]])
    assert grade(q, Answer("?", "service", "社區養老服務由市民政局負責。")).correct
    assert not grade(q, Answer("?", "service", "社區托育服務由市衛健委負責。")).correct


def test_a_traditional_decline_is_checked_for_its_pointer_in_simplified_form_too():
    off = BlindQuestion(id="t1", question="?", kind="offtopic", expect="decline", pointer_any=["当地"])
    assert grade(off, Answer("?", "out_of_scope", "請諮詢當地12345熱線。")).correct
    assert not grade(off, Answer("?", "out_of_scope", "請撥打12345熱線。")).correct


def test_a_decline_is_out_of_scope_without_sources_and_an_answer_must_not_be_one():
    off = _question(expect="decline")
    assert grade(off, Answer("?", "out_of_scope", "这超出了本规划的范围，可拨打12345。")).correct
    cited_decline = Answer("?", "out_of_scope", "可拨打12345。", sources=[_source("本市")])
    assert not grade(off, cited_decline).correct
    ins = _question(must_all=[["12345"]])
    wrong = grade(ins, Answer("?", "out_of_scope", "可拨打12345。"))
    assert wrong.declined and not wrong.correct


@pytest.mark.parametrize("show", [True, False])
def test_a_measure_only_report_never_names_its_failures(show):
    q = _question(must_all=[["市民政局"]])
    g = grade(q, Answer("?", "agency", "不知道"))
    rep = {
        "accuracy": {"agency": (0.0, 1), "all": (0.0, 1)},
        "offtopic_declined_with_pointer": (float("nan"), 0),
        "offtopic_declined": (float("nan"), 0),
        "inscope_wrongly_declined": (0.0, 1),
        "first_reply_chars": {"median": 3, "max": 3},
        "grades": [g],
    }
    text = format_report("set", rep, {"hybrid": {"agency": (0.0, 1), "all": (0.0, 1)}}, show_failures=show)
    assert ("t1" in text) is show
    assert "1 misses" in text or show
