"""Shared fixtures: fresh databases (SQLite file, PostgreSQL schema). Keep this file generic."""

from __future__ import annotations

import contextlib
import os
import uuid

import pytest

PG_HOST, PG_PORT, PG_DB = "127.0.0.1", 5432, "test"


def _pg_connect():
    """Connect as postgres, else root (both are trust-auth on these machines); None if unreachable."""
    import psycopg

    last: Exception | None = None
    for user in ("postgres", "root"):
        try:
            return psycopg.connect(
                host=PG_HOST, port=PG_PORT, dbname=PG_DB, user=user, connect_timeout=3, autocommit=True
            ), user
        except psycopg.OperationalError as e:
            last = e
    return None, last


def _pg_schema():
    """(URL of a fresh, empty PostgreSQL schema, drop) — skips when the server is unreachable, unless
    LINLI_REQUIRE_POSTGRES is set (CI): then it fails."""
    conn, user_or_error = _pg_connect()
    if conn is None:
        if os.environ.get("LINLI_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL on {PG_HOST}:{PG_PORT} db {PG_DB} is required but unreachable: {user_or_error}")
        pytest.skip(f"PostgreSQL unreachable: {user_or_error}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    conn.execute(f'CREATE SCHEMA "{schema}"')

    def drop():
        with conn:
            conn.execute("SET lock_timeout = '60s'")  # never hang the run on a schema a stuck test still locks
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')

    return f"postgresql+psycopg://{user_or_error}@{PG_HOST}:{PG_PORT}/{PG_DB}?options=-csearch_path%3D{schema}", drop


@contextlib.contextmanager
def pg_schema():
    """SQLAlchemy URL of a fresh, empty PostgreSQL schema, dropped on exit (any scope: a test, a module's stack)."""
    url, drop = _pg_schema()
    try:
        yield url
    finally:
        drop()


@pytest.fixture
def pg_url():
    """A fresh PostgreSQL schema for one test (:func:`pg_schema`)."""
    with pg_schema() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path):
    """SQLAlchemy URL of a fresh SQLite file in the test's tmp dir."""
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture(scope="session")
def _pg_migrated():
    """This process's PostgreSQL schema at the migration head, shared by the tests one after another."""
    from tests.dbtemplate import MigratedPg

    pg = MigratedPg(_pg_schema)
    yield pg
    pg.close()


@pytest.fixture
def migrated_pg_url(_pg_migrated):
    """Like ``pg_url``, but already at the migration head: an emptied schema migrated once per process
    (:class:`tests.dbtemplate.MigratedPg`)."""
    yield _pg_migrated.checkout()
    _pg_migrated.checkin()


@pytest.fixture
def migrated_sqlite_url(sqlite_url):
    """Like ``sqlite_url``, but already at the migration head (:mod:`tests.dbtemplate`)."""
    from tests.dbtemplate import migrated_sqlite

    return migrated_sqlite(sqlite_url)


@pytest.fixture(scope="session")
def shared_stack(tmp_path_factory):
    """Rasa + action server started once for every e2e module that needs only the standard configuration
    (:func:`tests.stack.standard_stack`). Modules with special configuration start their own."""
    from tests.stack import standard_stack

    with standard_stack(tmp_path_factory.mktemp("shared-stack")) as shared:
        yield shared


@pytest.fixture(scope="session")
def stack(shared_stack):
    """The shared stack's servers (:class:`tests.stack.Stack`); a module that needs its own configuration
    defines its own ``stack`` fixture."""
    return shared_stack.stack


@pytest.fixture(scope="session")
def stack_service(shared_stack):
    """The consultation service on the shared stack's database (what the action server writes to)."""
    from bot.consultations.service import ConsultationService

    return ConsultationService(shared_stack.db_url)


@pytest.fixture(scope="session")
def assistant():
    """The retrieval assistant on the real knowledge base (built or loaded once per session)."""
    from bot.retrieval.assistant import get_assistant

    return get_assistant()


# ---- markers: what needs Rasa or a browser is marked, so that `make test-fast` (-m "not e2e and not rasa and not
# browser") never starts either. A test is marked when it, or any fixture it uses, refers to one of these names.
_STARTS = {
    "e2e": {"running_stack", "standard_stack", "shared_stack", "FaultStack", "rasa_cmd"},
    "rasa": {
        "RASA",
        "RASA_PYTHON",
        "_rasa",
        "ensure_model",
        "rasa_cmd",
        "running_stack",
        "standard_stack",
        "shared_stack",
        "FaultStack",
    },
    "browser": {"sync_playwright", "chromium"},
}


def _names_used(code, seen=None) -> set[str]:
    """Global and attribute names a function's code (and the functions defined in it) refers to."""
    names = set(code.co_names) | set(code.co_varnames)
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            names |= _names_used(const)
    return names


#: Modules that take longest, slowest first (refreshed from the last run, see below), started first so that on two
#: workers the long ones overlap instead of one of them starting last (the run is as long as its longest worker).
#: This static order is what a fresh clone (an empty pytest cache: CI) uses; it lists every module over 15 s in a
#: whole-suite run (2 Dec 2026, --durations, 2 xdist workers), e2e and browser modules included.
#: scripts/test.sh passes --no-loadscope-reorder so xdist keeps this order.
_SLOW_FIRST = (
    "test_embedding_onnx.py",
    "test_faults.py",
    "test_rasa_data.py",
    "test_dialogue_derailments.py",
    "test_dialogue_e2e.py",
    "test_scaleout.py",
    "test_kb_desk_e2e.py",
    "test_rest_channel.py",
    "test_loop_story_e2e.py",
    "test_wechat.py",
    "test_telegram.py",
    "test_payload_parse.py",
    "test_embedding.py",
    "test_action_response.py",
    "test_webchat_browser.py",
    "test_prefetch_e2e.py",
    "test_unigram_tokenizer.py",
    "test_kb_desk.py",
    "test_action_workers.py",
    "test_security.py",
    "test_retrieval.py",
    "test_inbox_trust.py",
    "test_consultations.py",
    "test_index_ann.py",
    "test_inbox_oversight_browser.py",
    "test_kb_versions.py",
    "test_inbox.py",
    "test_fuzz.py",
    "test_inbox_oversight.py",
    "test_inbox_fuzz.py",
    "test_oversight.py",
    "test_inbox_browser.py",
    "test_inbox_handoffs.py",
    "test_kb.py",
    "test_routing.py",
    "test_prepare_route.py",
    "test_db_prepare.py",
    "test_loop_inbox_browser.py",
    "test_inbox_authz.py",
    "test_feedback.py",
    "test_loop_service.py",
    "test_closedloop_lease.py",
)
_SECONDS_KEY = "linli/module_seconds"


def _module_seconds(config) -> dict[str, float]:
    """Seconds per test module in the last run that ran it (pytest's cache), else the static order above."""
    cache = getattr(config, "cache", None)
    seen = cache.get(_SECONDS_KEY, {}) if cache is not None else {}
    return seen or {name: float(len(_SLOW_FIRST) - i) for i, name in enumerate(_SLOW_FIRST)}


def _order_slow_first(config, items) -> None:
    seconds = _module_seconds(config)
    order = {}
    for i, item in enumerate(items):
        order.setdefault(item.path.name, (-seconds.get(item.path.name, 0.0), i))
    items.sort(key=lambda item: order[item.path.name])  # stable: a module's own order is kept


_ran: dict[str, float] = {}


def pytest_runtest_logreport(report):
    """Sum each module's setup + call + teardown (the controller hears every worker's reports)."""
    name = report.nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
    _ran[name] = _ran.get(name, 0.0) + report.duration


def pytest_sessionfinish(session):
    cache = getattr(session.config, "cache", None)
    if cache is None or not _ran or hasattr(session.config, "workerinput"):
        return
    if session.config.option.keyword or any("::" in str(a) for a in session.config.args):
        return  # part of a module ran (-k, a test's id): its seconds are not the module's
    cache.set(_SECONDS_KEY, {**cache.get(_SECONDS_KEY, {}), **{k: round(v, 1) for k, v in _ran.items()}})


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    _order_slow_first(config, items)
    for item in items:
        funcs = [getattr(item, "function", None)]
        info = getattr(item, "_fixtureinfo", None)
        if info is not None:
            # the last definition is the one in force (a module's own ``stack`` overrides conftest's)
            funcs += [d.func for name in item.fixturenames for d in info.name2fixturedefs.get(name, ())[-1:]]
        used = set(item.fixturenames)
        for f in funcs:
            code = getattr(f, "__code__", None)
            if code is not None:
                used |= _names_used(code)
        for marker, names in _STARTS.items():
            if used & names and not item.get_closest_marker(marker):
                item.add_marker(getattr(pytest.mark, marker))


def pytest_configure(config):
    """One ONNX Runtime thread per encoder when the test workers already fill the cores (``-n 2`` on two): a second
    thread only waits for a core and costs ~10 % more CPU for the same vectors. Inherited by the servers and CLIs
    the tests start (each runs beside the other worker); ``LINLI_EMBEDDING_THREADS`` set outside wins."""
    workers = getattr(config, "workerinput", {}).get("workercount", 1)
    if workers >= len(os.sched_getaffinity(0)):
        os.environ.setdefault("LINLI_EMBEDDING_THREADS", "1")
