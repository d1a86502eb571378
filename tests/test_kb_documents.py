"""Policy documents: the general parser on the seed plan (unchanged result) and on a second document in the same
official style, read from .txt, .docx and .pdf; problems reported with their line; `kb import` prints the review."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.kb.documents import DocumentError, parse_document, read_document
from bot.kb.plan import load_plan
from tests.docs_support import DOCS, ELDERLY_TXT, elderly_lines, write_docx, write_pdf

REPO = Path(__file__).resolve().parent.parent


def _q(x):
    return None if x is None else [x.value, x.unit, x.comparator]


def test_seed_plan_parses_exactly_as_before():
    """Every chapter, clause, indicator and action id and text equals what the former plan parser produced."""
    before = json.loads((DOCS / "seed_plan_parsed.json").read_text(encoding="utf-8"))
    plan = load_plan(REPO / "knowledge_base")
    assert plan.indicator_box == before["indicator_box"]
    assert [
        {
            "id": c.id,
            "numeral": c.numeral,
            "title": c.title,
            "part": c.part,
            "paragraph": c.paragraph,
            "agencies": list(c.agencies),
            "local_bodies": list(c.local_bodies),
            "agency_text": c.agency_text,
            "sentences": [[s.id, s.index, s.text, s.start, s.end] for s in c.sentences],
        }
        for c in plan.chapters
    ] == before["chapters"]
    assert [
        {
            "id": i.id,
            "number": i.number,
            "name": i.name,
            "base": _q(i.base_2020),
            "target": _q(i.target_2025),
            "binding": i.binding,
            "source_line": i.source_line,
        }
        for i in plan.indicators
    ] == before["indicators"]
    assert [
        {
            "id": a.id,
            "number": a.number,
            "title": a.title,
            "text": a.text,
            "box": a.box,
            "part": a.part,
            "after_chapter": a.after_chapter,
        }
        for a in plan.actions
    ] == before["actions"]
    assert len(before["chapters"]) == 3 and sum(len(c["sentences"]) for c in before["chapters"]) == 29


def _structure(doc):
    p = doc.plan
    return (
        [
            (c.id, c.title, c.part, c.agencies, c.local_bodies, [(s.id, s.text) for s in c.sentences])
            for c in p.chapters
        ],
        [(i.id, i.name, i.base_2020, i.target_2025, i.binding, i.base_year, i.target_year) for i in p.indicators],
        [(a.id, a.title, a.text, a.box, a.after_chapter) for a in p.actions],
        p.indicator_box,
    )


@pytest.fixture(scope="module")
def elderly():
    return parse_document(ELDERLY_TXT.read_text(encoding="utf-8"), prefix="doc2", item_prefix="doc2-")


def test_second_document_structure(elderly):
    p = elderly.plan
    assert elderly.problems == []
    assert elderly.title == "幸福市“十四五”社区养老服务体系建设规划（节选）"
    # (一) restarts in every part: chapter ids carry the part
    assert [(c.id, c.title) for c in p.chapters] == [
        ("0", "引言"),
        ("1.1", "（一）建设街道综合养老服务中心"),
        ("1.2", "（二）发展家庭养老床位"),
        ("2.1", "（一）壮大养老服务人才队伍"),
        ("2.2", "（二）健全探访关爱服务"),
    ]
    by = {c.id: c for c in p.chapters}
    assert by["1.1"].part == "一、完善社区养老服务网络" and by["2.2"].part == "二、提升社区养老服务质量"
    assert by["1.1"].agencies == ("市民政局", "市住建局", "市自然资源局") and by["1.1"].local_bodies == (
        "各街道办事处",
    )
    # the other usual form of the closing parenthesis: 牵头 … 配合
    assert by["1.2"].agencies == ("市民政局", "市卫健委", "市医保局", "市残联") and by["1.2"].local_bodies == ()
    assert by["2.2"].local_bodies == ("各街道办事处", "社区居民委员会")
    assert [s.id for s in by["1.2"].sentences] == ["doc2-1.2-01", "doc2-1.2-02", "doc2-1.2-03"]
    assert by["1.2"].sentences[1].text.startswith("对特殊困难老年人家庭实施适老化改造")
    assert all("负责" not in s.text and "牵头" not in s.text for _, s in p.clauses)
    inds = {i.id: i for i in p.indicators}
    assert list(inds) == [f"doc2-indicator-{n}" for n in range(1, 6)]
    assert inds["doc2-indicator-1"].base_2020.text == "45%" and inds["doc2-indicator-1"].binding == "约束性"
    assert inds["doc2-indicator-3"].base_2020 is None and inds["doc2-indicator-3"].target_2025.text == "≥2000张"
    assert inds["doc2-indicator-4"].target_2025.comparator == "≥" and inds["doc2-indicator-4"].target_2025.value == 90
    assert p.indicator_box == "专栏1 “十四五”社区养老服务主要指标"
    assert [(a.id, a.title, a.after_chapter) for a in p.actions] == [
        ("doc2-action-1", "实施助餐服务提升行动", "2.2"),
        ("doc2-action-2", "实施智慧养老行动", "2.2"),
    ]


def test_docx_and_pdf_read_to_the_same_document(tmp_path, elderly):
    lines = elderly_lines()
    for path in (write_docx(lines, tmp_path / "elderly.docx"), write_pdf(lines, tmp_path / "elderly.pdf")):
        text = read_document(path)
        assert [x.strip() for x in text.splitlines() if x.strip()] == lines, path.suffix
        assert _structure(parse_document(text, prefix="doc2", item_prefix="doc2-")) == _structure(elderly), path.suffix


DAMAGED = """\
某市社区卫生服务规划
一、加强社区卫生服务
（一）
（二）建设社区卫生服务中心
每个街道建成一所社区卫生服务中心。完善家庭医生签约服务。
（四）发展中医药服务
在社区卫生服务中心设置中医馆。（市卫健委、市中医药局等部门按职责分工负责）
专栏1 主要指标
序号 指标 2020年基期值 2025年目标值 指标属性
1 家庭医生签约率 40% 预期性
2 每万人口全科医生数 二人 3人 预期性
3 社区卫生服务中心达标率 70% — 预期性
注：指标3为新增指标。
二、保障措施
这一段没有（一）级标题。
"""


def test_problems_are_reported_with_their_line():
    doc = parse_document(DAMAGED, prefix="doc3", item_prefix="doc3-")
    found = [(p.line, p.message) for p in doc.problems]
    lines = DAMAGED.splitlines()

    def at(line_no: int, fragment: str) -> None:
        assert any(n == line_no and fragment in m for n, m in found), (line_no, fragment, found)

    at(3, "含糊的标题")  # （一） with no title
    at(4, "末尾没有括号里的责任单位")  # a warning: shown, does not block a publish
    assert [p.line for p in doc.problems if p.severity == "warning"] == [4]
    at(6, "标题序号不连续")  # （四） after （二）
    at(10, "无法解析的表格行")  # a column missing
    at(11, "无法解析的表格行")  # 二人 is not a number
    at(12, "没有目标值")
    at(13, "既不是表格行也不是编号条目")
    at(15, "不在任何章节里")
    at(3, "章节没有正文")
    assert len(found) == 9
    assert all(lines[p.line - 1].strip().startswith(p.text[:10]) for p in doc.problems if p.text)
    # what could be read is kept: the sections with a body (no row was readable)
    assert [c.title for c in doc.plan.chapters] == ["（二）建设社区卫生服务中心", "（四）发展中医药服务"]
    assert doc.plan.indicators == []


@pytest.mark.parametrize(
    "name,data,message",
    [
        ("empty.txt", b"", "没有可读的文字"),
        ("blank.txt", b"  \n\n\t\n", "没有可读的文字"),
        ("notes.md", b"# hi", "不支持的文件类型"),
        ("broken.docx", b"PK\x03\x04 not really a zip", "不是有效的 .docx"),
        ("broken.pdf", b"%PDF-1.7\nnonsense", "PDF"),
    ],
)
def test_unreadable_files_are_refused_politely(tmp_path, name, data, message):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(DocumentError, match=message):
        read_document(path)


def test_pdf_without_text_layer_is_refused(tmp_path):
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    with open(tmp_path / "scan.pdf", "wb") as f:
        writer.write(f)
    with pytest.raises(DocumentError, match="文字层"):
        read_document(tmp_path / "scan.pdf")


def test_odd_text_is_parsed_not_crashed():
    text = "（一）社区服务😀\r\n提供服务\x00。<script>alert(1)</script>。（市民政局负责）\n二、保障\n" + "x" * 100_000
    doc = parse_document(text, prefix="doc9")
    assert doc.plan.chapters[0].agencies == ("市民政局",)
    assert any(
        p.line == 4 and "不在任何章节里" in p.message for p in doc.problems
    )  # the long line outside any chapter is reported, not dropped


def _cli(*args: str, kb_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINLI_")} | {"LINLI_KB_DIR": str(kb_dir)}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


def test_cli_import_prints_the_review_and_publishes_nothing(tmp_path):
    import shutil

    kb_dir = tmp_path / "kb"
    shutil.copytree(REPO / "knowledge_base", kb_dir, ignore=shutil.ignore_patterns("versions"))
    path = write_docx(elderly_lines(), tmp_path / "养老规划.docx")
    run = _cli("kb", "import", str(path), kb_dir=kb_dir)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "《幸福市“十四五”社区养老服务体系建设规划》（编号 doc2，来自 养老规划.docx）" in out
    assert "章节 5，条款 13，责任单位 10，指标 5，专栏条目 2，问题 0" in out
    assert (
        "（二）发展家庭养老床位（第13行）：3句，条款 doc2-1.2-01 起；责任单位：市民政局、市卫健委、市医保局、市残联"
        in out
    )
    assert "doc2-indicator-3 家庭养老床位数：2020年基期值 无，2025年目标值 ≥2000张（预期性）" in out
    assert "问题：无" in out
    assert not (kb_dir / "versions").exists()

    damaged = tmp_path / "damaged.txt"
    damaged.write_text(DAMAGED, encoding="utf-8")
    run = _cli("kb", "import", str(damaged), "--publish", kb_dir=kb_dir)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "第10行 无法解析的表格行" in run.stdout and "第3行 含糊的标题" in run.stdout
    assert "未发布" in run.stderr and not (kb_dir / "versions" / "CURRENT").exists()

    run = _cli("kb", "import", str(tmp_path / "missing.pdf"), kb_dir=kb_dir)
    assert run.returncode == 1 and "找不到文件" in run.stderr and "Traceback" not in run.stderr
