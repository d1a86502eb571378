"""Two-part messages and table rows (issue 12): a choice question (约束性还是预期性) asks, a second part opened by 二是,
English questions cut where one ends and a topic-less one asking about the topic before, a 专栏 row by its place or
by what it is about, and how many kinds a listed sentence names. The wording here is this file's own."""

import pytest

from bot.retrieval.answers import items_count
from bot.retrieval.question import CLAUSE_CUE, aspect_of, box_row, box_which, has_topic, split_parts
from bot.retrieval.script import chinese_terms, english_gist, english_parts


def _topic(text):
    return any(w in text for w in ("托育", "助餐", "医保", "社工站", "养老", "红心物业", "自助服务"))


# ---- pure parts ----------------------------------------------------------------------------------------------
def test_a_choice_question_asks_so_a_second_question_stays_its_own():
    assert split_parts("自助服务那个指标算约束性还是预期性？另外托育写在哪一节", names_topic=_topic) == [
        "自助服务那个指标算约束性还是预期性",
        "托育写在哪一节",
    ]


def test_a_joiner_said_without_a_pause_still_starts_a_second_question():
    parts = split_parts("社区能办医保吗还有就是托育去哪报名", names_topic=_topic)
    assert parts == ["社区能办医保吗", "托育去哪报名"]
    assert split_parts("养老还有就近的吗", names_topic=_topic) == ["养老还有就近的吗"]


def test_a_question_mark_before_a_joiner_still_ends_the_first_question():
    parts = split_parts("社区能办医保不？还有托育去哪报名", names_topic=_topic)
    assert parts == ["社区能办医保不", "托育去哪报名"]


def test_a_figure_asked_by_its_size_after_a_spoken_pause_is_a_part_of_its_own():
    assert split_parts("托育写在哪一节 自助服务面积要有多大", names_topic=_topic) == [
        "托育写在哪一节",
        "自助服务面积要有多大",
    ]


def test_a_doing_verb_after_who_names_no_topic():
    assert not has_topic("谁负责落实") and not has_topic("这个由哪个部门推进")
    assert has_topic("社工站谁负责落实")


def test_first_and_second_are_parts_without_their_ordinal_words():
    parts = split_parts("有两件事：一是托育怎么报名，二是助餐点在哪", names_topic=_topic)
    assert parts == ["有两件事：托育怎么报名", "助餐点在哪"]
    assert split_parts("这事不二是吧", names_topic=_topic) == ["这事不二是吧"]


@pytest.mark.parametrize("question", ["红心物业写在哪一节", "社工站要覆盖到哪一级", "养老放在哪一部分讲的"])
def test_a_place_in_the_plan_or_a_level_is_no_office_to_go_to(question):
    assert aspect_of(question) != "where" and CLAUSE_CUE.search(question)


def test_where_to_go_is_still_where():
    assert aspect_of("托育在哪报名") == "where" and aspect_of("助餐去哪吃") == "where"


def test_how_and_what_to_bring_together_get_the_steps_which_list_the_materials():
    assert aspect_of("低保咋申请 要准备啥材料") == "how_to_apply"
    assert aspect_of("低保要准备啥材料") == "materials"


def test_a_village_asked_about_after_a_service_gets_that_service(assistant):
    ans = assistant.ask("听说镇上要建社公站?那我们村里也会有吗")
    assert "社工站" in ans.answer and "村史馆" not in ans.answer


@pytest.mark.parametrize(
    ("question", "row"),
    [("专栏2第二项行动叫啥", ("2", 2)), ("专栏一里的第3个指标是什么", ("一", 3)), ("专栏2有哪几项", None)],
)
def test_a_table_row_by_its_place(question, row):
    assert box_row(question) == row


@pytest.mark.parametrize(
    ("question", "box"),
    [("志愿者联动算专栏2里哪项行动", "2"), ("品牌社会组织属于哪个行动", ""), ("专栏2第一项是什么", None)],
)
def test_the_row_a_thing_belongs_to(question, box):
    assert box_which(question) == box


def test_how_many_kinds_a_listed_sentence_names():
    sentence = "重点为老年人、儿童、残疾人、退役军人等群体提供服务。"
    assert items_count(sentence, "重点照顾几类人") == "4类"
    assert items_count(sentence, "重点照顾哪几类人") == ""  # the list is asked for, not its size
    assert items_count("加强服务,完善设施。", "有几种") == ""  # no list to count


def _en_topic(text):
    return "托育" in text or "医保" in text or "老年" in text


def test_english_questions_are_cut_where_one_ends():
    assert english_parts("Is there day care for toddlers? Who handles medical insurance?", _en_topic) == [
        "Is there day care for toddlers",
        "Who handles medical insurance?",
    ]


def test_an_english_piece_that_does_not_ask_stays_with_its_question():
    message = "Which departments run elderly meals? List them."
    assert english_parts(message, _en_topic) == [message]


def test_an_english_question_without_a_topic_asks_about_the_one_before():
    parts = english_parts("Who is in charge of medical insurance, and when does it start?", _en_topic)
    assert parts[0] == "Who is in charge of medical insurance"
    assert parts[1].startswith("when does it start") and parts[1].endswith("医保")
    assert "部门" not in parts[1]  # the first part's cue (in charge → 哪些部门负责) is not carried over


# ---- the assistant --------------------------------------------------------------------------------------------
def test_a_table_row_asked_by_its_place_names_that_action(assistant):
    ans = assistant.ask("专栏2里第二项行动是什么")
    assert "社区志愿服务行动" in ans.answer and ans.sources[0].id == "action-2"


def test_a_table_row_in_traditional_script(assistant):
    ans = assistant.ask("專欄2第一項行動叫什麼")
    assert "社會組織培育行動" in ans.answer


def test_what_a_thing_belongs_to_in_the_table(assistant):
    ans = assistant.ask("村社会工作服务点全覆盖属于专栏2里的哪项行动")
    assert "社区社工服务行动" in ans.answer and ans.sources[0].type == "action"


def test_a_figure_and_a_table_row_in_one_message(assistant):
    ans = assistant.ask("每万人社区工作者目标是多少？另外专栏2第三项行动叫什么")
    assert "18" in ans.answer and "社区社工服务行动" in ans.answer


def test_a_choice_question_and_a_plan_place_are_both_answered(assistant):
    ans = assistant.ask("社工师人数那个指标是约束性还是预期性？还有“红心物业”写在规划哪一节")
    assert "约束性" in ans.answer and "健全党建引领机制" in ans.answer


def test_how_many_kinds_gets_the_count_and_the_sentence(assistant):
    ans = assistant.ask("公共就业服务重点帮哪些人，一共几类")
    assert "6类" in ans.answer and "高校毕业生" in ans.answer


def test_an_english_figure_and_an_agency_in_one_message(assistant):
    ans = assistant.ask("How many social workers per 10,000 residents are targeted? Also, who runs village clinics?")
    assert "18" in ans.answer and "市卫健局" in ans.answer


@pytest.mark.parametrize(
    ("part", "topic"),
    [
        ("谁负责抓", False),
        ("由谁来推", False),
        ("托育归谁管", True),
        ("那我们村里也会有吗", False),  # the place and "also" refer back to the part before
        ("村里有没有卫生室", True),
    ],
)
def test_one_verb_left_after_the_asking_words_is_no_subject(part, topic):
    assert has_topic(part) is topic


def test_who_pushes_it_asks_about_the_part_before(assistant):
    ans = assistant.ask("规划对社区议事协商有什么要求？谁负责抓")
    assert ans.sources[0].type == "plan" and "市委组织部" in ans.answer  # the chapter's bodies, not a service's


def test_a_short_list_of_the_very_thing_asked_for_is_the_answer(assistant):
    ans = assistant.ask("社区想搞技能培训，有哪些学校能来上课")
    assert ans.kind == "clause" and "职业学校" in ans.answer and "开放大学" in ans.answer


@pytest.mark.parametrize(
    ("question", "terms"),
    [
        ("Tell me the second item in table 2", "专栏2第2项"),
        ("What does action 1 of box 2 cover?", "专栏2第1项"),
        ("List all rows of column 1", "专栏1有哪几项"),
        ("Which item of box 2 deals with social work?", "专栏2哪一项"),
    ],
)
def test_a_table_named_in_english_reads_as_the_chinese_question(question, terms):
    assert chinese_terms(question).split()[0] == terms


def test_an_english_table_row_is_answered_not_declined(assistant):
    ans = assistant.ask("Tell me the second item in table 2, please")
    assert ans.kind == "clause" and "社区志愿服务行动" in ans.answer


@pytest.mark.parametrize(
    ("question", "term", "absent"),
    [
        ("Is the childcare centre near us low-cost?", "普惠", None),
        ("My uncle was discharged from the army last year, any help?", "退役军人", None),
        ("Tell me about the red-heart property scheme", "红心物业", None),
        ("Which of the key indicators are mandatory rather than just expected?", "约束性", "预期性"),
        ("How big a share is kept for residents' activities?", "居民活动区域", None),
    ],
)
def test_english_words_for_more_plan_terms(question, term, absent):
    terms = chinese_terms(question)
    assert term in terms and (absent is None or absent not in terms)


def test_english_property_management_maps_to_the_plan_term():
    assert "物业" in chinese_terms("Who regulates the property company of our estate?")
    assert "自助服务" in chinese_terms("Can I print records at a self-service machine?")


def test_a_table_row_asked_what_it_does_quotes_it_and_by_name_stays_short(assistant):
    does = assistant.ask("专栏2第三个行动具体要干啥")
    assert "社区社工服务行动" in does.answer and "社工站" in does.body
    named = assistant.ask("专栏2第三个行动的名称")
    assert "社区社工服务行动" in named.body and "社工站" not in named.body and len(named.body) < 40


@pytest.mark.parametrize(
    ("question", "term"),
    [
        ("How do I sign my dad up for it?", "怎么申请"),
        ("Is there a history hall in our village?", "村史馆"),
        ("How many square metres per 100 homes?", "每百户"),
    ],
)
def test_more_english_words_name_the_plan_terms(question, term):
    assert term in chinese_terms(question).split()


def test_an_english_where_and_how_to_sign_up_are_both_answered(assistant):
    ans = assistant.ask("Where does my grandpa get his meals, and how can we sign him up?")
    assert "在哪办" in ans.answer and "怎么办" in ans.answer


def test_a_wish_before_an_announced_second_question_is_a_part_of_its_own():
    assert split_parts("孩子想上托育，顺便问一下助餐点在哪", names_topic=_topic) == ["孩子想上托育", "助餐点在哪"]
    assert split_parts("托育在哪报名，再问下要带什么", names_topic=_topic) == ["托育在哪报名", "要带什么"]


def test_an_a_not_a_question_asks_but_a_lead_in_does_not():
    assert split_parts("助餐点怎么收费？政府补不补", names_topic=_topic) == ["助餐点怎么收费", "政府补不补"]
    assert split_parts("社区是不是都有托育了？覆盖率写的多少", names_topic=_topic) == [
        "社区是不是都有托育了，覆盖率写的多少"
    ]


def test_an_announced_second_question_is_answered_too(assistant):
    ans = assistant.ask("我爸想去社区助餐点吃午饭，顺便问下哪里能做康复")
    assert "助餐" in ans.answer and "康复" in ans.answer and ans.cited >= 2


def test_subjects_joined_by_he_with_fenbie_are_asked_each():
    assert split_parts("托育和助餐分别在哪办", names_topic=_topic) == ["托育在哪办", "助餐在哪办"]
    assert split_parts("托育和助餐都在哪办", names_topic=_topic) == ["托育和助餐都在哪办"]  # one place asked for


def test_each_subject_joined_by_yu_gets_its_own_agency(assistant):
    ans = assistant.ask("残疾人康复与普惠托育各自由哪个部门负责")
    assert "市残联" in ans.answer and "市卫健局" in ans.answer


def test_two_tables_asked_in_one_message_are_both_answered(assistant):
    ans = assistant.ask("专栏2第二项叫什么，专栏1第七项的目标是多少")
    assert "社区志愿服务行动" in ans.answer and "18人" in ans.answer


def test_a_two_part_english_gist_names_each_kind():
    gist = english_gist("indicator", "indicator", "agency")
    assert "figures" in gist and "agencies" in gist and gist.count("In short") == 1
    assert english_gist("service") == english_gist("service", "out_of_scope")


def test_day_care_for_toddlers_is_no_visit_to_the_elderly():
    assert "托育" in chinese_terms("Is there day care for babies?") and "探访" not in chinese_terms("day care for kids")
    assert "探访" in chinese_terms("Someone to care for my grandpa")


@pytest.mark.parametrize(
    ("question", "term"),
    [
        ("Will every village get full coverage?", "全覆盖"),
        ("Who are the priority groups of this action?", "重点"),
        ("Do firms get premises rent-free in return for serving residents?", "以场地换服务"),
        ("Is a farmhouse library planned for my village?", "数字农家书屋"),
        ("What culture venues are there?", "村史馆"),
        ("Does it help empty nesters?", "留守空巢老人"),
    ],
)
def test_the_plans_actions_and_services_have_english_words(question, term):
    assert term in chinese_terms(question).split()


def test_target_groups_ask_whom_not_for_an_indicator():
    assert "指标" not in chinese_terms("Who are the target groups?")
    assert "指标" in chinese_terms("What is the target for 2025?")


@pytest.mark.parametrize(
    ("question", "kind", "quoted"),
    [
        ("Who are the target groups that community volunteers mainly help?", "service", "留守空巢老人"),
        ("When do social work stations reach full coverage?", "clause", "全覆盖"),
        ("May firms use village premises rent-free if they serve residents?", "clause", "以场地换服务"),
        ("What culture venues will villages and neighbourhoods build?", "service", "数字农家书屋"),
    ],
)
def test_an_english_question_on_a_plan_term_gets_that_terms_answer(assistant, question, kind, quoted):
    ans = assistant.ask(question)
    assert ans.kind == kind and quoted in ans.answer


def test_the_agencies_a_chapter_lists_in_its_brackets(assistant):
    ans = assistant.ask("(七)强化为民服务功能括号里列了哪些市级部门?")
    assert all(a in ans.answer for a in ("市卫健局", "市医保局", "市人社局", "市妇联"))


def test_a_future_ask_keeps_the_card_when_its_plan_sentence_drops_the_asked_word(assistant):
    ans = assistant.ask("我儿子脑瘫,每周去医院做康复跑得很远,社区这边以后能不能做康复?")
    assert "康复" in ans.answer.split("来源")[0]


def test_a_list_asked_of_a_named_chapter_comes_from_that_chapter(assistant):
    ans = assistant.ask("(七)里要求加快建设的文化设施具体有哪几种?")
    assert "农家书屋" in ans.answer and "(七)" in ans.answer


def test_who_leads_and_who_steers_are_roles_the_plan_sentence_names(assistant):
    ans = assistant.ask("城乡社区协商制度由谁领导、谁主导?")
    assert "党组织领导" in ans.answer and "主导" in ans.answer and "责任单位" not in ans.answer
