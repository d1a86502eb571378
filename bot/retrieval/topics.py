"""The scope layer before answering: topics the plan does not cover and other places than this city.

A question that fires a topic cue (``data/offtopic_topics.yml``) or names another Chinese place (the gazetteer in
:mod:`bot.retrieval.places`) gets that topic's short honest reply with a pointer (12345, 120, 12348, 统计公报 …),
never local content with a citation. Questions that pass are still judged by the embedding gate
(:mod:`bot.retrieval.gate`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.retrieval.places import Gazetteer, gazetteer

TOPICS_FILE = Path(__file__).with_name("data") / "offtopic_topics.yml"


@dataclass(frozen=True)
class Topic:
    id: str
    cues: tuple[re.Pattern, ...]
    reply: str
    unless: re.Pattern | None = None  # wording that keeps the question in scope (康复 for "能治好吗")


@dataclass(frozen=True)
class Decline:
    topic: str  # a topic id, or "other_place"
    reply: str
    place: str | None = None


class TopicClassifier:
    def __init__(self, topics: list[Topic], places: Gazetteer, place_reply: str, not_after: re.Pattern):
        self.topics = topics
        self.places = places
        self.place_reply = place_reply
        self.not_after = not_after

    @classmethod
    def load(cls, local_names: tuple[str, ...] = (), path: Path = TOPICS_FILE) -> "TopicClassifier":
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        topics = [Topic(t["id"], tuple(re.compile(c, re.IGNORECASE) for c in t["cues"]), t["reply"].strip(),
                        re.compile(t["unless"]) if t.get("unless") else None) for t in raw["topics"]]
        other = raw["other_place"]
        return cls(topics, gazetteer(tuple(sorted(local_names))), other["reply"].strip(), re.compile(other["not_after"]))

    def topic_of(self, text: str) -> Decline | None:
        for t in self.topics:
            if any(c.search(text) for c in t.cues) and not (t.unless and t.unless.search(text)):
                return Decline(t.id, t.reply)
        return None

    def other_place(self, text: str) -> str | None:
        """Another place the question is about (not merely where the resident comes from)."""
        start = 0
        while start < len(text):
            place = self.places.find(text[start:])
            if place is None:
                return None
            at = text.find(place, start) if place in text[start:] else self._surface_at(text, start)
            if not self.not_after.search(text[max(0, at - 4):at]):
                return place
            start = at + 1
        return None

    def _surface_at(self, text: str, start: int) -> int:
        for i in range(start, len(text)):
            for n in self.places.lengths:
                if text[i:i + n] in self.places.names:
                    return i
        return len(text)

    def classify(self, text: str) -> Decline | None:
        found = self.topic_of(text)
        if found is not None:
            return found
        place = self.other_place(text)
        if place is not None:
            return Decline("other_place", self.place_reply.format(place=place), place)
        return None
