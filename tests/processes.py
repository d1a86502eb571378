"""Separate processes for the tests that race several of them (database preparation, leases).

A ``spawn`` child starts a fresh interpreter and imports SQLAlchemy, the store and the test module again (2–3 s
of CPU each on these machines); a plain ``fork`` of pytest may inherit a lock another thread holds. The fork
server is the middle way: one single-threaded process, started once per test process with these modules
imported, forks each child (each still a process of its own with its own connections).
"""

from __future__ import annotations

import multiprocessing

#: imported once by the fork server (a module that fails to import is skipped by multiprocessing)
PRELOAD = [
    "sqlalchemy",
    "psycopg",
    "bot.db",
    "bot.kb",
    "bot.consultations.service",
    "bot.closedloop.lease",
    "tests.test_db_prepare",
    "tests.test_closedloop_lease",
]


def context():
    """The multiprocessing context of the shared fork server."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx
