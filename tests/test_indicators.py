"""Indicator self-check against the real 专栏1 targets parsed from the plan."""

import json
import subprocess
import sys

import pytest

from bot.errors import UserFacingError
from bot.indicators import Figures, format_results, self_check
from bot.kb.plan import load_plan
from bot.settings import REPO_ROOT, get_settings


@pytest.fixture(scope="module")
def plan():
    return load_plan(get_settings().kb_dir)


def by_id(results):
    return {r.indicator_id: r for r in results}


def test_area_per_100_households_shortfall(plan):
    r = by_id(self_check(Figures(households=800, facility_area=120), plan))["indicator-4"]
    assert r.value == pytest.approx(15.0)
    assert not r.met
    assert r.shortfall == "还差 120 平方米"  # 800 households need 240 m²
    ok = by_id(self_check(Figures(households=800, facility_area=240), plan))["indicator-4"]
    assert ok.met and ok.shortfall == ""


def test_activity_share_and_commercial_share(plan):
    res = by_id(
        self_check(
            {"facility_area": 500, "activity_area": 200, "commercial_service_area": 1500, "total_building_area": 20000},
            plan,
        )
    )
    assert not res["indicator-5"].met and res["indicator-5"].shortfall == "还差 100 平方米活动区域"
    assert res["indicator-5"].target_text == "≥60%"
    assert not res["indicator-3"].met and res["indicator-3"].shortfall == "还差 500 平方米"
    assert self_check({"facility_area": 500, "activity_area": 300}, plan)[0].met


def test_workers_and_social_workers(plan):
    res = by_id(self_check(Figures(workers=10, urban_residents=10000, social_workers=2), plan))
    assert res["indicator-7"].value == pytest.approx(10.0)
    assert res["indicator-7"].shortfall == "还差 8 名社区工作者"
    assert res["indicator-8"].shortfall == "还差 1 名社工师"
    assert by_id(self_check(Figures(social_workers=3), plan))["indicator-8"].met


def test_coverage_flags_depend_on_kind(plan):
    urban = by_id(self_check(Figures(has_facility=True, has_self_service=False), plan))
    assert urban["indicator-2"].met and not urban["indicator-6"].met
    rural = by_id(self_check(Figures(kind="村", has_facility=False, has_self_service=False, social_workers=0), plan))
    assert set(rural) == {"indicator-1"}  # self-service and 社工师 targets are for urban communities
    assert not rural["indicator-1"].met


def test_only_computable_targets_are_reported(plan):
    assert self_check(Figures(households=100), plan) == []
    assert "没有足够的数据" in format_results([])


@pytest.mark.parametrize(
    "figures",
    [
        {"households": 0, "facility_area": 10},
        {"households": -1},
        {"facility_area": -3.5},
        {"workers": "很多"},
        {"households": float("nan")},
        {"unknown_field": 1},
        {"facility_area": 10, "activity_area": 20},
        {"kind": "城"},
    ],
)
def test_bad_figures_are_refused_politely(plan, figures):
    with pytest.raises(UserFacingError) as e:
        self_check(figures, plan)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in e.value.message)


def test_report_is_short_chinese(plan):
    text = format_results(self_check(Figures(households=1000, facility_area=400, social_workers=4), plan))
    assert "达标2项" in text, text
    assert "每百户城乡居民拥有社区综合服务设施面积" in text and "还差" not in text.split("社工师")[-1]
    assert len(text.splitlines()) == 3


def test_cli_file_and_flags(tmp_path):
    f = tmp_path / "fig.json"
    f.write_text(json.dumps({"households": 500, "facility_area": 100}), encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "bot", "indicators", "--file", str(f), "--social-workers", "3", "--json"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert run.returncode == 1, run.stderr  # one target not met
    out = {r["indicator_id"]: r for r in json.loads(run.stdout)}
    assert out["indicator-4"]["shortfall"] == "还差 50 平方米" and out["indicator-8"]["met"] is True
    bad = subprocess.run(
        [sys.executable, "-m", "bot", "indicators", "--households", "-3"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert bad.returncode == 2 and "负数" in bad.stdout and "Traceback" not in bad.stderr


def test_the_figures_table_names_every_numeric_figure_once():
    """FIGURES is the one list: the CLI options and the chat parser come from it, so it must match Figures."""
    import argparse
    from dataclasses import fields

    from bot.indicators import FIGURES
    from bot.indicators.cli import register

    numeric = [f.name for f in fields(Figures) if f.type in ("float | None", float | None)]
    assert sorted(FIGURES) == sorted(numeric)
    sub = argparse.ArgumentParser().add_subparsers()
    register(sub)
    options = {a.dest for a in sub.choices["indicators"]._actions}
    assert set(FIGURES) <= options
