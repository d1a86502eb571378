"""Alembic environment, configured from code (no alembic.ini): see :func:`bot.db.upgrade`.

The revisions are plain ``op`` scripts and need no models; ``target_metadata`` holds whatever model
modules were imported (import ``bot.consultations.models`` and ``bot.feedback.store`` before an
autogenerate), so this package depends on no store.
"""

from alembic import context

from bot.db.base import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    conn = config.attributes.get("connection")
    if conn is None:
        from bot.db.engine import make_engine

        engine = make_engine(config.get_main_option("sqlalchemy.url"))
        with engine.begin() as conn:
            _migrate(conn)
        engine.dispose()
    else:
        _migrate(conn)


def _migrate(conn) -> None:
    context.configure(
        connection=conn,
        target_metadata=target_metadata,
        render_as_batch=conn.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `python -m bot db upgrade`")
run()
