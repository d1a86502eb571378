"""CSV export of consultations for Excel: UTF-8 with BOM, CRLF, and no formula injection.

A resident's text such as ``=HYPERLINK(...)`` must stay text in a spreadsheet, so any cell starting
with a formula trigger gets a leading apostrophe (OWASP's recommendation). Contact details are left
out on purpose: a spreadsheet travels further than the inbox.
"""

from __future__ import annotations

import csv
import io
from zoneinfo import ZoneInfo

from bot.inbox.web import fmt_time

HEADER = ["受理编号", "提交时间", "社区", "分类", "状态", "承办委员会", "诉求内容", "最近更新", "无法自动分派"]
_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")


def safe_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_TRIGGERS) else text


def consultations_csv(records, tz: ZoneInfo) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(HEADER)
    for r in records:
        w.writerow([safe_cell(v) for v in (
            r.tracking_no, fmt_time(r.created_at, tz), r.community_name, r.category_name or "未分类", r.status_label,
            r.committee_name, r.text, fmt_time(r.updated_at, tz), "是" if r.flagged_unroutable else "否",
        )])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")
