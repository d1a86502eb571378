"""Engine and sessions for SQLite (default) or PostgreSQL (``LINLI_DATABASE_URL``), and migrations.

Shared by every store on the one database (consultations, feedback); it imports none of them.

SQLite gets WAL, foreign keys and ``BEGIN IMMEDIATE`` so concurrent writers queue on the busy
timeout instead of failing with "database is locked" halfway through a transaction.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def normalize_url(url: str) -> str:
    """``postgresql://`` → psycopg 3 driver (the only one installed)."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def make_engine(url: str, **kwargs) -> Engine:
    url = normalize_url(url)
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            path = Path(u.database)
            path.parent.mkdir(parents=True, exist_ok=True)
            # residents' contact data: owner-only (SQLite gives its -wal/-shm files the database's mode)
            os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


_ENGINES: dict[str, Engine] = {}
_ENGINES_LOCK = threading.Lock()


def engine_for(url: str) -> Engine:
    """One pooled engine per URL per process."""
    url = normalize_url(url)
    with _ENGINES_LOCK:
        if url not in _ENGINES:
            _ENGINES[url] = make_engine(url)
        return _ENGINES[url]


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return cfg


#: pg_advisory_xact_lock key of "one process prepares this database at a time" (any constant bigint)
PREPARE_LOCK_KEY = 0x6C696E6C69  # "linli"


def serialize_preparation(conn: Connection) -> None:
    """Hold the database's preparation lock until this transaction ends (migrations, directory sync).

    Action server workers start together: on a fresh PostgreSQL database each ran the migrations and
    inserted the communities at once, and the later one failed on a duplicate key. SQLite needs nothing:
    every transaction there begins IMMEDIATE, which already queues the writers."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PREPARE_LOCK_KEY})


def upgrade(url: str, revision: str = "head", engine: Engine | None = None) -> None:
    """Apply migrations (``python -m bot db upgrade``); works from any working directory."""
    from alembic import command

    cfg = alembic_config(url)
    engine = engine or engine_for(normalize_url(url))
    with engine.begin() as conn:
        serialize_preparation(conn)  # a concurrent upgrade waits, then finds the database at head
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine_for(normalize_url(url)).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def dispose_engines() -> None:
    """Close every pooled connection (tests, and processes that fork)."""
    for url in list(_ENGINES):
        _ENGINES.pop(url).dispose()
