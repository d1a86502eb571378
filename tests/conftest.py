"""Shared fixtures: fresh databases (SQLite file, PostgreSQL schema). Keep this file generic."""

from __future__ import annotations

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
            return psycopg.connect(host=PG_HOST, port=PG_PORT, dbname=PG_DB, user=user, connect_timeout=3, autocommit=True), user
        except psycopg.OperationalError as e:
            last = e
    return None, last


@pytest.fixture
def pg_url():
    """SQLAlchemy URL of a fresh, empty PostgreSQL schema (dropped afterwards).

    Skips when the server is unreachable, unless LINLI_REQUIRE_POSTGRES is set (CI): then it fails.
    """
    conn, user_or_error = _pg_connect()
    if conn is None:
        if os.environ.get("LINLI_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL on {PG_HOST}:{PG_PORT} db {PG_DB} is required but unreachable: {user_or_error}")
        pytest.skip(f"PostgreSQL unreachable: {user_or_error}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        yield f"postgresql+psycopg://{user_or_error}@{PG_HOST}:{PG_PORT}/{PG_DB}?options=-csearch_path%3D{schema}"
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def sqlite_url(tmp_path):
    """SQLAlchemy URL of a fresh SQLite file in the test's tmp dir."""
    return f"sqlite:///{tmp_path / 'test.db'}"
