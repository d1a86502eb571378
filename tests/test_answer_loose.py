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


@pytest.mark.parametrize(
    ("message", "services"),
    [
        ("孩子两岁想去托育，还有老人助餐在哪", ["inclusive-childcare", "community-meal-aid"]),
        ("我家老人想报助餐 另外孩子放学能去儿童之家吗", ["community-meal-aid", "children-home"]),
        ("家里老人打算去社区助餐点吃饭，另外医保能在村里办吗", ["community-meal-aid", "medical-insurance-service"]),
    ],
)
def test_a_wish_before_another_question_is_answered_too(assistant, message, services):
    ans = assistant.ask(message)
    assert [s.id for s in ans.sources if s.type == "service"][: len(services)] == services


def test_a_lone_wish_after_a_joiner_stays_one_question(assistant):
    ans = assistant.ask("我想问问，另外助餐在哪吃")
    assert ans.kind == "service" and "在哪" in ans.body


@pytest.mark.parametrize(
    ("message", "first", "second"),
    [
        ("社工师现在平均有几个 社工站什么时候全覆盖", "indicator-8", "action-3"),
        ("助餐点在哪里 儿童之家有什么活动", "community-meal-aid", "children-home"),
        ("社区议事协商谁领导的 村规民约又是怎么规定的", "community-consultation", "plan-5-07"),
    ],
)
def test_two_questions_said_with_a_pause_are_both_answered(assistant, message, first, second):
    ids = [s.id for s in assistant.ask(message).sources]
    assert first in ids and second in ids and ids.index(first) < ids.index(second)


def test_a_spoken_pause_before_an_aspect_keeps_the_subject(assistant):
    ans = assistant.ask("托育 怎么报名")
    assert ans.kind == "service" and ans.sources[0].id == "inclusive-childcare"


@pytest.mark.parametrize("question", ["社区议事协商是谁领导的", "社区协商是谁主导的", "议事协商主导的是谁"])
def test_who_leads_a_service_cites_the_plan_sentence_saying_so(assistant, question):
    ans = assistant.ask(question)
    cited = ans.sources[: ans.cited]
    assert ans.kind == "service" and any("主导" in s.text and s.type == "plan" for s in cited)


@pytest.mark.parametrize(
    "question", ["社会力量参与社区服务行动是哪些部门负责的", "社会力量参与社区服务行动计划由哪几个部门牵头"]
)
def test_a_tables_heading_asked_whose_it_is_gets_the_bodies(assistant, question):
    ans = assistant.ask(question)
    assert ans.kind == "agency" and "市民政局" in ans.body


@pytest.mark.parametrize(
    ("message", "kinds"),
    [
        ("What does 专栏2 include, and who leads 社区协商?", ["action-1", "community-consultation"]),
        ("Which actions are in 专栏2, and where is 老年助餐?", ["action-1", "community-meal-aid"]),
    ],
)
def test_an_english_part_naming_chinese_terms_is_a_part_of_its_own(assistant, message, kinds):
    ids = [s.id for s in assistant.ask(message).sources]
    assert all(k in ids for k in kinds)


@pytest.mark.parametrize(
    ("message", "services"),
    [
        ("老人想去助餐点吃饭 然后医保在村里能办吗", ["community-meal-aid", "medical-insurance-service"]),
        ("托育有补贴吗 再一个就是助餐多少钱", ["inclusive-childcare", "community-meal-aid"]),
    ],
)
def test_voice_fillers_join_two_questions(assistant, message, services):
    ans = assistant.ask(message)
    assert [s.id for s in ans.sources if s.type == "service"][:2] == services


@pytest.mark.parametrize(
    ("message", "aspect"), [("我想给老人办助餐，另外在哪办", "在哪"), ("我想申请托育 还有要带什么材料", "要带")]
)
def test_a_wish_before_a_bare_aspect_names_the_subject_asked_about(assistant, message, aspect):
    ans = assistant.ask(message)
    assert ans.kind == "service" and ans.body.count(aspect) == 1


@pytest.mark.parametrize(
    ("question", "action"),
    [("孵化培育社会组织算哪个行动，具体要做些啥", "action-1"), ("志愿服务属于什么行动 怎么开展", "action-2")],
)
def test_which_action_and_how_quotes_the_rows_text(assistant, question, action):
    ans = assistant.ask(question)
    row = next(a for a in assistant.kb.plan.actions if a.id == action)
    assert ans.sources[0].id == action and "规划写道" in ans.body and row.title in ans.body


def test_which_action_alone_names_the_row(assistant):
    ans = assistant.ask("社工站建设属于专栏2哪项行动")
    assert ans.sources[0].id == "action-3" and "规划写道" not in ans.body
