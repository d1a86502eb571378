"""Indicator self-check for community workers: figures parsed from the message, compared with 2025 targets."""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import polite, user_text

#: Figure → the words workers use for it (longest first within each, so 活动区域面积 beats 面积).
LABELS: dict[str, tuple[str, ...]] = {
    "households": ("户数", "户"),
    "facility_area": ("综合服务设施面积", "服务设施面积", "设施面积", "设施总面积"),
    "activity_area": ("活动区域面积", "活动区域", "活动面积", "活动场所面积"),
    "commercial_service_area": ("商业和综合服务设施面积", "商业面积", "商业设施面积"),
    "total_building_area": ("社区总建筑面积", "总建筑面积"),
    "workers": ("社区工作者", "工作者"),
    "social_workers": ("社工师",),
    "urban_residents": ("城镇常住人口", "常住人口", "人口", "居民人数"),
}
_NUM = r"(\d+(?:\.\d+)?)"
HOW_TO = ("好的，请把您社区的数字发给我，比如：\n“户数1200，综合服务设施面积400平方米，活动区域面积260平方米，商业面积50平方米，"
          "社区工作者8人，社工师2人，常住人口3500”。\n我会对照“十四五”2025年目标逐项告诉您是否达标、差多少。")


def parse_figures(text: str) -> dict[str, float]:
    """'户数1200，设施面积400平方米' or '1200户' → {'households': 1200, 'facility_area': 400}."""
    found: dict[str, float] = {}
    spans: list[tuple[int, int]] = []
    pairs = sorted(((w, k) for k, ws in LABELS.items() for w in ws), key=lambda x: -len(x[0]))
    for word, key in pairs:
        if key in found:
            continue
        for pattern in (re.escape(word) + r"\s*(?:是|为|有|:|：)?\s*" + _NUM, _NUM + r"\s*" + re.escape(word)):
            for m in re.finditer(pattern, text):
                if any(a < m.end() and m.start() < b for a, b in spans):
                    continue
                if word == "户" and m.re.pattern.startswith(re.escape(word)):
                    continue  # "户数" handled above; bare 户 only after a number
                found[key] = float(m.group(1))
                spans.append(m.span())
                break
            if key in found:
                break
    return found


class ActionIndicatorSelfCheck(Action):
    def name(self) -> str:
        return "action_indicator_self_check"

    @polite
    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        from bot.indicators import format_results, self_check

        figures = parse_figures(user_text(tracker))
        if not figures:
            dispatcher.utter_message(text=HOW_TO)
            return []
        if "村" in user_text(tracker)[:12] and "社区" not in user_text(tracker)[:12]:
            figures["kind"] = "村"
        results = self_check(figures)
        dispatcher.utter_message(text=format_results(results))
        dispatcher.utter_message(json_message={"type": "indicator_self_check", "figures": figures,
                                               "results": [asdict(r) for r in results]})
        return []
