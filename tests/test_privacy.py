"""Personal data is masked before it reaches a log line."""

import logging

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
        logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/?q=%E5%BC%A0%E4%B8%89&phone=13812345678", "1.1", 200)
    assert "13812345678" not in caplog.text and "%E5%BC%A0" not in caplog.text
    assert '"GET / HTTP/1.1" 200' in caplog.text
