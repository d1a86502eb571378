"""Hybrid search over the knowledge base and answers with citations.

Public API (used by the dialogue actions and the CLI; keep it stable)::

    from bot.retrieval import get_assistant
    a = get_assistant()          # process-wide, thread-safe; loads KB + index + model once, then follows the
                                 # published knowledge version (bot.retrieval.live: swapped in without a restart)
    ans = a.ask("在社区能办医保吗", top_k=3, service_hint=None)
    ans.kind       # "clause" | "service" | "agency" | "indicator" | "out_of_scope"
    ans.answer     # short Chinese reply ending with a "来源：" line (none when out of scope, except community matters)
    ans.to_dict()  # {"question","kind","answer","sources":[{"type","id","title","chapter","text","score"}],
                   #  "agencies":[...], "services":[{"id","name","agency"}]}
    a.service_answer("medical-insurance-service", "how_to_apply")   # aspect in ASPECTS
    a.indicator_answer("indicator-8")

- ``service_hint``: id of the service under discussion; follow-ups such as "那要带什么材料?" /
  "找哪个部门?" / "在哪办?" are answered for it unless the question names another service.
- Invalid questions (not a str, empty or only punctuation, longer than ``settings.max_question_chars``)
  raise :class:`bot.errors.UserFacingError`; unknown ids in ``service_answer``/``indicator_answer`` too.
- The out-of-scope gate (``bot.retrieval.gate``) compares the question's similarity to the KB with its
  similarity to off-topic anchor sentences, plus BM25/domain-term/cue evidence (``settings.retrieval_gate_*``,
  calibrated on the dev set). Below it the kind is ``out_of_scope`` and the reply offers a consultation (议事协商)
  or a community worker instead of guessing. A question that names no topic ("这事归哪个部门管" without a
  ``service_hint``) is also ``out_of_scope`` with a reply asking which matter is meant.
- Community matters (``bot.retrieval.matter``): a resident describing a problem ("村里的路灯坏了找谁",
  "楼上噪音扰民") rather than asking about a service gets kind ``out_of_scope`` with a reply naming the committee
  type that handles that consultation category (from ``communities.yml``), quoting the plan's 议事协商 sentence
  (cited in ``sources``, e.g. ``plan-5-06``) and offering "发起议事协商". ``ans.matter_category`` holds the
  category id (an attribute only; ``to_dict()`` keys are unchanged). Settings ``retrieval_matter_*``.
- The index lives in ``settings.cache_dir / "index"`` (a published version's in ``index-kb/<fingerprint>``) and is
  rebuilt only when the KB fingerprint or the embedding model id changes (``python -m bot index build`` forces it).
- ``ans.kb_version`` names the knowledge version that answered (an attribute; not in ``to_dict()``); a source's
  ``document`` is its document's name in citations (《规划》 for the seed plan).
"""

from bot.retrieval.answers import KINDS, Answer, Source
from bot.retrieval.assistant import Assistant, get_assistant, reset_assistant
from bot.retrieval.question import ASPECTS

__all__ = ["ASPECTS", "KINDS", "Answer", "Assistant", "Source", "get_assistant", "reset_assistant"]
