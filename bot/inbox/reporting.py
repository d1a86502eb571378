"""Reporting, owned by one module (as in FixMyStreet): the filters a list or export takes, the list's
pages, the CSV (columns, Excel-safe cells, how much at most) and the dashboard's figures and chart.

The CSV is UTF-8 with BOM and CRLF for Excel. A resident's text such as ``=HYPERLINK(...)`` must stay
text in a spreadsheet, so any cell starting with a formula trigger gets a leading apostrophe (OWASP's
recommendation). Contact details are left out on purpose: a spreadsheet travels further than the inbox.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends
from fastapi.responses import Response

from bot.consultations import ConsultationRecord, Status, TransitionError
from bot.consultations.statuses import parse_status
from bot.inbox.dates import parse_day
from bot.inbox.deps import CommitteeScope
from bot.inbox.web import clean, fmt_time

PAGE_SIZE = 20
EXPORT_MAX = 20_000
EXPORT_BATCH = 500
WEEKS = 12

HEADER = ["受理编号", "提交时间", "社区", "分类", "状态", "承办委员会", "诉求内容", "最近更新", "无法自动分派"]
_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")


# filters ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Filters:
    """A list or export's filters: ``scope`` (committee or None), ``query`` (the service's keyword
    arguments), ``echo`` (what the form shows again), ``problems`` (ignored filters, said politely)."""

    scope: str | frozenset[str] | None
    query: dict
    echo: dict
    problems: list[str]


def query_filters(
    scope: CommitteeScope,
    status: str | None = None,
    category: str | None = None,
    since: str | None = None,
    until: str | None = None,
    q: str | None = None,
) -> Filters:
    """The filters of ``?status=&category=&since=&until=&q=&committee=``; a bad date is a
    :class:`~bot.inbox.dates.BadDate` (400), an unknown status is ignored with a note."""
    problems: list[str] = []
    st = clean(status, 20)
    if st:
        try:
            st = parse_status(st).value
        except TransitionError:
            problems.append("状态筛选无效，已忽略。")
            st = ""
    cat = clean(category, 64)
    d_since, d_until = parse_day(clean(since, 40), "起始日期"), parse_day(clean(until, 40), "截止日期")
    if d_since and d_until and d_since > d_until:
        d_since, d_until = d_until, d_since
    search = clean(q, 100)
    query = {
        "status": st or None,
        "category": cat or None,
        "since": d_since,
        "until": d_until,
        "search": search or None,
    }
    echo = {
        "status": st,
        "category": cat,
        "since": d_since.isoformat() if d_since else "",
        "until": d_until.isoformat() if d_until else "",
        "q": search,
        "committee": scope if isinstance(scope, str) else "",
    }
    return Filters(scope, query, echo, problems)


ReportFilters = Annotated[Filters, Depends(query_filters)]


# list pages ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Page:
    items: list[ConsultationRecord]
    total: int
    number: int
    pages: int


def list_page(svc, f: Filters, page: str | None) -> Page:
    """One page of the filtered list; a page number out of range (or not a number) is clamped."""
    total = svc.reports.count_for_committee(f.scope, **f.query)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    try:
        p = min(max(int(clean(page, 9) or 1), 1), pages)
    except ValueError:
        p = 1
    items = svc.reports.list_for_committee(f.scope, **f.query, limit=PAGE_SIZE, offset=(p - 1) * PAGE_SIZE)
    return Page(items, total, p, pages)


# CSV -------------------------------------------------------------------------------------
def safe_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_TRIGGERS) else text


def consultations_csv(records, tz: ZoneInfo) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(HEADER)
    for r in records:
        w.writerow(
            [
                safe_cell(v)
                for v in (
                    r.tracking_no,
                    fmt_time(r.created_at, tz),
                    r.community_name,
                    r.category_name or "未分类",
                    r.status_label,
                    r.committee_name,
                    r.text,
                    fmt_time(r.updated_at, tz),
                    "是" if r.flagged_unroutable else "否",
                )
            ]
        )
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def export_records(svc, f: Filters) -> list[ConsultationRecord]:
    """Everything the filters match, read in batches, at most about ``EXPORT_MAX`` records."""
    records: list[ConsultationRecord] = []
    while len(records) < EXPORT_MAX:
        batch = svc.reports.list_for_committee(f.scope, **f.query, limit=EXPORT_BATCH, offset=len(records))
        records.extend(batch)
        if len(batch) < EXPORT_BATCH:
            break
    return records


def csv_download(records, tz: ZoneInfo) -> Response:
    stamp = datetime.now(tz).strftime("%Y%m%d-%H%M")
    return Response(
        consultations_csv(records, tz),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="consultations-{stamp}.csv"',
            "Cache-Control": "no-store",
        },
    )


# dashboard -------------------------------------------------------------------------------
def weekly_chart(weekly: list) -> dict:
    """Bar geometry for the server-rendered SVG (no JavaScript, no CDN)."""
    bars, top = [], max([n for _, n in weekly] + [1])
    width, height, gap = 960, 200, 10
    bw = (width - gap * (len(weekly) + 1)) / max(len(weekly), 1)
    for i, (monday, n) in enumerate(weekly):
        h = round((height - 44) * n / top, 1)
        x = round(gap + i * (bw + gap), 1)
        bars.append(
            {
                "x": x,
                "y": round(height - 20 - h, 1),
                "w": round(bw, 1),
                "h": h,
                "n": n,
                "label": (monday if isinstance(monday, date) else date.fromisoformat(str(monday))).strftime("%m-%d"),
            }
        )
    return {"bars": bars, "width": width, "height": height, "top": top}


def dashboard_figures(svc, scope: str | None, overdue_days: int) -> dict:
    """The dashboard's counts by status and category, open and overdue ones, and the weekly chart."""
    data = svc.reports.dashboard(scope, overdue_days=overdue_days, weeks=WEEKS)
    categories = {c.id: c.name for c in svc.directory.categories()}
    by_status = {s.value: data.by_status.get(s.value, 0) for s in Status}
    by_category = ((categories.get(k, k or "未分类"), v) for k, v in data.by_category.items())
    return {
        "by_status": by_status,
        "by_category": sorted(by_category, key=lambda kv: -kv[1]),
        "total": sum(by_status.values()),
        "open_count": sum(v for k, v in by_status.items() if Status(k).is_open),
        "chart": weekly_chart(list(data.weekly)),
        "overdue": data.overdue,
        "last_change": data.last_status_change,
        "overdue_days": overdue_days,
    }


# scorecards ------------------------------------------------------------------------------
SCORE_HEADER = [
    "层级",
    "名称",
    "街道（乡镇）",
    "提交数",
    "按时受理率",
    "按时办结率",
    "满意率",
    "返工率",
    "附议人次",
    "应受理",
    "按时受理",
    "应办结",
    "按时办结",
    "已办结",
    "已评价",
    "满意",
    "基本满意",
    "不满意",
    "未回复",
    "返工",
]


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def scorecard_cells(level: str, r) -> list[str]:
    lp = r.loop
    return [
        safe_cell(v)
        for v in (
            level,
            r.name,
            r.township,
            r.filed,
            _pct(r.accept_rate),
            _pct(r.complete_rate),
            _pct(r.satisfaction_rate),
            _pct(r.rework_rate),
            lp.cosigns,
            r.accept_due,
            r.accept_on_time,
            r.complete_due,
            r.complete_on_time,
            r.resolved,
            lp.rated,
            lp.satisfied,
            lp.basically_satisfied,
            lp.unsatisfied,
            lp.unanswered,
            lp.reworked,
        )
    ]


def scorecard_csv(card) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["统计期间", f"{card.start.isoformat()} 至 {card.end.isoformat()}（按提交日期）"])
    w.writerow(SCORE_HEADER)
    for r in card.townships:
        w.writerow(scorecard_cells("街道（乡镇）", r))
    for r in card.committees:
        w.writerow(scorecard_cells("委员会", r))
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def scorecard_download(card, tz: ZoneInfo) -> Response:
    return Response(
        scorecard_csv(card),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="scorecards-{card.start:%Y%m%d}-{card.end:%Y%m%d}.csv"',
            "Cache-Control": "no-store",
        },
    )


def scorecard_chart(rows) -> dict:
    """Paired bars per committee (on-time acceptance, on-time completion), the dashboard chart's SVG style."""
    rows = [r for r in rows if r.filed]
    width, height, gap = 960, 220, 12
    group = (width - gap * (len(rows) + 1)) / max(len(rows), 1)
    bars = []
    for i, r in enumerate(rows):
        x0 = gap + i * (group + gap)
        for j, (rate, kind) in enumerate(((r.accept_rate, "accept"), (r.complete_rate, "complete"))):
            h = round((height - 60) * (rate or 0), 1)
            bars.append(
                {
                    "x": round(x0 + j * group / 2, 1),
                    "y": round(height - 40 - h, 1),
                    "w": round(group / 2 - 2, 1),
                    "h": h,
                    "kind": kind,
                    "text": _pct(rate),
                    "label": r.name if j == 0 else "",
                    "lx": round(x0 + group / 2, 1),
                }
            )
    return {"bars": bars, "width": width, "height": height}
