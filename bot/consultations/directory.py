"""Communities, committees and categories: communities.yml as read by the store, and its copy in the database.

:func:`find_community` is the one community lookup (the chat forms and the store both call it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from sqlalchemy import select

from bot.consultations import models as m
from bot.consultations.errors import NotFoundError
from bot.consultations.records import CategoryInfo, CommitteeInfo, CommunityInfo, SyncCounts
from bot.db import serialize_preparation
from bot.errors import UserFacingError

C = TypeVar("C")


def _short_names(name: str) -> set[str]:
    """幸福社区 → 幸福, 柳树村 → 柳树: how residents name their community."""
    return {n for n in (name.removesuffix("社区"), name.removesuffix("村")) if len(n) >= 2}


def find_community(communities: Iterable[C], value: object, *, in_text: bool = False) -> C | None:
    """The community ``value`` names: its id, its name, or its name without 社区/村 (two characters at
    least). With ``in_text`` a name mentioned inside a longer answer counts too ("我住幸福社区")."""
    if value is None or value == "":
        return None
    key = str(value).strip()
    items = list(communities)
    if not key:
        return None
    for c in items:
        if key in (c.id, c.name):
            return c
    for c in items:
        if key in _short_names(c.name):
            return c
    if in_text:
        for c in items:
            if c.name in key or any(short in key for short in _short_names(c.name)):
                return c
    return None


def committee_info(c: m.Committee) -> CommitteeInfo:
    return CommitteeInfo(c.id, c.name, c.type, c.community_id, tuple(c.category_ids), c.compound, c.fallback)


class Directory:
    """Reads the knowledge base's directory; ``sync`` copies it into the database."""

    def __init__(self, directory, sessions, default_community: str):
        self._dir = directory
        self.kb_directory = directory  # the knowledge base's directory (categories and their limits)
        self._sessions = sessions
        self._default = default_community
        self._categories = {c.id: c for c in directory.categories}

    def sync(self) -> SyncCounts:
        """Upsert communities/committees from communities.yml (idempotent); entries gone from the
        file are deactivated, not deleted, because consultations still point at them."""
        communities = committees = deactivated = 0
        with self._sessions.begin() as s:
            serialize_preparation(s.connection())  # a worker starting alongside waits, then updates in place
            seen_comm, seen_cmt = set(), set()
            existing_comm = {c.id: c for c in s.scalars(select(m.Community))}
            existing_cmt = {c.id: c for c in s.scalars(select(m.Committee))}
            for c in self._dir.communities:
                row = existing_comm.get(c.id) or m.Community(id=c.id)
                row.name, row.kind, row.township, row.active = c.name, c.kind, c.township, True
                s.add(row)
                seen_comm.add(c.id)
                communities += 1
            s.flush()
            for c in self._dir.communities:
                for pos, k in enumerate(c.committees):
                    row = existing_cmt.get(k.id) or m.Committee(id=k.id)
                    row.community_id, row.name, row.type = c.id, k.name, k.type
                    row.categories = ",".join(k.categories)
                    row.compound, row.fallback, row.position, row.active = k.compound, k.fallback, pos, True
                    s.add(row)
                    seen_cmt.add(k.id)
                    committees += 1
            for seen, existing in ((seen_comm, existing_comm), (seen_cmt, existing_cmt)):
                for cid, row in existing.items():
                    if cid not in seen and row.active:
                        row.active = False
                        deactivated += 1
        return SyncCounts(communities, committees, deactivated)

    def communities(self) -> list[CommunityInfo]:
        out = []
        for c in self._dir.communities:
            cmts = tuple(
                CommitteeInfo(k.id, k.name, k.type, c.id, tuple(k.categories), k.compound, k.fallback)
                for k in c.committees
            )
            out.append(CommunityInfo(c.id, c.name, c.kind, c.township, cmts))
        return out

    def community(self, community_id: str | None) -> CommunityInfo:
        cid = self.community_id(community_id)
        return next(c for c in self.communities() if c.id == cid)

    def find(self, value: object, *, in_text: bool = False) -> CommunityInfo | None:
        """:func:`find_community` over this directory."""
        return find_community(self.communities(), value, in_text=in_text)

    def committee(self, committee_id: str) -> CommitteeInfo:
        with self._sessions() as s:
            row = s.get(m.Committee, committee_id)
            if row is None:
                raise NotFoundError("没有找到这个委员会。")
            return committee_info(row)

    def committees(self) -> list[CommitteeInfo]:
        return [k for c in self.communities() for k in c.committees]

    def categories(self) -> list[CategoryInfo]:
        return [CategoryInfo(c.id, c.name, c.description, tuple(c.keywords)) for c in self._dir.categories]

    def category_name(self, category: str | None) -> str | None:
        return self._categories[category].name if category in self._categories else None

    def community_id(self, community_id: object) -> str:
        """The id of a known community (blank: the default one); a polite error listing them otherwise."""
        if community_id is None or (isinstance(community_id, str) and not community_id.strip()):
            community_id = self._default
        found = find_community(self._dir.communities, community_id) if isinstance(community_id, str) else None
        if found is not None:
            return found.id
        names = "、".join(c.name for c in self._dir.communities)
        raise UserFacingError(f"没有找到这个社区或村，可以选择：{names}。", code="unknown_community")

    def category_id(self, category: object) -> str:
        if isinstance(category, str):
            key = category.strip()
            if key in self._categories:
                return key
            for c in self._categories.values():
                if key == c.name:
                    return c.id
        names = "、".join(c.name for c in self._categories.values())
        raise UserFacingError(f"没有这个议事类别，可以选择：{names}。", code="unknown_category")
