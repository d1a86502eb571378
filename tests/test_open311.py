"""Open311 GeoReport v2 API: per-integrator keys (hashed at rest), services, requests list/filters/detail,
POST with routing and idempotency, Open311-shaped JSON errors, and no personal data in any answer."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from bot.inbox.apikeys import ApiKeyStore
from bot.inbox.app import create_app
from tests.inbox_support import make_env

API = "/open311/v2"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    # budgets high enough for this module's many calls; the limits are tested in test_open311_trust.py
    return make_env(tmp_path_factory.mktemp("open311"), open311_rate_limit=100_000, open311_bad_key_limit=100_000)


@pytest.fixture(scope="module")
def client(env):
    return TestClient(create_app(env.settings, env.service, push_interval=0))


@pytest.fixture(scope="module")
def key(env):
    return ApiKeyStore.from_settings(env.settings).create("city-hotline")


def _assert_error(r, code: int):
    assert r.status_code == code
    body = r.json()
    assert isinstance(body, list) and body[0]["code"] == code and body[0]["description"]


# keys -------------------------------------------------------------------------------------
def test_keys_are_hashed_at_rest_and_checked(env, client, key):
    stored = (env.settings.var_dir / "open311_keys.json").read_text(encoding="utf-8")
    assert key not in stored and "city-hotline" in stored
    assert (env.settings.var_dir / "open311_keys.json").stat().st_mode & 0o077 == 0
    # residents' requests need a key (the service list does not: GeoReport v2, see test_open311_client.py)
    _assert_error(client.get(f"{API}/requests.json"), 401)
    _assert_error(client.get(f"{API}/requests.json", params={"api_key": key + "x"}), 403)
    _assert_error(client.get(f"{API}/requests.json", params={"api_key": "x" * 5000}), 403)
    assert client.get(f"{API}/requests.json", params={"api_key": key}).status_code == 200
    assert client.get(f"{API}/requests.json", headers={"X-API-Key": key}).status_code == 200
    assert "set-cookie" not in client.get(f"{API}/requests.json", params={"api_key": key}).headers


def test_revoked_and_replaced_keys_stop_working(tmp_path, client):
    store = ApiKeyStore(tmp_path / "keys.json")
    k1 = store.create("partner")
    assert store.check(k1) == "partner"
    k2 = store.create("partner")  # re-creating replaces
    assert store.check(k1) is None and store.check(k2) == "partner"
    assert store.revoke("partner") and store.check(k2) is None
    assert [(i.name, i.active) for i in store.list()] == [("partner", False)]


# services ---------------------------------------------------------------------------------
def test_services_are_the_categories(env, client, key):
    body = client.get(f"{API}/services.json", params={"api_key": key}).json()
    codes = {s["service_code"] for s in body}
    assert codes == {c.id for c in env.service.directory.categories()}
    prop = next(s for s in body if s["service_code"] == "property")
    assert prop["service_name"] == "物业管理与小区公共事务" and prop["metadata"] is False and prop["type"] == "realtime"


# requests ---------------------------------------------------------------------------------
def test_request_list_shape_and_no_personal_data(env, client, key):
    r = client.get(f"{API}/requests.json", params={"api_key": key})
    assert r.status_code == 200
    body = r.json()
    ids = {x["service_request_id"] for x in body}
    assert {x.tracking_no for x in env.a + env.b} <= ids
    one = next(x for x in body if x["service_request_id"] == env.a[0].tracking_no)
    assert one["status"] == "open" and one["agency_responsible"] == "幸福社区居民委员会"
    assert one["service_code"] == "public-affairs" and one["status_notes"].startswith("已提交")
    assert datetime.fromisoformat(one["requested_datetime"]).utcoffset() == timedelta(hours=8)
    raw = r.text
    for secret in ("13812345678", "13900001111", "王小明", "resident-a", "telegram"):
        assert secret not in raw
    masked = next(x for x in body if x["service_request_id"] == env.a[4].tracking_no)
    assert "138****5678" in masked["description"]


def test_status_open_closed_and_notes(env, client, key):
    no = env.b[0].tracking_no
    env.service.change_status(no, "accepted", "bob")
    env.service.change_status(no, "resolved", "bob", "已在公开栏张贴账目，联系人13700001234")
    closed = client.get(f"{API}/requests.json", params={"api_key": key, "status": "closed"}).json()
    assert [x["service_request_id"] for x in closed] == [no]
    assert (
        closed[0]["status_notes"].startswith("已办结：已在公开栏张贴账目")
        and "13700001234" not in closed[0]["status_notes"]
    )
    opened = {
        x["service_request_id"]
        for x in client.get(f"{API}/requests.json", params={"api_key": key, "status": "open"}).json()
    }
    assert no not in opened and env.a[0].tracking_no in opened
    _assert_error(client.get(f"{API}/requests.json", params={"api_key": key, "status": "pending"}), 400)


def test_filters_service_code_dates_and_ids(env, client, key):
    body = client.get(f"{API}/requests.json", params={"api_key": key, "service_code": "services-needs"}).json()
    assert [x["service_request_id"] for x in body] == [env.a[2].tracking_no]
    today = env.a[0].created_at.astimezone().date()
    assert client.get(f"{API}/requests.json", params={"api_key": key, "end_date": "2001-01-01T00:00:00Z"}).json() == []
    around = client.get(
        f"{API}/requests.json",
        params={
            "api_key": key,
            "start_date": (today - timedelta(days=1)).isoformat(),
            "end_date": (today + timedelta(days=1)).isoformat(),
        },
    ).json()
    assert len(around) >= 7
    ids = f"{env.a[1].tracking_no},{env.b[1].tracking_no},YS-20000101-0001"
    body = client.get(f"{API}/requests.json", params={"api_key": key, "service_request_id": ids}).json()
    assert {x["service_request_id"] for x in body} == {env.a[1].tracking_no, env.b[1].tracking_no}
    _assert_error(client.get(f"{API}/requests.json", params={"api_key": key, "start_date": "yesterday"}), 400)
    _assert_error(
        client.get(
            f"{API}/requests.json", params={"api_key": key, "start_date": "2026-02-01", "end_date": "2026-01-01"}
        ),
        400,
    )


def test_single_request(env, client, key):
    no = env.a[3].tracking_no
    body = client.get(f"{API}/requests/{no}.json", params={"api_key": key}).json()
    assert len(body) == 1 and body[0]["service_request_id"] == no
    _assert_error(client.get(f"{API}/requests/YS-20000101-0001.json", params={"api_key": key}), 404)
    _assert_error(client.get(f"{API}/requests/{no}.xml", params={"api_key": key}), 404)


def test_post_creates_routed_consultation_idempotently(env, client, key):
    data = {
        "api_key": key,
        "service_code": "property",
        "description": "电梯坏了一周没人修，联系电话13611112222",
        "jurisdiction_id": "xingfu",
        "client_request_id": "hotline-0001",
        "phone": "13611112222",
        "first_name": "李",
    }
    r = client.post(f"{API}/requests.json", data=data)
    assert r.status_code == 201
    no = r.json()[0]["service_request_id"]
    assert "业主委员会" in r.json()[0]["service_notice"] or "协调会" in r.json()[0]["service_notice"]
    rec = env.service.get(no)
    assert rec.category == "property" and rec.channel == "open311" and rec.sender_id == "city-hotline"
    assert rec.committee_type in {"业主委员会", "物业议事协调会"} and rec.contact_phone is None
    again = client.post(f"{API}/requests.json", data=data)
    assert again.status_code == 200 and again.json()[0]["service_request_id"] == no
    shown = client.get(f"{API}/requests/{no}.json", params={"api_key": key}).json()[0]
    assert "13611112222" not in json.dumps(shown, ensure_ascii=False)
    # JSON bodies work too, and the village's own committee gets village matters
    r = client.post(
        f"{API}/requests.json",
        json={"service_code": "village-rules", "description": "村规民约该修订了", "jurisdiction_id": "liushu"},
        headers={"X-API-Key": key},
    )
    assert r.status_code == 201
    assert env.service.get(r.json()[0]["service_request_id"]).committee_id == "liushu-cwh"


@pytest.mark.parametrize(
    "data,code",
    [
        ({}, 400),
        ({"service_code": "property"}, 400),
        ({"service_code": "nonexistent", "description": "x"}, 404),
        ({"service_code": "property", "description": "   \x00\x01 "}, 400),
        ({"service_code": "property", "description": "电梯", "jurisdiction_id": "atlantis"}, 400),
        ({"service_code": "property", "description": "电梯" * 6000}, 400),
    ],
)
def test_post_bad_input_gets_open311_errors(client, key, data, code):
    _assert_error(client.post(f"{API}/requests.json", data=data | {"api_key": key}), code)


def test_post_malformed_json_is_a_clean_error(client, key):
    r = client.post(
        f"{API}/requests.json", content=b"{not json", headers={"X-API-Key": key, "Content-Type": "application/json"}
    )
    _assert_error(r, 400)
    r = client.post(
        f"{API}/requests.json", content=b"[1,2]", headers={"X-API-Key": key, "Content-Type": "application/json"}
    )
    _assert_error(r, 400)


def test_post_html_and_emoji_are_stored_as_text(env, client, key):
    r = client.post(
        f"{API}/requests.json",
        data={
            "api_key": key,
            "service_code": "public-affairs",
            "description": "<b>路灯</b>坏了😀 '; DROP TABLE consultations; --",
        },
    )
    assert r.status_code == 201
    rec = env.service.get(r.json()[0]["service_request_id"])
    assert rec.text == "<b>路灯</b>坏了😀 '; DROP TABLE consultations; --"
    assert len(client.get(f"{API}/requests.json", params={"api_key": key}).json()) >= 8


# issue 11: bodies, encodings, dates, budgets -------------------------------------------------
def test_raw_utf8_form_body_is_stored_as_written(env, client, key):
    """A form body with raw UTF-8 (not percent-encoded) was decoded as Latin-1 and stored as mojibake (#12)."""
    body = "service_code=public-affairs&description=楼道灯坏了，请尽快修&client_request_id=utf8-raw-1".encode()
    r = client.post(
        f"{API}/requests.json",
        content=body,
        headers={"X-API-Key": key, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 201
    assert env.service.get(r.json()[0]["service_request_id"]).text == "楼道灯坏了，请尽快修"


@pytest.mark.parametrize(
    "body,ctype,code",
    [
        (
            "service_code=public-affairs&description=楼道灯".encode("gbk"),
            "application/x-www-form-urlencoded",
            400,
        ),  # not UTF-8
        (b"description=x", "application/x-www-form-urlencoded; charset=gbk", 415),
        (
            b"service_code=public-affairs&description=%B5%C6",
            "application/x-www-form-urlencoded",
            400,
        ),  # escapes not UTF-8
        (
            b'{"service_code": "public-affairs", "description": "\\ud800 lamp"}',
            "application/json",
            400,
        ),  # lone surrogate
        (b"description=x", "text/plain", 415),
    ],
)
def test_undecodable_bodies_are_refused_cleanly(env, client, key, body, ctype, code):
    before = env.service.reports.count_for_committee(None)
    r = client.post(f"{API}/requests.json", content=body, headers={"X-API-Key": key, "Content-Type": ctype})
    _assert_error(r, code)
    assert "Traceback" not in r.text and env.service.reports.count_for_committee(None) == before


@pytest.mark.parametrize(
    "params",
    [
        {"start_date": "0001-01-01"},
        {"end_date": "9999-12-31"},
        {"start_date": "0001-01-01T00:00:00"},
        {"start_date": "9999-12-31T23:59:59+14:00"},
    ],
)
def test_extreme_dates_are_a_400(client, key, params):
    r = client.get(f"{API}/requests.json", params={"api_key": key} | params)
    _assert_error(r, 400)
    assert "超出范围" in r.json()[0]["description"]


def test_oversized_body_is_413_before_anything_is_parsed(env, client, key):
    big = b"service_code=public-affairs&description=" + b"x" * (env.settings.open311_max_body_bytes + 1)
    for headers in ({"X-API-Key": key}, {}):  # with a key, and with the key (maybe) in the body
        r = client.post(
            f"{API}/requests.json", content=big, headers=headers | {"Content-Type": "application/x-www-form-urlencoded"}
        )
        _assert_error(r, 413)


def test_budgets_per_client(tmp_path):
    """300 bad keys in a burst used to get 300 × 403; now the client is told to wait (#14)."""
    env = make_env(tmp_path, open311_bad_key_limit=10, open311_rate_limit=40)
    c = TestClient(create_app(env.settings, env.service, push_interval=0))
    good = ApiKeyStore.from_settings(env.settings).create("hotline")
    codes = [c.get(f"{API}/requests.json", params={"api_key": f"ls_guess{i}"}).status_code for i in range(300)]
    assert codes[:10] == [403] * 10 and set(codes[10:]) == {429}
    r = c.get(f"{API}/requests.json", params={"api_key": good})
    _assert_error(r, 429)  # a client that guessed keys waits, even with a good one
    assert int(r.headers["Retry-After"]) > 0 and "秒后再试" in r.json()[0]["description"]
    other = make_env(tmp_path / "other", open311_rate_limit=5)
    c2 = TestClient(create_app(other.settings, other.service, push_interval=0))
    assert [c2.get(f"{API}/services.json").status_code for _ in range(7)] == [200] * 5 + [429] * 2
