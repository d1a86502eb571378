"""Homophone typos read by sound (bot.retrieval.typos): a pinyin keyboard's wrong characters, and pinyin itself."""

import pytest

from bot.retrieval.typos import SoundSpeller

VOCAB = {"医保": 5, "科协": 2, "志愿者": 4, "平台": 6, "社区": 40, "乡贤": 1, "就业": 6, "服务": 50, "儿童": 3}
KNOWN = {"医保": 273, "社区": 6115, "一共": 900, "几个": 5000, "想": 61904, "先": 25558, "一": 217830, "宝": 4496}


@pytest.fixture
def speller():
    return SoundSpeller(VOCAB, KNOWN, terms=["医保", "科协"])


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        ("医宝在社区能办吗", "医保在社区能办吗"),
        ("市科鞋负责什么", "市科协负责什么"),
        ("我想当志原者", "我想当志愿者"),
        ("jiuye服务在哪", "就业服务在哪"),
        ("社区有ertong活动吗", "社区有儿童活动吗"),
        ("一宝的事", "医保的事"),  # a function character, but the target is a domain term
    ],
)
def test_homophone_typos_become_the_knowledge_base_word(speller, typed, read):
    assert speller.correct(typed) == read


@pytest.mark.parametrize(
    "text",
    [
        "我想先问一下",  # 想先 sounds like 乡贤, but 想 is a word of its own
        "医保在社区能办吗",  # already right
        "社区一共几个",  # 共几 cuts through 一共 and 几个
        "hello world",  # English words are no pinyin of a KB word
        "",
    ],
)
def test_real_words_are_left_alone(speller, text):
    assert speller.correct(text) == text


def test_a_sound_shared_by_two_words_equally_used_is_left_alone():
    sp = SoundSpeller({"公示": 3, "公式": 3}, {}, terms=[])
    assert sp.correct("工事") == "工事"
    assert SoundSpeller({"公示": 9, "公式": 3}, {}).correct("工事") == "公示"


def test_built_from_passage_texts_counts_the_words_they_use():
    sp = SoundSpeller.from_texts(
        ["推进医保服务", "医保下沉"], lambda t: [t[i : i + 2] for i in range(0, len(t), 2)], ["科协"], {}
    )
    assert sp.vocabulary["医保"] == 2 and sp.vocabulary["科协"] == 1


def test_an_asking_word_the_passages_never_cut_out_is_still_read_by_sound():
    """谁付责: 负责 is no word of the passages' cut, but residents ask with it."""
    speller = SoundSpeller.from_texts(["社区老年助餐"], lambda t: [t], terms=[], known_words={"社区": 6115})
    assert speller.correct("助餐谁付责") == "助餐谁负责"
    assert speller.correct("归哪个部们管") == "归哪个部门管"


def test_a_name_typed_with_a_fuzzy_pinyin_pair_is_read_as_the_name():
    speller = SoundSpeller({"市民政局": 5, "民政": 3, "名称": 4}, {"名称": 100}, terms=["市民政局"])
    assert speller.correct("市名政局负责哪几部分") == "市民政局负责哪几部分"  # ming/min
    assert speller.correct("市民正局") == "市民政局"  # zheng typed for zheng, a plain homophone
    assert speller.correct("名称是什么") == "名称是什么"  # a general word sounding like no name stays
    assert speller.correct("名政") == "名政"  # a fuzzy pair never turns a two-character span into a word


def test_a_general_word_is_not_corrected_across_the_start_of_a_misspelt_name():
    speller = SoundSpeller({"建设": 9, "社工站": 3}, {"建设": 100}, terms=["社工站"])
    assert speller.correct("要建社公站") == "要建社工站"  # not 建设 + 公站
    assert speller.correct("社区建社") == "社区建设"


def test_pinyin_typed_syllable_by_syllable_is_read_as_the_word_it_spells():
    speller = SoundSpeller({"五社联动": 3, "志愿者": 4}, {}, terms=["五社联动"])
    assert speller.correct("what is 'wu she lian dong' in the plan?") == "what is '五社联动' in the plan?"
    assert speller.correct("how to be a zhi yuan zhe") == "how to be a 志愿者"  # 9 letters joined
    for english in ("she can do it", "a long man", "wu she"):  # too short to spell a word: left alone
        assert speller.correct(english) == english
