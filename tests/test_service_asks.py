"""Service questions in residents' words: asking what is offered or backed cites the plan sentence behind the card,
and a dialect "is it all right" reads as Mandarin. Questions are worded here, not taken from any evaluation set."""

import pytest


@pytest.mark.parametrize(
    "question",
    ["我失业了，社区能给我提供啥服务", "我是在职党员，去社区报到了具体要做些什么", "家里有残疾人，社区有什么支持吗"],
)
def test_asking_what_is_offered_cites_the_plan_sentence_behind_the_card(assistant, question):
    ans = assistant.ask(question)
    assert ans.kind == "service" and ans.cited == 2
    svc = assistant.kb.service(ans.services[0]["id"])
    assert ans.sources[1].id == svc.clause and "《规划》" in ans.answer


@pytest.mark.parametrize("question", ["我们几个老邻居想搞互助养老，这种中不中", "村里几个老人想搞互助养老，有啥支持没"])
def test_a_plan_term_no_card_carries_gets_the_plan_sentence_not_a_card_near_it(assistant, question):
    ans = assistant.ask(question)
    assert ans.kind == "clause" and "互助养老" in ans.sources[0].text and ans.sources[0].type == "plan"


def test_a_henan_is_it_all_right_reads_as_mandarin(assistant):
    plain, henan = assistant.ask("老人上门助浴这种服务行不行"), assistant.ask("老人上门助浴这种服务中不中")
    assert henan.kind == plain.kind == "service" and henan.cited == plain.cited == 2


@pytest.mark.parametrize("question", ["社区有没有医养结合的养老服务", "我妈身体不好，想找医养结合的地方"])
def test_a_plan_term_said_short_gets_the_sentence_of_its_long_form(assistant, question):
    ans = assistant.ask(question)
    assert ans.kind == "clause" and "医养康养相结合" in ans.sources[0].text


def test_a_lone_old_person_asking_to_be_looked_in_on_finds_the_visiting_service(assistant):
    ans = assistant.ask("我一个孤老太太，老伴没了，孩子们都在外地，想让社区的人定期上门来看看我")
    assert ans.kind == "service" and ans.services[0]["id"] == "elderly-visiting-care"


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("健全医养康养相结合的养老服务体系", True),  # 医养 + 康养相 + 结合
        ("医养结合", False),  # no character between the halves
        ("医养一二三四五结合", False),  # more than four between them
        ("医养,相结合", False),  # punctuation breaks the term
        ("先说医养，再说医养康结合", True),  # a later occurrence of the head counts
    ],
)
def test_a_short_term_is_found_in_its_long_form_by_string_scans(text, found):
    from bot.retrieval.plantext import _split_term_in

    assert _split_term_in(text, "医养", "结合") is found


@pytest.mark.parametrize(
    ("question", "agency"),
    [
        ("我们几个人打算开一家托育机构，申请要准备哪些材料", "市卫健局"),
        ("我想在村里开个老年食堂，需要啥条件", "市民政局"),
    ],
)
def test_a_provider_asking_how_to_open_one_is_told_the_card_is_for_residents(assistant, question, agency):
    ans = assistant.ask(question)
    assert ans.kind == "out_of_scope" and not ans.sources
    assert agency in ans.answer and "12345" in ans.answer
    resident = assistant.ask("孩子要送托育机构，申请要准备哪些材料")  # the same ask from a parent: the card
    assert resident.kind == "service" and resident.sources


def test_conditions_of_applying_ask_who_qualifies_not_the_steps(assistant):
    ans = assistant.ask("申请特困供养要满足什么条件")
    assert ans.kind == "service" and "谁能办" in ans.answer and "怎么办" not in ans.answer


def test_the_conditions_of_a_place_are_no_eligibility_ask(assistant):
    from bot.retrieval.question import aspect_of

    assert aspect_of("村卫生室医疗条件太差了，以后会改善吗") is None
    assert aspect_of("领高龄津贴的条件是什么") == "eligibility"


def test_shanghainese_seeing_a_doctor_reads_as_mandarin(assistant):
    from bot.retrieval.script import to_mandarin

    assert "看病" in to_mandarin("阿拉姆妈去社区看毛病方便伐") and "一起" in to_mandarin("两桩事体一道弄")
