"""Loose descriptions and voice run-ons (issue 12, round 9): a table named by its heading instead of its number, a
chapter's responsible bodies asked with 都/一共 in between, two questions said without a joining word, a wish before
另外. In-process through the real assistant; the wording here is this file's own."""

import pytest


@pytest.mark.parametrize(
    "question",
    [
        "社会力量参与社区服务行动总共有哪几项",
        "社会力量参与社区服务行动包含几个行动",
        "社会力量参与社区服务行动具体都有哪些行动",
    ],
)
def test_a_table_named_by_its_heading_lists_its_rows(assistant, question):
    ans = assistant.ask(question)
    ids = [s.id for s in ans.sources[: ans.cited]]
    assert ids == [a.id for a in assistant.kb.plan.actions]
    assert all(a.title in ans.body for a in assistant.kb.plan.actions)


def test_a_heading_asked_what_it_means_is_no_row_list(assistant):
    ans = assistant.ask("社会力量参与社区服务行动是什么意思")
    assert "共3项" not in ans.body


@pytest.mark.parametrize(
    ("question", "chapter"),
    [
        ("强化为民服务功能这部分负责的部门都有哪些", "7"),
        ("健全党建引领机制那一节负责的单位都是哪些", "5"),
        ("构建多方参与格局那块牵头的部门一共有哪些", "6"),
    ],
)
def test_a_chapters_bodies_asked_loosely_are_its_list(assistant, question, chapter):
    ans = assistant.ask(question)
    bodies = next(c for c in assistant.kb.plan.chapters if c.id == chapter).agencies
    assert ans.kind == "agency"
    assert all(b in ans.body for b in bodies)


@pytest.mark.parametrize(
    "question",
    [
        "List the actions in 专栏2 and keep their Chinese names",
        "Which actions does 专栏2 have? Give the Chinese names.",
        "列一下专栏2的三个行动",
    ],
)
def test_a_table_asked_for_with_the_ask_said_first_lists_its_rows(assistant, question):
    ans = assistant.ask(question)
    assert ans.kind == "clause"
    assert [s.id for s in ans.sources[: ans.cited]] == [a.id for a in assistant.kb.plan.actions]
