"""Who answers "哪个部门负责" for a topic: a short chapter list whole, a long one split by the agencies' duties;
a question naming an agency and a topic gets the topic's agencies; a plan sentence far ahead of an unrelated
service card is the answer. Questions are worded here, not taken from any evaluation set."""

from __future__ import annotations

import pytest

from bot.kb.loader import load_kb
from bot.retrieval.duties import names_all, topic_agencies
from bot.settings import get_settings


@pytest.fixture(scope="module")
def kb():
    return load_kb(get_settings().kb_dir)


def _chapter(kb, numeral: str):
    return next(c for c in kb.plan.chapters if c.numeral == numeral)


def test_a_short_chapter_list_answers_for_every_topic_in_it(kb):
    five = _chapter(kb, "五")
    assert names_all(five) and not names_all(_chapter(kb, "七"))
    clause = five.sentences[-1].id
    got = topic_agencies(kb, clause, "村务公开", "市民政局")
    assert got[0] == "市民政局" and set(five.agencies) <= set(got)


def test_a_long_chapter_list_adds_an_agency_whose_duties_are_the_topic(kb):
    seven = _chapter(kb, "七")
    clause = next(s.id for s in seven.sentences if "儿童之家" in s.text)
    got = topic_agencies(kb, clause, "儿童友好社区里的儿童活动场所", "市民政局")
    assert got[0] == "市民政局" and "市妇联" in got and "市医保局" not in got


def test_a_long_chapter_list_adds_nobody_when_the_lead_fits_best(kb):
    seven = _chapter(kb, "七")
    clause = next(s.id for s in seven.sentences if "医保" in s.text)
    assert topic_agencies(kb, clause, "医保经办服务下沉到村（社区）", "市医保局") == ["市医保局"]


def test_a_topic_without_a_chapter_keeps_the_lead(kb):
    indicator = kb.indicators[0].id
    assert topic_agencies(kb, indicator, "自助服务", "市民政局") == ["市民政局"]


# ---- the assistant ------------------------------------------------------------------------------------------------
def test_a_service_of_a_short_chapter_names_the_whole_list(assistant):
    ans = assistant.ask("机关干部回居住地社区报到服务，归哪个单位管")
    assert ans.kind == "agency"
    assert all(a in ans.answer for a in ("市委组织部", "市民政局", "市住建局"))
    assert len(ans.body) <= 120


def test_a_service_of_a_long_chapter_names_the_agency_of_its_topic(assistant):
    ans = assistant.ask("儿童之家是哪个单位管的")
    assert ans.kind == "agency" and "市民政局" in ans.answer and "市妇联" in ans.answer
    assert "市医保局" not in ans.body


def test_an_agency_and_a_topic_named_get_the_topics_agencies(assistant):
    ans = assistant.ask("鼓励连锁经营这件事是不是商务局管的")
    assert ans.kind == "agency" and "市发改局" in ans.answer and "市商务局" in ans.answer


def test_an_agency_named_alone_still_gets_its_chapters(assistant):
    ans = assistant.ask("市科协在规划里管哪部分")
    assert ans.kind == "agency" and "(七)" in ans.answer and "科普" in ans.answer


def test_an_agency_not_on_the_topics_list_gets_its_own_part(assistant):
    ans = assistant.ask("社区科普活动，规划写的责任单位里有没有科协")
    assert "市科协" in ans.answer


def test_a_plan_sentence_far_ahead_of_an_unrelated_card_is_the_answer(assistant):
    ans = assistant.ask("我打算在几个小区开连锁的便利店")
    assert "连锁经营" in ans.answer and "托育" not in ans.answer


def test_asking_whether_a_rule_exists_cites_the_plan_sentence_too(assistant):
    ans = assistant.ask("村里的财务账目有规定必须公开吗")
    assert "服务目录" in ans.answer and "(五)" in ans.answer
    assert any("公开制度" in s.text for s in ans.sources[: ans.cited])


def test_how_many_agencies_a_chapter_names_is_counted(assistant):
    ans = assistant.ask("(五)最后列了几个市级部门")
    assert ans.kind == "agency" and "共3个市级部门" in ans.answer and "市住建局" in ans.answer


def test_whose_it_is_asked_by_naming_an_agency(assistant):
    ans = assistant.ask("村史馆的事是文广旅局管的吗")
    assert ans.kind == "agency" and "市文广旅局" in ans.answer
    either = assistant.ask("红心物业到底是住建局管还是民政局管")
    assert either.kind == "agency" and "市住建局" in either.answer and "市委组织部" in either.answer


def test_an_agency_named_in_a_list_question_is_no_ownership_question(assistant):
    ans = assistant.ask("民政局负责的养老服务有哪些")
    assert ans.kind != "agency"


def test_which_bodies_asked_with_a_measure_word(assistant):
    ans = assistant.ask("五社联动由哪几家单位负责")
    assert ans.kind == "agency" and "市民政局" in ans.answer and "市商务局" in ans.answer


def test_a_business_operator_gets_the_plan_sentence_on_businesses(assistant):
    ans = assistant.ask("我打算在小区里开家干洗店，政府支持吗")
    assert ans.kind == "clause" and any(w in ans.sources[0].text for w in ("社区服务企业", "市场主体"))


def test_the_agencies_two_chapters_share(assistant):
    ans = assistant.ask("第六部分和第七部分都点名的部门是哪些")
    assert ans.kind == "agency" and "市发改局" in ans.answer and "市民政局" in ans.answer
    assert "市商务局" not in ans.body and ans.cited == 2


def test_the_agency_every_chapter_names(assistant):
    ans = assistant.ask("哪个单位在每一节的责任单位里都有")
    assert ans.kind == "agency" and "市民政局" in ans.body and "市住建局" not in ans.body


def test_how_many_agencies_in_all(assistant, kb):
    distinct = {a for c in kb.plan.chapters for a in c.agencies}
    ans = assistant.ask("整个规划一共涉及多少个市级部门")
    assert f"共{len(distinct)}个市级部门" in ans.answer


def test_each_chapters_list_when_several_are_named(assistant):
    ans = assistant.ask("(五)和(六)分别由哪些部门负责")
    assert "市委组织部" in ans.body and "市商务局" in ans.body and ans.cited == 2


def test_a_service_word_inside_an_agency_name_names_the_agency(assistant):
    ans = assistant.ask("医保局是规划第几部分的责任单位")
    assert ans.kind == "agency" and "(七)" in ans.answer and "服务目录" not in ans.answer


def test_where_an_agency_appears_is_its_chapters(assistant):
    ans = assistant.ask("发改局在规划的责任单位里出现过几次")
    assert ans.kind == "agency" and "2部分" in ans.answer


def test_a_short_where_question_about_an_agency_is_in_scope(assistant):
    ans = assistant.ask("商务局在第几节")
    assert ans.kind == "agency" and "(六)" in ans.answer


def test_a_chapter_and_an_agency_named_get_that_chapters_list(assistant):
    ans = assistant.ask("构建多方参与格局那一节里写没写商务局")
    assert ans.kind == "agency" and "市商务局" in ans.body and "市发改局" in ans.body


def test_who_else_besides_an_agency(assistant):
    ans = assistant.ask("党建引领这一块除了住建局还有谁")
    assert ans.kind == "agency" and "市委组织部" in ans.body and "市民政局" in ans.body


def test_an_off_topic_question_naming_an_agency_is_still_declined(assistant):
    ans = assistant.ask("住建局怎么办房产证过户")
    assert ans.kind == "out_of_scope"


def test_living_alone_and_being_looked_in_on_find_the_visiting_service(assistant):
    ans = assistant.ask("我姥姥一个人住，社区能隔三差五有人去看望一下吗")
    assert ans.kind == "service" and "巡访关爱" in ans.answer


def test_premises_offered_to_the_community_get_the_sentence_on_giving(assistant):
    ans = assistant.ask("我们家楼下有间铺面空着，想借给社区当活动的地方，政府怎么说")
    assert ans.kind == "clause" and "以场地换服务" in ans.sources[0].text


def test_colloquial_words_for_living_alone_and_premises_expand_the_query():
    from bot.retrieval.bm25 import expand_query

    assert "独居" in expand_query(["人住"]) and "场地" in expand_query(["门面房"])


def test_agencies_by_the_names_residents_say(kb):
    from bot.retrieval.refs import agency_names, name_in

    names = {a.name: agency_names(a) for a in kb.agencies.agencies}
    assert "发改委" in names["市发改局"] and "卫健委" in names["市卫健局"]
    assert "组织部" in names["市委组织部"] and "妇女联合会" in names["市妇联"]
    assert "民政委" not in names["市民政局"]  # only a 委员会 is said 委
    assert name_in("组织部", "组织部管什么") and not name_in("组织部", "社会组织部分怎么写")


def test_an_agency_asked_by_its_everyday_name(assistant):
    ans = assistant.ask("发改委负责规划的哪几部分")
    assert ans.kind == "agency" and "市发改局" in ans.answer and "2部分" in ans.answer


@pytest.mark.parametrize(
    ("question", "agency"),
    [
        ("乡村振兴的那个中心在规划里管什么", "市乡村振兴服务中心"),
        ("乡村振兴中心负责规划哪部分", "市乡村振兴服务中心"),
        ("人社那个局在规划里负责哪一块", "市人社局"),
        ("文旅局在规划里负责哪些工作", "市文广旅局"),
    ],
)
def test_an_agency_named_loosely_gets_its_chapters(assistant, question, agency):
    ans = assistant.ask(question)
    assert ans.kind == "agency" and ans.agencies == [agency]
    assert agency in ans.answer and ans.sources and all(s.type == "plan" for s in ans.sources)


def test_a_long_story_asking_whose_it_is_keeps_the_subject_it_told(assistant):
    ans = assistant.ask(
        "我在村委会管文化这一块，今年想把村里的数字农家书屋和村史馆建起来，材料都准备得差不多了，"
        "就是不清楚该跟哪些部门对接，规划里写的负责单位是哪些？"
    )
    assert ans.kind == "agency" and "市文广旅局" in ans.answer
    assert ans.sources[0].chapter.endswith("(七)强化为民服务功能")


def test_this_part_after_a_chapter_named_in_a_story_gets_that_chapters_list(assistant, kb):
    ans = assistant.ask(
        "单位让我整理学习笔记，我负责规划里（五）健全党建引领机制那部分，前面的内容都抄好了，"
        "这一节最后括号里写的责任单位具体有哪些？"
    )
    five = _chapter(kb, "五")
    assert ans.kind == "agency" and all(a in ans.answer for a in five.agencies)


@pytest.mark.parametrize(
    ("question", "agency"),
    [("村里的事有没有专门负责乡村这一块的单位", "市乡村振兴服务中心"), ("专门管科普的机构是哪个", "市科协")],
)
def test_a_body_described_by_its_charge_is_the_agency_whose_duties_those_are(assistant, question, agency):
    ans = assistant.ask(question)
    assert ans.kind in ("agency", "service") and agency in ans.answer


def test_a_charge_a_service_names_keeps_the_services_agency(assistant):
    ans = assistant.ask("有没有专门管残疾人康复的单位")
    assert ans.services[0]["id"] == "disability-community-rehab" and "市残联" in ans.answer


def test_a_body_described_by_its_charge_is_the_answer_even_beside_a_topic(assistant):
    ans = assistant.ask("乡下的社区服务这一块，市里有没有专门管农村的单位负责")
    assert ans.kind == "agency" and "市乡村振兴服务中心" in ans.answer


def test_who_carries_it_out_on_the_ground_adds_the_chapters_local_bodies(assistant):
    asked = assistant.ask("单位停车场开放给居民这件事，街道这一级谁负责落实")
    plain = assistant.ask("单位停车场开放给居民归哪个部门管")
    assert "街道办事处" in asked.answer and "乡(镇)人民政府" in asked.answer
    assert "街道办事处" not in plain.answer  # only when asked: the first reply stays short


def test_asking_which_bureau_to_turn_to_is_an_agency_question(assistant):
    ans = assistant.ask("社区就业平台没人管事的话，我该去找市里那个局")
    assert ans.kind == "agency" and "市人社局" in ans.answer
