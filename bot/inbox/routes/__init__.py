"""The inbox pages, one router per area; ``bot.inbox.app`` includes them all (behind the CSRF check)."""

from bot.inbox.routes import consultations, dashboard, handoffs, health, login, oversight, users

#: Every area, in the order the app includes them.
AREAS = (login, dashboard, consultations, oversight, handoffs, users, health)
