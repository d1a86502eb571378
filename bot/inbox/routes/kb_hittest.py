"""Hit test: what a question retrieves (dense, BM25 and fused scores), what the gate decides, what would be answered.

Everything comes from the desk's assistant of the current version (``bot.retrieval``): no second scoring here.
"""

from __future__ import annotations

import math

from fastapi import APIRouter, Request

from bot.errors import UserFacingError
from bot.inbox.deps import KBEditor, KBIndex
from bot.inbox.web import clean, render
from bot.retrieval.question import clean_question

router = APIRouter()

MAX_HITS = 10
WAIT_SECONDS = 120.0  # the first hit test loads the embedding model


def _num(x: float) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4f}"


def hit_test(assistant, question: str) -> dict:
    q = clean_question(question, assistant.max_question_chars)
    result = assistant.search(q)
    gate = assistant.scope(q, result)
    answer = assistant.ask(q)
    rank = lambda key: {id(h): i + 1 for i, h in enumerate(sorted(result.hits, key=key))}  # noqa: E731
    dense_rank = rank(lambda h: -(h.dense if not math.isnan(h.dense) else -9))
    sparse_rank = rank(lambda h: -h.sparse)
    return {
        "question": q,
        "version": answer.kb_version,
        "hits": [
            {
                "rank": i + 1,
                "id": h.passage.id,
                "type": h.passage.type,
                "label": f"《{h.passage.document}》{h.passage.title}"
                if h.passage.type != "service"
                else h.passage.title,
                "text": h.passage.text,
                "fused": _num(h.score),
                "dense": _num(h.dense),
                "bm25": _num(h.sparse),
                "dense_rank": dense_rank[id(h)],
                "bm25_rank": sparse_rank[id(h)],
            }
            for i, h in enumerate(result.hits[:MAX_HITS])
        ],
        "gate": {
            "in_scope": assistant.gate.in_scope(gate),
            "score": _num(gate.score),
            "kb_cosine": _num(gate.kb_cosine),
            "offtopic_cosine": _num(gate.offtopic_cosine),
            "sparse_top": _num(gate.sparse_top),
            "terms": "、".join(gate.domain_terms),
        },
        "coverage": f"{result.coverage:.0%}",
        "answer": answer,
    }


@router.get("/kb/hit")
def hit_page(request: Request, user: KBEditor, index: KBIndex, q: str = ""):
    question = clean(q, 500)
    ctx: dict = {"active": "kb", "q": question, "result": None, "status": index.status()}
    if question:
        live = index.wait(WAIT_SECONDS)
        if live is None:
            ctx["error"] = "检索模型还在加载，请稍后再试。"
        else:
            try:
                ctx["result"] = hit_test(live.active, question)  # one version for the whole test
            except UserFacingError as e:  # a question the assistant refuses to read (too long, no text)
                ctx["error"] = e.message
    return render(request, "kb_hit.html", ctx)
