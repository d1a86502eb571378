"""The REST channel announces a resident's question to the action server (``POST /prepare``) without waiting,
and Rasa calls the action server over a kept-alive connection (``rasa_addons.endpoint_session``).

Real Rasa with the project's REST channel: the session's shared stack, whose action endpoint is a loopback relay
standing in for the action server's front (:class:`tests.action_relay.ActionRelay`). Here the relay holds each
``/prepare`` open until the reply has arrived (the shared stack's announcement timeout is raised to 20 s, so a turn
that waited for it would show).
"""

from __future__ import annotations

import time

import pytest

from rasa_addons.endpoint_session import KEEPALIVE_SECONDS
from tests.stack import PREFETCH_HOLD_SECONDS as HOLD_SECONDS
from tests.stack import unique_sender


@pytest.fixture
def relayed(shared_stack):
    """(stack, relay); the relay forwards again and no longer holds once the test is over."""
    relay = shared_stack.relay
    try:
        yield shared_stack.stack, relay
    finally:
        relay.mode = "forward"
        relay.release.set()


def test_the_rest_channel_announces_the_question_and_replies_without_waiting(relayed):
    stack, relay = relayed
    relay.prepares.clear()
    relay.hold()
    question = "孩子放学后没人管，社区有托管服务吗"
    sender = unique_sender("prefetch")
    started = time.monotonic()
    replies = stack.rest(sender, question)
    elapsed = time.monotonic() - started
    held = not relay.release.is_set()
    relay.release.set()
    assert replies and replies[0]["text"].strip()
    assert held and elapsed < HOLD_SECONDS / 2  # the reply came while the announcement was still held open
    assert [p["body"] for p in relay.prepares] == [{"text": question}]
    assert relay.prepares[0]["auth"] == f"Bearer {stack.action_token}"  # endpoints.yml's own header
    calls = [w["at"] for w in relay.webhooks if w["sender_id"] == stack.rest_id(sender)]
    assert calls and relay.prepares[0]["at"] < calls[0]  # announced before Rasa called the turn's first action


def test_button_payloads_are_not_announced_and_a_failing_prepare_does_not_touch_the_turn(relayed):
    stack, relay = relayed
    relay.prepares.clear()
    relay.release.set()
    assert stack.rest(unique_sender("button"), "/greet")
    time.sleep(0.3)
    assert not relay.prepares
    relay.mode = "drop"
    try:
        replies = stack.rest(unique_sender("drop"), "失业了去哪里登记")
        assert replies and replies[0]["text"].strip()
        deadline = time.monotonic() + 10
        while not relay.prepares and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [p["body"]["text"] for p in relay.prepares][:1] == ["失业了去哪里登记"]
        replies = stack.rest(unique_sender("drop"), "老年食堂在哪里")  # the announcer recovered from the drop
        assert replies and replies[0]["text"].strip()
    finally:
        relay.mode = "forward"


def test_rasa_calls_the_action_server_over_one_kept_alive_connection(relayed):
    stack, relay = relayed
    time.sleep(KEEPALIVE_SECONDS + 0.5)  # the earlier tests' connection has been let go
    relay.webhooks.clear()  # this worker's stack serves only this test now
    sender = unique_sender("keepalive")
    for text in ("在社区能办医保吗", "失业了去哪里登记", "老年食堂在哪里"):
        replies = stack.rest(sender, text)
        assert replies and replies[0]["text"].strip()
    ports = [w["port"] for w in relay.webhooks]
    assert len(ports) >= 3 and len(set(ports)) == 1  # stock Rasa: a new connection per call
    time.sleep(KEEPALIVE_SECONDS + 0.5)  # idle: Rasa drops it before the server would
    replies = stack.rest(sender, "普惠托育有什么条件")
    assert replies and replies[0]["text"].strip()
    assert relay.webhooks[-1]["port"] != ports[0]
