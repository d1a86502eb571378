"""Routing: keyword classification, committee choice rules, accuracy on held-out texts, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.consultations.routing import Router
from bot.kb import load_kb
from bot.kb.models import CommunityDirectory

REPO = Path(__file__).resolve().parent.parent
TEXTS = yaml.safe_load((REPO / "tests/data/routing_texts.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def kb():
    return load_kb()


@pytest.fixture(scope="module")
def keyword_router(kb):
    return Router(kb.directory, kb.kb_dir, use_embedding=False)


@pytest.fixture(scope="module")
def full_router(kb):
    return Router(kb.directory, kb.kb_dir, use_embedding=True)


def _accuracy(router: Router) -> tuple[float, list[str]]:
    misses = []
    for item in TEXTS:
        r = router.route(item["text"], item["community"])
        if (r.category, r.committee.id) != (item["category"], item["committee"]):
            misses.append(f"{item['text']} → {r.category}/{r.committee.id} ({r.method})")
    return 1 - len(misses) / len(TEXTS), misses


def test_dataset_is_large_varied_and_consistent(kb):
    assert len(TEXTS) >= 40
    kinds = {kb.community(i["community"]).kind for i in TEXTS}
    assert kinds == {"社区", "村"}
    for i in TEXTS:
        assert i["committee"] in {m.id for m in kb.community(i["community"]).committees}
    assert {i["category"] for i in TEXTS} >= {c.id for c in kb.directory.categories}


def test_accuracy_with_keywords_alone(keyword_router):
    acc, misses = _accuracy(keyword_router)
    assert acc >= 0.9, misses


def test_accuracy_with_embedding_tie_breaker(full_router):
    acc, misses = _accuracy(full_router)
    assert acc >= 0.9, misses


def test_embedding_rescues_texts_without_keywords(full_router):
    if not full_router.embedding_scores("测试"):
        pytest.skip("embedding model unavailable: keywords alone route")
    cat, method, _ = full_router.classify("社区活动经费的去向一直没有对大家说清楚")
    assert (cat, method) == ("affairs-disclosure", "embedding")
    cat, method, _ = full_router.classify("asdfgh qwerty")
    assert (cat, method) == (None, "unroutable")


# committee choice, on a small synthetic directory so the rules are tested independently of the data
SYNTHETIC = CommunityDirectory.model_validate(
    {
        "city": "测试市",
        "categories": [
            {"id": "property", "name": "物业", "keywords": ["物业", "电梯", "物业费"]},
            {"id": "audit", "name": "监督", "keywords": ["账目", "公开"]},
            {"id": "rules", "name": "村规", "keywords": ["村规民约", "彩礼"]},
            {"id": "public", "name": "公共", "keywords": ["路灯", "垃圾"]},
        ],
        "communities": [
            {
                "id": "town",
                "name": "城里社区",
                "kind": "社区",
                "township": "城关街道",
                "compounds": ["东湖苑小区", "西园"],
                "committees": [
                    {
                        "id": "town-jwh",
                        "name": "城里居委会",
                        "type": "居民委员会",
                        "categories": ["public", "rules"],
                        "fallback": True,
                    },
                    {
                        "id": "town-east",
                        "name": "东湖苑业委会",
                        "type": "业主委员会",
                        "categories": ["property"],
                        "compound": "东湖苑小区",
                    },
                    {
                        "id": "town-west",
                        "name": "西园业委会",
                        "type": "业主委员会",
                        "categories": ["property"],
                        "compound": "西园",
                    },
                    {"id": "town-wyxt", "name": "物业议事协调会", "type": "物业议事协调会", "categories": ["property"]},
                    {"id": "town-jd", "name": "居务监督委员会", "type": "居务监督委员会", "categories": ["audit"]},
                ],
            },
            {
                "id": "nowyxt",
                "name": "无协调会社区",
                "kind": "社区",
                "township": "城关街道",
                "compounds": ["甲苑", "乙苑"],
                "committees": [
                    {"id": "n-jwh", "name": "居委会", "type": "居民委员会", "categories": ["public"], "fallback": True},
                    {
                        "id": "n-a",
                        "name": "甲苑业委会",
                        "type": "业主委员会",
                        "categories": ["property"],
                        "compound": "甲苑",
                    },
                    {
                        "id": "n-b",
                        "name": "乙苑业委会",
                        "type": "业主委员会",
                        "categories": ["property"],
                        "compound": "乙苑",
                    },
                ],
            },
            {
                "id": "village",
                "name": "山村",
                "kind": "村",
                "township": "山镇",
                "committees": [
                    {
                        "id": "v-cwh",
                        "name": "山村村委会",
                        "type": "村民委员会",
                        "categories": ["public", "rules"],
                        "fallback": True,
                    },
                    {"id": "v-jd", "name": "村务监督委员会", "type": "村务监督委员会", "categories": ["audit"]},
                ],
            },
        ],
    }
)


@pytest.fixture(scope="module")
def synthetic():
    return Router(SYNTHETIC, None, use_embedding=False)


@pytest.mark.parametrize(
    "community, text, category, committee, flagged",
    [
        ("town", "东湖苑小区电梯坏了", "property", "town-east", False),
        ("town", "东湖苑的电梯坏了", "property", "town-east", False),  # compound named without 小区
        ("town", "西园物业费涨了", "property", "town-west", False),
        ("town", "电梯坏了物业不管", "property", "town-wyxt", False),  # no compound → coordination meeting
        ("nowyxt", "电梯坏了", "property", "n-a", False),  # no meeting → first owners' committee
        ("nowyxt", "乙苑电梯坏了", "property", "n-b", False),
        ("town", "账目不公开", "audit", "town-jd", False),
        ("village", "账目不公开", "audit", "v-jd", False),
        ("village", "彩礼太高，村规民约管一管", "rules", "v-cwh", False),
        ("village", "电梯坏了物业不管", "property", "v-cwh", False),  # a village has no 业委会: its 村委会
        ("town", "随便聊聊", None, "town-jwh", True),
        ("village", "随便聊聊", None, "v-cwh", True),
    ],
)
def test_committee_choice(synthetic, community, text, category, committee, flagged):
    r = synthetic.route(text, community)
    assert (r.category, r.committee.id, r.flagged_unroutable) == (category, committee, flagged)
    assert r.to_json()["committee"]["type"] == next(
        m.type for c in SYNTHETIC.communities for m in c.committees if m.id == committee
    )


def test_more_and_longer_keywords_win(synthetic):
    assert synthetic.classify("路灯坏了，电梯也坏了，物业费还涨了")[0] == "property"
    assert synthetic.keyword_scores("物业费")["property"] > synthetic.keyword_scores("物业")["property"]
    assert synthetic.route("垃圾", "town", category="audit").committee.id == "town-jd"  # a given category wins


def test_route_cli_json_lines(tmp_path, monkeypatch, capsys):
    """With the embedding (the process's encoder), from another directory, through the command's entry point in
    this process (the real process: test_route_cli_unknown_community_exits_2; one more would load the model again)."""
    import io

    from bot.cli import main

    lines = "阳光苑的物业费又涨了\n\n村里的账目不公开\n" + "你好\n"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(lines.encode())))
    rc = main(["route", "--json", "--community", "liushu", "-"])
    got = capsys.readouterr()
    assert rc == 0, got.err
    out = [json.loads(x) for x in got.out.splitlines()]
    assert len(out) == 3
    assert out[0] == {
        "category": "property",
        "committee": {"id": "liushu-cwh", "name": "柳树村村民委员会", "type": "村民委员会"},
        "community": {"id": "liushu", "name": "柳树村"},
    }
    assert out[1]["committee"]["type"] == "村务监督委员会" and out[1]["category"] == "affairs-disclosure"
    assert out[2]["category"] is None and out[2]["committee"]["id"] == "liushu-cwh"


@pytest.fixture
def route_cli(tmp_path, monkeypatch, capsys):
    """`python -m bot route --no-embedding …` in this process (the same entry point as the command; the real
    process is tested by test_route_cli_unknown_community_exits_2), from another
    directory: returns (exit code, stdout, stderr)."""
    from bot.cli import main

    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> tuple[int, str, str]:
        rc = main(["route", "--no-embedding", *args])
        out = capsys.readouterr()
        return rc, out.out, out.err

    return run


def test_route_cli_unknown_community_exits_2(tmp_path):
    p = subprocess.run(
        [sys.executable, "-m", "bot", "route", "--no-embedding", "--community", "atlantis", "路灯坏了"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert p.returncode == 2 and "未知社区" in p.stderr and "Traceback" not in p.stderr


def test_route_cli_text_default_community_and_errors(route_cli):
    rc, out, _ = route_cli("--json", "阳光苑的电梯坏了")
    assert rc == 0 and json.loads(out)["committee"]["id"] == "xingfu-yzh-yangguangyuan"
    rc, out, _ = route_cli("幸福家园物业费涨了")
    assert rc == 0 and "幸福家园业主委员会" in out and "业主委员会" in out
    rc, _, err = route_cli("--community", "atlantis", "路灯坏了")
    assert rc == 2 and "未知社区" in err and "Traceback" not in err
    rc, out, err = route_cli("--json", "   ")
    assert rc == 1 and "空" in json.loads(out)["error"] and "Traceback" not in err


@pytest.mark.parametrize(
    "text, community, village",
    [
        ("村规民约好多年没改了，想提议修订", "xingfu", True),  # a village's matter from an urban community
        ("村里的集体收入从来没公开过", "xingfu", True),
        ("村规民约好多年没改了，想提议修订", "liushu", False),  # in a village it is simply routed
        ("阳光苑的电梯坏了", "xingfu", False),
    ],
)
def test_village_matters_from_a_town_community_ask_which_village(keyword_router, text, community, village):
    r = keyword_router.route(text, community)
    assert r.needs_village is village
    assert ("needs_village" in r.to_json()) is village
    if not village:
        assert r.committee.id in {m.id for m in r.community.committees}


def test_route_cli_says_when_it_assumed_the_default_community(route_cli):
    rc, out, err = route_cli("--json", "村务公开栏好久没更新了")
    got = json.loads(out)
    assert rc == 0 and "默认社区" in err and got["assumed_community"] is True and got["needs_village"] is True
    _, out, _ = route_cli("村务公开栏好久没更新了")
    assert "哪个村" in out and "柳树村" in out
    _, out, err = route_cli("--community", "xingfu", "--json", "阳光苑的电梯坏了")
    assert "默认社区" not in err and "assumed_community" not in json.loads(out)


def _form_tracker(slots: dict):
    from rasa_sdk import Tracker

    return Tracker(
        "t-village",
        slots,
        {"text": "", "intent": {"name": "inform"}, "entities": []},
        [],
        False,
        None,
        {"name": "consultation_form"},
        "action_listen",
    )


def test_the_form_asks_which_village_for_a_village_matter(kb):
    """村规民约 from a resident who picks an urban community is not sent to its 居委会: the form offers the villages."""
    from rasa_sdk.executor import CollectingDispatcher

    from actions.consultation_form import ActionAskConsultationCommunity, ValidateConsultationForm

    urban = next(c for c in kb.communities if c.kind != "村")
    village = next(c for c in kb.communities if c.kind == "村")
    slots = {"consultation_topic": "村规民约好多年没改了，想提议修订"}
    d = CollectingDispatcher()
    ActionAskConsultationCommunity().run(d, _form_tracker(slots), {})
    offered = {b["title"] for b in d.messages[0]["buttons"]}
    assert (
        d.messages[0]["response"] == "utter_ask_village_community"
        and village.name in offered
        and urban.name not in offered
    )
    d = CollectingDispatcher()
    assert ValidateConsultationForm().validate_consultation_community(urban.id, d, _form_tracker(slots), {}) == {
        "consultation_community": None
    }
    assert d.messages[0]["response"] == "utter_village_matter_not_urban"
    got = ValidateConsultationForm().validate_consultation_community(village.id, d, _form_tracker(slots), {})
    assert got["consultation_community"] == village.id  # (and the co-sign candidate search: tests/test_loop_actions.py)
    # an urban matter from an urban resident is taken as it is, and all communities are offered
    slots = {"consultation_topic": "小区电梯坏了一个月没人修"}
    got = ValidateConsultationForm().validate_consultation_community(urban.id, d, _form_tracker(slots), {})
    assert got["consultation_community"] == urban.id
    d = CollectingDispatcher()
    ActionAskConsultationCommunity().run(d, _form_tracker(slots), {})
    assert {b["title"] for b in d.messages[0]["buttons"]} == {c.name for c in kb.communities}
