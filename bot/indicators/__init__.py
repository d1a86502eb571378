"""Indicator self-check: compare a community's own figures with the 2025 targets of 专栏1.

Targets are read from the parsed plan (never copied here); this module only knows how each
indicator is computed from the figures a community worker has at hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from bot.errors import UserFacingError
from bot.kb.plan import Indicator, Plan


@dataclass(frozen=True)
class Figures:
    """A community's own figures; None means "not known" (that indicator is skipped)."""

    households: float | None = None  # 户数
    facility_area: float | None = None  # 社区综合服务设施建筑面积 m²
    activity_area: float | None = None  # 其中居民活动区域面积 m²
    commercial_service_area: float | None = None  # 社区商业和综合服务设施面积 m²
    total_building_area: float | None = None  # 社区总建筑面积 m²
    workers: float | None = None  # 社区工作者人数
    urban_residents: float | None = None  # 城镇常住人口
    social_workers: float | None = None  # 持证“社工师”人数
    has_facility: bool | None = None  # 有综合服务设施
    has_self_service: bool | None = None  # 有政务通用自助服务终端
    kind: str = "社区"  # "社区" (urban) or "村" (rural)


#: The one list of a community's figures: key (a ``Figures`` field) → (name in reports, unit, the words workers type
#: for it, longest first within each so 活动区域面积 beats 面积). The CLI options and the chat parser come from it.
FIGURES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "households": ("户数", "", ("户数", "户")),
    "facility_area": ("综合服务设施面积", "m²", ("综合服务设施面积", "服务设施面积", "设施面积", "设施总面积")),
    "activity_area": ("居民活动区域面积", "m²", ("活动区域面积", "活动区域", "活动面积", "活动场所面积")),
    "commercial_service_area": ("商业和综合服务设施面积", "m²", ("商业和综合服务设施面积", "商业面积", "商业设施面积")),
    "total_building_area": ("社区总建筑面积", "m²", ("社区总建筑面积", "总建筑面积")),
    "workers": ("社区工作者人数", "", ("社区工作者", "工作者")),
    "urban_residents": ("城镇常住人口", "", ("城镇常住人口", "常住人口", "人口", "居民人数")),
    "social_workers": ("社工师人数", "", ("社工师",)),
}
FIGURE_LABELS = {key: label for key, (label, _, _) in FIGURES.items()}


@dataclass(frozen=True)
class Result:
    indicator_id: str
    name: str
    value: float
    value_text: str
    target_text: str
    met: bool
    shortfall: str  # "" when met, else "还差 120 平方米"


def validate(fig: Figures) -> Figures:
    for f in fields(Figures):
        v = getattr(fig, f.name)
        if f.name in FIGURE_LABELS and v is not None:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise UserFacingError(f"“{FIGURE_LABELS[f.name]}”要填一个数字。", code="bad_figure")
            if v < 0:
                raise UserFacingError(f"“{FIGURE_LABELS[f.name]}”不能是负数，请检查一下。", code="bad_figure")
    if fig.households is not None and fig.households == 0:
        raise UserFacingError("户数不能为 0，请填写社区实际户数。", code="bad_figure")
    if fig.urban_residents is not None and fig.urban_residents == 0:
        raise UserFacingError("城镇常住人口不能为 0，请填写实际人数。", code="bad_figure")
    if fig.facility_area is not None and fig.activity_area is not None and fig.activity_area > fig.facility_area:
        raise UserFacingError("居民活动区域面积不能大于综合服务设施总面积，请检查一下。", code="bad_figure")
    if fig.kind not in ("社区", "村"):
        raise UserFacingError("社区类型请填“社区”或“村”。", code="bad_figure")
    return fig


def _fmt(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".") if abs(x - round(x)) > 1e-9 else str(int(round(x)))


def _ceil_needed(x: float) -> float:
    return math.ceil(x - 1e-9)


def _compare(value: float, ind: Indicator) -> bool:
    t = ind.target_2025.value
    return value >= t - 1e-9  # every 专栏1 target is a floor (≥ or "reach")


def self_check(figures: Figures | dict, plan: Plan | None = None) -> list[Result]:
    """One result per 2025 target computable from the figures given."""
    fig = validate(figures if isinstance(figures, Figures) else _from_dict(figures))
    if plan is None:
        from bot.kb.plan import load_plan
        from bot.settings import get_settings

        plan = load_plan(get_settings().kb_dir)
    ind = {i.number: i for i in plan.indicators}
    out: list[Result] = []

    def add(n: int, value: float, unit: str, shortfall: str) -> None:
        i = ind.get(n)
        if i is None:
            return
        met = _compare(value, i)
        out.append(
            Result(i.id, i.name, value, f"{_fmt(value)}{unit}", i.target_2025.text, met, "" if met else shortfall)
        )

    if fig.has_facility is not None:
        n = 1 if fig.kind == "村" else 2
        add(n, 100.0 if fig.has_facility else 0.0, "%", "还没有综合服务设施")
    if fig.commercial_service_area is not None and fig.total_building_area:
        t = ind[3].target_2025.value / 100 if 3 in ind else 0
        share = 100 * fig.commercial_service_area / fig.total_building_area
        add(
            3,
            share,
            "%",
            f"还差 {_fmt(_ceil_needed(t * fig.total_building_area - fig.commercial_service_area))} 平方米",
        )
    if fig.facility_area is not None and fig.households:
        t = ind[4].target_2025.value if 4 in ind else 0
        per100 = 100 * fig.facility_area / fig.households
        add(4, per100, "平方米/百户", f"还差 {_fmt(_ceil_needed(t * fig.households / 100 - fig.facility_area))} 平方米")
    if fig.activity_area is not None and fig.facility_area:
        t = ind[5].target_2025.value / 100 if 5 in ind else 0
        share = 100 * fig.activity_area / fig.facility_area
        add(5, share, "%", f"还差 {_fmt(_ceil_needed(t * fig.facility_area - fig.activity_area))} 平方米活动区域")
    if fig.has_self_service is not None and fig.kind == "社区":
        add(6, 100.0 if fig.has_self_service else 0.0, "%", "还没有政务通用自助服务终端")
    if fig.workers is not None and fig.urban_residents:
        t = ind[7].target_2025.value if 7 in ind else 0
        per10k = 10000 * fig.workers / fig.urban_residents
        add(
            7,
            per10k,
            "人/万人",
            f"还差 {_fmt(_ceil_needed(t * fig.urban_residents / 10000 - fig.workers))} 名社区工作者",
        )
    if fig.social_workers is not None and fig.kind == "社区":
        t = ind[8].target_2025.value if 8 in ind else 0
        add(8, fig.social_workers, "人", f"还差 {_fmt(_ceil_needed(t - fig.social_workers))} 名社工师")
    return sorted(out, key=lambda r: int(r.indicator_id.split("-")[1]))


def _from_dict(d: dict) -> Figures:
    if not isinstance(d, dict):
        raise UserFacingError("请按“名称: 数字”的格式提供社区数据。", code="bad_figure")
    known = {f.name for f in fields(Figures)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise UserFacingError(f"不认识这些数据项：{'、'.join(map(str, unknown))}。", code="bad_figure")
    values = {}
    for k, v in d.items():
        if v is None:
            continue
        if k in ("has_facility", "has_self_service"):
            if isinstance(v, str):
                v = v.strip().lower() in ("1", "true", "yes", "y", "是", "有")
            values[k] = bool(v)
        elif k == "kind":
            values[k] = str(v)
        else:
            if isinstance(v, str):
                try:
                    v = float(v.replace(",", "").strip())
                except ValueError:
                    raise UserFacingError(f"“{FIGURE_LABELS.get(k, k)}”要填一个数字。", code="bad_figure") from None
            values[k] = v
    return Figures(**values)


def format_results(results: list[Result]) -> str:
    """A short Chinese report, one line per indicator."""
    if not results:
        return "没有足够的数据可以对照指标。请至少提供户数和设施面积，或社区工作者人数和常住人口等。"
    met = sum(r.met for r in results)
    lines = [f"对照“十四五”2025年目标：{len(results)}项可算，达标{met}项，未达标{len(results) - met}项。"]
    for r in results:
        mark = "✅ 达标" if r.met else f"❌ 未达标，{r.shortfall}"
        lines.append(f"- {r.name}：现在{r.value_text}，目标{r.target_text}，{mark}")
    return "\n".join(lines)


from bot.indicators.words import parse_figures, parse_message  # noqa: E402,F401 (the chat's reading of the figures)
