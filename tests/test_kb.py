"""The knowledge base: the parsed plan, the hand-written catalogue and directory, and `kb check`.

The plan assertions are written from the plan text itself so that a parser or errata change
that alters what residents are told is caught; the broken-input tests copy the KB and damage
one thing at a time, checking that `python -m bot kb check` names the file, entry and field.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.kb import KBError, load_kb
from bot.kb.loader import KB_FILES
from bot.kb.plan import Quantity, load_plan
from bot.kb.terms import USER_DICT_NAME, render_user_dictionary

REPO = Path(__file__).resolve().parent.parent
KB_DIR = REPO / "knowledge_base"


# ------------------------------------------------------------------ fixtures and helpers


@pytest.fixture(scope="module")
def kb():
    return load_kb(KB_DIR)


@pytest.fixture()
def kb_copy(tmp_path: Path) -> Path:
    """A private copy of the knowledge base that a test may damage."""
    dest = tmp_path / "kb"
    dest.mkdir()
    for name in KB_FILES:
        shutil.copy2(KB_DIR / name, dest / name)
    (dest / "jieba").mkdir()
    shutil.copy2(KB_DIR / USER_DICT_NAME, dest / USER_DICT_NAME)
    return dest


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINLI_")}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


def load_yaml(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def dump_yaml(path: Path, data) -> None:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def run_here(*args: str) -> tuple[int, str]:
    """`python -m bot …` through the same entry point in this process (a traceback would fail the test itself):
    (exit code, stdout + stderr). The real process: test_kb_check_passes_and_prints_counts and the userdict tests."""
    from bot.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(args))
    return rc, out.getvalue() + err.getvalue()


def assert_check_fails(kb_dir: Path, *fragments: str) -> str:
    """`kb check` must exit non-zero, name every fragment, and never show a traceback."""
    rc, output = run_here("kb", "check", "--kb-dir", str(kb_dir))
    assert rc != 0, output
    assert "Traceback" not in output, output
    for fragment in fragments:
        assert fragment in output, f"{fragment!r} not in:\n{output}"
    return output


# ------------------------------------------------------------------ the plan


EXPECTED_INDICATORS = [
    # number, name, 2020 base, 2025 target, binding
    (1, "农村社区综合服务设施覆盖率", Quantity(100, "%"), Quantity(100, "%"), "预期性"),
    (2, "城市社区综合服务设施覆盖率", Quantity(100, "%"), Quantity(100, "%"), "预期性"),
    (3, "社区商业和综合服务设施面积占社区总建筑面积比例", None, Quantity(10, "%", "≥"), "预期性"),
    (4, "每百户城乡居民拥有社区综合服务设施面积", Quantity(30, "平方米"), Quantity(30, "平方米", "≥"), "预期性"),
    (5, "城乡居民活动区域面积占社区综合服务设施总建筑面积比例", None, Quantity(60, "%", "≥"), "预期性"),
    (6, "城市社区政务通用自助服务覆盖率", None, Quantity(100, "%"), "预期性"),
    (7, "每万城镇常住人口拥有社区工作者", Quantity(14.3, "人"), Quantity(18, "人"), "预期性"),
    (8, "平均每个城市社区拥有“社工师”人数", Quantity(2.5, "人"), Quantity(3, "人", "≥"), "约束性"),
]


def test_indicators_match_the_plan_table(kb):
    got = [(i.number, i.name, i.base_2020, i.target_2025, i.binding) for i in kb.plan.indicators]
    assert got == EXPECTED_INDICATORS
    assert [i.id for i in kb.plan.indicators] == [f"indicator-{n}" for n in range(1, 9)]
    assert [i.number for i in kb.plan.indicators if i.binding == "约束性"] == [8]
    assert kb.plan.indicators[7].target_2025.text == "≥3人"
    assert kb.plan.indicators[6].base_2020.text == "14.3人"


def test_chapter_agencies_and_local_bodies(kb):
    by_id = {c.id: c for c in kb.plan.chapters}
    assert sorted(by_id) == ["5", "6", "7"]
    assert by_id["5"].agencies == ("市委组织部", "市民政局", "市住建局")
    assert by_id["5"].local_bodies == ("各乡(镇)党委", "街道党工委")
    assert by_id["6"].agencies == ("市发改局", "市民政局", "市商务局")
    assert by_id["6"].local_bodies == ("各乡(镇)人民政府", "街道办事处")
    assert by_id["7"].agencies == (
        "市发改局",
        "市教育局",
        "市民政局",
        "市卫健局",
        "市文广旅局",
        "市科协",
        "市乡村振兴服务中心",
        "市人社局",
        "市医保局",
        "市残联",
        "市妇联",
    )
    assert by_id["7"].local_bodies == ("各乡(镇)人民政府", "街道办事处")
    # the closing parenthesis is not part of any citable sentence
    for _chapter, sentence in kb.plan.clauses:
        assert "按职责分工负责" not in sentence.text


def test_errata_are_applied(kb):
    action2 = next(a for a in kb.plan.actions if a.id == "action-2")
    assert "“社工+志愿者”联动服务模式" in action2.text
    _, clause = kb.plan.clause("plan-7-12")
    assert "“互联网+公共就业服务”" in clause.text
    all_text = " ".join(s.text for _, s in kb.plan.clauses) + " ".join(a.text for a in kb.plan.actions)
    assert "社工 志愿者" not in all_text and "互联网 公共就业服务" not in all_text


def test_stale_erratum_fails_the_check(kb_copy: Path):
    errata = load_yaml(kb_copy / "errata.yml")
    errata["errata"].append({"find": "“社区 食堂”", "replace": "“社区+食堂”", "reason": "test"})
    dump_yaml(kb_copy / "errata.yml", errata)
    assert_check_fails(kb_copy, "errata.yml", "“社区 食堂”", "0 times")


def test_box2_has_three_actions(kb):
    assert [(a.id, a.title) for a in kb.plan.actions] == [
        ("action-1", "实施社会组织培育行动"),
        ("action-2", "实施社区志愿服务行动"),
        ("action-3", "实施社区社工服务行动"),
    ]
    assert {a.box for a in kb.plan.actions} == {"专栏2 社会力量参与社区服务行动"}
    assert {a.after_chapter for a in kb.plan.actions} == {"6"}
    assert "社工站" in kb.plan.actions[2].text


# ------------------------------------------------------------------ `kb check` on the committed KB


def test_kb_check_passes_and_prints_counts(kb):
    result = run_cli("kb", "check")
    assert result.returncode == 0, result.stderr
    counts = dict(re.findall(r"(\w+)=(\d+)", result.stdout))
    assert {k: int(v) for k, v in counts.items()} == kb.counts
    assert int(counts["services"]) >= 34
    assert int(counts["agencies"]) == len(kb.plan.all_agencies)
    assert int(counts["indicators"]) == 8 and int(counts["actions"]) == 3


def test_committed_userdict_is_up_to_date(kb):
    result = run_cli("kb", "userdict", "--check")
    assert result.returncode == 0, result.stderr
    text = (KB_DIR / USER_DICT_NAME).read_text(encoding="utf-8")
    assert text == render_user_dictionary(kb)
    words = {line.split()[0] for line in text.splitlines()}
    for term in ("普惠托育服务", "老年食堂", "红心物业", "市医保局", "幸福社区", "业主委员会"):
        assert term in words


def test_userdict_check_notices_a_catalogue_change(kb_copy: Path):
    services = load_yaml(kb_copy / "services.yml")
    services["services"][0]["aliases"].append("测试专用新说法")
    dump_yaml(kb_copy / "services.yml", services)
    stale = run_cli("kb", "userdict", "--check", "--kb-dir", str(kb_copy))
    assert stale.returncode == 1
    assert "out of date" in stale.stderr
    assert run_cli("kb", "userdict", "--kb-dir", str(kb_copy)).returncode == 0
    assert "测试专用新说法 " in (kb_copy / USER_DICT_NAME).read_text(encoding="utf-8")
    assert run_cli("kb", "userdict", "--check", "--kb-dir", str(kb_copy)).returncode == 0


# ------------------------------------------------------------------ catalogue content


def test_every_service_has_aliases_and_cites_a_responsible_agency(kb):
    chapters = {c.id: c for c in kb.plan.chapters}
    for s in kb.services:
        assert 5 <= len(s.aliases) <= 10, s.id
        assert all(a.strip() for a in s.aliases), s.id
        assert s.how_to_apply.steps, s.id
        if s.clause.startswith("plan-"):
            chapter = chapters[s.clause.split("-")[1]]
            assert s.agency in chapter.agencies + chapter.local_bodies, (s.id, s.agency, s.clause)


def test_aliases_do_not_collide_across_services(kb):
    owner: dict[str, str] = {}
    for s in kb.services:
        for term in (s.name, *s.aliases):
            assert owner.setdefault(term, s.id) == s.id, f"{term!r} used by {owner[term]} and {s.id}"


# topic of the brief → the word both the service and its cited plan sentence must contain
TOPICS = {
    "居家养老": "居家",
    "日间照料": "社区养老",
    "助餐": "社区养老",
    "嵌入式养老": "嵌入式养老",
    "巡访关爱": "巡访关爱",
    "特困人员供养": "特困人员供养",
    "普惠托育": "普惠托育",
    "社区托育服务设施": "社区托育服务设施",
    "儿童之家": "儿童之家",
    "留守儿童": "留守儿童",
    "困境儿童": "困境儿童",
    "残疾儿童": "残疾儿童",
    "未成年人保护": "未成年人保护",
    "残疾人社区康复": "残疾人社区康复",
    "社区卫生服务中心": "社区卫生服务中心",
    "慢性病防控": "慢性病防控",
    "医保服务点": "医保",
    "互联网+公共就业服务": "互联网+公共就业服务",
    "社区教育": "社区教育",
    "红色主题教育": "红色主题教育",
    "文体活动室": "文体活动室",
    "健身": "健身",
    "农家书屋": "农家书屋",
    "村史馆": "村史馆",
    "科普": "科普",
    "社工+志愿者": "社工+志愿者",
    "社工站": "社工站",
    "议事协商": "议事协商",
    "村（居）务公开": "村(居)务公开",
    "红心物业": "红心物业",
    "停车场地": "停车场地",
    "社会组织培育": "社会组织培育",
    "移风易俗": "移风易俗",
}


def _clause_text(kb, clause_id: str) -> str:
    if clause_id.startswith("action-"):
        action = next(a for a in kb.plan.actions if a.id == clause_id)
        return action.title + action.text
    if clause_id.startswith("indicator-"):
        return next(i.name for i in kb.plan.indicators if i.id == clause_id)
    return kb.plan.clause(clause_id)[1].text


@pytest.mark.parametrize("topic", sorted(TOPICS))
def test_each_topic_has_a_service_backed_by_its_plan_sentence(kb, topic):
    matches = [s for s in kb.services if topic in s.name or topic in s.aliases or topic in s.provides]
    assert matches, f"no service about {topic}"
    assert any(TOPICS[topic] in _clause_text(kb, s.clause) for s in matches), [(s.id, s.clause) for s in matches]


def test_self_service_terminals_cite_indicator_6(kb):
    terminals = [s for s in kb.services if "自助" in s.name]
    assert [s.clause for s in terminals] == ["indicator-6"]


def test_employment_services_one_per_group(kb):
    employment = [s for s in kb.services if s.clause == "plan-7-11"]
    groups = {"失业人员", "就业困难人员", "高校毕业生", "退役军人", "农民工", "残疾人"}
    served = {g for g in groups for s in employment if g in s.populations}
    assert served == groups
    assert len(employment) >= len(groups)
    assert {s.agency for s in employment} <= {"市人社局", "市残联"}


def test_expected_agencies_for_key_services(kb):
    agency = {s.id: s.agency for s in kb.services}
    assert agency["medical-insurance-service"] == "市医保局"
    assert agency["inclusive-childcare"] == "市卫健局"
    assert agency["home-elderly-care"] == "市民政局"
    assert agency["red-heart-property"] == "市住建局"
    assert agency["science-popularization"] == "市科协"
    assert agency["disability-community-rehab"] == "市残联"


def test_sample_contacts_are_marked_and_clearly_fake(kb):
    for s in kb.services:
        if s.contact and s.contact.phone:
            assert s.contact.example is True, s.id
            assert re.fullmatch(r"0000-\d{8}", s.contact.phone), s.id


def test_agencies_cover_the_plan_with_full_names(kb):
    names = [a.name for a in kb.agencies.agencies]
    assert sorted(names) == sorted(kb.plan.all_agencies)
    assert kb.agency_full_name("市医保局") == "市医疗保障局"
    assert kb.agency_full_name("市文广旅局") == "市文化广电旅游局"
    assert kb.agency_full_name("市卫健局") == "市卫生健康委员会"
    assert kb.agency_full_name("市人社局") == "市人力资源和社会保障局"
    assert kb.agency_full_name("市发改局") == "市发展和改革委员会"
    assert kb.agency_full_name("市住建局") == "市住房和城乡建设局"
    assert kb.agency_full_name("市残联") == "市残疾人联合会"
    assert all(a.duties for a in kb.agencies.agencies)


# ------------------------------------------------------------------ communities


def test_default_community_and_every_category_routable(kb):
    from bot.settings import Settings

    assert Settings().default_community in {c.id for c in kb.communities}
    assert kb.community("xingfu").name == "幸福社区"
    category_ids = {c.id for c in kb.directory.categories}
    assert {
        "property",
        "affairs-disclosure",
        "village-rules",
        "public-affairs",
        "services-needs",
        "other",
    } <= category_ids
    for community in kb.communities:
        handled = {cat for m in community.committees for cat in m.categories}
        assert handled == category_ids, community.id


def test_committee_structure(kb):
    kinds = {c.kind for c in kb.communities}
    assert kinds == {"社区", "村"}
    for c in kb.communities:
        types = [m.type for m in c.committees]
        if c.kind == "社区":
            owners = [m for m in c.committees if m.type == "业主委员会"]
            assert sorted(m.compound for m in owners) == sorted(c.compounds), c.id
            assert types.count("物业议事协调会") == 1 and types.count("居务监督委员会") == 1, c.id
        else:
            assert types.count("村务监督委员会") == 1, c.id
            fallback = next(m for m in c.committees if m.fallback)
            assert "property" in fallback.categories, c.id


def test_categories_have_enough_keywords_and_examples(kb):
    for cat in kb.directory.categories:
        assert 15 <= len(cat.keywords) <= 30, cat.id
        assert len(set(cat.keywords)) == len(cat.keywords), cat.id
        assert 4 <= len(cat.examples) <= 6, cat.id


# ------------------------------------------------------------------ broken inputs


def test_invalid_yaml_names_file_and_line(kb_copy: Path):
    path = kb_copy / "services.yml"
    lines = path.read_text(encoding="utf-8").splitlines()
    n = next(i for i, ln in enumerate(lines) if ln.strip().startswith("name:"))
    lines[n] = "    name: 居家: 养老"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert_check_fails(kb_copy, "services.yml", f"line {n + 1}", "not valid YAML")


def test_service_missing_required_field(kb_copy: Path):
    data = load_yaml(kb_copy / "services.yml")
    victim = data["services"][2]
    del victim["provides"]
    dump_yaml(kb_copy / "services.yml", data)
    assert_check_fails(kb_copy, "services.yml", victim["id"], "provides", "required")


def test_unknown_agency(kb_copy: Path):
    data = load_yaml(kb_copy / "services.yml")
    victim = data["services"][1]
    victim["agency"] = "市交通运输局"
    dump_yaml(kb_copy / "services.yml", data)
    assert_check_fails(kb_copy, "services.yml", victim["id"], "agency", "市交通运输局")


def test_duplicate_service_id(kb_copy: Path):
    data = load_yaml(kb_copy / "services.yml")
    dup = data["services"][0]["id"]
    data["services"][5]["id"] = dup
    dump_yaml(kb_copy / "services.yml", data)
    assert_check_fails(kb_copy, "services.yml", dup, "id", "duplicate")


def test_unknown_clause(kb_copy: Path):
    data = load_yaml(kb_copy / "services.yml")
    victim = data["services"][3]
    victim["clause"] = "plan-7-99"
    dump_yaml(kb_copy / "services.yml", data)
    assert_check_fails(kb_copy, "services.yml", victim["id"], "clause", "plan-7-99")


def test_committee_with_unknown_category(kb_copy: Path):
    data = load_yaml(kb_copy / "communities.yml")
    committee = data["communities"][0]["committees"][1]
    committee["categories"] = ["property", "parking-war"]
    dump_yaml(kb_copy / "communities.yml", data)
    assert_check_fails(kb_copy, "communities.yml", committee["id"], "categories", "parking-war")


def test_community_with_two_fallbacks(kb_copy: Path):
    data = load_yaml(kb_copy / "communities.yml")
    community = next(c for c in data["communities"] if c["id"] == "heping")
    extra = next(m for m in community["committees"] if m["type"] == "居务监督委员会")
    extra["fallback"] = True
    dump_yaml(kb_copy / "communities.yml", data)
    output = assert_check_fails(kb_copy, "communities.yml", "heping", "committees", "fallback")
    assert "has 2" in output


def test_load_kb_reports_every_problem_at_once(kb_copy: Path):
    """Several mistakes in several files come back together, so one edit round fixes them all."""
    services = load_yaml(kb_copy / "services.yml")
    services["services"][0]["category"] = "旅游"
    dump_yaml(kb_copy / "services.yml", services)
    communities = load_yaml(kb_copy / "communities.yml")
    communities["communities"][1]["households"] = -5
    dump_yaml(kb_copy / "communities.yml", communities)
    with pytest.raises(KBError) as err:
        load_kb(kb_copy)
    found = {(p.file, p.entry, p.field) for p in err.value.problems}
    assert ("services.yml", f"services [0] {services['services'][0]['id']}", "category") in found
    assert ("communities.yml", "communities [1] heping", "households") in found
    # the copied plan is untouched, so it still parses the same
    assert len(load_plan(kb_copy).clauses) == len(load_plan(KB_DIR).clauses)


def test_committee_offices_are_validated_and_examples_never_shown(kb, kb_copy: Path):
    from bot.retrieval.answers import whom_to_ask

    offices = [m.office for c in kb.communities for m in c.committees if m.office]
    assert offices and all(o.example for o in offices)  # the sample directory is invented and says so
    for c in kb.communities:
        text = whom_to_ask(c)
        fallback = next(m for m in c.committees if m.fallback)
        assert fallback.name in text and (fallback.office is None or fallback.office.address not in text)
    data = load_yaml(kb_copy / "communities.yml")
    committee = next(m for m in data["communities"][0]["committees"] if m.get("fallback"))
    committee["office"] = {"phone": "call us!", "example": False}
    dump_yaml(kb_copy / "communities.yml", data)
    assert_check_fails(kb_copy, "communities.yml", "office", "phone")


def test_real_office_contact_is_shown(kb):
    from bot.kb.models import Community, Office
    from bot.retrieval.answers import whom_to_ask

    c = kb.communities[0]
    fallback = next(m for m in c.committees if m.fallback)
    real = fallback.model_copy(update={"office": Office(phone="0571-88880000", address="幸福路88号", example=False)})
    changed = c.model_copy(update={"committees": [real if m.id == fallback.id else m for m in c.committees]})
    assert isinstance(changed, Community) and "0571-88880000" in whom_to_ask(changed)
