"""Authorization matrix: every route × {anonymous, member of committee A, member of B, admin, kb-editor}.

Each cell is the expected status code without following redirects; POSTs carry the caller's own valid
CSRF token, so what is tested is authorization, not CSRF. A test also checks that the matrix covers every
route the app has, so a new route without a row fails here.
"""

from __future__ import annotations

import shutil

import pytest
from fastapi.testclient import TestClient

from bot.inbox import open311, routes
from bot.inbox.app import create_app
from tests.inbox_support import csrf_from, login, make_env
from tests.stack import REPO

ROLES = ("anon", "a", "b", "admin", "kb")
USERS = {"a": "alice", "b": "bob", "admin": "root", "kb": "kb-zhang"}
KB_PASSWORD = "kb-zhang-pass-31"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    # the matrix sends many keyless Open311 calls from one client: budgets out of the way (tested elsewhere)
    work = tmp_path_factory.mktemp("authz")
    kb = shutil.copytree(REPO / "knowledge_base", work / "kb", ignore=shutil.ignore_patterns("versions"))
    env = make_env(work, open311_rate_limit=100_000, open311_bad_key_limit=100_000, kb_dir=kb)
    env.service.accounts.create_user(USERS["kb"], KB_PASSWORD, None, role="kb-editor")
    return env


@pytest.fixture(scope="module")
def clients(env):
    app = create_app(env.settings, env.service, push_interval=0)
    app.state.kb_index.get = lambda: None  # the desk's retrieval model is not loaded for this
    out = {}
    for role in ROLES:
        c = TestClient(app)
        if role != "anon":
            login(c, USERS[role], KB_PASSWORD if role == "kb" else None)
        page = {"anon": "/login", "kb": "/kb"}.get(role, "/consultations")
        out[role] = (c, csrf_from(c.get(page).text))
    return out


def matrix(env):
    a, b = env.a[1].tracking_no, env.b[1].tracking_no
    ha, ho = env.handoffs["a"], env.handoffs["other"]
    same_a = {"to_status": "submitted"}  # harmless: refused as "already submitted", redirect with a flash
    same_cat_a = {"category": env.a[1].category}  # unchanged category: refused, redirect with a flash
    same_cat_b = {"category": env.b[1].category}
    # (method, route template, concrete path, form data, {role: status})
    rows = [
        ("GET", "/login", "/login", None, {"anon": 200, "a": 303, "b": 303, "admin": 303}),
        ("GET", "/", "/", None, {"anon": 303, "a": 200, "b": 200, "admin": 200}),
        ("GET", "/consultations", "/consultations", None, {"anon": 303, "a": 200, "b": 200, "admin": 200}),
        (
            "GET",
            "/consultations/export.csv",
            "/consultations/export.csv",
            None,
            {"anon": 303, "a": 200, "b": 200, "admin": 200},
        ),
        (
            "GET",
            "/consultations/{tracking_no}",
            f"/consultations/{a}",
            None,
            {"anon": 303, "a": 200, "b": 404, "admin": 200},
        ),
        (
            "GET",
            "/consultations/{tracking_no}",
            f"/consultations/{b}",
            None,
            {"anon": 303, "a": 404, "b": 200, "admin": 200},
        ),
        (
            "GET",
            "/consultations/{tracking_no}",
            "/consultations/YS-20000101-0001",
            None,
            {"anon": 303, "a": 404, "b": 404, "admin": 404},
        ),
        (
            "POST",
            "/consultations/{tracking_no}/status",
            f"/consultations/{a}/status",
            same_a,
            {"anon": 303, "a": 303, "b": 404, "admin": 303},
        ),
        (
            "POST",
            "/consultations/{tracking_no}/status",
            f"/consultations/{b}/status",
            same_a,
            {"anon": 303, "a": 404, "b": 303, "admin": 303},
        ),
        (
            "POST",
            "/consultations/{tracking_no}/category",
            f"/consultations/{a}/category",
            same_cat_a,
            {"anon": 303, "a": 303, "b": 404, "admin": 303},
        ),
        (
            "POST",
            "/consultations/{tracking_no}/category",
            f"/consultations/{b}/category",
            same_cat_b,
            {"anon": 303, "a": 404, "b": 303, "admin": 303},
        ),
        # merge into itself: refused with a flash on the page (nothing merged); another committee's item is a 404
        (
            "POST",
            "/consultations/{tracking_no}/merge",
            f"/consultations/{a}/merge",
            {"target": a},
            {"anon": 303, "a": 303, "b": 404, "admin": 303},
        ),
        (
            "POST",
            "/consultations/{tracking_no}/merge",
            f"/consultations/{b}/merge",
            {"target": b},
            {"anon": 303, "a": 404, "b": 303, "admin": 303},
        ),
        # handoffs: A is its community's fallback committee (居委会), B is not; an empty note is refused with a flash
        ("GET", "/handoffs", "/handoffs", None, {"anon": 303, "a": 200, "b": 403, "admin": 200}),
        (
            "POST",
            "/handoffs/{handoff_id}/close",
            f"/handoffs/{ha}/close",
            {"note": ""},
            {"anon": 303, "a": 303, "b": 403, "admin": 303},
        ),
        (
            "POST",
            "/handoffs/{handoff_id}/close",
            f"/handoffs/{ho}/close",
            {"note": ""},
            {"anon": 303, "a": 404, "b": 403, "admin": 303},
        ),
        (
            "POST",
            "/handoffs/{handoff_id}/close",
            "/handoffs/x1/close",
            {"note": "hi"},
            {"anon": 303, "a": 404, "b": 403, "admin": 404},
        ),
        ("GET", "/admin/users", "/admin/users", None, {"anon": 303, "a": 403, "b": 403, "admin": 200}),
        (
            "POST",
            "/admin/users",
            "/admin/users",
            {"username": "x", "password": "", "role": "member"},
            {"anon": 303, "a": 403, "b": 403, "admin": 303},
        ),
        (
            "POST",
            "/admin/users/{username}/active",
            "/admin/users/bob/active",
            {"active": "1"},
            {"anon": 303, "a": 403, "b": 403, "admin": 303},
        ),
        (
            "POST",
            "/admin/users/{username}/password",
            "/admin/users/bob/password",
            {"password": "short"},
            {"anon": 303, "a": 403, "b": 403, "admin": 303},
        ),
        # closing the loop: every refused form below changes nothing (bad days, no decision, no committee, no text)
        (
            "POST",
            "/consultations/{tracking_no}/extension",
            f"/consultations/{a}/extension",
            {"days": "", "reason": ""},
            {"anon": 303, "a": 303, "b": 404, "admin": 303},
        ),
        (
            "POST",
            "/extensions/{extension_id}/decide",
            "/extensions/999999/decide",
            {"decision": ""},
            {"anon": 303, "a": 403, "b": 403, "admin": 303},
        ),
        (
            "POST",
            "/consultations/{tracking_no}/reassign",
            f"/consultations/{a}/reassign",
            {"committee_id": ""},
            {"anon": 303, "a": 403, "b": 403, "admin": 303},
        ),
        (
            "POST",
            "/consultations/{tracking_no}/outcome",
            f"/consultations/{a}/outcome",
            {"outcome": ""},
            {"anon": 303, "a": 303, "b": 404, "admin": 303},
        ),
        ("GET", "/supervisor", "/supervisor", None, {"anon": 303, "a": 403, "b": 403, "admin": 200}),
        ("GET", "/admin/limits", "/admin/limits", None, {"anon": 303, "a": 403, "b": 403, "admin": 200}),
        (
            "POST",
            "/admin/limits/{category}",
            "/admin/limits/public-affairs",
            {"accept_days": "", "complete_days": ""},
            {"anon": 303, "a": 403, "b": 403, "admin": 303},
        ),
        ("GET", "/scorecards", "/scorecards", None, {"anon": 303, "a": 200, "b": 200, "admin": 200}),
        ("GET", "/scorecards.csv", "/scorecards.csv", None, {"anon": 303, "a": 200, "b": 200, "admin": 200}),
        ("GET", "/public/{community_id}", "/public/xingfu", None, {r: 200 for r in ROLES}),
        ("GET", "/healthz", "/healthz", None, {r: 200 for r in ROLES}),
        ("GET", "/favicon.ico", "/favicon.ico", None, {r: 308 for r in ROLES}),
        # The API never accepts a browser session in place of an integrator key.
        # GeoReport v2: the service list, definitions and discovery are public; residents' requests need a key
        ("GET", "/open311/v2/services.json", "/open311/v2/services.json", None, {r: 200 for r in ROLES}),
        (
            "GET",
            "/open311/v2/services/{service_code}.json",
            "/open311/v2/services/property.json",
            None,
            {r: 200 for r in ROLES},
        ),
        ("GET", "/open311/v2/discovery.json", "/open311/v2/discovery.json", None, {r: 200 for r in ROLES}),
        ("GET", "/open311/v2/requests.json", "/open311/v2/requests.json", None, {r: 401 for r in ROLES}),
        (
            "GET",
            "/open311/v2/requests/{request_id}.json",
            f"/open311/v2/requests/{a}.json",
            None,
            {r: 401 for r in ROLES},
        ),
        (
            "POST",
            "/open311/v2/requests.json",
            "/open311/v2/requests.json",
            {"service_code": "public-affairs", "description": "x"},
            {r: 401 for r in ROLES},
        ),
        ("GET", "/open311/v2/{rest:path}", "/open311/v2/services.xml", None, {r: 404 for r in ROLES}),
        ("POST", "/open311/v2/{rest:path}", "/open311/v2/requests.xml", {}, {r: 404 for r in ROLES}),
        *kb_rows(),
        ("POST", "/login", "/login", {"username": "nobody", "password": "wrong-pass"}, {r: 401 for r in ROLES}),
        ("POST", "/logout", "/logout", {}, {r: 303 for r in ROLES}),  # last: ends the sessions
    ]
    for _, tpl, _, _, expected in rows:  # a kb-editor has no committee: the consultation pages are not theirs
        expected.setdefault("kb", KB_OUTSIDE.get(tpl, 403 if expected["anon"] == 303 else expected["anon"]))
    return rows


#: Where a kb-editor is answered otherwise than 403 on a page that needs a login.
KB_OUTSIDE = {"/": 303, "/login": 303, "/logout": 303}


def kb_rows() -> list:
    """The knowledge desk: kb-editors and admins; members 403; the public clause page for anyone. Every POST
    here is refused harmlessly (no file, unknown token or version, an empty form): a redirect with a flash."""
    desk = {"anon": 303, "a": 403, "b": 403}
    ok, refused = desk | {"admin": 200, "kb": 200}, desk | {"admin": 303, "kb": 303}
    token = "/kb/review/aaaaaaaaaaaaaaaaaaaaaaaa"
    return [
        ("GET", "/kb", "/kb", None, ok),
        ("POST", "/kb/upload", "/kb/upload", {}, refused),
        ("GET", "/kb/review/{token}", token, None, refused),
        ("POST", "/kb/review/{token}/publish", f"{token}/publish", {}, refused),
        ("POST", "/kb/review/{token}/discard", f"{token}/discard", {}, refused),
        ("GET", "/kb/versions/{name}", "/kb/versions/seed", None, ok),
        ("GET", "/kb/status", "/kb/status", None, ok),
        ("POST", "/kb/versions/{name}/rollback", "/kb/versions/v0404/rollback", {}, refused),
        ("GET", "/kb/hit", "/kb/hit", None, ok),
        ("GET", "/kb/learning", "/kb/learning", None, ok),
        ("POST", "/kb/learning", "/kb/learning", {"question": ""}, refused),
        ("GET", "/kb/services", "/kb/services", None, ok),
        ("GET", "/kb/services/export", "/kb/services/export", None, ok),
        ("GET", "/kb/services/{service_id}", "/kb/services/home-elderly-care", None, ok),
        ("POST", "/kb/services/{service_id}", "/kb/services/home-elderly-care", {}, refused),
        ("GET", "/kb/clause/{item_id}", "/kb/clause/plan-7-04", None, {"anon": 303} | {r: 200 for r in USERS}),
        ("GET", "/kb/c/{item_id}", "/kb/c/plan-7-04", None, {r: 200 for r in ROLES}),
    ]


def test_matrix_covers_every_route(env):
    covered = {(method, tpl) for method, tpl, *_ in matrix(env)}
    for route in open311.router.routes + [r for area in routes.AREAS for r in area.router.routes]:
        for method in route.methods & {"GET", "POST"}:
            assert (method, route.path) in covered, f"no authorization row for {method} {route.path}"


def test_authorization_matrix(env, clients):
    failures = []
    for method, _, path, data, expected in matrix(env):
        for role in ROLES:
            client, token = clients[role]
            if method == "GET":
                r = client.get(path, follow_redirects=False)
            else:
                r = client.post(path, data=(data or {}) | {"csrf_token": token}, follow_redirects=False)
            if r.status_code != expected[role]:
                failures.append(f"{role:5} {method} {path}: {r.status_code}, expected {expected[role]}")
            if r.status_code == 303 and role == "anon":
                assert r.headers["location"].startswith("/login"), path
    assert not failures, "\n".join(failures)
    # nothing changed through the refused or harmless requests
    assert env.service.get(env.a[1].tracking_no).status == "submitted"
    assert env.service.get(env.b[1].tracking_no).committee_id == "xingfu-jwjd"
    assert {u.username for u in env.service.accounts.list_users()} == {"alice", "bob", "root", USERS["kb"]}
    assert {h.id for h in env.service.handoffs.list()} == set(env.handoffs.values())
    assert env.service.oversight.extensions(tracking_no=env.a[1].tracking_no) == []
    assert not any(x.overridden for x in env.service.oversight.limits())
    assert env.service.get(env.a[1].tracking_no).outcome_text is None


def test_legal_change_by_other_committee_is_404_and_has_no_effect(env):
    app = create_app(env.settings, env.service, push_interval=0)
    bob = TestClient(app)
    login(bob, "bob")
    token = csrf_from(bob.get("/consultations").text)
    target = env.a[0].tracking_no
    r = bob.post(
        f"/consultations/{target}/status", data={"to_status": "accepted", "note": "hijack", "csrf_token": token}
    )
    assert r.status_code == 404
    r = bob.post(f"/consultations/{target}/category", data={"category": "affairs-disclosure", "csrf_token": token})
    assert r.status_code == 404
    rec = env.service.get(target)
    assert rec.status == "submitted" and rec.committee_id == "xingfu-jwh" and len(rec.trail) == 1
    assert env.service.delivery.outbox(target) == []


def test_member_export_never_contains_other_committee(env):
    alice = TestClient(create_app(env.settings, env.service, push_interval=0))
    login(alice, "alice")
    r = alice.get("/consultations/export.csv", params={"committee": "xingfu-jwjd"}, follow_redirects=False)
    assert r.status_code == 200
    body = r.content.decode("utf-8-sig")
    assert all(x.tracking_no in body for x in env.a) and not any(x.tracking_no in body for x in env.b)
