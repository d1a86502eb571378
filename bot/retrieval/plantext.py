"""Which plan sentence answers a question that points at the plan's own text: the one that enumerates what a list
question asks for, the one a question quotes or names by its action title, a box's rows, the clause a service rests
on, the sentence naming what an operator wants to do.

A mixin of :class:`bot.retrieval.route.Routing` (split from it to keep each module small); it reads the assistant's
``kb`` and ``retriever`` and the composition's ``_passage``.
"""

from __future__ import annotations

import re

from bot.retrieval import answers as A
from bot.retrieval.compose import _source
from bot.retrieval.question import AGENCY_CUE, ASKS_HOW, CLAUSE_CUE, LIST_CUE, WHOLE_QUOTE_CUE, cue_free
from bot.retrieval.refs import chapter_named
from bot.retrieval.search import Hit


class PlanText:
    """Picks plan sentences by what the question says about the plan's words."""

    def _listing_hit(self, hits: list[Hit], depth: int = 3) -> Hit:
        """For a list question: of the first plan sentences found (a service hit counts as the clause it rests on:
        村务公开有哪些要求 → the plan's sentence on it), the one that enumerates most (、 and ，)."""
        plan: list[Hit] = []
        for h in hits[:depth]:
            backing = self._backing_clause(h) if h.passage.type == "service" else h
            if backing is not None and backing.passage.type in ("plan", "action"):
                if all(backing.passage.id != p.passage.id for p in plan):
                    plan.append(backing)
        if not plan:
            return hits[0]
        return max(plan, key=lambda h: (h.passage.text.count("、") + h.passage.text.count(","), -plan.index(h)))

    def _enumerating_hit(self, hits: list[Hit], depth: int = 3, min_items: int = 3, q: str = "") -> Hit | None:
        """For a list question: the best-ranked of the first plan sentences (a service hit counts as the clause it
        rests on) that enumerates at least ``min_items`` things (、-separated), or fewer when they are the very thing
        asked for (哪些学校 → 职业学校、开放大学); None when none does. Of them, one whose enumeration holds the thing
        asked for (哪几种社会组织 → …、互助性社会组织) comes first.

        A resident asking 哪些 wants every item the plan names, which one service card never holds."""
        asked = _ASKED_NOUN.search(q)
        noun = re.escape(asked.group(1)) if asked else None
        items_of = re.compile(rf"、[^、,，。]{{0,8}}{noun}") if noun else None  # an item ends in it
        in_list = re.compile(rf"{items_of.pattern}|{noun}、") if noun else None
        found = []
        for h in hits[:depth]:
            p = h.passage
            if p.type == "service" and p.clause:
                try:
                    p = self._passage(p.clause)
                except KeyError:
                    continue
            listed = p.text.count("、") >= min_items - 1 or (in_list and in_list.search(p.text))  # 职业学校、开放大学
            if p.type in ("plan", "action") and listed:
                found.append(Hit(p, h.score, h.dense, h.sparse))
        head = re.compile(rf"、[^、,，。]{{0,8}}{noun[-2:]}") if noun and len(asked.group(1)) > 2 else None
        # 哪几种社会组织: items ending in the noun asked first; 加快建设哪些文化设施: then in its head (设施), and
        # of those the sentence that also says what is asked of them (加快…建设)
        found.sort(
            key=lambda h: (
                not (items_of and items_of.search(h.passage.text)),
                not (head and head.search(h.passage.text)),
                -_shared_pairs(q, h.passage.text) if head else 0,
            )
        )
        return found[0] if found else None

    def _goal_hit(self, q: str, hits: list[Hit], depth: int = 3) -> Hit | None:
        """For 到2025年要做到啥程度: of the first plan sentences, one with its year, else the first. Searched again
        without the year when it is asked, since every indicator row carries 2025 and would outrank the topic."""
        if _BY_YEAR.search(q):
            hits = self.retriever.search(
                _BY_YEAR.sub("", q), k=len(self.retriever.passages), mode=self.search_mode
            ).hits
        plan = [h for h in hits[:depth] if h.passage.type in ("plan", "action")]
        return next((h for h in plan if _YEAR.search(h.passage.text)), plan[0] if plan else None)

    def _aim_not_counted(self, q: str, indicator: Hit, hits: list[Hit], depth: int = 5) -> Hit | None:
        """For a figure asked of a subject no indicator counts (社工站覆盖要达到多少, 医保政务服务覆盖目标): the plan
        sentence that sets its aim (全覆盖), when it shares more of the question's subject than the indicator
        the search found; None otherwise."""
        if not _ASKS_COVERAGE.search(q):  # a count (每万人几个社工) is the table's; only coverage is said in words
            return None
        subject = cue_free(q)
        named = _shared_pairs(subject, indicator.passage.text.split("：")[0])
        for found in (hits[:depth], None):
            if found is None:  # the figure words (指标, 目标值) pulled the rows up: look for the subject alone
                found = self.retriever.search(subject, k=len(self.retriever.passages), mode=self.search_mode).hits[:3]
            for h in found:
                p = h.passage
                if p.type in ("plan", "action") and _AIM.search(p.text) and _shared_pairs(subject, p.text) > named:
                    return h
        return None

    def _wording_asked(self, q: str, hits: list[Hit], depth: int = 3) -> Hit | None:
        """For 品牌社区社会组织培育 到2025年的目标怎么表述: the wording of an aim is asked, so the plan sentence found
        that shares most of the subject, when it shares more than every indicator row found; None otherwise."""
        if not WHOLE_QUOTE_CUE.search(q):
            return None
        subject = cue_free(q)
        found = hits[:depth]
        rows = max(
            (_shared_pairs(subject, h.passage.text.split("：")[0]) for h in found if h.passage.type == "indicator"),
            default=0,
        )
        plan = [h for h in found if h.passage.type in ("plan", "action")]
        best = max(plan, key=lambda h: _shared_pairs(subject, h.passage.text), default=None)
        return best if best is not None and _shared_pairs(subject, best.passage.text) > rows else None

    def _going_on_about(self, q: str, hits: list[Hit], depth: int = 3) -> Hit | None:
        """For 社区服务企业要怎么发展: of the first plan sentences naming what is asked about, the one that goes on
        about it (the most comma pieces after it), when more than one names it; None otherwise."""
        if not ASKS_HOW.search(q):
            return None
        plan = [h for h in hits[:depth] if h.passage.type in ("plan", "action")]
        for run in sorted(re.findall(r"[\u4e00-\u9fff]{4,}", cue_free(q)), key=len, reverse=True):
            for n in range(len(run), 3, -1):
                for span in {run[i : i + n] for i in range(len(run) - n + 1)}:
                    holders = [h for h in plan if span in h.passage.text]
                    if len(holders) > 1:
                        return max(holders, key=lambda h: (_pieces_after(h.passage.text, span), -plan.index(h)))
        return None

    def _backing_clause(self, hit: Hit) -> Hit | None:
        """The plan sentence a top-ranked service rests on (what the plan says about 托育 is the 托育 card's clause)."""
        p = hit.passage
        if p.type != "service" or not p.clause:
            return None
        try:
            return Hit(self._passage(p.clause), hit.score, hit.dense, hit.sparse)
        except KeyError:
            return None

    def _in_named_chapter(self, q: str, hits: list[Hit]) -> list[Hit]:
        """The hits with the sentences of the one chapter a plan question names first ((七)里要求建的文化设施有哪几种:
        the (七) sentence, not a nearer one of (六)); unchanged when it names none, or asks for agencies."""
        if not (CLAUSE_CUE.search(q) or LIST_CUE.search(q)) or AGENCY_CUE.search(q):
            return hits
        chapter = chapter_named(q, self.kb.plan.chapters)
        if chapter is None:
            return hits
        inside = [h for h in hits if h.passage.type in ("plan", "action") and h.passage.chapter.endswith(chapter.title)]
        return inside + [h for h in hits if h not in inside] if inside else hits

    def _clause_keeps_the_ask(self, q: str, card: Hit, clause: Hit) -> bool:
        """Whether the card's plan sentence still holds every specific word of the question the card holds
        (以后能不能做康复: a sentence on 残疾儿童 without 康复 answers another question than the card does)."""
        idf = self.retriever.bm25.idf
        words = {t for t in self.retriever.analyze(q) if len(t) >= 2 and idf.get(t, 0.0) >= 1.0}
        return all(w in clause.passage.text or w not in card.passage.text for w in words)

    def _quoted_or_named(self, q: str) -> Hit | None:
        """A plan sentence the question quotes (“以社区党组织为核心”那一句) or an action it names by its title
        (社会组织培育行动): the resident points at that text, so it is the one to answer from."""
        plan = [p for p in self.retriever.passages if p.type in ("plan", "action")]
        for span in _QUOTED.findall(q):
            holders = [p for p in plan if span in p.text]
            # quoted words two sentences hold: the one they open (“支持社区服务企业发展”那段), else one where they are
            # no item of a list (…托幼、未成年人保护、… only names the topic among others)
            holders.sort(key=lambda p: (not _opens_with(p.text, span), _listed_in(p.text, span)))
            found = holders[0] if holders else None
            if found is not None:
                return Hit(found, 1.0, 1.0, 0.0)
        for a in self.kb.plan.actions:
            name = a.title.removeprefix("实施")
            if len(name) >= 4 and name in q:
                return Hit(self._passage(a.id), 1.0, 1.0, 0.0)
        return self._phrase_of_one(q, plan) if self._mentioned_service(q) is None else None

    def _phrase_of_one(self, q: str, plan: list, longest: int = 12, short: bool = False) -> Hit | None:
        """A plan sentence the question quotes without quotation marks: a phrase of six or more characters found in
        that sentence alone and in no catalogue entry (服务平台体系), or of four or five when the question asks what
        the phrase holds (幼有所育后面那几个) or ``short`` says a four-character term will do (互助养老)."""
        services = [f"{p.text} {p.search_text}" for p in self.retriever.passages if p.type == "service"]
        for run in re.findall(r"[\u4e00-\u9fff]{4,}", q):
            for n in range(min(longest, len(run)), 3, -1):
                if n < 6 and not short and not _ASKS_PHRASE.search(q):
                    break
                for i in range(len(run) - n + 1):
                    span = run[i : i + n]
                    holders = [p for p in plan if span in p.text]
                    if len(holders) == 1 and not any(span in t for t in services):
                        return Hit(holders[0], 1.0, 1.0, 0.0)
        return None

    def _plan_term_no_card(self, q: str) -> Hit | None:
        """The plan sentence holding a term of the question no catalogue card carries (想搞互助养老): a card found near
        it would answer something else."""
        plan = [p for p in self.retriever.passages if p.type in ("plan", "action")]
        return self._phrase_of_one(q, plan, short=True) or self._shortened_term(q, plan)

    def _shortened_term(self, q: str, plan: list) -> Hit | None:
        """The plan sentence holding the long form of a four-character term said short (医养结合 → 医养康养相结合):
        its two halves a few characters apart in that sentence alone, the short form in no catalogue card, and its
        head a word of few sentences (医养, not 居民: 居民停车 is no term of 向社区居民开放停车场地)."""
        services = [f"{p.text} {p.search_text}" for p in self.retriever.passages if p.type == "service"]
        for run in re.findall(r"[\u4e00-\u9fff]{4,}", q):
            for i in range(len(run) - 3):
                span = run[i : i + 4]
                if sum(span[:2] in p.text for p in plan) > 2:
                    continue
                holders = [p for p in plan if _split_term_in(p.text, span[:2], span[2:])]
                if len(holders) == 1 and not any(span in t for t in services):
                    return Hit(holders[0], 1.0, 1.0, 0.0)
        return None

    def _box_list(self, q: str, number: str, hits: list[Hit], top_k: int) -> A.Answer | None:
        """“专栏2有哪几个行动”: every row of that table (its actions, or the indicators of the indicator table)."""
        label = f"专栏{_NUMERALS.get(number, number)}"
        actions = [a for a in self.kb.plan.actions if a.box.split()[0] == label]
        if actions:
            sources = [_source(self._passage(a.id), 1.0) for a in actions]
            body = f"{actions[0].box}共{len(actions)}项：" + "；".join(f"{a.number}.{a.title}" for a in actions)
            return A.finish(A.Answer(q, "clause", "", sources, [], []), body, len(sources))
        if (self.kb.plan.indicator_box or "").split()[0:1] == [label]:
            return self._indicator_list(q, hits, top_k)
        return None

    def _box_titled(self, q: str) -> str | None:
        """The 专栏 a list question names by its title instead of its number (社会力量参与社区服务行动包括哪几个行动):
        residents quote the heading they read, not the table's number."""
        if AGENCY_CUE.search(q):  # 社会力量参与社区服务行动是哪些部门负责的: whose it is, not its rows
            return None
        heads = {a.box for a in self.kb.plan.actions} | {self.kb.plan.indicator_box or ""}
        plain = _unquoted(q)
        for head in heads:
            label, _, title = head.partition(" ")
            title = _unquoted(title)
            at = plain.find(title) if label.startswith("专栏") and len(title) >= 6 else -1
            if at >= 0 and _ROWS_ASKED.search(plain, at + len(title)):
                return label.removeprefix("专栏")
        return None

    def _box_row(self, q: str, number: str, row: int, hits: list[Hit], top_k: int) -> A.Answer | None:
        """“专栏2第三项行动叫什么”: that row of the table, an action by its title or an indicator with its figures."""
        label = f"专栏{_NUMERALS.get(number, number)}"
        actions = [a for a in self.kb.plan.actions if a.box.split()[0] == label]
        if 1 <= row <= len(actions):
            a = actions[row - 1]
            p = self._passage(a.id)
            body = f"{label}第{row}项是“{a.title}”。"
            if not _NAME_ONLY.search(q):  # 主要做什么: what the row says too, in the plan's words
                body += f"规划写道：“{A.excerpt(p.text.removeprefix(a.title + '。'), q, self._common_pairs())}”"
            return A.finish(A.Answer(q, "clause", "", [_source(p, 1.0)], [], []), body, 1)
        inds = list(self.kb.indicators)
        if (self.kb.plan.indicator_box or "").split()[0:1] == [label] and 1 <= row <= len(inds):
            return self.indicator_answer(inds[row - 1].id, question=q, hits=hits, top_k=top_k)
        return None

    def _box_which(self, q: str, number: str, hits: list[Hit]) -> A.Answer | None:
        """“社工站建设属于专栏2里哪项行动”: of the table's actions (any table's when none is named), the one the
        search ranks first for what the question is about."""
        label = f"专栏{_NUMERALS.get(number, number)}" if number else ""
        ids = {a.id: a for a in self.kb.plan.actions if not label or a.box.split()[0] == label}
        hit = next((h for h in hits[: None if label else 5] if h.passage.id in ids), None)
        if hit is None:
            return None
        a = ids[hit.passage.id]
        body = f"属于{a.box.split()[0]}第{a.number}项“{a.title}”。"
        if _HOW_MORE.search(q):  # …是哪个行动里的，具体咋搞: what the row says too, in the plan's words
            text = hit.passage.text.removeprefix(a.title + "。")
            body += f"规划写道：“{A.excerpt(text, q, self._common_pairs())}”"
        return A.finish(A.Answer(q, "clause", "", [_source(hit.passage, hit.score)], [], []), body, 1)


def _pieces_after(text: str, span: str) -> int:
    """How many comma pieces of a sentence follow the one holding ``span``."""
    pieces = re.split(r"[,，;；]", text)
    at = next(i for i, p in enumerate(pieces) if span in p) if any(span in p for p in pieces) else len(pieces)
    return len(pieces) - 1 - at


def _shared_pairs(q: str, text: str) -> int:
    """How many of the question's character pairs (Chinese only) the sentence holds."""
    return sum(q[i : i + 2] in text for i in range(len(q) - 1) if _CJK_PAIR.fullmatch(q[i : i + 2]))


def _doing(hits: list[Hit], q: str, names_service: bool = False) -> Hit | None:
    """Of the plan sentences found, the first that names what the operator wants to do: a donor's (捐 → 捐赠), or
    a business's (开家超市, 开店: the plan's words for businesses, 市场主体 / 社区服务企业) when the question
    names no catalogue service (``names_service``) whose own sentence would answer."""
    verb = _OPERATOR_VERB.search(q)
    key = verb and ("捐" if verb.group(0).startswith("捐") else verb.group(0))  # 捐点东西 / 捐建: the plan writes 捐赠
    key = key or (OFFERS_PLACE.search(q) and "捐")  # premises lent to the community: the sentence on giving
    if key:
        return next((h for h in hits if key in h.passage.text), None)
    if _CHAIN.search(q) or (_BUSINESS.search(q) and not names_service):  # 公司想办托育机构: that service's sentence
        return next((h for h in hits if _BUSINESS_IN_PLAN.search(h.passage.text)), None)
    return None


# A resident or unit offering premises to the community (空房借给社区, 门面房拿出来): a giver, like a donor.
OFFERS_PLACE = re.compile(r"(房|门面|场地|铺面|地方|院子|空着).{0,10}(借给|租给|拿出来|腾出来|提供给|让给|给社区)")
_BUSINESS = re.compile(r"店|超市|公司|企业|生意|商户|商铺|门市")  # an operator who runs a business
_BUSINESS_IN_PLAN = re.compile(r"市场主体|社区服务企业|商业")
_CHAIN = re.compile(r"连锁|品牌")  # chains and brands: the plan's sentence on businesses, whatever service they run
_HOW_MORE = re.compile(r"具体|怎么|咋|如何|怎样|(做|干|搞)(什么|啥|些啥)|内容|what does|how")
_NAME_ONLY = re.compile(
    r"叫(什么|啥)|名(称|字)|标题|题目|是哪(个|项|一)|什么行动|what is it called|name", re.IGNORECASE
)
_AIM = re.compile(r"全覆盖")
_ASKS_COVERAGE = re.compile(r"覆盖|普及|coverage", re.IGNORECASE)
_CJK_PAIR = re.compile(r"[\u4e00-\u9fff]{2}")
_BY_YEAR = re.compile(r"(到|在|至)?20[2-3][0-9]年?(底|前|末)?")
_YEAR = re.compile(r"20[2-3][0-9]年")
_QUOTED = re.compile(r"[“\"「『]([^”\"」』]{4,40})[”\"」』]")
_NUMERALS = dict(zip("一二三四五六七八九", "123456789"))
_OPERATOR_VERB = re.compile(r"捐")  # a donor, unlike one who runs a service, wants the plan's sentence on 捐赠
_ASKED_NOUN = re.compile(
    r"(?:哪(?:几|些)(?:种|类|项|个|样)?|几(?:种|类|样))([\u4e00-\u9fff]{2,6}?)(?:[？?。，,]|$|呢|啊|呀|吗|可以|能|会|来|参与)"
)
_ASKS_PHRASE = re.compile(
    r"后面|前面|接着|下一句|上一句|指的?是?(什么|啥)|什么意思|啥意思|包括(哪些|什么|啥)|(哪|那)几个|是哪[两二三四五六七八九十]"
)


#: A table's rows asked for: 包括哪几个, 有哪些, 一共几项, 都有什么, 列一下.
_ROWS_ASKED = re.compile(r"哪(几|些)|几(个|项|类)|多少(个|项)|都有|所有|全部|包括|包含|列(一下|出)|分别")


def _listed_in(text: str, span: str) -> bool:
    """Whether ``span`` stands in ``text`` as an item of a 、-list."""
    at = text.find(span)
    return text[at - 1 : at] == "、" or text[at + len(span) : at + len(span) + 1] == "、"


def _opens_with(text: str, span: str) -> bool:
    """Whether a sentence opens with ``span`` (after any quotation mark or bracket)."""
    return text.lstrip('“"「『(（ ').startswith(span)


def _unquoted(text: str) -> str:
    return re.sub(r"[“”\"'‘’「」《》\s]", "", text)


def _split_term_in(text: str, head: str, tail: str, most: int = 4) -> bool:
    """Whether ``text`` holds ``head``, one to ``most`` Chinese characters, then ``tail`` (医养…康养 of 医养结合);
    string scans, not a regex compiled per question (a CJK range costs ~1.5 ms to compile, and questions are new)."""
    start = text.find(head)
    while start != -1:
        j = start + len(head)
        for gap in range(1, most + 1):
            if not _CJK_CHAR.fullmatch(text[j + gap - 1 : j + gap]):
                break
            if text.startswith(tail, j + gap):
                return True
        start = text.find(head, start + 1)
    return False


_CJK_CHAR = re.compile(r"[\u4e00-\u9fff]")
