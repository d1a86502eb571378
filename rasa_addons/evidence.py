"""What a message must contain before a transactional intent may act on it (stdlib only, no Rasa).

DIET labels "拜拜之前再问一下，老人补贴怎么领" as goodbye, "和邻居有纠纷怎么办" as withdrawal and a typed
name at "您同意吗？" as affirm. A transactional intent changes the conversation (ends it, starts a form,
looks up or withdraws a consultation, records consent), so it needs evidence in the words themselves:

- check_consultation_status: a tracking number, or an explicit progress question that is not a
  "how long does it take" question;
- withdraw_consultation: an explicit withdrawal verb, and a tracking number unless the message is
  plainly about the resident's own submission (never a question about disputes or rules);
- goodbye / greet / thanks: the whole message is the farewell (greeting, thanks), nothing else asked;
- start_consultation: an explicit request phrase ("我要反映…", "发起议事协商") and no question about the plan;
- affirm / deny: the whole message is explicit yes/no words (同意, 可以, 好的, 是的, 确认, 不同意 …);
- ask_consultation_process (answered mid-form, leaving the field unfilled): words that ask, so a bare phone number
  typed at "请留手机号" is the phone.

Button payloads ("/affirm") never reach the NLU pipeline, so a button is always evidence.
The tracking-number pattern is the one both environments share (linli_common/tracking.py).
"""

from __future__ import annotations

import re
import unicodedata

from linli_common.tracking import IN_TEXT as TRACKING_NUMBER  # YS-YYYYMMDD-NNNN, anywhere, any case

# 几 asks (几天能办好), but 好几天 / 十几个 / 这几天 only say how many: "路灯坏了好几天" describes a matter
_SOME = r"(?<![好十这前头])"
_QUESTION = re.compile(
    rf"[?？]|吗|呢|怎么|怎样|如何|哪|什么|谁|多少|{_SOME}几[个天点号种项]|能不能|可不可以|是否|请问|有没有|咋"
)
_HOW_LONG = re.compile(
    rf"多久|多长时间|多少天|{_SOME}几天|{_SOME}几个?小时|{_SOME}几个工作日|什么时候|啥时候|多快|要等|得等|一般要|需要多|时限|期限"
)
_STATUS = re.compile(
    r"进度|进展|状态|到哪|哪一步|结果|回音|回复了|答复了|怎么样了|怎样了|咋样了|处理(了|得|好|没|完)|"
    r"有人(管|处理|理|办)|解决(了|没)|办(得|好|完|了)|受理编号|编号|查(一下|下|查)?(我的|我)"
)
_WITHDRAW = re.compile(r"撤回|撤销|撤掉|撤了|不反映了|不用办了|不要了|不用处理了|不需要处理了|取消(之前|上次|我)")
_OWN_ITEM = re.compile(
    r"帮我撤|解决了|我的|我提交|我反映|我提的|我那个|之前|上次|刚才|诉求|协商|议事|申请|事项|反映|提交的|那个事|这个事|那条|这条"
)
_LEGAL_OR_QUESTION = re.compile(r"纠纷|诉讼|起诉|官司|法院|律师|仲裁|调解|规定|流程|[?？]|吗|怎么|如何|能不能|可以.*吗")
_START = re.compile(
    r"发起|反映|投诉|诉求|建议|意见|提议|议案|提交|登记|报给|商量|协商|想让|希望|要求|想找|找.{0,4}(居委会|业委会|村委会|物业|社区)|帮我.{0,6}(报|提|找)"
)
_PLAN_QUESTION = re.compile(
    r"哪些|哪几|哪个部门|哪个单位|什么是|是什么|是啥|谁负责|由谁|负责|多少|规划|条款|第.{1,3}[条章节部分]|"
    r"原文|章节|部门|机构|单位|怎么(发起|申请|办|弄|提)|如何|流程|步骤"
)
_FAREWELL = re.compile(
    r"再见|拜拜|拜|bye|88|886|回见|回头见|再会|晚安|明天见|下次|下回|改天|先这样|到这|走了|下了|下线|不聊了|"
    r"就这些|没别的|没事了|问这些|告辞|先撤"
)
_YES_WORDS = (
    "确认提交",
    "我同意",
    "我愿意",
    "就是这个",
    "就这样",
    "是这样",
    "没问题",
    "没错",
    "当然",
    "同意",
    "愿意",
    "确认",
    "确定",
    "提交",
    "可以",
    "好的",
    "是的",
    "对的",
    "行",
    "好",
    "对",
    "是",
    "嗯",
    "中",
    "ok",
    "okay",
    "yes",
    "yep",
    "yeah",
    "sure",
    "👌",
)
_NO_START = re.compile(r"^(我|先|暂时|还是)?(不|没|别|否|错了|no|nope|算了)")
_PARTICLES = "的吧呀啊啦滴了哈呢哦噢喔嘛咯喽"
_FIELD_WORDS = re.compile(r"社区|村|电话|手机|号码|名字|姓名|称呼|事项|内容|主题|匿名|联系")
_CORRECTION = re.compile(r"错|改|不对|不是这个|不是这|换|重新|修改|更正")
_FIELD_NEAR_CORRECTION = re.compile(
    rf"({_FIELD_WORDS.pattern}).{{0,4}}({_CORRECTION.pattern})|"
    rf"({_CORRECTION.pattern}).{{0,6}}({_FIELD_WORDS.pattern})"
)
_PROCESS_QUESTION = re.compile(
    rf"多久|多长时间|{_SOME}几天|{_SOME}几个工作日|什么时候|啥时候|要等|得等|会不会|有用吗|能看到|泄露|通知我|流程|[?？]"
)


def compact(text: str | None) -> str:
    """Lower-case text without whitespace, punctuation or symbols (emoji kept: 👌 means yes)."""
    out = []
    for ch in unicodedata.normalize("NFKC", text or "").lower():
        cat = unicodedata.category(ch)
        if cat[0] in "LN" or ch in "👌👍":
            out.append(ch)
    return "".join(out)


def has_tracking_number(text: str | None) -> bool:
    return bool(TRACKING_NUMBER.search(unicodedata.normalize("NFKC", text or "")))


def is_question(text: str | None) -> bool:
    """ "社区食堂怎么申请？" asks; "楼道里堆满了纸箱，物业不清理" describes a matter."""
    return bool(_QUESTION.search(text or ""))


def is_explicit_yes(text: str | None) -> bool:
    """The whole message is yes-words ("好的", "同意", "嗯，对", "可以的", "确认提交"): nothing else typed."""
    rest = compact(text)
    if not rest or len(rest) > 12:
        return False
    while rest:
        for word in _YES_WORDS:
            if rest.startswith(word):
                rest = rest[len(word) :].lstrip(_PARTICLES)
                break
        else:
            return False
    return True


def is_explicit_no(text: str | None) -> bool:
    """A short refusal ("不同意", "不用", "我不要", "不行啊"), not a sentence that merely contains 不."""
    core = compact(text)
    return bool(core) and len(core) <= 6 and bool(_NO_START.match(core)) and not _FIELD_WORDS.search(core)


def is_whole_farewell(text: str | None) -> bool:
    """ "拜拜", "好的再见", "今天就问到这" — not "拜拜之前再问一句，补贴怎么领"."""
    core = compact(text)
    return bool(core) and len(core) <= 10 and bool(_FAREWELL.search(core)) and not _QUESTION.search(text or "")


def is_only_small_talk(text: str | None) -> bool:
    """A greeting or thanks with nothing else asked ("你好，我想问点事" yes; "你好，医保在哪办" no)."""
    core = compact(text)
    return len(core) <= 10 and not (_QUESTION.search(text or "") and len(core) > 6)


def is_correction(text: str | None) -> bool:
    """ "社区选错了", "电话填错了", "社区不是这个": a form field and a word of correction, in a short message."""
    t = text or ""
    return len(compact(t)) <= 20 and bool(_FIELD_NEAR_CORRECTION.search(t))


def is_process_question(text: str | None) -> bool:
    """ "多久有人回复？" asks how things proceed; "小区的桶太少了" describes a matter."""
    return bool(_PROCESS_QUESTION.search(text or "")) and len(compact(text)) <= 30


def asks_about_the_process(text: str | None) -> bool:
    """ "多久有人回复？", "提交了以后怎么处理": words that ask; a bare phone number ("137-0000-5678") asks nothing."""
    t = text or ""
    return bool(_PROCESS_QUESTION.search(t) or _QUESTION.search(t) or _HOW_LONG.search(t))


def is_status_request(text: str | None) -> bool:
    if has_tracking_number(text):
        return True
    t = text or ""
    return bool(_STATUS.search(t)) and not _HOW_LONG.search(t)


def is_withdraw_request(text: str | None) -> bool:
    t = text or ""
    if not _WITHDRAW.search(t):
        return False
    if has_tracking_number(t):
        return True
    if _LEGAL_OR_QUESTION.search(t):
        return False
    return bool(_OWN_ITEM.search(t)) or len(compact(t)) <= 6


def is_start_request(text: str | None) -> bool:
    t = text or ""
    return bool(_START.search(t)) and not _PLAN_QUESTION.search(t)


_URGE = re.compile(r"催")
_UNSATISFIED = re.compile(r"不满意|没解决|没有解决|还没解决|没修好|没有修好|还没好|没弄好|还是老样子|没处理好")
_BASIC = re.compile(r"基本满意|还行|还可以|一般般?|凑合")
_SATISFIED = re.compile(r"满意|解决了|修好了|处理好了|办好了|挺好|很好|非常好")


def is_urge_request(text: str | None) -> bool:
    """ "催办 YS-…", "帮我催一下 YS-…": a 催 and a tracking number; "能催一下吗" without a number is not an urge."""
    t = text or ""
    return bool(_URGE.search(t)) and has_tracking_number(t)


def rating_of(text: str | None) -> str | None:
    """The follow-up (回访) answer in a short message: unsatisfied | basically_satisfied | satisfied, else None."""
    t = text or ""
    if not t.strip() or len(compact(t)) > 60 or is_question(t) and not _UNSATISFIED.search(t):
        return None
    if _UNSATISFIED.search(t):
        return "unsatisfied"
    if _BASIC.search(t):
        return "basically_satisfied"
    return "satisfied" if _SATISFIED.search(t) else None


#: intent → the check its text must pass; intents not listed need no evidence.
EVIDENCE = {
    "urge_consultation": is_urge_request,
    "check_consultation_status": is_status_request,
    "withdraw_consultation": is_withdraw_request,
    "goodbye": is_whole_farewell,
    "greet": is_only_small_talk,
    "thanks": is_only_small_talk,
    "start_consultation": is_start_request,
    "affirm": is_explicit_yes,
    "deny": is_explicit_no,
    "ask_consultation_process": asks_about_the_process,  # mid-form it is answered and the field stays unfilled
}
#: Where a demoted intent goes: the best-ranked of these (the assistant answers it), else nlu_fallback.
INFORMATIONAL = (
    "ask_consultation_process",
    "ask_service",
    "ask_eligibility",
    "ask_how_to_apply",
    "ask_where",
    "ask_agency",
    "ask_clause",
    "ask_indicator",
)
#: Intents DIET confuses with a correction ("社区选错了" read as deny): with correction words they become one.
CORRECTABLE = ("deny", "affirm", "inform", "nlu_fallback", "cancel")
CORRECTION_INTENT = "correct_form_field"
#: Yes/no, or a process question, without evidence is not a question: nlu_fallback (a form takes it as its answer
#: or re-asks).
TO_FALLBACK = ("affirm", "deny", "ask_consultation_process")


def lacks_evidence(intent: str | None, text: str | None) -> bool:
    check = EVIDENCE.get(intent or "")
    return check is not None and not check(text)
