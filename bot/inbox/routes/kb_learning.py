"""The learning queue: unanswered questions and 👎 answers, grouped by meaning, turned into reviewed Q&A entries.

An editor links a group to a clause or service, or writes a short answer; either is published as a new
knowledge version (``qa.yml``, :mod:`bot.kb.qa`) that retrieval uses at once (the action servers reload).
"""

from __future__ import annotations

from fastapi import APIRouter, Form, Request

from bot.feedback.clusters import cluster
from bot.feedback.store import normalize_question
from bot.inbox.deps import FeedbackDep, KBEditor, KBIndex, SettingsDep
from bot.inbox.web import MAX_NOTE, Refused, clean, flash_redirect, render
from bot.kb.loader import KBError, load_kb
from bot.kb.qa import QAEntry, add_qa, citable_ids, entry_problem
from bot.kb.versions import current_dir, publish

router = APIRouter()

BACK = "/kb/learning"
REASONS = {
    "out_of_scope": "超出范围",
    "nlu_fallback": "没听懂",
    "out_of_scope_intent": "无关话题",
    "thumbs_down": "👎",
    "unanswered": "未回答",
}


def _citable(kb) -> set[str]:
    return citable_ids([d.plan for d in kb.documents], kb.services)


@router.get("/kb/learning")
def learning_page(request: Request, settings: SettingsDep, user: KBEditor, feedback: FeedbackDep, index: KBIndex):
    gaps = feedback.gaps(limit=200)
    live = index.get()
    vectors = live.active.retriever.embedder.queries([g.question for g in gaps]) if live is not None and gaps else None
    kb = load_kb(current_dir(settings.kb_dir))
    handled = {normalize_question(e.question): e for e in kb.qa}
    groups = [
        {
            "c": c,
            "reasons": "、".join(REASONS.get(r, r) for r in c.reasons),
            "entry": next(
                (handled[k] for k in (normalize_question(g.question) for g in c.wordings) if k in handled), None
            ),
        }
        for c in cluster(gaps, vectors)
    ]
    return render(
        request,
        "kb_learning.html",
        {"active": "kb", "groups": groups, "grouped": vectors is not None, "qa": kb.qa, "services": kb.services},
    )


@router.post("/kb/learning")
def add_entry(
    request: Request,
    settings: SettingsDep,
    user: KBEditor,
    index: KBIndex,
    question: str = Form(""),
    answer: str = Form(""),
    link: str = Form(""),
):
    q, a, target = clean(question, 200), clean(answer, MAX_NOTE, multiline=True), clean(link, 64)
    problem = entry_problem(QAEntry("qa-new", q, a, target), _citable(load_kb(current_dir(settings.kb_dir))))
    if problem:
        raise Refused(problem, BACK)
    try:
        name, _ = publish(
            settings.kb_dir,
            lambda d: add_qa(d, q, answer=a, link=target, by=user.username),
            by=user.username,
            message=f"问答「{q}」",
        )
    except KBError as e:
        raise Refused(f"未发布：新版本的知识库检查未通过：{e}", BACK) from None
    index.published()
    return flash_redirect(request, BACK, f"已发布知识版本 {name}：问答「{q[:30]}」已收录。")
