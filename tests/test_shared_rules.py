"""linli_common: stdlib only, importable by both environments, and the one rule wherever residents' text enters."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest

from linli_common import citation, replies, text, tracking
from tests.stack import RASA_PYTHON, REPO

SAMPLE = "路灯\x00坏了\u200b\u202e一个月\r\n晚上\u2028很黑\x7f\x85\ufeff\ud800\t好几天"


def test_shared_modules_import_only_the_standard_library():
    for path in (REPO / "linli_common").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                for name in names:
                    top = name.split(".")[0]
                    assert top in sys.stdlib_module_names or top in ("__future__", "linli_common"), (path.name, name)


def test_the_engine_environment_reads_the_same_rules():
    code = (
        "import json; from linli_common import text, tracking, citation, replies; "
        f"print(json.dumps([text.strip_control({SAMPLE!r}), tracking.REGEX, text.MAX_MESSAGE_CHARS, "
        "text.MAX_QUESTION_CHARS, replies.ERROR_REPLY, replies.status_push('YS-20260101-0001', '已受理', ' 说明 '), "
        "citation.source_label('service', '社区老年助餐')]))"
    )
    proc = subprocess.run([str(RASA_PYTHON), "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout) == [
        text.strip_control(SAMPLE),
        tracking.REGEX,
        text.MAX_MESSAGE_CHARS,
        text.MAX_QUESTION_CHARS,
        replies.ERROR_REPLY,
        replies.status_push("YS-20260101-0001", "已受理", " 说明 "),
        citation.source_label("service", "社区老年助餐"),
    ]


def test_the_control_rule_keeps_words_tabs_and_line_breaks():
    assert text.strip_control(SAMPLE) == "路灯坏了一个月\n晚上\n很黑\t好几天"
    assert text.has_control("a\u200bb") and text.has_control("a\rb") and not text.has_control("a\tb\nc")


def test_channel_store_and_inbox_remove_the_same_characters(sqlite_url):
    from bot.consultations.service import clean_text
    from bot.inbox.web import clean

    expected = "路灯坏了一个月\n晚上\n很黑\t好几天"
    assert clean_text(SAMPLE) == expected
    assert clean(SAMPLE, 200, multiline=True) == expected
    assert clean(SAMPLE, 200) == expected.replace("\n", " ").replace("\t", " ")


@pytest.mark.parametrize(
    "number,found",
    [("YS-20261129-0042", True), ("ys-20261129-12345", True), ("YS-20261129-004", False), ("YS-2026112-0042", False)],
)
def test_tracking_numbers_of_four_or_more_digits(number, found):
    from bot.consultations.tracking import IN_TEXT, normalize_tracking_no
    from rasa_addons.evidence import TRACKING_NUMBER

    assert bool(IN_TEXT.search(number)) is found and bool(TRACKING_NUMBER.search(number)) is found
    assert (normalize_tracking_no(number) is not None) is found


def test_status_push_reads_the_same_in_the_outbox_and_the_chat():
    from bot.consultations.notify import status_message
    from bot.consultations.statuses import Status

    assert (
        status_message("YS-20261129-0042", Status.ACCEPTED, "周五上门")
        == replies.status_push("YS-20261129-0042", Status.ACCEPTED.label, "周五上门")
        == "您的议事协商（受理编号 YS-20261129-0042）有新进展：已受理。\n说明：周五上门"
    )


def test_citation_words():
    assert citation.source_line(
        ["《规划》(七)强化为民服务功能 第4句", "服务目录「社区老年助餐」", "服务目录「社区老年助餐」"]
    ) == ("来源：《规划》(七)强化为民服务功能 第4句；服务目录「社区老年助餐」")
    assert citation.names_its_sources("…\n来源：服务目录「社区老年助餐」") and not citation.names_its_sources(None)
