"""Route a resident's text to a consultation category and to the committee that handles it.

Keywords from ``communities.yml`` decide (scored by matched keywords, longer ones weigh more);
the embedding model only breaks ties or rescues texts no keyword matches, and is loaded lazily,
so routing keeps working when the model is unavailable. What stays unroutable goes to the
community's fallback committee (居委会/村委会) with a flag.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.kb.models import Committee, Community, CommunityDirectory, ConsultationCategory


@dataclass(frozen=True)
class RouteResult:
    category: str | None  # category id; None when unroutable
    category_name: str | None
    committee: Committee
    community: Community
    flagged_unroutable: bool
    method: str  # keyword | embedding | unroutable | category_given
    scores: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict:
        """The ``python -m bot route --json`` shape."""
        return {
            "category": self.category,
            "committee": {"id": self.committee.id, "name": self.committee.name, "type": self.committee.type},
            "community": {"id": self.community.id, "name": self.community.name},
        }


class Router:
    """Stateless apart from lazily built caches; safe to share between threads."""

    def __init__(self, directory: CommunityDirectory, kb_dir=None, *, use_embedding: bool = True): ...

    def classify(self, text: str) -> tuple[str | None, str, dict[str, float]]:
        """Return (category id or None, method, scores)."""
        raise NotImplementedError

    def committee_for(self, community: Community, category: str | None, text: str = "") -> tuple[Committee, bool]:
        """The committee of ``community`` handling ``category``; (fallback, True) when none does."""
        raise NotImplementedError

    def route(self, text: str, community_id: str, category: str | None = None) -> RouteResult:
        raise NotImplementedError
