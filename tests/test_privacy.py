"""Personal data is masked before it reaches a log line or any outside view, however a phone is written."""

import logging
import unicodedata

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bot.privacy import MaskingFilter, mask, mask_name, mask_phone


def test_mobile_landline_and_id_numbers_are_masked():
    text = "我叫张三，电话13812345678，座机0571-88886666，身份证330102199001011234"
    out = mask_phone(text)
    assert "13812345678" not in out and "138****5678" in out
    assert "88886666" not in out
    assert "199001011234" not in out and "330102********1234" in out


def test_numbers_that_are_not_phones_survive():
    assert mask_phone("跟踪号 YS-20261129-0042，面积 1200 平方米") == "跟踪号 YS-20261129-0042，面积 1200 平方米"


def test_names_are_masked_everywhere_they_appear():
    assert mask_name("张三丰") == "张**"
    assert mask("张三丰说：张三丰的电话是13900001111", names=["张三丰"]) == "张**说：张**的电话是139****1111"


def test_logging_filter_masks_message_and_arguments(caplog):
    logger = logging.getLogger("linli.test.privacy")
    logger.addFilter(MaskingFilter())
    with caplog.at_level(logging.INFO, logger="linli.test.privacy"):
        logger.info("contact %s submitted", "13912345678")
        logger.info("raw 15000001111 in the message")
    assert "13912345678" not in caplog.text and "15000001111" not in caplog.text
    assert "139****5678" in caplog.text


def test_access_log_drops_query_strings_and_masks(caplog):
    from bot.privacy import AccessLogFilter

    logger = logging.getLogger("linli.test.access")
    logger.addFilter(AccessLogFilter())
    with caplog.at_level(logging.INFO, logger="linli.test.access"):
        logger.info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/?q=%E5%BC%A0%E4%B8%89&phone=13812345678", "1.1", 200
        )
    assert "13812345678" not in caplog.text and "%E5%BC%A0" not in caplog.text
    assert '"GET / HTTP/1.1" 200' in caplog.text


# however a phone is written, it leaves masked (issue 11 #5) ----------------------------------
_FULL = {str(i): chr(0xFF10 + i) for i in range(10)}
_SEPARATORS = ["", " ", "-", "－", "　", ".", "—", " - "]
_PREFIXES = ["", "+86", "+86 ", "86", "86-", "＋86 ", "0086", "00 86 ", "(+86)", "（+86）", "+８６-"]
# context around the number: text without digits or separator characters glued to it
_CONTEXT = st.text(alphabet="我家电话是请联系楼道灯坏了，。！？：abcXYZ", max_size=12)


@st.composite
def written_mobile(draw):
    """(how a resident wrote it, the 11 plain digits): any grouping, separators, +86 forms, full-width digits."""
    digits = (
        "1"
        + draw(st.sampled_from("3456789"))
        + "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=9, max_size=9)))
    )
    cuts = sorted(draw(st.sets(st.integers(1, 10), max_size=3)))
    sep = draw(st.sampled_from(_SEPARATORS))
    groups = [digits[i:j] for i, j in zip([0, *cuts], [*cuts, 11])]
    body = sep.join(groups)
    if draw(st.booleans()):  # full-width digits, all or some
        every = draw(st.booleans())
        body = "".join(_FULL.get(c, c) if every or draw(st.booleans()) else c for c in body)
    return draw(st.sampled_from(_PREFIXES)) + body, digits


def _digits_of(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKC", text) if c.isdigit())


@hsettings(max_examples=400, deadline=None)
@given(written_mobile(), _CONTEXT, _CONTEXT)
def test_every_written_form_of_a_mobile_is_masked(written, before, after):
    raw, digits = written
    out = mask(f"{before}{raw}{after}")
    # only the first three and last four digits survive, once, in the canonical masked form
    assert _digits_of(out) == digits[:3] + digits[-4:], (raw, out)
    assert f"{digits[:3]}****{digits[-4:]}" in out
    assert out.startswith(before) and out.endswith(after)


@pytest.mark.parametrize(
    "raw",
    [
        "139-8765-4321",
        "138 0013 8000",
        "＋86 138 0013 8000",
        "+86-13800138000",
        "8613800138000",
        "（+86）１３８-００１３-８０００",
        "0086 13800138000",
    ],
)
def test_issue_examples_are_masked(raw):
    assert "****" in mask(f"联系我 {raw} 谢谢") and "0013" not in _digits_of(mask(raw))[3:7]


@pytest.mark.parametrize(
    "raw,masked",
    [
        ("(0571) 8888-6666", "0571-****6666"),
        ("+86 571 8888 6666", "0571-****6666"),
        ("010-12345678", "010-****5678"),
        ("０５７１－８８８８６６６６", "0571-****6666"),
        ("330102 19900101 123X", "330102********123X"),
    ],
)
def test_landlines_and_id_numbers_in_any_form(raw, masked):
    assert mask(f"电话{raw}。") == f"电话{masked}。"


@pytest.mark.parametrize(
    "text",
    [
        "跟踪号 YS-20261129-0042",
        "2026-11-29 的会议",
        "面积 1200 平方米，12.5 元",
        "第 3 期",
        "已受理 YS-20261201-0001 号",
        "138****5678",
    ],
)
def test_ordinary_numbers_survive(text):
    assert mask(text) == text


def test_the_logging_filter_masks_written_forms(caplog):
    logger = logging.getLogger("linli.test.privacy.forms")
    logger.addFilter(MaskingFilter())
    with caplog.at_level(logging.INFO, logger="linli.test.privacy.forms"):
        logger.info("resident wrote %s", "＋86 139-8765-4321")
    assert "8765" not in caplog.text and "139****4321" in caplog.text


@hsettings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_masking_is_idempotent_and_never_raises(text):
    once = mask(text)
    assert mask(once) == once
