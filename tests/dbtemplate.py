"""Databases already at the migration head, without running the migration chain for every test.

Upgrading an empty database runs every Alembic revision (0.3–0.5 s on SQLite and PostgreSQL, more on shared
cores), and most tests only need the resulting schema. So each test process migrates once:

- SQLite: one migrated template file, copied byte for byte into the test's fresh path;
- PostgreSQL: one schema per process, migrated once and emptied after each test (:class:`MigratedPg`).

The product's own ``upgrade`` then finds the database at head. The migration chain itself keeps its own tests on
empty databases (``sqlite_url``/``pg_url``: tests/test_consultations.py, test_feedback.py, test_db_prepare.py).
"""

from __future__ import annotations

import atexit
import os
import shutil
import sqlite3
import tempfile
import threading
from pathlib import Path

_lock = threading.Lock()
_sqlite_template: Path | None = None


def _sqlite_path(url: str) -> Path:
    assert url.startswith("sqlite:///"), url
    return Path(url.removeprefix("sqlite:///"))


def _build_sqlite_template() -> Path:
    from bot.db import make_engine, upgrade

    folder = Path(tempfile.mkdtemp(prefix="linli-db-template-"))
    atexit.register(shutil.rmtree, folder, True)
    path = folder / "template.db"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    try:
        upgrade(url, engine=engine)
    finally:
        engine.dispose()
    con = sqlite3.connect(path)
    try:  # one self-contained file: the WAL folded in (make_engine turns WAL on again at connect)
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.execute("PRAGMA journal_mode=DELETE")
    finally:
        con.close()
    return path


def migrated_sqlite(url: str) -> str:
    """Fill the not-yet-existing SQLite file of ``url`` with the migrated schema; returns ``url``."""
    global _sqlite_template
    with _lock:
        if _sqlite_template is None:
            _sqlite_template = _build_sqlite_template()
    path = _sqlite_path(url)
    if path.exists():
        raise FileExistsError(f"{path}: a migrated copy goes into a fresh path only")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)  # the mode the product gives its database
    with os.fdopen(fd, "wb") as out, open(_sqlite_template, "rb") as src:
        shutil.copyfileobj(src, out)
    return url


def _pg_shape(cur) -> list:
    """Tables, columns, indexes, constraints and revision of the current schema, its name left out."""
    schema = cur.execute("select current_schema()").fetchone()[0]
    queries = (
        "select table_name, column_name, data_type, is_nullable, coalesce(column_default, '') "
        "from information_schema.columns where table_schema = current_schema() order by 1, 2",
        "select indexdef from pg_indexes where schemaname = current_schema() order by 1",
        "select conrelid::regclass::text, conname, pg_get_constraintdef(oid) from pg_constraint "
        "where connamespace = current_schema()::regnamespace order by 1, 2",
        "select version_num from alembic_version",
    )
    return [[tuple(str(v).replace(f"{schema}.", "@.") for v in row) for row in cur.execute(q)] for q in queries]


def _delete_order(cur) -> list[str]:
    """The schema's tables (but alembic_version), each after every table that references it."""
    tables = [r[0] for r in cur.execute("select tablename from pg_tables where schemaname = current_schema()")]
    refs = {t: set() for t in tables}  # table -> tables referencing it
    for child, parent in cur.execute(
        "select conrelid::regclass::text, confrelid::regclass::text from pg_constraint "
        "where contype = 'f' and connamespace = current_schema()::regnamespace"
    ):
        if child != parent:
            refs[parent.split(".")[-1].strip('"')].add(child.split(".")[-1].strip('"'))
    order: list[str] = []
    while refs:
        ready = sorted(t for t, by in refs.items() if not by - set(order))
        if not ready:
            raise RuntimeError(f"foreign-key cycle among {sorted(refs)}")
        order += ready
        for t in ready:
            del refs[t]
    return [t for t in order if t != "alembic_version"]


class MigratedPg:
    """One PostgreSQL schema per test process, migrated once and emptied after each test.

    Creating and migrating a schema costs the server 0.5–1 s (about 90 DDL statements, then DROP SCHEMA), most
    of a short test; deleting a test's few rows and restarting the sequences costs milliseconds. After each test
    the schema is checked against its freshly migrated shape: a test that changed it (or left rows locked) gets
    the schema dropped, and the next test a newly migrated one."""

    def __init__(self, new_schema):
        self._new_schema = new_schema  # () -> (url, drop)
        self._url: str | None = None
        self._drop = None
        self._engine = None
        self._shape: list | None = None
        self._tables: list[str] = []
        self._n = 0

    def _prepare(self) -> None:
        from sqlalchemy import create_engine

        from bot.db import make_engine, normalize_url, upgrade

        self._url, self._drop = self._new_schema()
        engine = make_engine(self._url)
        try:
            upgrade(self._url, engine=engine)  # the real migration chain, once
        finally:
            engine.dispose()
        self._engine = create_engine(normalize_url(self._url), pool_size=1, max_overflow=0)
        with self._cursor() as cur:
            self._shape = _pg_shape(cur)
            self._tables = _delete_order(cur)

    def _cursor(self):
        from contextlib import contextmanager

        @contextmanager
        def cursor():
            raw = self._engine.raw_connection()
            try:
                yield raw.cursor()
                raw.commit()
            except BaseException:
                raw.rollback()
                raise
            finally:
                raw.close()

        return cursor()

    def checkout(self) -> str:
        """URL of the schema, empty and at head; a new ``application_name`` per test, so that each test gets its
        own engine from ``bot.db.engine_for`` as it did with a schema of its own."""
        if self._url is None:
            self._prepare()
        self._n += 1
        return f"{self._url}&application_name=linli-test-{os.getpid()}-{self._n}"

    def checkin(self) -> None:
        """Empty the schema for the next test, or give it up if the test changed it."""
        try:
            with self._cursor() as cur:
                cur.execute("set local lock_timeout = '10s'")
                for table in self._tables:
                    cur.execute(f'delete from "{table}"')
                for (seq,) in cur.execute(
                    "select c.oid::regclass::text from pg_class c where c.relkind = 'S' "
                    "and c.relnamespace = current_schema()::regnamespace"
                ).fetchall():
                    cur.execute("select setval(%s, 1, false)", (seq,))
                if _pg_shape(cur) != self._shape:
                    raise RuntimeError("a test changed the schema")
        except Exception:  # noqa: BLE001 — the next test gets a new schema instead
            self.close()

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
        if self._drop is not None:
            try:
                self._drop()
            except Exception:  # noqa: BLE001 — a schema a hung test still locks: left behind, not waited for
                pass
        self._url = self._drop = self._engine = None
