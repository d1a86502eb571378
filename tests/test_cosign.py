"""The co-sign (附议) detector: place reading, the place veto, candidate selection and its quality on the tuning half.

The held-out half (tests/data/cosign_pairs_heldout.yml) is never read here: `python -m bot closedloop eval-cosign`
reports it."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.closedloop import evaluate
from bot.closedloop import similar as sm

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=SH)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("三号楼电梯坏了", "3号楼电梯坏了"),
        ("十一号楼外墙", "11号楼外墙"),
        ("二十三栋二单元", "23栋2单元"),
        ("十号楼", "10号楼"),
        ("一组的路灯", "1组的路灯"),
    ],
)
def test_chinese_numerals_before_place_words_become_digits(text, expected):
    assert sm.normalise(text) == expected


def test_normalise_bounds_and_cleans_text():
    assert len(sm.normalise("漏水" * 2000)) == sm.MAX_CHARS
    assert sm.normalise("电梯\x00坏了\u202e") == "电梯坏了"


def test_places_and_the_veto():
    p = lambda t: sm.places(sm.normalise(t))  # noqa: E731
    assert p("三号楼电梯坏了") == {"building": frozenset({"3"})}
    assert sm.place_conflict(p("3号楼电梯坏了"), p("5号楼电梯坏了"))
    assert not sm.place_conflict(p("3号楼电梯坏了"), p("三号楼的电梯停了"))
    assert sm.place_conflict(p("5栋2单元楼道灯坏了"), p("5栋3单元楼道灯不亮"))
    assert sm.place_conflict(p("幸福路和光明路路口积水"), p("幸福路和建设路路口积水"))
    assert not sm.place_conflict(p("清泉大道和南湖路路口积水"), p("清泉大道南湖路口一下雨就积水"))
    assert p("和平里门禁坏了") == p("和平里小区门禁坏了") == {"compound": frozenset({"和平里小区"})}
    assert sm.place_conflict(p("东门快递柜坏了"), p("西门快递柜坏了"))
    assert not sm.place_conflict(p("电梯坏了"), p("5号楼电梯坏了"))  # one names no building: the embedding decides
    assert "road" not in p("村口的路面全是坑") and "building" not in p("我住3楼")


@pytest.fixture(scope="module")
def tuning_result():
    from bot.settings import get_settings

    s = get_settings()
    return evaluate.evaluate(evaluate.TUNING, s.closedloop_cosign_embed_weight, s.closedloop_cosign_threshold)


def test_quality_on_the_tuning_half(tuning_result):
    r = tuning_result
    assert r.pairs >= 60 and r.positives >= 25
    assert r.recall >= 0.9 and r.precision >= 0.75, r
    assert r.errors_by_kind.get("other_place", 0) == 0  # 3号楼 vs 5号楼 is never a co-sign


def test_candidates_same_community_recent_open_items_only():
    items = [
        sm.OpenText("C-same", "xingfu", "三号楼的电梯停了好几天，老人上下楼太难了", NOW - timedelta(days=2)),
        sm.OpenText("C-other-building", "xingfu", "5号楼电梯坏了", NOW - timedelta(days=1)),
        sm.OpenText("C-other-problem", "xingfu", "3号楼门口的垃圾桶满了", NOW - timedelta(days=1)),
        sm.OpenText("C-other-community", "heping", "3号楼电梯坏了三天了", NOW - timedelta(days=1)),
        sm.OpenText("C-old", "xingfu", "3号楼电梯坏了，没人修", NOW - timedelta(days=90)),
        sm.OpenText("C-empty", "xingfu", "   ", NOW - timedelta(days=1)),
    ]
    found = sm.candidates("3号楼电梯坏了三天了，一直没人来修", "xingfu", items, NOW, days=30)
    assert [c.item_id for c in found] == ["C-same"]
    assert found[0].score >= found[0].cosine * 0.9 and 0 <= found[0].overlap <= 1
    assert sm.candidates("3号楼电梯坏了", "xingfu", items, NOW, days=120)[0].item_id in {"C-same", "C-old"}


@pytest.mark.parametrize("text", ["", "   ", None, 42, "😀" * 3, "电梯" * 5000, "'; DROP TABLE x; --"])
def test_bad_input_gives_no_candidates_or_a_bounded_answer(text):
    items = [sm.OpenText("C1", "xingfu", "3号楼电梯坏了", NOW)]
    found = sm.candidates(text, "xingfu", items, NOW)
    assert isinstance(found, list) and len(found) <= 1


def test_tuning_refuses_a_held_out_file(tmp_path):
    with pytest.raises(ValueError):
        evaluate.tune(tmp_path / "cosign_pairs_heldout.yml")
