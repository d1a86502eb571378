"""Store of unanswered questions and 👍/👎 ratings (SQLAlchemy; same database as consultations).

Only masked question text is kept (phones, ID numbers via :mod:`bot.privacy`); no sender id, no
names, so workers can read the gap report freely. The table lives in the one database
(:mod:`bot.db`: ``Base.metadata``, Alembic revision 0003): ``python -m bot db upgrade`` creates it, and a store opened
on a database without it runs that upgrade itself.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import Column, DateTime, Integer, String, Table, func, inspect, select
from sqlalchemy.engine import Engine

from bot.db.base import Base
from bot.privacy import mask

MAX_CHARS = 300
metadata = Base.metadata
events = Table(
    "feedback_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("kind", String(16), nullable=False, index=True),  # unanswered | rating
    Column("reason", String(32)),  # out_of_scope | nlu_fallback | out_of_scope_intent
    Column("rating", Integer),  # +1 / -1
    Column("question", String(MAX_CHARS), nullable=False),
    Column("question_key", String(MAX_CHARS), nullable=False, index=True),
    Column("answer_kind", String(16)),
    Column("sources", String(400)),
    Column("channel", String(32)),
    Column("kb_version", String(16)),  # the knowledge version that answered (revision 0009)
)
_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)


def normalize_question(text: str) -> str:
    """Grouping key: NFKC, lower case, punctuation/space removed ("医保 在哪办？" == "医保在哪办")."""
    return _NOISE.sub("", unicodedata.normalize("NFKC", text).lower())[:MAX_CHARS]


def _clean(text: str) -> str:
    return mask(str(text or "")).replace("\x00", "").strip()[:MAX_CHARS]


@dataclass(frozen=True)
class Gap:
    question: str  # a representative (masked) wording
    count: int
    last_seen: datetime
    reasons: tuple[str, ...]
    thumbs_down: int = 0


class FeedbackStore:
    def __init__(self, url: str | Engine, *, prepare: bool = True):
        """``prepare``: apply the migrations when the table is missing (a no-op after ``db upgrade``)."""
        from bot.db.engine import engine_for, upgrade

        self.engine = url if isinstance(url, Engine) else engine_for(url)
        if prepare and not inspect(self.engine).has_table(events.name):
            upgrade(self.engine.url.render_as_string(hide_password=False), engine=self.engine)

    @classmethod
    def from_settings(cls, settings=None) -> FeedbackStore:
        from bot.settings import get_settings

        settings = settings or get_settings()
        if not settings.database_url:
            settings.var_dir.mkdir(parents=True, exist_ok=True)
        return cls(settings.sqlalchemy_url)

    def _insert(self, **values) -> None:
        question = _clean(values.pop("question"))
        key = normalize_question(question)
        if not key:
            return
        with self.engine.begin() as conn:
            conn.execute(
                events.insert().values(
                    created_at=datetime.now(timezone.utc), question=question, question_key=key, **values
                )
            )

    def record_unanswered(
        self, question: str, *, reason: str = "out_of_scope", channel: str | None = None, kb_version: str = ""
    ) -> None:
        self._insert(
            kind="unanswered",
            reason=reason[:32],
            question=question,
            channel=(channel or "")[:32],
            kb_version=(kb_version or "")[:16] or None,
        )

    def record_rating(
        self,
        rating: int,
        question: str,
        *,
        answer_kind: str | None = None,
        sources: list[str] = (),
        channel: str | None = None,
        kb_version: str = "",
    ) -> None:
        if rating not in (1, -1):
            raise ValueError("rating must be +1 or -1")
        self._insert(
            kind="rating",
            rating=rating,
            question=question,
            answer_kind=(answer_kind or "")[:16],
            sources=",".join(sources)[:400],
            channel=(channel or "")[:32],
            kb_version=(kb_version or "")[:16] or None,
        )

    def gaps(self, limit: int = 20, since_days: int | None = None, include_thumbs_down: bool = True) -> list[Gap]:
        """Most frequent unanswered questions (and, optionally, answers rated 👎), most frequent first."""
        since = datetime.now(timezone.utc) - timedelta(days=since_days) if since_days else None
        groups: dict[str, dict] = {}
        with self.engine.connect() as conn:
            q = select(
                events.c.question_key,
                events.c.question,
                events.c.kind,
                events.c.reason,
                events.c.rating,
                events.c.created_at,
            )
            if since is not None:
                q = q.where(events.c.created_at >= since)
            for key, question, kind, reason, rating, at in conn.execute(q.order_by(events.c.id)):
                if kind == "rating" and not (include_thumbs_down and rating == -1):
                    continue
                g = groups.setdefault(key, {"question": question, "count": 0, "down": 0, "last": at, "reasons": set()})
                g["count"] += 1
                g["question"], g["last"] = question, max(g["last"], at) if g["last"] else at
                if kind == "rating":
                    g["down"] += 1
                    g["reasons"].add("thumbs_down")
                else:
                    g["reasons"].add(reason or "unanswered")
        ranked = sorted(groups.values(), key=lambda g: (-g["count"], g["question"]))
        return [
            Gap(g["question"], g["count"], g["last"], tuple(sorted(g["reasons"])), g["down"]) for g in ranked[:limit]
        ]

    def rating_counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(events.c.rating, func.count()).where(events.c.kind == "rating").group_by(events.c.rating)
            ).all()
        counts = {"up": 0, "down": 0}
        for rating, n in rows:
            counts["up" if rating == 1 else "down"] += n
        return counts
