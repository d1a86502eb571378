"""Questions about the agencies themselves: which agency is named, which chapters' lists are asked for, and whether
a question naming an agency also names a topic of the plan (then the topic's agencies answer, not the agency's part).

A mixin of :class:`bot.retrieval.route.Routing` (split from it: the routing rules stay readable).
"""

from __future__ import annotations

import re

from bot.retrieval.gate import GENERIC_TERMS
from bot.retrieval.question import AGENCY_CUE
from bot.retrieval.refs import agency_names, chapter_named, chapters_named, loose_head, loose_name, name_in

_ASKS_PART = re.compile(
    r"哪一?(个|几|些)?(部分|节|章|块|方面)|负责(什么|哪些|啥)|管(什么|哪些|啥)|哪些工作|几(个|节|部分|章)|"
    r"出现|被?列(为|入|进|了)|点(了)?名|几次|写(了|进|到|没写)|提(到|了|没提)"
)
_BODY_WORD = re.compile(r"部门|单位|局")
_EVERY = re.compile(r"都|同时|共同|均")  # (六)和(七)都列了: the agencies they share
_ALL_CHAPTERS = re.compile(r"[三3](个)?(节|部分|章)|每一?(节|部分|章)|各(节|部分|章)|所有(的)?(节|部分|章)")
_IN_TOTAL = re.compile(r"(一共|总共|共|合计|加起来).{0,8}(几|多少)(个|家)?.{0,4}(部门|单位|局)")
_COUNT_BODIES = re.compile(r"(几|多少)(个|家)(市级|市直|市里的?)?(部门|单位|局)")  # (六)点名了几个部门
_ASKS_WHOSE = re.compile(r"负责|单位|部门|部分|规划|责任|机构|工作|牵头|主管")  # words of asking whose part, no topic
_CJK_WORD = re.compile(r"[\u4e00-\u9fff]+")
_THIS_PART = re.compile(r"(这|该|那)一?(节|部分|块|条|章)")  # pointing back at a chapter named before
_WHOSE_WORDS = re.compile(r"负责|单位|部门|责任|牵头|主管|对接|归口")  # asking who answers for a subject
# A body described by its charge (专门管乡村的机构, 负责妇女儿童这块的单位): the charge, matched to the agencies' duties.
_DESCRIBED = re.compile(
    r"(?:管|负责|主管|抓)(?P<charge>[\u4e00-\u9fff]{2,8}?)(?:这一?块|方面|工作|事务|的事|这些事)?的(?:机构|部门|单位|组织)"
)


class AgencyQuestions:
    """What a question asks of the plan's agencies; needs ``kb`` and ``retriever`` from the assistant."""

    def _agency_named(self, q: str):
        """An agency of the plan the question names (市妇联, 民政局 without 市, or its full name), or None."""
        for a in sorted(self.kb.agencies.agencies, key=lambda a: -len(a.name)):
            if any(name_in(n, q) for n in agency_names(a)):
                return a
        for agency, head, loose in self._agency_patterns()[2]:  # 乡村振兴那个服务中心, 人社那个局
            if head in q and loose.search(q):
                return agency
        return self._agency_described(q)

    def _agency_described(self, q: str):
        """The one agency whose name and duties share most with the charge a question describes a body by
        (专门管乡村的机构 → 市乡村振兴服务中心, whose duties are 农村社区服务与乡村振兴), or None (none, or a tie)."""
        m = _DESCRIBED.search(q)
        if m is None:
            return None
        pairs = {m["charge"][i : i + 2] for i in range(len(m["charge"]) - 1)}
        scored = sorted(
            ((sum(p in f"{a.full_name}{a.duties}" for p in pairs), a) for a in self.kb.agencies.agencies),
            key=lambda t: -t[0],
        )
        if not scored or scored[0][0] == 0 or (len(scored) > 1 and scored[1][0] == scored[0][0]):
            return None
        return scored[0][1]

    def _chapters_asked(self, q: str):
        """(chapters, every) when a question asks for the agencies of several chapters: two or more named, or all of
        them by 每一节都 / 一共几个部门; None otherwise."""
        if not (AGENCY_CUE.search(q) or _COUNT_BODIES.search(q) or _BODY_WORD.search(q)):
            return None
        named = chapters_named(q, self.kb.plan.chapters)
        every = bool(_EVERY.search(q))
        if len(named) > 1:
            return named, every
        if not named and (every and _ALL_CHAPTERS.search(q) or _IN_TOTAL.search(q)) and self._agency_named(q) is None:
            return [c for c in self.kb.plan.chapters if c.agencies], every
        return None

    def _asks_agencys_part(self, q: str) -> bool:
        """住建局在第几节: an agency named, asked where it is responsible and nothing else (in scope as it stands)."""
        return bool(_ASKS_PART.search(q)) and self._agency_named(q) is not None and not self._topic_besides_agencies(q)

    def _without_agencies(self, q: str) -> str:
        """The question with every agency name blanked out (longest names first)."""
        exact, _, loose = self._agency_patterns()
        for name, pattern in exact:
            if name in q:
                q = pattern.sub(" ", q)
        for _, head, pattern in loose:
            if head in q:
                q = pattern.sub(" ", q)
        return q

    def _agency_patterns(self) -> tuple[list, object, list]:
        """(name, pattern) for every agency name, longest first, and (agency, head, pattern) of the loose names:
        compiled once per knowledge base, not per question (both are on every question's path)."""
        built = getattr(self, "_agency_pattern_lists", None)
        if built is None or built[1] is not self.kb:
            names = sorted({n for a in self.kb.agencies.agencies for n in agency_names(a)}, key=len, reverse=True)
            exact = [(n, re.compile(re.escape(n) + r"(?!分)")) for n in names]
            loose = [(a, loose_head(a), p) for a in self.kb.agencies.agencies if (p := loose_name(a)) is not None]
            built = self._agency_pattern_lists = (exact, self.kb, loose)
        return built

    def _chapter_told(self, q: str, asking: str):
        """The chapter a long story names (对照规划第（七）条…) when its asking end points back at it for the agencies
        (这一节后面括号里的责任单位都有哪些); None otherwise."""
        if asking == q or not _THIS_PART.search(asking) or not (AGENCY_CUE.search(asking) or _BODY_WORD.search(asking)):
            return None
        return chapter_named(q, self.kb.plan.chapters)

    def _names_subject(self, text: str) -> bool:
        """Whether ``text`` names a subject, not only who answers for it (负责单位是哪几个, 该找哪个部门对接): where a
        long story asks is back to the clause naming its subject (数字农家书屋), not the clause asking whose it is."""
        if not _WHOSE_WORDS.search(text):
            return self._names_topic(text)
        rest = self._without_agencies(_WHOSE_WORDS.sub(" ", text))  # 材料, 领导: words, not a subject of the plan
        return self._mentioned_service(rest) is not None or any(t in rest for t in self._subject_terms())

    def _subject_terms(self) -> list[str]:
        """The knowledge base's domain terms that name a subject (农家书屋, 业主委员会), not a request (咨询, 建议)."""
        terms = getattr(self, "_subject_terms_cache", None)
        if terms is None:
            terms = self._subject_terms_cache = sorted(set(self.gate.domain_terms) - GENERIC_TERMS)
        return terms

    def _topic_besides_agencies(self, q: str) -> bool:
        """Whether a question naming an agency also names a topic of the plan (医保下沉, 商业生态), not only asks
        about the agency's part (市妇联负责规划哪部分)."""
        rest = self._without_agencies(q)
        bm25 = self.retriever.bm25
        return any(
            len(tok) >= 2 and _CJK_WORD.fullmatch(tok) and not _ASKS_WHOSE.search(tok) and bm25.idf.get(tok, 0.0) >= 2.0
            for tok in self.retriever.analyze(rest)
        )
