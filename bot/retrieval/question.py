"""Check a question before any search, and read the cues that say what kind of answer it wants."""

from __future__ import annotations

import re
import unicodedata

from bot.errors import UserFacingError
from bot.retrieval.numbered import numbered

_MEANINGFUL = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")


def clean_question(question: object, max_chars: int) -> str:
    """Return the normalized question or raise UserFacingError with a polite Chinese message."""
    if not isinstance(question, str):
        raise UserFacingError("请用文字告诉我您想咨询的问题。", code="not_text")
    text = unicodedata.normalize("NFKC", question)
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    text = re.sub(r"\s+", " ", text).strip()
    if not _MEANINGFUL.search(text):
        raise UserFacingError("请告诉我您想咨询什么，比如“在社区能办医保吗”。", code="empty")
    if len(text) > max_chars:
        raise UserFacingError(f"问题有点长（超过{max_chars}字），请简短说一下您想办的事，我好帮您查。", code="too_long")
    return text


# What kind of answer the wording asks for. Kept to generic question words, never to topics.
INDICATOR_CUE = re.compile(
    r"指标|目标值?|基期|每百户|每万|覆盖(率|多少|几成|到多少)|占比|比例|占[^，。？?]{0,14}(几成|百分之几|多少|几多)|(要|达到|达)几成|每个(村|社区)都(得|要|必须|会|能)?有|平方米|面积.{0,6}(要求|标准|多少|多大)|约束性|预期性|"
    r"(要求|标准|达到|配备?|配置?|有)(多少|几个|几名|几人)|(多少|几个|几名)(人|名|平方)|达标|考核"
)
AGENCY_CUE = re.compile(
    r"(哪个|哪几个|哪几家?|哪些|什么|哪家|啥)(市级|市直|区级|县级|市里的?)?(部门|单位|机构|局|口子)|归那个(部门|单位|局)|是不是.{1,8}(负责|牵头|主管|管)|还有(别的|其他|哪些)(部门|单位)|还有谁|(负责|责任|主管|牵头)的?(单位|部门|机构)|的(部门|单位|机构)(都|又|还|一共|到底)?(是|有)(哪|什么|谁|啥)|谁(在|来)?(负责|管|监督|牵头|主管|办|说了算|抓|推|协调|统筹)|归谁|由谁(?!来?(领导|主导))|牵头|主管部门|负责部门|责任单位|找哪个|找谁|哪个局|找[^，。？?]{0,4}(哪|那)(个|家)(部门|单位|局|机构)|有没有[^，。？?]{0,6}(管|负责)[^，。？?]{0,8}的(机构|部门|单位)"
)
CLAUSE_CUE = re.compile(
    r"规划|原文|原话|原句|哪一?条|哪一?句|哪一?(部分|节|章)|(到|在)哪一?(级|层)|第几(部分|节|章)|怎么表述|如何表述|怎么写|写了|条款|条文|文件|政策.{0,4}(说|规定|提)|(怎么|如何)(说|规定|写)|提到|有没有提|有(什么|啥)(说法|规定|要求|举措)|有哪(些|几(项|条|个)?)(说法|规定|举措)|提了?(什么|哪些|哪几(项|条|个)?)要求|是怎么安排|是什么意思|(什么|啥)程度|哪一?年|什么角色|什么地位"
)

ASPECTS = ("overview", "eligibility", "how_to_apply", "materials", "where", "agency", "details")
_ASPECT_CUES = (
    ("agency", AGENCY_CUE),
    ("materials", re.compile(r"材料|带什么|带啥|要带|拿什么|证件")),
    (
        "how_to_apply",
        re.compile(r"手续|流程|步骤|(怎么|咋|怎样)(办|申请|报名|弄|登记|预约)|如何(办|申请)|怎么去办|申请"),
    ),
    # 写在哪一节 / 覆盖到哪一级 ask for a place in the plan or a level, not where to go
    (
        "where",
        re.compile(
            r"(在|去|到)(哪里|哪儿|哪(?!一?(节|章|部分|条|句|级|层|年|方面|块)))|哪里|哪儿|地址|地点|地方在|窗口"
        ),
    ),
    (
        "eligibility",
        re.compile(
            r"(?<!看病)(?<!医疗)(?<!居住)(?<!生活)(?<!硬件)(?<!卫生)(?<!办学)(?<!住房)条件(?!(太|很|比较|挺|不)?(差|好|简陋|落后|有限))|资格|谁能|谁可以|符合|够不够|能不能(申请|享受|领)|我(能|可以)(申请|办|享受)吗|有没有份"
        ),
    ),
)


def aspect_of(question: str) -> str | None:
    """The catalogue field a follow-up asks about (材料 → how_to_apply), or None."""
    found = [aspect for aspect, cue in _ASPECT_CUES if cue.search(question)]
    if found[:2] == ["materials", "how_to_apply"]:  # 咋申请，要准备啥材料: the steps, which list the materials too
        return "how_to_apply"
    bare_apply = all(m.group() == "申请" for m in _ASPECT_CUES[2][1].finditer(question))
    if found[:1] == ["how_to_apply"] and "eligibility" in found and bare_apply:
        return "eligibility"  # 申请低保要什么条件: 申请 names the act, 条件 asks who qualifies
    return found[0] if found else None


# Words that point at "the matter" without naming it (这事归哪个部门管, 在哪办呀): no topic left to search.
_POINTER_FILLER = re.compile(
    r"这件?事情?|那件?事情?|这一?(节|部分|章|块|段|条|项)|这个|那个|这块|这种|这样|那样|事情?|问题|情况|业务|请问|我想问|想问|问一下|一下|到底|究竟|"
    r"麻烦|帮忙|谢谢|多谢|整理|梳理|理一理|需要|需|应该|该|归|由|管|是|的|了|呢|吗|嘛|啊|呀|吧|我|帮|请|您|你|要|去|来|找|办|弄|理|部门|单位|机构|什么|啥|哪|那|这|个|些|[\s\W_]"
)


def names_no_topic(question: str) -> bool:
    """True when, after the generic cue words, nothing is left that could name a topic."""
    rest = question
    for cue in (AGENCY_CUE, *(c for _, c in _ASPECT_CUES)):
        rest = cue.sub("", rest)
    return not _POINTER_FILLER.sub("", rest)


# The plan's whole sentence wanted, not the part the question is about.
WHOLE_QUOTE_CUE = re.compile(
    r"原文|原话|原句|全文|完整|整句|哪一?条|哪一?句|怎么(写|表述|说|讲)|如何(表述|规定)|说了(什么|啥)|一字不差|逐字"
)

# How far a figure must still move (还差多少, 一共要增加多少): the indicator reply adds target minus base.
GAP_CUE = re.compile(r"(增加|提高|提升|增长|多|涨|差|缺|补)(了|上)?(多少|几)|还(差|缺|要|需要?)(多少|几)|差距|差额")

# When the plan wants something done (啥时候全覆盖, 哪年建成): a plan sentence with its year, not a service card.
WHEN_CUE = re.compile(r"(什么|啥|哪个)时(候|间)|何时|哪一?年|几时|到哪年|多久(能|会|可以)?")
# How something is to be done (社区服务企业要怎么发展): the plan's measures, which follow what they are about.
ASKS_HOW = re.compile(r"(怎么|如何|怎样|咋)(发展|做|推进|建|搞|抓|落实|支持|培育|开展)")
# What state the plan aims at by its end (到2025年要做到啥程度, 建成什么样): the plan sentence with its year too.
GOAL_CUE = re.compile(
    r"到20[2-3][0-9]年?(底|前)?.{0,10}(做到|达到|实现|建成|发展到|搞到|什么|啥|怎样|怎么样|哪一步)"
    r"|(做到|达到|搞到|建成|发展到|实现)(什么|啥|怎样|哪一步|哪种)(程度|水平|样子?|地步|效果)?"
    r"|(什么|啥)(程度|水平|样子|效果)|目标是(什么|啥)|要实现(什么|啥)"
    r"|(?i:\b(achieve|accomplish|aims?\s+(for|at|to)|goal|by\s+(the\s+end\s+of\s+)?20[2-3][0-9])\b)"
)

# Several items wanted: 有哪几种 / 都有哪些 / 哪几个.
LIST_CUE = re.compile(
    r"有哪(几|些)(种|类|项|个|样)?|哪几(种|类|项|个|样)|是哪[两二三四五六七八九十]|都有(哪些|什么|啥)(?!用|作用|意思|区别|好处)|分别|列一下|列出"
)
# Several items wanted, more loosely (建哪些设施, 哪几个方面): used to prefer a plan sentence that enumerates.
ENUM_CUE = re.compile(LIST_CUE.pattern + r"|哪些|哪几|几(种|类|项|样|个方面)|哪(几|些)个?方面")
# Every row of a table wanted: 专栏2有哪几个行动, 专栏1一共几个指标.
BOX_LIST_CUE = re.compile(
    r"专栏\s*([0-9]+|[一二三四五六七八九])(?=.{0,12}(哪(几|些)|几(个|项)|多少(个|项)|列|都有|所有|全部|每(个|项)))"
    r"|专栏\s*([0-9]+|[一二三四五六七八九])(?=的?(标题|名称|题目|主题|内容)?(是|叫|讲)的?(是)?(什么|啥|哪些))"  # 专栏2讲的是什么
    # the ask said first: 列一下专栏2的行动, list the actions in 专栏2, how many indicators are in 专栏1
    r"|(?:列(?:一下|出)|(?i:\blist\b|\bhow many\b|\bwhich \w+s\b|\bwhat are\b))[^，,。？?；;]{0,30}?专栏\s*([0-9]+|[一二三四五六七八九])"
    r"|专栏\s*([0-9]+|[一二三四五六七八九])(?=\s*(?i:includes?|contains?|consists?|covers?|have|has)\b)"  # 专栏1 include
)


def box_number(question: str) -> str | None:
    """The 专栏 whose rows (有哪几项) or title (讲的是什么) a question asks for, as written (2, 二), or None."""
    m = BOX_LIST_CUE.search(question)
    return (m.group(1) or m.group(7) or m.group(12) or m.group(13)) if m else None


_NUM = r"([0-9]+|[一二三四五六七八九十])"
# One row of a table by its place (专栏2第一项行动叫什么), or the row a thing belongs to (属于专栏2哪项行动).
_BOX_ROW = re.compile(rf"专栏\s*{_NUM}\s*(?:里|中|的|里面|当中)?\s*(?:的)?第\s*{_NUM}\s*(?:项|个|条|行)")
_BOX_WHICH = re.compile(
    rf"专栏\s*{_NUM}\s*(?:里|中|的|里面|当中)?\s*(?:的)?(?:哪一?(?:项|个|条)|什么)|(?:属于|归|算|是)(?:哪一?(?:项|个)|什么)行动"
)


# An indicator named by its number alone (指标7, 第7项指标, 专栏1 #3): a row of 专栏1, the table of indicators.
_INDICATOR_ROW = re.compile(
    rf"专栏\s*(1|一)\s*#\s*{_NUM}|指标\s*#?\s*([1-8])(?![0-9.%％])|第\s*{_NUM}\s*(?:项|个)\s*指标"
)


def box_row(question: str) -> tuple[str, int] | None:
    """The 专栏 and the 1-based row a question points at by place (专栏2第三项 → ("2", 3), 指标7 → ("1", 7)), or
    None."""
    m = _BOX_ROW.search(question)
    if m:
        box, n = m.group(1), m.group(2)
    else:
        m = _INDICATOR_ROW.search(question)
        if not m:
            return None
        box, n = "1", next(g for g in m.groups()[1:] if g)
    return box, int(n) if n.isdigit() else "一二三四五六七八九十".index(n) + 1


def box_which(question: str) -> str | None:
    """The 专栏 a question asks one row of by its content (社工站建设属于专栏2里哪项行动), "" when it names no
    专栏 (属于哪项行动), None when it asks no such thing."""
    m = _BOX_WHICH.search(question)
    if not m or box_row(question) is not None or BOX_LIST_CUE.search(question):
        return None
    return m.group(1) or ""


# Someone who wants to give a house, money or goods to the community: a donor, whatever service the gift is for.
DONOR_CUE = re.compile(r"(想|要|打算|准备|愿意)(把[^，。？?]{0,10})?捐(给|赠|出|献)|捐(房|钱|款|物)")
# Someone who wants to run or fund a service (opening a childcare centre, donating a station), not use it.
OPERATOR_CUE = re.compile(
    r"我(们)?(几个人?|几个朋友|俩|两口子|夫妻俩|自己)?(也|又|还)?(想|要|打算|准备|计划)(在|给|为|向|把)?.{0,8}?(开办|兴办|创办|举办|成立|牵头|捐|投资|运营|开(一|个|家).{0,8}(店|机构|中心|园|所|站|馆|公司|企业|食堂|超市)|开(进|到)|入驻|进驻)|"
    r"我们(企业|公司|单位|机构)|我是(做|开|搞|经营).{1,6}的.{0,12}(店|生意|公司|机构|企业|进社区|开进|入驻|扶持)|社会力量|民办|private|operator"
    r"|(物业|公司|企业|机构)[^，。？?]{0,4}(想|要|打算|准备)?进(入)?社区(做|搞|整|开|办|干)|(搞|做|开|办)连锁|连锁经营",
    re.IGNORECASE,
)
# Words that only ask (or join parts), carrying no topic of their own.
_PART_FILLER = re.compile(
    r"(20[0-9]{2})年?|又|分别|呢|是多少|多少|几|是|啥|什么|怎么样|目标值?|基期值?|属性|还有|负责|落实|推进|推动|实施|执行|做|搞|弄|报名|办理|查|看"
)

# Where a message holds a second question: a joining word after a pause, or a question mark.
_JOINERS = re.compile(
    r"(?:(?<=[\u4e00-\u9fff])(?:还有就是|顺便问一?下|另外问一?下))"
    r"|(?<=[吗呢嘛])还有|(?<=[办去有能行要来用]不)还有"  # 医保能在社区办不还有…: a question ended unpunctuated
    r"|(?:^|(?<=[，,。；;？?！!\s]))(?:另外问一?下|另外|顺便问一?下|顺带问一?下|顺便|顺带|此外|还有就是|还有|还想问一?下|还想问|再问一?下|再就是|再一个就是|再一个|然后就是|然后|对了|以及)[，,：:\s]*"
)
# A joiner that announces a second question outright: what follows is a part of its own even without a question word,
# and what went before was one too, even said as a wish (老人想去助餐点吃饭，顺便问下…).
_NEXT_QUESTION = re.compile(
    r"[，,。；;\s]*(?:另一个(?:问题|事)?是|另一件事是|第二个?(?:问题)?是)[，,：:\s]*|[，,。；;\s]+二是[，,：:\s]*"
    r"|[，,。；;？?！!\s]+(?:另外|顺便|顺带|再|还想)问一?下?[，,：:\s]*"
    r"|(?<=[吗呢？?])二是?(?=[\u4e00-\u9fff])"  # …有卫生服务中心吗二慢性病…: a second question numbered 二
)
_FIRST_OF = re.compile(r"(?:^|(?<=[，,。；;：:\s]))(?:一个是|一是|第一个?(?:问题)?是)")
_ENDS = re.compile(r"[？?！!；;。]+")
_BACKREF_COMMA = re.compile(r"[，,]\s*(?=(这块|这事|这件事|这个|这方面|那|它)[^，,]{0,12}$)")
_ASKS = re.compile(
    r"吗|嗎|呢|么|多少|多大|多长|多久|多高|多远|几|哪|什么|啥|咋|怎么|怎样|如何|能否|可否|谁|是否|有没有|有冇|能不能|可不可以|可以.{0,6}[吗不]|要不要|\?|？|\x02"
    r"|(?:是|算|属于?)[^，,。？?]{1,12}还是"  # a choice (算约束性还是预期性) asks too
    r"|([^\W是会\d])[不没]\1"  # and so does 给不给 / 收不收 (是不是, 会不会 often only lead into the question)
    r"|(?<=[\u4e00-\u9fff])(?:得|要得|行)不(?=$|[，,。？?！!\s])"  # 看得不 / 要得不 (Sichuanese: 能看吗)
    r"|(?:能|可以)[^，,。？?]{0,10}[\u4e00-\u9fff]不(?=$|[，,。？?！!\s])"  # 医保能在社区办不 (northern: 能办吗)
    r"|(?i:\b(?:how|what|which|who|when|where|why)\b)"  # an English part asks too (its ? is cut off)
)


def _asking_clauses(piece: str, names_topic) -> list[str]:
    """A piece cut at the commas where a second question starts: a clause that asks and names a topic of its own
    (“社工师现在平均几个，社工站什么时候全覆盖”) after a part that already asked about another."""
    out: list[str] = []
    seps = _CLAUSE_SEP.split(piece)  # a spoken pause (voice input: 谁主导的 村规民约…) parts clauses as a comma does
    for clause, sep in zip(seps[::2], ["，", *seps[1::2]], strict=True):
        if (
            out
            and _ASKS.search(out[-1])
            and _ASKS.search(clause)
            and len(_CJK_RUN.findall(_ASKS.sub("", clause))) >= 4
            and (  # 需要什么条件 asks an aspect of the clause before: no question of its own
                names_topic(cue_free(clause))
                or (INDICATOR_CUE.search(clause) and names_topic(clause))  # 每百户设施面积多少: an indicator of its own
            )
            and has_topic(clause)  # nor does 覆盖率指标多少, a figure
            and names_topic(out[-1])
        ):
            out.append(clause)
        elif out and _ASKS.search(out[-1]) and _another_aspect(clause, out[-1]):
            out.append(clause)  # 在哪报名，需要什么条件: a second aspect of the same subject, a follow-up part
        elif out:
            out[-1] = f"{out[-1]}{'，' if sep in '，,' else sep}{clause}"
        else:
            out.append(clause)
    return out


_CLAUSE_SEP = re.compile(r"([，,]|(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff]))")


_CJK_RUN = re.compile(r"[\u4e00-\u9fff]")
_ASKED = "\x02"  # marks a piece that ended in a question mark (the mark itself is cut off with the piece)
_QUESTION_MARK = re.compile(r"(?<=[^？?\s])\s*(?=[？?])")


def _another_aspect(clause: str, before: str) -> bool:
    """Whether a clause only asks another aspect (材料, 条件, 在哪) than the clause before, naming no topic."""
    aspect = aspect_of(clause)
    return aspect is not None and aspect != aspect_of(before) and _ASKS.search(clause) and not has_topic(clause)


def cue_free(text: str) -> str:
    """The text without the cue words of an aspect, an agency or a figure (条件, 哪个部门, 多少): what names a topic."""
    for cue in (AGENCY_CUE, INDICATOR_CUE, *(c for _, c in _ASPECT_CUES)):
        text = cue.sub("", text)
    return text


_BOTH = re.compile(r"这(两|几)(件事情?|个|样|项|方面)都?|(两|几)件事情?都?|分别|各自")


def _shared_ask(piece: str, names_topic) -> list[str] | None:
    """“A，B，这两件事分别怎么办”: one question per subject, each with the shared asking end; None otherwise."""
    clauses = [c for c in re.split(r"[，,]", piece) if c.strip()]
    for i, clause in enumerate(clauses[2:], 2):
        if _BOTH.search(clause) and not names_topic(_BOTH.sub("", clause)):
            subjects = clauses[:i]
            if all(names_topic(c) for c in subjects):
                tail = "，".join([_BOTH.sub("", clause).strip(" ，,")] + clauses[i + 1 :])
                return [f"{c}，{tail}" for c in subjects]
            return None
    return None


_EACH = re.compile(r"(分别|各自)(?=.{0,4}(归|由|找|是|在|怎么|哪|谁|多少|几|有))|都(?=有(吗|嗎|没有|冇|不|嘛|么))")


def _joined_subjects(piece: str, names_topic) -> list[str] | None:
    """“老年助餐和儿童之家分别归哪个部门”, “养老和托幼都有吗”: one question per subject joined by 和/与/、, each
    with the shared ask."""
    m = _EACH.search(piece)
    if not m or "，" in piece[: m.start()] or "," in piece[: m.start()]:
        return None
    subjects = [x.strip() for x in re.split(r"和|与|跟|以及|及|、", piece[: m.start()]) if x.strip()]
    if len(subjects) < 2 or not all(names_topic(x) for x in subjects):
        return None
    tail = piece[m.end() :].strip()
    return [f"{x}{tail}" for x in subjects]


def split_parts(question: str, max_parts: int = 3, names_topic=None) -> list[str]:
    """The questions a message asks, in order; a clause that asks nothing stays with its neighbour.

    With ``names_topic`` (does a clause name something the knowledge base knows) a message is also cut at a comma
    where a second question about another topic starts."""
    text = _JOINERS.sub("\x00\x03", _NEXT_QUESTION.sub("\x00\x01", _FIRST_OF.sub("", numbered(question))))
    text = _QUESTION_MARK.sub(_ASKED, text)  # 医保能在村里办不？: the mark says it asks, whatever the words
    pieces: list[str] = []
    for chunk in text.split("\x00"):
        for piece in _ENDS.split(chunk):
            for sub in _BACKREF_COMMA.split(piece):
                shared = (
                    (_shared_ask(sub, names_topic) or _joined_subjects(sub, names_topic))
                    if names_topic and sub
                    else None
                )
                if shared:
                    pieces.extend("\x01" + p for p in shared)  # each a question of its own
                    continue
                if names_topic and sub:  # the mark asks for the whole piece, not for its last comma clause
                    clauses = _asking_clauses(sub.replace(_ASKED, ""), names_topic)
                    pieces.extend(clauses[:-1] + [clauses[-1] + _ASKED * (_ASKED in sub)])
                else:
                    pieces.append(sub)
    pieces = [
        p.strip(" ，,")
        for p in pieces
        if p
        and p.strip(" ，,\x02\x03")
        and p.strip("\x02\x03") not in ("这块", "这事", "这件事", "这个", "这方面", "那", "它")
    ]
    parts: list[str] = []
    for p in pieces:
        joined, p = "\x03" in p[:2], p.replace("\x03", "").strip(" ，,")
        if p.startswith("\x01"):
            parts.append(p[1:].strip(" ，,"))
        elif parts and not _ASKS.search(p):
            parts[-1] = f"{parts[-1]}，{p}"
        elif parts and not _ASKS.search(parts[-1]) and not (joined and _wish(parts[-1], p, names_topic or has_topic)):
            parts[-1] = f"{parts[-1]}，{p}"
        elif parts and _lead_in_only(parts[-1]) and _figure_only(p, names_topic or has_topic):
            parts[-1] = f"{parts[-1]}，{p}"  # 社区是不是都有托育了？覆盖率写的多少: the figure of that, one question
        else:
            parts.append(p)
    parts = [p.replace(_ASKED, "").strip(" ，,") for p in parts]
    if len(parts) > max_parts:
        parts = parts[: max_parts - 1] + ["，".join(parts[max_parts - 1 :])]
    return parts or [question]


_WISH = re.compile(r"想|打算|准备|需要|希望|要给|得给")


def _wish(piece: str, after: str, names_topic) -> bool:
    """A story told as a wish about a topic (孩子想送托育), then 另外 and a question about another: the wish asks
    too. Before a bare aspect (另外在哪办) it only names the subject asked about."""
    return bool(_WISH.search(piece)) and names_topic(piece.replace(_ASKED, "")) and has_topic(after)


def _lead_in_only(piece: str) -> bool:
    """A piece that asks by its question mark alone (是不是都有托育了？): it may only lead into what is asked next."""
    return piece.endswith(_ASKED) and not _ASKS.search(piece.replace(_ASKED, ""))


def _figure_only(piece: str, names_topic) -> bool:
    """A piece asking only a figure (规划里这个覆盖率写的多少), naming no subject of its own."""
    return bool(INDICATOR_CUE.search(piece)) and not names_topic(cue_free(piece).replace(_ASKED, ""))


def has_topic(question: str) -> bool:
    """False for a part that only asks (“2025年目标又是多少”, “这事归哪些部门管”, “谁负责推”: one verb left is no
    subject): it refers to the previous part."""
    rest = _PART_FILLER.sub("", INDICATOR_CUE.sub("", AGENCY_CUE.sub("", _PURPOSE.sub("", question))))
    for cue in (AGENCY_CUE, *(c for _, c in _ASPECT_CUES)):
        rest = cue.sub("", rest)
    rest = _WHO_ASKS.sub("", rest)  # 他们俩算不算, 我家这种情况行不行: people and a yes/no ask name nothing
    return len(_MEANINGFUL.findall(_POINTER_FILLER.sub("", rest))) >= 2


# Why the resident asks, said last (…，我好去问问 / 方便我打电话问): no subject either.
_PURPOSE = re.compile(r"[，,]\s*(?:我|咱|俺)?(?:也)?(?:好|方便|以便|便于)[^，,]{0,14}$")
# The people or place a follow-up is about and its yes/no ask (他们俩 / 我家 … 算不算 / 村里也有吗): no subject of its own.
_WHO_ASKS = re.compile(
    r"(他|她|它)们?|咱们?|俺们?|我们|我家|家里人|人家|俩|两个|自己|([^\W\d])[不没]\2|(符合|够格|算数|可以)(不|吗|么)?|行(吗|么)"
    r"|(村|社区|小区|镇|乡|街道|城里|农村)(里|上|里面|这边)?(?=也|还)|[也还](会|能)?有"  # 那我们村里也会有吗
)


def focus(part: str, names_topic=has_topic, long_chars: int = 60) -> str:
    """The asking end of a long, rambling message: its last clauses, back to the first one that names a topic.

    Residents tell their story first and ask last (“…孩子一岁半，老人身体不好来不了…想问问社区附近有没有托育？”);
    searching the whole story lets its side details (老人) outrank what is asked."""
    if len(part) <= long_chars:
        return part
    clauses = [c for c in re.split(r"[，,；;：:、]", part) if c.strip()]
    picked: list[str] = []
    for clause in reversed(clauses):
        picked.insert(0, clause.strip())
        if names_topic("，".join(picked)) and _ASKS.search("，".join(picked)):
            break
    return "，".join(picked)
