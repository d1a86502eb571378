"""What every chat endpoint accepts (connectors/limits.py, connectors/config.py): pure rules, standard library only.

The same rules against the running Rasa server: tests/test_security.py (issue 11 section).
"""

from __future__ import annotations

import pytest

from connectors.config import ChannelLimits, RestKeysConfig
from connectors.limits import (
    InboundLimiter,
    body_too_large,
    log_safe,
    metadata_depth,
    metadata_problem,
    resident_text,
)

INTENTS = {"affirm", "inform", "greet", "EXTERNAL_consultation_status"}
ENTITIES = {"community", "tracking_number"}


@pytest.mark.parametrize(
    "text,allowed,expected",
    [
        ("/affirm", True, "/affirm"),
        ('/inform{"community":"xingfu"}', True, '/inform{"community":"xingfu"}'),
        ("/affirm", False, "affirm"),  # typed: never an intent
        (
            '/EXTERNAL_consultation_status{"tracking_number":"YS-20260101-0001"}',
            True,
            'EXTERNAL_consultation_status{"tracking_number":"YS-20260101-0001"}',
        ),  # pushes only through the inbox
        ("/13912345678 请回电", True, "13912345678 请回电"),  # not intent syntax: words, never a logged parse failure
        ("/phone13912345678", True, "phone13912345678"),  # unknown intent: Rasa would log the line
        ('/inform{"evil": 1}', True, 'inform{"evil": 1}'),  # unknown entity: the same
        ('/inform{"community": ', True, 'inform{"community":'),
        ("/inform[1]", True, "inform[1]"),
        ("/", True, "你好"),
        ("普通的问题", True, "普通的问题"),
    ],
)
def test_resident_text_allows_only_real_button_payloads(text, allowed, expected):
    assert resident_text(text, allowed, INTENTS, ENTITIES) == expected


def test_metadata_depth_is_counted_without_recursion():
    deep: dict = {}
    node = deep
    for _ in range(100_000):  # json.loads would not build this, but a caller's dict may be anything
        node["x"] = {}
        node = node["x"]
    assert metadata_depth(deep, 8) == 9  # stops counting past the cap
    assert metadata_problem(deep, 4096, 8)
    assert metadata_problem({"a": [1, {"b": 2}]}, 4096, 8) is None
    assert metadata_problem({"k": "好" * 2000}, 4096, 8)  # 6 KB of UTF-8
    assert metadata_problem(None, 4096, 8) is None


def test_body_cap_uses_the_declared_and_the_received_length():
    assert body_too_large({"content-length": "70000"}, b"", 65536)
    assert body_too_large({}, b"x" * 65537, 65536)
    assert not body_too_large({"content-length": "nonsense"}, b"{}", 65536)


def test_inbound_limiter_allows_a_burst_then_the_rate():
    now = [0.0]
    limiter = InboundLimiter(per_minute=60, burst=3, clock=lambda: now[0])
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b")  # its own bucket
    assert limiter.retry_after("a") == 1
    now[0] = 1.0  # one token per second
    assert limiter.allow("a") and not limiter.allow("a")


def test_inbound_limiter_forgets_the_oldest_keys():
    limiter = InboundLimiter(per_minute=1, burst=1, clock=lambda: 0.0, max_keys=2)
    for key in ("a", "b", "c"):
        assert limiter.allow(key)
    assert limiter.allow("a")  # forgotten, so a fresh bucket
    assert not limiter.allow("c")


def test_log_safe_keeps_a_value_on_one_line():
    assert log_safe("a\nb\r\nc\u2028d", 64) == "a\\nb\\r\\nc\\u2028d"
    assert len(log_safe("x" * 500, 16)) == 16


def test_rest_keys_map_to_integrators_and_refuse_weak_or_reserved_names(monkeypatch, tmp_path):
    key = "k" * 24
    monkeypatch.setenv("LINLI_REST_KEYS", f"acme:{key}")
    keys_file = tmp_path / "keys"
    keys_file.write_text(f"# integrators\ncity-hotline {'h' * 20}\n", encoding="utf-8")
    monkeypatch.setenv("LINLI_REST_KEYS_FILE", str(keys_file))
    keys = RestKeysConfig.load()
    assert keys.required and keys.integrator(key) == "acme" and keys.integrator("h" * 20) == "city-hotline"
    assert keys.integrator("") is None and keys.integrator(key + "x") is None
    assert key not in repr(keys)  # only digests are kept
    for bad in ("local:" + key, "Acme:" + key, "acme:short", "x y:" + key, ":" + key):
        monkeypatch.setenv("LINLI_REST_KEYS", bad)
        monkeypatch.delenv("LINLI_REST_KEYS_FILE")
        with pytest.raises(ValueError):
            RestKeysConfig.load()
        monkeypatch.setenv("LINLI_REST_KEYS_FILE", str(keys_file))
    monkeypatch.delenv("LINLI_REST_KEYS")
    monkeypatch.delenv("LINLI_REST_KEYS_FILE")
    assert not RestKeysConfig.load().required


def test_channel_limits_come_from_the_environment_within_bounds(monkeypatch):
    assert ChannelLimits.load() == ChannelLimits()
    monkeypatch.setenv("LINLI_CHAT_SENDER_BURST", "3")
    monkeypatch.setenv("LINLI_CHANNEL_MAX_BODY_BYTES", "10")  # below the floor
    monkeypatch.setenv("LINLI_RASA_REQUEST_TIMEOUT", "nonsense")
    limits = ChannelLimits.load()
    assert limits.sender_burst == 3 and limits.max_body_bytes == 1024 and limits.request_timeout == 10.0
