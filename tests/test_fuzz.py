"""Hostile input never breaks the assistant: library entry points in-process, then the running webhooks.

A short CI version of ``bench/fuzz_webhook.py`` (which sends the full 10 000 requests). Every reply is
either a normal answer or a polite Chinese refusal; never a 5xx, never a traceback.
"""

from __future__ import annotations

import re
import tempfile

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bench.fuzz_webhook import INJECTIONS, TRACEBACK, check_response, generate, hostile_text, strategies, wrong_type
from bot.errors import UserFacingError
from tests.stack import unique_sender

#: The same strategies as bench/fuzz_webhook.py, messages up to 20 000 repeated pieces: the channels refuse
#: anything over 2 000 characters before NLU (DIET attention is quadratic in tokens; docs/production.md).
CI_STRATEGIES = strategies()
HAN = re.compile(r"[\u4e00-\u9fff]")
CONTROL = re.compile(r"[\u0000-\u0008\u000b-\u001f\u007f]")
FAST = settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)


def _polite(e: UserFacingError) -> None:
    assert isinstance(e.message, str) and HAN.search(e.message), f"not a Chinese message: {e.message!r}"
    assert not TRACEBACK.search(e.message)


# ---- library entry points, in-process ----------------------------------------------------------------


@pytest.fixture(scope="module")
def service():
    from bot.consultations import ConsultationService

    with tempfile.TemporaryDirectory(prefix="linli-fuzz-") as tmp:
        yield ConsultationService(f"sqlite:///{tmp}/fuzz.db", use_embedding=False)


@FAST
@given(q=st.one_of(hostile_text, wrong_type))
def test_ask_answers_or_refuses_politely(assistant, q):
    from bot.retrieval.answers import KINDS

    try:
        a = assistant.ask(q)
    except UserFacingError as e:
        _polite(e)
        return
    assert a.kind in KINDS
    assert isinstance(a.answer, str) and HAN.search(a.answer)
    assert not TRACEBACK.search(a.answer)
    assert "<script" not in a.answer.lower() and "{{" not in a.answer  # never echoes markup into an answer


@FAST
@given(
    text=st.one_of(hostile_text, wrong_type),
    community=st.one_of(st.sampled_from(["xingfu", None, "", "幸福社区"]), hostile_text),
)
def test_route_picks_a_committee_of_the_community_or_refuses(service, text, community):
    try:
        r = service.route(text, community)
    except UserFacingError as e:
        _polite(e)
        return
    known = {c.id: c for c in service.directory.communities()}
    assert r.community.id in known
    assert r.committee.id in {k.id for k in known[r.community.id].committees}
    if r.category is None:  # unroutable text goes to the community's fallback committee, flagged
        assert r.flagged_unroutable and r.committee.fallback


_submitted: dict[str, str] = {}  # client message id → tracking number, across examples


@FAST
@given(
    text=st.one_of(hostile_text, wrong_type, st.sampled_from(INJECTIONS)),
    sender=st.one_of(st.from_regex(r"fz-[a-z0-9]{1,8}", fullmatch=True), hostile_text, wrong_type),
    name=st.one_of(st.none(), hostile_text, wrong_type),
    phone=st.one_of(
        st.none(),
        st.sampled_from(["13800138000", "+86 138-0013-8000", "010-12345678", "110"]),
        hostile_text,
        wrong_type,
    ),
    consent=st.one_of(st.booleans(), wrong_type),
    msg=st.integers(0, 10**9),
)
def test_submit_stores_clean_rows_once_or_refuses(service, text, sender, name, phone, consent, msg):
    from bot.consultations import models as m

    try:
        rec = service.submit(
            "rest", sender, f"m{msg}", "xingfu", text, contact_name=name, contact_phone=phone, consent=consent
        )
    except UserFacingError as e:
        _polite(e)
        return
    assert not CONTROL.search(rec.text) and rec.text.strip()
    if consent is not True:
        assert rec.contact_name is None and rec.contact_phone is None
    again = service.submit(
        "rest", sender, f"m{msg}", "xingfu", text, contact_name=name, contact_phone=phone, consent=consent
    )
    assert again.tracking_no == rec.tracking_no and not again.created
    with service.Session() as s:
        n = s.scalar(
            select(func.count()).select_from(m.Consultation).where(m.Consultation.tracking_no == rec.tracking_no)
        )
    assert n == 1
    _submitted[rec.tracking_no] = rec.tracking_no


def test_every_accepted_submission_is_one_row(service):
    from bot.consultations import models as m

    with service.Session() as s:
        numbers = s.scalars(select(m.Consultation.tracking_no)).all()
    assert len(numbers) == len(set(numbers))
    assert set(_submitted) <= set(numbers)


# ---- the running webhooks (the session's shared stack: tests/conftest.py) --------------------------------


def _post_all(url: str, bodies: list, headers: dict | None = None) -> list[str]:
    problems = []
    with httpx.Client(timeout=120) as c:
        for body, ct in bodies:
            r = c.post(url, content=body, headers={**({"content-type": ct} if ct else {}), **(headers or {})})
            p = check_response(r.status_code, r.content)
            if p:
                problems.append(f"{body[:100]!r} → {p}")
    return problems


@pytest.mark.e2e
def test_rest_webhook_survives_hostile_requests(stack):
    problems = _post_all(f"{stack.rasa_url}/webhooks/rest/webhook", generate(CI_STRATEGIES["rest_body"], 260, seed=7))
    assert not problems, "\n".join(problems[:10])
    # and still serves residents afterwards
    replies = stack.rest(unique_sender("fz-after"), "你好")
    assert replies and any(HAN.search(m.get("text", "")) for m in replies)


@pytest.mark.e2e
def test_long_message_gets_a_polite_reply(stack):
    replies = stack.rest(unique_sender("fz-long"), "小区电梯坏了，" * 1500)  # 10 500 characters
    assert replies and HAN.search(" ".join(m.get("text") or "" for m in replies)), replies


@pytest.mark.e2e
def test_telegram_webhook_survives_hostile_updates(stack, shared_stack):
    problems = _post_all(
        f"{stack.rasa_url}/webhooks/telegram/webhook",
        generate(CI_STRATEGIES["telegram_body"], 40, seed=8),
        headers={"X-Telegram-Bot-Api-Secret-Token": shared_stack.telegram_secret},
    )
    assert not problems, "\n".join(problems[:10])


@pytest.mark.e2e
def test_webchat_endpoints_survive_hostile_requests(stack):
    """The page's webhook and its push mailbox take the REST body shape: the same hostile bodies, 0 5xx."""
    bodies = generate(CI_STRATEGIES["rest_body"], 80, seed=9)
    problems = _post_all(f"{stack.rasa_url}/webhooks/webchat/webhook", bodies[:60])
    problems += _post_all(f"{stack.rasa_url}/webhooks/webchat/updates", bodies[60:])
    assert not problems, "\n".join(problems[:10])
