"""Open311 as real clients speak it: the published GeoReport v2 client library (``georeport`` on PyPI)
against a real inbox server on loopback. The service list and definitions are public, as the
specification says; residents' requests need a key (the deviation discovery.json states); a key in a
header is checked before any body is read.
"""

from __future__ import annotations

import socket

import httpx
import pytest
import requests
from georeport import GeoReport

from bot.inbox.apikeys import ApiKeyStore
from bot.inbox.app import create_app
from tests.inbox_support import Server, make_env


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = make_env(tmp_path_factory.mktemp("georeport"))
    with Server(create_app(env.settings, env.service, push_interval=0)) as s:
        s.env = env
        yield s


def test_the_published_client_reads_the_service_list_and_definitions(server):
    client = GeoReport(server.url + "/open311/v2")
    services = client.get_service_list()
    assert {s["service_code"] for s in services} == {c.id for c in server.env.service.directory.categories()}
    assert all(s["service_name"] and s["metadata"] is False and s["type"] == "realtime" for s in services)
    definition = client.get_service_definition("property")
    assert definition == {"service_code": "property", "attributes": []}
    with pytest.raises(requests.HTTPError) as e:
        client.get_service_definition("no-such-service")
    assert e.value.response.status_code == 404
    # a jurisdiction-bound client (GeoReport sends jurisdiction_id) gets the same list
    assert len(GeoReport(server.url + "/open311/v2", jurisdiction="xingfu").get_service_list()) == len(services)


def test_residents_requests_stay_private_and_discovery_says_so(server):
    client = GeoReport(server.url + "/open311/v2")
    with pytest.raises(requests.HTTPError) as e:
        client.get_service_requests()
    assert e.value.response.status_code == 401
    with pytest.raises(requests.HTTPError) as e:
        client.get_service_request(server.env.a[0].tracking_no)
    assert e.value.response.status_code == 401
    discovery = httpx.get(server.url + "/open311/v2/discovery.json").json()
    assert discovery["endpoints"][0]["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert discovery["endpoints"][0]["url"] == server.url + "/open311/v2"
    assert any("requests.json" in d and "api_key" in d for d in discovery["deviations"])
    key = ApiKeyStore.from_settings(server.env.settings).create("hotline")
    keyed = httpx.get(server.url + "/open311/v2/requests.json", headers={"X-API-Key": key})
    assert keyed.status_code == 200 and server.env.a[0].tracking_no in keyed.text
    assert "13900001111" not in keyed.text and "王小明" not in keyed.text


def _answer_to_headers_only(port: int, headers: bytes) -> bytes:
    """Send a request's headers and none of its (announced) body; return what the server says."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(headers)
        sock.settimeout(10)
        data = b""
        try:
            while b"\r\n\r\n" not in data and (chunk := sock.recv(4096)):
                data += chunk
        except TimeoutError:
            pytest.fail("the server waited for the body instead of answering")
        return data


def test_wrong_key_or_oversized_body_is_answered_before_the_body_arrives(server):
    """An unauthenticated 8 MB body used to be read and parsed first (#12): now the key, then the size, decide."""
    bad_key = (
        b"POST /open311/v2/requests.json HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: ls_wrong\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 8000000\r\n\r\n"
    )
    assert _answer_to_headers_only(server.port, bad_key).startswith(b"HTTP/1.1 403")
    too_big = bad_key.replace(b"X-API-Key: ls_wrong\r\n", b"")
    assert _answer_to_headers_only(server.port, too_big).startswith(b"HTTP/1.1 413")
