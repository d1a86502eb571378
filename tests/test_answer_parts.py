"""Questions in the residents' own forms (issue 12): dialect words, chapters and bodies named loosely, two questions
joined by a comma or a shared asking end, English parts and places, figures asked without the word 指标, operators,
and the short shapes of the replies (excerpts, compact citations). The wording here is this file's own."""

import pytest

from bot.retrieval.answers import excerpt, indicator_text
from bot.retrieval.question import split_parts
from bot.retrieval.refs import agency_names, chapter_named
from bot.retrieval.script import english_parts, to_mandarin
from bot.retrieval.typos import SoundSpeller
from linli_common import citation


# ---- pure parts --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("typed", "read"),
    [
        ("屋企附近有冇托育", "家里附近有没有托育"),
        ("边啲部门负责", "哪些部门负责"),
        ("阿拉想晓得伐", "我们想知道吗"),
        ("佢几时可以办", "他什么时候可以办"),
        ("想搵工但系唔识路", "想找工作但系不识路"),
        ("要几多钱", "要多少钱"),
        ("阮想欲问一下", "我想要问一下"),  # Minnan
        ("阮老母一个人蹛佇厝里", "我老母一个人住在家里"),
        ("敢有人会来看阮", "有没有人会来看我"),
        ("阮翁跋倒了叫伊拢无应", "我老公摔倒了叫他都没反应"),
        ("这个补贴会使领偌济", "这个补贴能领多少"),
        ("额想问个事", "我想问个事"),  # the north-west
        ("红心物业是嘎哈的", "红心物业是干什么的"),
        ("咯里有没有助餐点", "这里有没有助餐点"),  # Hunan
        ("明天落雨伐", "明天下雨吗"),  # Wu and Cantonese
        ("小囡两岁了", "孩子两岁了"),
        ("想去做志工", "想去做志愿者"),  # Taiwan
        ("我们sq有没有食堂", "我们社区有没有食堂"),  # pinyin initials inside Chinese
        ("我屋里崽要上学了啵", "我家里孩子要上学了吗"),  # Hunan and Jiangxi
        ("寨子里小娃多", "村子里小孩多"),  # the south-west
    ],
)
def test_dialect_words_read_as_mandarin(typed, read):
    assert to_mandarin(typed) == read


@pytest.mark.parametrize(
    "text",
    ["旁边那个活动室", "步伐要加快", "关系系统", "社区这边有没有", "户籍所在地", "额度是多少", "伊朗", "注册手册"],
)
def test_mandarin_words_stay(text):
    assert to_mandarin(text) == text


def _topic(text):
    return any(w in text for w in ("托育", "助餐", "医保", "社工站", "养老"))


@pytest.mark.parametrize(
    ("message", "parts"),
    [
        ("托育点有几个，助餐在哪里吃", ["托育点有几个", "助餐在哪里吃"]),
        ("医保在哪办，要多少钱", ["医保在哪办，要多少钱"]),  # the second clause names no topic of its own
        ("想问两件事，一个是托育怎么报名，另一个是找哪个部门", ["想问两件事，托育怎么报名", "找哪个部门"]),
        ("孩子要托育，老人要助餐，这两件事分别找谁", ["孩子要托育，找谁", "老人要助餐，找谁"]),
    ],
)
def test_two_questions_in_one_message(message, parts):
    assert split_parts(message, names_topic=_topic) == parts


def test_a_second_aspect_after_a_comma_is_a_follow_up_part():
    assert split_parts("托育在哪报名，要带什么材料", names_topic=_topic) == ["托育在哪报名", "要带什么材料"]
    names = lambda t: "托育" in t or "条件" in t  # noqa: E731  (条件 is an aspect's word, not a subject)
    assert split_parts("托育在哪报名，需要什么条件", names_topic=names) == ["托育在哪报名", "需要什么条件"]


def test_a_clause_asking_only_a_figure_stays_with_the_one_before():
    assert split_parts("社工站都建了吗，覆盖率指标多少", names_topic=lambda t: True) == [
        "社工站都建了吗，覆盖率指标多少"
    ]


def test_a_question_mark_ends_a_question_even_without_a_question_word():
    # 办不？/ 是不是有这个说法？ ask by the mark alone; the part after it is a question of its own
    assert split_parts("村里医保能办不？这事谁管", names_topic=_topic) == ["村里医保能办不", "这事谁管"]
    assert split_parts("社区是不是有养老的说法？归哪个部门", names_topic=_topic) == [
        "社区是不是有养老的说法",
        "归哪个部门",
    ]
    # the mark asks for its whole sentence, not for the last comma clause (几个 inside the story asks nothing)
    assert split_parts("几个老人想在社区办个托育，社区支持不？", names_topic=_topic) == [
        "几个老人想在社区办个托育，社区支持不"
    ]


@pytest.mark.parametrize(
    "part", ["他们俩算不算", "我家这种情况行不行", "这事归哪个部门，我好去问问", "找哪个局，方便我打电话问"]
)
def test_people_a_yes_no_ask_and_a_purpose_name_no_topic(part):
    from bot.retrieval.question import has_topic

    assert not has_topic(part)


def test_without_a_topic_test_a_comma_joins_as_before():
    assert split_parts("托育点有几个，助餐在哪里吃") == ["托育点有几个，助餐在哪里吃"]


def test_english_parts_need_a_topic_each():
    terms = lambda t: "托育" in t or "医保" in t  # noqa: E731
    assert english_parts("Two questions: is there day care nearby, and who handles medical insurance?", terms) == [
        "is there day care nearby",
        "who handles medical insurance?",
    ]
    assert english_parts("is there day care nearby? what does the plan say?", terms) == [
        "is there day care nearby",
        "what does the plan say 托育",  # no topic of its own: it asks about the part before
    ]


class _Chapter:
    def __init__(self, numeral, title):
        self.numeral, self.title = numeral, title


CHAPTERS = [
    _Chapter("五", "(五)健全党建引领机制"),
    _Chapter("六", "(六)构建多方参与格局"),
    _Chapter("七", "(七)强化为民服务功能"),
]


@pytest.mark.parametrize(
    ("question", "numeral"),
    [
        ("（六）归谁管", "六"),
        ("第七部分的负责单位", "七"),
        ("构建多方参与格局这部分", "六"),
        ("党建那一块谁牵头", "五"),
        ("党建 部分 哪些部门负责", "五"),
        ("社区养老归谁管", None),
        ("（五）和（六）的部门", None),  # two chapters: not one answer
    ],
)
def test_a_chapter_named_loosely(question, numeral):
    found = chapter_named(question, CHAPTERS)
    assert (found.numeral if found else None) == numeral


class _Agency:
    def __init__(self, name):
        self.name = self.full_name = name


def test_township_and_street_bodies_by_their_short_names():
    assert {"乡镇政府"} <= agency_names(_Agency("各乡(镇)人民政府"))
    assert {"街道办", "街道办事处"} <= agency_names(_Agency("街道办事处"))
    assert "民政局" in agency_names(_Agency("市民政局"))


def test_a_name_typed_with_a_homophone_inside_is_read_as_the_term():
    known = {"设局": 20, "是": 796991, "人": 313209, "医保": 273}
    sp = SoundSpeller({"市人社局": 1, "市医保局": 1, "医保": 5}, known, terms=["市人社局", "市医保局"])
    assert sp.correct("市人设局管什么") == "市人社局管什么"
    assert sp.correct("这是医保局的事") == "这是医保局的事"  # 是 + 医保局: a function character is no typo


def test_a_syllable_typed_in_pinyin_inside_chinese():
    sp = SoundSpeller({"覆盖率": 3, "覆盖": 2}, {})
    assert sp.correct("这个覆gai率多少") == "这个覆盖率多少"
    assert sp.correct("有wifi吗") == "有wifi吗"


def test_a_term_the_plan_quotes_joins_the_vocabulary():
    sp = SoundSpeller.from_texts(["平均每个社区拥有“社工师”人数"], lambda t: [t], [], {})
    assert sp.correct("shegongshi有几个") == "社工师有几个"


SENTENCE = "扩大文化、体育、科普等公共服务供给,加快数字农家书屋、社区阅读空间、文体活动室等设施建设,利用社区闲置场地配建健身广场和更新老旧健身器材。"


def test_a_long_sentence_is_cut_to_the_pieces_asked_about():
    assert excerpt(SENTENCE, "有没有健身广场") == "…利用社区闲置场地配建健身广场和更新老旧健身器材。"
    assert excerpt(SENTENCE, "农家书屋呢") == "…加快数字农家书屋、社区阅读空间、文体活动室等设施建设…"
    assert excerpt(SENTENCE, "天气怎么样") == SENTENCE  # nothing of it asked: the whole sentence
    assert excerpt("支持社区托育服务设施建设。", "托育") == "支持社区托育服务设施建设。"  # short: whole


def test_a_sentence_the_topic_runs_through_stays_whole():
    s = "健全居家养老体系,强化养老机构建设,做好困难群体照护,发展嵌入式养老机构,推动居家养老服务协同发展和其他更多的事情。"
    assert excerpt(s, "养老有什么说法") == s


def test_citations_of_one_chapter_or_table_name_it_once():
    line = citation.source_line(
        ["《规划》专栏2 1.甲行动", "《规划》专栏2 2.乙行动", "服务目录「托育」", "《规划》(七)x 第4句"]
    )
    assert line == "来源：《规划》专栏2 1.甲行动、2.乙行动；服务目录「托育」；《规划》(七)x 第4句"


def test_an_indicator_says_how_far_the_target_is():
    from bot.kb.documents.model import Indicator, Quantity

    ind = Indicator("indicator-9", 9, "每万人社工", Quantity(14.3, "人"), Quantity(18, "人"), "预期性", "")
    assert "增加3.7人" in indicator_text(ind, gap=True) and "增加" not in indicator_text(ind)


# ---- the assistant ------------------------------------------------------------------------------------------------
def test_a_chapter_named_by_number_gets_its_responsible_bodies(assistant):
    ans = assistant.ask("(五)这一部分的牵头单位是谁")
    assert ans.kind == "agency" and "市委组织部" in ans.answer and "街道党工委" in ans.answer


def test_a_body_named_shortly_gets_its_chapters_and_their_count(assistant):
    ans = assistant.ask("街道办负责规划哪几部分")
    assert ans.kind == "agency" and "街道办事处" in ans.answer and "2部分" in ans.answer
    assert "按职责分工负责" in ans.answer


def test_two_topics_joined_by_a_comma_are_both_answered(assistant):
    ans = assistant.ask("老年助餐在哪里吃，儿童之家有什么活动")
    assert "助餐" in ans.answer and "儿童之家" in ans.answer and ans.cited >= 2


def test_a_shared_asking_end_is_asked_of_each_subject(assistant):
    ans = assistant.ask("想送孩子去托育点，老人想在社区吃饭，这两件事分别找谁")
    assert "托育" in ans.answer and "助餐" in ans.answer


def test_a_donor_gets_the_plan_sentence_on_giving(assistant):
    ans = assistant.ask("我们单位想给社区捐一批图书")
    assert ans.kind == "clause" and "捐赠" in ans.sources[0].text


def test_a_resident_naming_a_trade_is_no_operator():
    from bot.retrieval.question import OPERATOR_CUE

    assert OPERATOR_CUE.search("我是做家政的，想把店开进社区")
    assert not OPERATOR_CUE.search("我是做保洁的，失业了社区能帮找工作吗")


def test_how_much_is_left_to_a_target(assistant):
    ans = assistant.ask("社区工作者每万人还要增加多少才达标")
    assert ans.kind == "indicator" and "3.7" in ans.answer


def test_a_figure_asked_by_the_plans_quoted_term(assistant):
    ans = assistant.ask("现在一个城市社区大概有几个社工师")
    assert ans.kind == "indicator" and ans.sources[0].id == "indicator-8"


def test_a_box_named_for_its_title(assistant):
    ans = assistant.ask("专栏2讲的是什么")
    assert "社会力量参与社区服务行动" in ans.answer and ans.kind == "clause"


def test_a_question_about_a_row_of_a_box_is_no_title_question(assistant):
    ans = assistant.ask("专栏2里社工站是什么时候全覆盖")
    assert "共3项" not in ans.answer and "2025" in ans.answer


def test_an_action_named_answers_its_own_target_not_an_indicator(assistant):
    ans = assistant.ask("社区志愿服务行动的目标是什么")
    assert ans.sources[0].id == "action-2"


def test_pinyin_that_spells_a_place_is_no_place():
    from bot.retrieval.places import gazetteer

    g = gazetteer(("幸福市",))
    assert g.find_latin("shequ gongyi huodong zai nali") is None  # 公益, not 巩义
    assert g.find_latin("Is there a gongyi program in Hong Kong?")[0] == "巩义市"


def test_english_names_another_city(assistant):
    ans = assistant.ask("Does Shenzhen have meal services for seniors?")
    assert ans.kind == "out_of_scope" and ans.topic == "other_place" and "12345" in ans.answer and not ans.sources


def test_english_from_another_city_is_no_decline(assistant):
    ans = assistant.ask("I moved here from Shenzhen, is there a meal service for old people?")
    assert ans.kind != "out_of_scope" and "助餐" in ans.answer


def test_english_two_questions_are_both_answered(assistant):
    ans = assistant.ask("Is there a meal service for old people, and who handles medical insurance?")
    assert "助餐" in ans.answer and "医保" in ans.answer


def test_a_cantonese_question_finds_the_service(assistant):
    ans = assistant.ask("屋企附近有冇托育啊")
    assert ans.kind == "service" and "托育" in ans.answer


def test_a_missing_document_with_its_state_is_said_plainly(assistant):
    ans = assistant.ask("驾照到期了去哪里换")
    assert ans.topic == "not_in_catalogue" and "驾照" in ans.answer and not ans.sources


def test_can_i_do_it_here_cites_the_plan_sentence_too(assistant):
    ans = assistant.ask("在村里能不能交医保")
    assert ans.kind == "service" and ans.cited == 2 and ans.sources[1].type == "plan"


def test_will_it_get_better_answers_from_the_plan(assistant):
    ans = assistant.ask("村卫生室以后会不会改善")
    assert ans.kind == "clause" and "卫生室" in ans.sources[0].text


def test_two_aspects_of_one_service_after_a_comma_are_both_answered(assistant):
    ans = assistant.ask("老年助餐在哪里办，要带什么材料")
    assert "在哪办" in ans.answer and "要带" in ans.answer


def test_after_an_event_is_no_question_about_the_future(assistant):
    assert assistant.ask("中风以后想在家附近做康复训练").kind == "service"


def test_a_long_clause_is_quoted_in_part_and_whole_on_request(assistant):
    part = assistant.ask("规划里对更新健身器材有没有安排")
    assert "…" in part.answer and part.sources[0].text not in part.answer
    whole = assistant.ask("规划里健身器材那一句的原文")
    assert whole.sources[0].text in whole.answer


def test_a_yes_no_question_then_whose_it_is(assistant):
    ans = assistant.ask("我们村子偏，托育点能在村里办不？这事谁管")  # the card (and its plan sentence), then whose
    assert ans.kind == "service" and "计时托" in ans.answer and "市卫健局" in ans.answer
    assert ans.cited == 2 and ans.sources[1].type == "plan"


def test_a_story_with_a_marked_question_then_the_agency(assistant):
    ans = assistant.ask(
        "我邻居是退役军人，回来两年了一直没工作，家里挺难的。想问下社区的公共就业服务帮哪些人？他算不算？"
        "这块归哪个局管，我好让他去问"
    )
    assert "退役军人" in ans.answer and "市人社局" in ans.answer


def test_a_figure_after_a_lead_in_question_is_of_its_subject(assistant):
    ans = assistant.ask("农村社区是不是都有综合服务设施？规划里这个覆盖率是多少")  # one question: the figure of that
    assert "农村社区综合服务设施覆盖率" in ans.answer and "100%" in ans.answer


def test_a_part_going_on_about_a_declined_matter_is_declined_too(assistant):
    for question in ("今天颱風會不會來？學校要不要停課", "明天台风来不来？学校要不要停课"):
        ans = assistant.ask(question)
        assert ans.kind == "out_of_scope" and not ans.sources and "12121" in ans.answer
    kept = assistant.ask("今天下雨吗？社区有托育吗")
    assert "12121" in kept.answer and "托育" in kept.answer and kept.sources


@pytest.mark.parametrize(
    ("question", "action"),
    [("社区志愿服务到2025年要达到什么水平", "action-2"), ("社工站到2025年底要做到啥样", "action-3")],
)
def test_what_the_plan_aims_at_by_its_year_is_the_plan_sentence(assistant, question, action):
    ans = assistant.ask(question)  # not an indicator row: every row carries 2025
    assert ans.kind == "clause" and ans.sources[0].id == action


def test_a_service_subjects_goal_comes_from_the_plan(assistant):
    ans = assistant.ask("社区社会组织培育的目标是什么")
    assert ans.kind == "clause" and "力争到2025年" in ans.answer


def test_a_list_prefers_the_sentence_that_does_what_is_asked(assistant):
    ans = assistant.ask("社区里要加快建起来哪些文化设施呀")  # 加快…设施建设, not 开放…文化体育设施
    assert "村史馆" in ans.answer and "停车场地" not in ans.answer


@pytest.mark.parametrize(
    ("question", "chapter"), [("老年助餐是规划第几节讲的", "(七)"), ("社区协商议事写在第几章", "(五)")]
)
def test_which_section_a_matter_is_in_cites_the_plan(assistant, question, chapter):
    ans = assistant.ask(question)  # the plan sentence, whose citation names its chapter, not the service card
    assert ans.kind == "clause" and chapter in ans.answer


def test_whom_to_go_to_for_a_service_names_its_agency(assistant):
    ans = assistant.ask("家里老人想吃助餐该找谁")
    assert ans.kind == "agency" and "市民政局" in ans.answer


@pytest.mark.parametrize(
    ("question", "source"),
    [
        ("社工站覆盖要达到多少", "action-3"),
        ("医保政务服务覆盖目标是多少", "plan-7-10"),  # shares 政务…服务 with an indicator's name, yet no row counts it
        ("What is the coverage target for social work stations?", "action-3"),
    ],
)
def test_a_coverage_no_indicator_counts_is_the_plans_aim(assistant, question, source):
    ans = assistant.ask(question)
    assert ans.kind == "clause" and ans.sources[0].id == source and "全覆盖" in ans.answer


def test_a_figure_the_table_counts_stays_the_indicator(assistant):
    ans = assistant.ask("政务自助服务覆盖率目标多少")
    assert ans.kind == "indicator" and ans.sources[0].id == "indicator-6"


def test_a_list_of_requirements_reads_the_sentence_a_service_rests_on(assistant):
    ans = assistant.ask("村里自治这块规划提了哪几项要求")  # the card ranks first: its plan sentence lists them
    assert ans.kind == "clause" and "监督委员会" in ans.answer and "村规民约" in ans.answer


def test_measures_asked_of_a_topic_are_the_plans(assistant):
    ans = assistant.ask("托育服务有哪些举措")  # what the plan will do, not the cards
    assert ans.kind == "clause" and ans.sources[0].type == "plan" and "普惠托育机构" in ans.sources[0].text


def test_how_it_is_to_be_done_quotes_the_measures_after_the_subject():
    s = "支持社区服务企业发展,积极引导市场主体进入社区服务领域,鼓励开展连锁经营,培育服务品牌,形成适应社区居民需要的商业生态和经营模式。"
    common = frozenset({"社区", "区服", "服务"})  # pairs too frequent in the plan to say what is asked
    assert excerpt(s, "社区服务企业要怎么发展", common) == s
    assert excerpt(s, "社区服务企业发展好不好", common) == "支持社区服务企业发展…"


def test_how_it_is_to_be_done_reads_the_sentence_that_goes_on_about_it(assistant):
    ans = assistant.ask("规划里社区服务企业怎么支持")  # two sentences name them; one says how
    assert ans.kind == "clause" and "连锁经营" in ans.answer


def test_what_the_plan_says_after_a_service_is_the_cards_plan_sentence(assistant):
    ans = assistant.ask("托育点归哪个部门？规划里写了什么")
    assert "市卫健局" in ans.answer and "普惠托育机构" in ans.answer and ans.cited == 2


@pytest.mark.parametrize(
    ("question", "action"),
    [
        ("What should social work stations achieve by 2025?", "action-3"),
        ("How does the plan foster community organizations?", "action-1"),
    ],
)
def test_english_goals_and_organisations_read_the_action(assistant, question, action):
    ans = assistant.ask(question)
    assert ans.kind == "clause" and ans.sources[0].id == action


def test_a_cantonese_job_question_asks_who_runs_employment(assistant):
    ans = assistant.ask("揾唔到工，帮人搵工嘅服务系边个部门管㗎")
    assert ans.kind == "agency" and "市人社局" in ans.answer


def test_a_share_asked_in_cantonese_is_the_indicator(assistant):
    ans = assistant.ask("综合服务设施里面居民活动嘅地方要占几多")
    assert ans.kind == "indicator" and "60%" in ans.answer


def test_a_sichuanese_can_i_ending_is_a_question_of_its_own(assistant):
    ans = assistant.ask("村头有没得老年人吃饭的地方 还有 小病村卫生室看得不")
    assert "助餐" in ans.answer and "卫生室" in ans.answer


def test_pinyin_of_a_branded_service_in_english_finds_it(assistant):
    ans = assistant.ask("what is hongxin wuye, my dad keeps talking about it")
    assert ans.kind == "service" and "红心物业" in ans.answer


def test_the_wording_of_an_aim_no_indicator_counts_is_the_plan_sentence(assistant):
    ans = assistant.ask("品牌服务项目到2025年要达到什么程度 规划原文怎么表述的")
    assert ans.kind == "clause" and "基本满足" in ans.answer


@pytest.mark.parametrize(
    ("message", "parts"),
    [
        ("助餐点能在村里办不还有托育去哪报名", ["助餐点能在村里办不", "托育去哪报名"]),  # 办不: a question ended
        ("社区托育和助餐都有吗", ["社区托育有吗", "助餐有吗"]),  # both asked at once
        ("老人和孩子都能去吗", ["老人和孩子都能去吗"]),  # 都能: one question about both
        ("1 托育在哪 2 助餐多少钱", ["托育在哪", "助餐多少钱"]),  # a numbered list
        ("想问：\n1. 托育怎么报名\n2. 助餐找谁", ["想问：托育怎么报名", "助餐找谁"]),
        ("托育点1个月能去几次", ["托育点1个月能去几次"]),  # a number, no list
        ("两件事 1托育在哪 2助餐找谁", ["两件事 托育在哪", "助餐找谁"]),  # numbers right before the words
        ("托育 1个月去 2次行吗", ["托育 1个月去 2次行吗"]),  # counts, no list
        ("一是托育在哪吗二是助餐找谁", ["托育在哪吗", "助餐找谁"]),
    ],
)
def test_questions_joined_without_a_mark_are_each_answered(message, parts):
    assert split_parts(message, names_topic=_topic) == parts


def test_a_business_wanting_to_run_a_chain_gets_the_plans_sentence_on_businesses(assistant):
    ans = assistant.ask("我们家政公司想进社区搞连锁经营，规划支不支持")
    assert ans.kind == "clause" and "市场主体" in ans.answer


def test_a_fight_with_tools_over_land_is_for_the_police_first(assistant):
    ans = assistant.ask("邻居为了承包地跟我爸打起来了，还拿着铁锹")
    assert ans.kind == "out_of_scope" and "110" in ans.answer and not ans.sources
    assert "自然资源" in assistant.ask("承包地流转要办什么手续").answer  # land without a fight stays the land reply


def test_what_one_pays_into_insurance_each_year_points_to_the_insurance_offices(assistant):
    ans = assistant.ask("城乡居民医保今年每人要缴多少钱")
    assert ans.kind == "out_of_scope" and "12393" in ans.answer and not ans.sources
    assert assistant.ask("社区能交医保吗").kind == "service"  # where to pay stays the service


def test_what_one_pays_into_insurance_is_declined_after_a_comma_too(assistant):
    ans = assistant.ask("我们一家都参加了城乡居民医保，每年个人要缴多少")
    assert ans.kind == "out_of_scope" and "12393" in ans.answer


def test_quoted_words_two_sentences_hold_point_at_the_one_they_open(assistant):
    ans = assistant.ask("“支持社区服务企业发展”开头的那句是怎么写的")
    assert ans.kind == "clause" and "市场主体" in ans.answer


def test_a_plan_slogan_in_pinyin_is_the_plans_sentence(assistant):
    ans = assistant.ask("I keep hearing yi chang di huan fu wu, what is it?")
    assert ans.kind == "clause" and "以场地换服务" in ans.answer


def test_target_as_a_verb_asks_whom_a_service_serves_not_an_indicator(assistant):
    ans = assistant.ask("Who does the community public employment platform mainly target?")
    assert ans.kind != "indicator" and "高校毕业生" in ans.answer


def test_the_plans_own_term_for_community_education_names_its_card(assistant):
    ans = assistant.ask("我们志愿队想了解社区教育有没有")
    assert ans.kind == "service" and "开放大学" in ans.answer


def test_quoted_words_that_are_one_item_of_a_list_point_at_the_sentence_about_them(assistant):
    ans = assistant.ask("规划里写“未成年人保护”的是哪一句")
    assert ans.kind == "clause" and "制度机制" in ans.answer


def test_a_short_pinyin_run_inside_chinese_is_read_but_not_in_english():
    speller = SoundSpeller({"康复": 3, "社区": 9}, {"社区": 100}, terms=["康复"])
    assert speller.correct("社区有kang fu吗") == "社区有康复吗"
    assert speller.correct("kang fu is here") == "kang fu is here"  # English: too short to be pinyin


def test_a_priority_target_asks_whom_a_service_serves(assistant):
    ans = assistant.ask("Who are the priority targets of the community volunteer service?")
    assert ans.kind != "indicator"


def test_running_a_company_here_is_background_not_a_licence_question(assistant):
    ans = assistant.ask("我在这边开公司，想让员工周末去社区做志愿者，怎么对接")
    assert "营业执照" not in ans.answer
    assert "市场监管" in assistant.ask("开公司需要什么手续").answer


@pytest.mark.parametrize(("question", "figure"), [("指标7的基期值和目标值", "14.3"), ("第3项指标目标是多少", "10%")])
def test_an_indicator_named_by_its_number_alone_is_that_row(assistant, question, figure):
    ans = assistant.ask(question)
    assert ans.kind == "indicator" and figure in ans.answer
