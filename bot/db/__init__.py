"""The one database: declarative ``Base``, engines and sessions, Alembic migrations (revisions 0001…).

Consultations and feedback both build on this package; it depends on neither.
"""

from bot.db.base import NAMING, Base, UTCDateTime, utcnow
from bot.db.engine import (
    MIGRATIONS_DIR,
    alembic_config,
    current_revision,
    dispose_engines,
    engine_for,
    make_engine,
    normalize_url,
    serialize_preparation,
    session_factory,
    upgrade,
)

__all__ = [
    "MIGRATIONS_DIR",
    "NAMING",
    "Base",
    "UTCDateTime",
    "alembic_config",
    "current_revision",
    "dispose_engines",
    "engine_for",
    "make_engine",
    "normalize_url",
    "serialize_preparation",
    "session_factory",
    "upgrade",
    "utcnow",
]
