"""The errors a resident or member may see (polite Chinese ``message``), and the database guard.

Every store method runs in its own transaction, so a failure leaves nothing half-written; the guard
turns a lost database into :class:`DatabaseUnavailable` instead of a traceback.
"""

from __future__ import annotations

import functools
import logging

from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

from bot.consultations.statuses import TransitionError
from bot.errors import UserFacingError

log = logging.getLogger("bot.consultations")

__all__ = [
    "AccessDenied",
    "DatabaseUnavailable",
    "NotFoundError",
    "TransitionError",
    "UserFacingError",
    "db_guard",
    "store_unreachable",
]


class DatabaseUnavailable(UserFacingError):
    def __init__(self, message: str = "系统暂时无法保存或查询诉求，请稍后再试。您的内容没有提交，不会重复登记。"):
        super().__init__(message, code="db_unavailable")


class NotFoundError(UserFacingError):
    def __init__(self, message: str = "没有找到这条诉求，请核对受理编号。"):
        super().__init__(message, code="not_found")


class AccessDenied(UserFacingError):
    def __init__(self, message: str = "您无权查看或处理这条诉求。"):
        super().__init__(message, code="forbidden")


def store_unreachable(e: DBAPIError) -> bool:
    """The database could not be reached (connection refused, lost or read-only), as opposed to a bad query."""
    if isinstance(e, IntegrityError):
        return False
    if e.connection_invalidated or isinstance(e, InterfaceError):
        return True
    if isinstance(e, OperationalError):
        text = str(e.orig or e).lower()
        # PostgreSQL connection failures, SQLite read-only / unopenable files; not lock timeouts or syntax
        return any(
            k in text
            for k in (
                "connect",
                "connection",
                "server closed",
                "terminat",
                "readonly",
                "read-only",
                "unable to open",
                "disk i/o",
            )
        )
    return False


def db_guard(method):
    """Turn a lost or refused database connection into a polite, typed error.

    The engine's pool (pre-ping) reconnects by itself once the database is back.
    """

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except DBAPIError as e:
            if not store_unreachable(e):
                raise
            log.warning("database unavailable in %s: %s", method.__name__, type(e.orig).__name__ if e.orig else e)
            raise DatabaseUnavailable() from e

    return wrapper
