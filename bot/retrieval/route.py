"""Deciding what kind of answer a searched question wants, from generic wording cues and what the search found.

Split from ``bot.retrieval.assistant`` so the routing rules (哪个部门 → agency, 指标/多少 → indicator, a service
named outright, a word the knowledge base has never seen) sit in one place, apart from composing the answers
(``bot.retrieval.compose``). :class:`Routing` is a mixin of :class:`bot.retrieval.assistant.Assistant`.
"""

from __future__ import annotations

import re
from dataclasses import replace

from bot.kb.models import Service
from bot.retrieval import answers as A
from bot.retrieval.agency_asks import _ASKS_PART, _CJK_WORD, _COUNT_BODIES, _DESCRIBED, AgencyQuestions
from bot.retrieval.bm25 import COLLOQUIAL
from bot.retrieval.compose import Composition, _merge
from bot.retrieval.gate import ScopeGate
from bot.retrieval.plantext import OFFERS_PLACE, PlanText, _doing
from bot.retrieval.question import (
    AGENCY_CUE,
    CLAUSE_CUE,
    DONOR_CUE,
    ENUM_CUE,
    GOAL_CUE,
    INDICATOR_CUE,
    LIST_CUE,
    OPERATOR_CUE,
    WHEN_CUE,
    aspect_of,
    box_number,
    box_row,
    box_which,
    names_no_topic,
)
from bot.retrieval.refs import chapter_named
from bot.retrieval.search import Hit, SearchResult
from bot.retrieval.typos import SoundSpeller

#: A service ranked below a plan sentence no service rests on answers only if it scores this share of the top.
RIVAL_SHARE = 0.8
#: How close (cosine) a question must come to a reviewed Q&A entry's question to get its written answer.
QA_MIN_COSINE = 0.92


def _key(text: str) -> str:
    return re.sub(r"[\s\W_]+", "", text).lower()


class Routing(AgencyQuestions, PlanText, Composition):
    """Picks the answer for one searched question part; the detectors (``scope``, ``matter``) come from the assistant."""

    gate: ScopeGate
    _names: list[tuple[str, Service]]
    speller: SoundSpeller

    def _decide(self, q: str, result: SearchResult, top_k: int, service_hint: str | None) -> A.Answer:
        if self.kb.qa:  # a reviewed answer was looked for first (_qa_answer): the others answer from the documents
            result = replace(result, hits=[h for h in result.hits if h.passage.type != "qa"])
        hits = self._in_named_chapter(q, result.hits)
        if not hits:  # a ranking alone (BM25 on words the KB never uses) can find nothing at all
            return A.finish(A.Answer(q, "out_of_scope", "", [], [], [], confidence=0.0), A.OUT_OF_SCOPE_REPLY, 0)
        owner = _OWNED_BY.search(q) and self._agency_named(q) is not None  # 是民政局管的吗: asks whose it is
        aspect = aspect_of(q) or ("agency" if owner else None)
        hint = self._service_or_none(service_hint)
        mentioned = self._mentioned_service(q, hits)
        if hint and aspect and (mentioned is None or mentioned.id == hint.id):
            return self._with(self.service_answer(hint.id, aspect, question=q, hits=hits, top_k=top_k), q, 1.0)
        if mentioned is None and names_no_topic(q):  # "这事归哪个部门管" without context: ask, don't guess
            return A.finish(A.Answer(q, "out_of_scope", "", [], [], [], confidence=0.0), A.CLARIFY_REPLY, 0)
        signal = self.scope(q, result)
        conf = signal.score
        matter = self.matter(q, result)
        if matter is not None and self.matters.is_matter(matter):
            return self._matter_answer(q, matter, top_k)
        unknown = self._unknown_subject(q)
        if unknown is not None:
            ans = A.Answer(q, "out_of_scope", "", [], [], [], confidence=conf, topic="not_in_catalogue")
            return A.finish(ans, NOT_IN_CATALOGUE.format(word=unknown), 0)
        row = box_row(q) or box_which(q)
        if row is not None:  # one row of a table, by its place or by what it is about (社工站属于专栏2哪项行动)
            picked = self._box_row(q, *row, hits, top_k) if isinstance(row, tuple) else self._box_which(q, row, hits)
            if picked is not None:
                return self._with(picked, q, conf)
        box = box_number(q) or self._box_titled(q)
        if box is not None and mentioned is None:  # a table of the plan named outright: in scope whatever the gate says
            listed = self._box_list(q, box, hits, top_k)
            if listed is not None:
                return self._with(listed, q, conf)
        if not self.gate.in_scope(signal) and mentioned is None and not self._asks_agencys_part(q):
            return A.finish(A.Answer(q, "out_of_scope", "", [], [], [], confidence=conf), A.OUT_OF_SCOPE_REPLY, 0)
        top = hits[0].passage
        chapter = chapter_named(q, self.kb.plan.chapters) if mentioned is None else None
        across = self._chapters_asked(q) if mentioned is None and chapter is None else None
        if across is not None:
            return self._with(self._across_chapters_answer(q, *across), q, conf)
        if chapter is not None and (
            AGENCY_CUE.search(q) or _ASKS_ROLE.search(q) or _COUNT_BODIES.search(q) or self._agency_named(q)
        ):  # 为民服务那节有没有写教育局: that chapter's list says
            return self._with(self._chapter_agencies_answer(q, chapter, top_k), q, conf)
        quoted = self._quoted_or_named(q) if not aspect else None
        aim = (quoted or self._wording_asked(q, hits)) if not aspect and INDICATOR_CUE.search(q) else None
        if aim is not None and not self._indicators_named(q):  # 培育行动的目标, 品牌项目的目标怎么表述: the plan's own
            return self._with(self._clause_answer(q, aim, hits, top_k), q, conf)
        by_term = self._indicators_by_term(q) if _QUANTITY.search(q) else []
        if INDICATOR_CUE.search(q) or by_term:
            if _ALL_INDICATORS.search(q):
                return self._with(self._indicator_list(q, hits, top_k), q, conf)
            named = self._indicators_named(q) or by_term
            if len(named) > 1:
                parts = [self.indicator_answer(i.id, question=q, hits=hits, top_k=top_k) for i in named]
                return self._with(_merge(q, parts, top_k), q, conf)
            ind_hit = (
                Hit(self._passage(named[0].id), 1.0, 1.0, 0.0)
                if named
                else next((h for h in hits[:3] if h.passage.type == "indicator"), None)
            )
            aim = self._aim_not_counted(q, ind_hit, hits) if ind_hit is not None and not by_term else None
            if aim is not None:  # 社工站覆盖要达到多少: no indicator counts it, the plan's sentence says 全覆盖
                return self._with(self._clause_answer(q, aim, hits, top_k), q, conf)
            if ind_hit is not None:
                return self._with(
                    self.indicator_answer(ind_hit.passage.id, question=q, hits=hits, top_k=top_k), q, conf
                )
        named_agency = self._agency_named(q) if mentioned is None else None
        asks_agency = AGENCY_CUE.search(q) or _ASKS_ROLE.search(q) or owner
        if named_agency is not None and (asks_agency or _ASKS_PART.search(q)):
            described = _DESCRIBED.search(q) and self._agency_described(q) is named_agency
            # 市妇联负责哪部分: the agency's chapters; 有没有专门管乡村的单位: the body described is the answer
            if described or not self._topic_besides_agencies(q):
                return self._with(self._agency_chapters_answer(q, named_agency, top_k), q, conf)
            # 商业生态这块是不是商务局管的: the topic's agencies; if the named one is not among them, its own part
            ans = self._agency_answer(q, hits, top_k, mentioned)
            if named_agency.name not in ans.agencies:
                ans = self._agency_chapters_answer(q, named_agency, top_k)
            return self._with(ans, q, conf)
        if AGENCY_CUE.search(q) or owner:
            return self._with(self._agency_answer(q, hits, top_k, mentioned), q, conf)
        # 到2025年要做到啥程度: what the plan aims at, from the plan even when a service is named
        if GOAL_CUE.search(q) and not aspect:
            aim = self._goal_hit(q, hits)
            if aim is not None:
                return self._with(self._clause_answer(q, aim, hits, top_k), q, conf)
        if WHEN_CUE.search(q) and not aspect and (mentioned is None or _PLAN_GOAL.search(q)):
            dated = next(
                (h for h in hits[:3] if h.passage.type in ("plan", "action") and _YEAR.search(h.passage.text)), None
            )
            if dated is not None:
                return self._with(self._clause_answer(q, dated, hits, top_k), q, conf)
        if quoted is not None:
            return self._with(self._clause_answer(q, quoted, hits, top_k), q, conf)
        if ENUM_CUE.search(q) and not aspect and not CLAUSE_CUE.search(q):
            listing = self._enumerating_hit(hits, q=q)
            # 未成年人保护重点关爱哪几类孩子: the card names what is done, its own plan sentence whom for
            whom = (
                mentioned
                and _ASKS_WHOM.search(q)
                and listing
                and listing.passage.id == self._passage(mentioned.id).clause
            )
            if listing is not None and (mentioned is None or whom):
                return self._with(self._clause_answer(q, listing, hits, top_k), q, conf)
        if (
            LIST_CUE.search(q)
            and mentioned is None
            and top.type in ("plan", "action")
            and not self._services_by_clause.get(top.id)
        ):
            return self._with(self._clause_answer(q, self._listing_hit(hits), hits, top_k), q, conf)
        provided = mentioned or self._service_near_top(hits)
        if provided is not None and aspect in _USERS_ASPECTS and OPERATOR_CUE.search(q) and not DONOR_CUE.search(q):
            # 想开个普惠托育机构，要准备啥材料: the card says how residents use it, not how a provider opens one
            ans = A.Answer(q, "out_of_scope", "", [], [provided.agency], [], confidence=conf, topic="operator")
            return A.finish(ans, OPERATOR_REPLY.format(service=provided.name, agency=provided.agency), 0)
        operator = (
            OPERATOR_CUE.search(q) or OFFERS_PLACE.search(q) if mentioned is None or not aspect else None
        ) or DONOR_CUE.search(q)
        if CLAUSE_CUE.search(q) or operator:
            plan_hits = [h for h in hits if h.passage.type in ("plan", "action")]
            clause_hit = (
                self._listing_hit(hits)
                if LIST_CUE.search(q)
                else (_doing(plan_hits, q, mentioned is not None) if operator else self._going_on_about(q, hits))
                or (
                    None if operator else self._backing_clause(hits[0])
                )  # an operator wants the plan, not a card's clause
                or (plan_hits or hits)[0]
            )
            return self._with(self._clause_answer(q, clause_hit, hits, top_k), q, conf)
        svc = provided
        gap = self._plan_term_no_card(q) if svc is not None and not aspect else None
        if gap is not None:  # 想搞互助养老, 又能看病又能养老的医养结合: the plan's sentence on it, not a card near it
            return self._with(self._clause_answer(q, gap, hits, top_k), q, conf)
        if svc is not None:
            if LIST_CUE.search(q) and not aspect and mentioned is None:
                listed = self._services_near(hits, depth=5)
                if len(listed) > 1:
                    return self._with(self._service_list(q, listed[:4], hits, top_k), q, conf)
            if not aspect and _FUTURE.search(q):  # 以后会不会改善: what the plan means to do, from the card's clause
                card = Hit(self._passage(svc.id), 1.0, 1.0, 0.0)
                backing = self._backing_clause(card)
                if backing is not None and self._clause_keeps_the_ask(q, card, backing):
                    return self._with(self._clause_answer(q, backing, hits, top_k), q, conf)
            ans = self.service_answer(svc.id, aspect or "overview", question=q, hits=hits, top_k=top_k)
            if (
                not aspect and (_CAN.search(q) or _RULE.search(q) or _OFFERED.search(q) or _LEADS.search(q))
            ):  # 能不能在社区办 / 有规定吗 / 给我提供啥服务 / 谁主导: the card says how, the plan's sentence what it backs
                ans = A.finish(ans, ans.body, 2 if len(ans.sources) > 1 and ans.sources[1].id == svc.clause else 1)
            return self._with(ans, q, conf)
        if top.type == "indicator":
            return self._with(self.indicator_answer(top.id, question=q, hits=hits, top_k=top_k), q, conf)
        return self._with(self._clause_answer(q, hits[0], hits, top_k), q, conf)

    def _qa_answer(self, q: str, query: str) -> A.Answer | None:
        """A reviewed Q&A entry's answer, as written, when the question is (nearly) the entry's own: asked before
        the scope layer, since an editor may answer what the assistant used to decline."""
        if not self.kb.qa:
            return None
        result = self.retriever.search(query, k=1, mode=self.search_mode)
        top = result.hits[0] if result.hits else None
        if top is None or top.passage.type != "qa":
            return None
        same = _key(q) == _key(top.passage.title)
        if not same and not (top.dense >= QA_MIN_COSINE):
            return None
        sources = [
            A.Source("qa", top.passage.id, top.passage.title, "", top.passage.text, top.score, top.passage.document)
        ]
        return A.finish(
            A.Answer(q, "qa", "", sources, [], [], confidence=top.dense if not same else 1.0), top.passage.text, 1
        )

    def _indicators_named(self, q: str, min_shared: int = 3) -> list:
        """Indicators whose names the question spells out (most shared character pairs): for each part joined by
        和/与/及/、 the best one, or the two that tie (城乡… names both the urban and the rural indicator)."""
        found = []
        for piece in re.split(r"和|与|及|、|以及", q):
            scored = sorted(((_shared_pairs(piece, i.name), i) for i in self.kb.indicators), key=lambda x: -x[0])
            best = [i for n, i in scored if n == scored[0][0]] if scored and scored[0][0] >= min_shared else []
            for ind in best[:2] if len(best) <= 2 else []:
                if ind not in found:
                    found.append(ind)
        return found

    def _indicators_by_term(self, q: str) -> list:
        """Indicators whose name holds a term the plan puts in quotes (“社工师”) that the question uses: 社工师平均几个
        asks for that figure even without the word 指标."""
        return [i for i in self.kb.indicators if any(t in q for t in _QUOTED_TERM.findall(i.name))]

    def _unknown_subject(self, q: str) -> str | None:
        """The one specific word of a service question the knowledge base has never seen (“社区能办护照吗” → 护照).

        None when the question also names anything the KB knows specifically (康复, 托育, a service name): then it is
        a question about that, in the resident's own words."""
        if self._mentioned_service(q) is not None or not _ASKS_SERVICE.search(q):
            return None
        bm25 = self.retriever.bm25
        unknown = []
        for tok in self.retriever.analyze(q):
            if (
                len(tok) < 2
                or not _CJK_WORD.fullmatch(tok)
                or tok in COLLOQUIAL
                or _QUESTION_WORD.search(tok)
                or _ASKS_SERVICE.search(tok)
                or re.fullmatch(r"[能可会要想]\w", tok)
            ):
                continue
            if bm25.idf.get(tok, 0.0) >= 1.0:
                return None  # a specific word the KB uses
            if (
                tok not in bm25.idf
                and self.speller.known.get(tok, 0) > 0  # a word, not a mis-cut of dialect (一個人住 → 人住)
                and not any(tok in t or t in tok for t in self.gate.domain_terms)
            ):
                unknown.append(tok)
        short = len(q) <= 16  # 护照过期了去哪里换: a short question may say the subject's state too (过期)
        return unknown[0] if len(unknown) == 1 or (short and len(unknown) == 2) else None

    def _services_near(self, hits: list[Hit], depth: int = 3) -> list[Service]:
        """Catalogue services among the first hits, directly or through a clause they rest on."""
        out: list[Service] = []
        for h in hits[:depth]:
            p = h.passage
            found = [self.kb.service(p.id)] if p.type == "service" else self._services_by_clause.get(p.id, [])
            out.extend(s for s in found if s not in out)
        return out

    def _service_near_top(self, hits: list[Hit], depth: int = 2) -> Service | None:
        """A catalogue service among the first hits, directly or through the clause it rests on."""
        for h in hits[:depth]:
            if h.passage.type == "service" and self._not_outranked(h, hits):
                return self.kb.service(h.passage.id)
        top = hits[0].passage
        linked = {s.id for s in self._services_by_clause.get(top.id, [])}
        for h in hits[:5]:
            if h.passage.type == "service" and h.passage.id in linked:
                return self.kb.service(h.passage.id)
        return None

    def _not_outranked(self, h: Hit, hits: list[Hit], share: float = RIVAL_SHARE) -> bool:
        """Whether a service hit may answer for the search: it is first, or rests on the first hit's sentence, or
        scores near it; a plan sentence far ahead that no service rests on (连锁经营) is the answer instead."""
        top = hits[0]
        if h is top or top.passage.type not in ("plan", "action") or self._services_by_clause.get(top.passage.id):
            return True
        return h.passage.clause == top.passage.id or h.score >= share * top.score

    def _with(self, ans: A.Answer, q: str, conf: float) -> A.Answer:
        ans.question, ans.confidence = q, conf
        return ans

    def _service_or_none(self, service_id: str | None) -> Service | None:
        return _by_id(self.kb.service, service_id)

    def _names_topic(self, text: str, min_idf: float = 2.0) -> bool:
        """Whether text holds a word the KB uses in few passages (托育, 社工师), not just cue words (基期, 多少)."""
        if self._mentioned_service(text) is not None or _BOX_NAMED.search(text):  # 专栏2 names a table
            return True
        bm25 = self.retriever.bm25
        for tok in self.retriever.analyze(text):
            # a word cut together with a verb (送托育, 去托育: jieba's guess at an unknown word) still names its topic
            words = [tok] if tok in bm25.idf or len(tok) != 3 else [tok[:2], tok[1:]]
            for word in words:
                if (
                    len(word) >= 2
                    and _CJK_WORD.fullmatch(word)
                    and bm25.idf.get(word, 0.0) >= min_idf
                    and not (INDICATOR_CUE.fullmatch(word) or CLAUSE_CUE.fullmatch(word) or AGENCY_CUE.fullmatch(word))
                ):
                    return True
        return False

    def _mentioned_service(self, q: str, hits: list[Hit] | None = None) -> Service | None:
        """A service the question names outright (its name or an alias); of several (独居老人 and 老年助餐), the
        longest name, or with ``hits`` the one the search ranks first."""
        bare = self._without_agencies(q)  # 医保 in 市医保局 names the agency, not the 医保 service
        named = [svc for name, svc in self._names if name in bare]
        if len(named) > 1 and hits:
            rank = {h.passage.id: i for i, h in enumerate(hits)}
            return min(named, key=lambda s: rank.get(s.id, len(rank)))
        return named[0] if named else None


def _service_text(svc: Service) -> str:
    """What a catalogue entry says it covers (for "does a service mention this keyword")."""
    return " ".join([svc.name, *svc.aliases, svc.eligible, svc.provides, *svc.how_to_apply.steps, svc.where])


def _by_id(find, key: object):
    """``find(key)`` for a non-empty str id; None when the id is missing, not a str, or unknown (KeyError)."""
    if not key or not isinstance(key, str):
        return None
    try:
        return find(key)
    except KeyError:
        return None


def _shared_pairs(text: str, name: str) -> int:
    """How many of ``name``'s character pairs occur in ``text``."""
    pairs = {name[i : i + 2] for i in range(len(name) - 1)}
    return sum(p in text for p in pairs)


_YEAR = re.compile(r"20[2-3][0-9]年")
_BOX_NAMED = re.compile(r"专栏\s*[0-9一二三四五六七八九]")
_FUTURE = re.compile(r"以后(会|能|还|要)|将来|今后|未来|会不会|有没有(计划|打算)|(会|能|要)(改善|改进|完善|加强|提升)")
_CAN = re.compile(r"能不能|可不可以|能否|可否|(能|可以).{0,10}(吗|嗎|不)|还是得|行不行")
_RULE = re.compile(r"有(没有)?(啥|什么)?(规定|政策|说法|要求)|规定(了|要|得|必须)")  # is there a rule: the plan's words
_OFFERED = re.compile(  # what is offered or backed: 能提供啥服务, 有支持没, 到了具体要干嘛
    r"(提供|给|有)(些)?(啥|什么|哪些)(样的)?(服务|帮助|帮扶|支持|扶持)|有(啥|什么)?(支持|扶持|帮扶)(没|吗|不|么|嘛)|"
    r"(要|该|得|能)(干|做)(嘛|啥|什么|些什么)"
)
_LEADS = re.compile(r"谁(来)?(主导|领导|组织|发起|主持)|(主导|领导|主持)(的)?是谁|由(谁|什么人)")  # the plan says who
_QUANTITY = re.compile(r"几|多少|数|[0-9]|百分|比例|%")
_QUOTED_TERM = re.compile(r"“([^”]{2,8})”")
_ALL_INDICATORS = re.compile(
    r"哪(几|些)(个|项)?指标|指标.{0,4}哪(几|些)|(几|多少)(个|项)指标|指标.{0,6}(几|多少)(个|项)|(所有|全部|每(个|项))指标"
)
_ASKS_ROLE = re.compile(r"(什么|啥|哪些)(角色|作用|职责|责任)|有没有(责任|份|它)|负责吗")
_OWNED_BY = re.compile(  # with an agency named: 是民政局管的吗, 归文广旅局吗, 民政局管还是住建局管
    r"(管|负责|牵头|主管|抓)(的)?(吗|嘛|么|呢|不|还是|[?？]|$)|归.{1,10}(吗|嘛|么|[?？]|$)"
)
_PLAN_GOAL = re.compile(r"覆盖|建成|建好|建起来|实现|普及|达到|完成|都(有|能|要|会)|全面|(才|就)?(能|会)(有|建|开)")
_ASKS_PLAN = re.compile(r"规划|专栏|十四五|指标")
_ASKS_SERVICE = re.compile(
    r"(能|可以|可不可以|能不能)(办|申请|领|做|开)|办理|(在|去|到)哪(里|儿)?(办|换|补|领|开|交|申请)|有没有|有冇|怎么(办|申请)"
)
_QUESTION_WORD = re.compile(r"哪|什么|啥|怎么|多少|几")
_ASKS_WHOM = re.compile(r"(哪(几|些)|几)(种|类|部分)?(人|群体|对象|孩子|儿童|老人|家庭)")  # for whom, not what is done
#: The card's fields written for the resident who uses a service (what to bring, how to apply, who may).
_USERS_ASPECTS = frozenset({"materials", "how_to_apply", "eligibility"})
OPERATOR_REPLY = (
    "服务目录写的是居民怎么使用“{service}”，开办机构的条件、备案、材料和扶持补贴不在里面。"
    "请咨询{agency}，或拨打12345政务服务便民热线。"
)
NOT_IN_CATALOGUE = (
    "服务目录里没有“{word}”这项服务，我不想拿别的服务凑数。可以拨打12345政务服务便民热线，或到政务服务中心问问。"
)
