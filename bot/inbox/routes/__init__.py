"""The inbox pages, one router per area; ``bot.inbox.app`` includes them all (behind the CSRF check)."""

from bot.inbox.routes import (
    consultations,
    dashboard,
    handoffs,
    health,
    kb_catalogue,
    kb_clauses,
    kb_documents,
    kb_hittest,
    kb_learning,
    login,
    oversight,
    users,
)

#: Every area, in the order the app includes them.
AREAS = (
    login,
    dashboard,
    consultations,
    oversight,
    handoffs,
    users,
    kb_documents,
    kb_hittest,
    kb_learning,
    kb_catalogue,
    kb_clauses,
    health,
)
