"""Messages typed wholly in pinyin (bot.retrieval.pinyin_input): read back into characters, English left alone."""

import pytest

from bot.retrieval.pinyin_input import PinyinReader, is_pinyin

GENERAL = {"我": 9000, "想": 5000, "申请": 800, "在": 9000, "哪里": 900, "办": 700, "一个月": 300, "有": 9000}


@pytest.mark.parametrize("text", ["wo xiang shen qing di bao", "di bao zai na li ban", "Tuo yu, zen me bao ming?"])
def test_a_message_of_pinyin_syllables_is_pinyin(text):
    assert is_pinyin(text)


@pytest.mark.parametrize(
    "text",
    [
        "what is wu she lian dong",  # an English question with a pinyin term
        "she can go there now",  # English words that are syllables, and one that is not
        "di bao",  # too short to tell
        "低保 zai na li ban",  # Chinese already
        "",
    ],
)
def test_english_short_or_chinese_text_is_not(text):
    assert not is_pinyin(text)


def test_the_syllables_are_read_as_the_likeliest_words_knowledge_base_words_first():
    reader = PinyinReader(GENERAL, vocabulary=["低保", "托育"])
    assert reader.read("wo xiang shen qing di bao") == "我想申请低保"
    assert reader.read("di bao zai na li ban?") == "低保在哪里办?"


def test_a_pinyin_question_is_answered_in_characters(assistant):
    ans = assistant.ask("tuo yu zen me bao ming")
    assert ans.kind == "service" and "托育" in ans.answer
