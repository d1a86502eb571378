"""The scope layer before answering: topics the plan does not cover and other places than this city.

A question that fires a topic cue (``data/offtopic_topics.yml``) or names another Chinese place (the gazetteer in
:mod:`bot.retrieval.places`) gets that topic's short honest reply with a pointer (12345, 120, 12348, 统计公报 …),
never local content with a citation. Cues are the high-precision part; the general part is similarity: each topic's
``prototypes`` are embedded once (as passages, cached on disk per model) and a question whose best topic prototype
is closer than its best knowledge-base passage by ``margin`` (``LINLI_RETRIEVAL_SCOPE_MARGIN``, calibrated on the
tuning sets blind_dev, blind_dev2 and dev) is declined with that topic's reply. The question's own embedding
is the one the search uses, so the layer costs no extra encode. Questions that pass are still judged by the gate
(:mod:`bot.retrieval.gate`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.kb.yamlload import load_file
from bot.retrieval.places import ABROAD, NO_HOTLINE, Gazetteer, gazetteer

TOPICS_FILE = Path(__file__).with_name("data") / "offtopic_topics.yml"
HOTLINE_FALLBACK = "其他问题也可以拨打12345政务服务便民热线。"


@dataclass(frozen=True)
class Topic:
    id: str
    cues: tuple[re.Pattern, ...]
    reply: str
    unless: re.Pattern | None = None  # wording that keeps the question in scope (康复 for "能治好吗")
    prototypes: tuple[str, ...] = ()  # generic requests of the topic, for the similarity decision
    anywhere: bool = False  # cues count anywhere in a long message (safety topics), not only where it asks
    after_matter: bool = False  # a community matter (noise upstairs) found in the question is answered as one
    after_place: bool = False  # another place named in the question gets the place's reply (德国的养老院怎么收费)


@dataclass(frozen=True)
class Decline:
    topic: str  # a topic id, or "other_place"
    reply: str
    place: str | None = None
    similarity: float | None = None  # topic prototype cosine minus best KB cosine, when decided by similarity


@dataclass(frozen=True)
class ScopeSimilarity:
    topic: str  # the nearest topic
    topic_cosine: float  # best cosine to that topic's prototypes
    kb_cosine: float  # best cosine to a knowledge-base passage (plan clause, service, indicator)

    @property
    def margin(self) -> float:
        return self.topic_cosine - self.kb_cosine


def _flag(topic: dict, name: str) -> bool:
    """A topic's yes/no setting; anything but true or false is a slip in the file (a cue line under ``anywhere:``
    turns it into a string), so it fails loudly instead of being read as true."""
    value = topic.get(name, False)
    if not isinstance(value, bool):
        raise ValueError(f"topic {topic.get('id')!r}: {name} must be true or false, not {value!r}")
    return value


class TopicClassifier:
    def __init__(
        self,
        topics: list[Topic],
        places: Gazetteer,
        place_reply: str,
        not_after: re.Pattern,
        abroad_reply: str = "",
        no_hotline_reply: str = "",
    ):
        self.topics = topics
        self.places = places
        self.place_reply = place_reply
        self.abroad_reply = abroad_reply or place_reply
        self.no_hotline_reply = no_hotline_reply or self.abroad_reply
        self.not_after = not_after
        self._by_id = {t.id: t for t in topics}
        self.proto_vectors: np.ndarray | None = None
        self.proto_topics: list[str] = []

    @classmethod
    def load(cls, local_names: tuple[str, ...] = (), path: Path = TOPICS_FILE) -> TopicClassifier:
        raw = load_file(path)
        topics = [
            Topic(
                t["id"],
                tuple(re.compile(c, re.IGNORECASE) for c in t.get("cues") or ()),
                t["reply"].strip(),
                re.compile(t["unless"]) if t.get("unless") else None,
                tuple(t.get("prototypes") or ()),
                _flag(t, "anywhere"),
                _flag(t, "after_matter"),
                _flag(t, "after_place"),
            )
            for t in raw["topics"]
        ]
        other = raw["other_place"]
        return cls(
            topics,
            gazetteer(tuple(sorted(local_names))),
            other["reply"].strip(),
            re.compile(other["not_after"]),
            other.get("abroad_reply", "").strip(),
            other.get("no_hotline_reply", "").strip(),
        )

    def embed_prototypes(self, embedder, cache_dir: Path | None = None) -> None:
        """Embed every topic's prototypes once (as passages, like the KB), reusing the on-disk copy for this model."""
        texts = [p for t in self.topics for p in t.prototypes]
        self.proto_topics = [t.id for t in self.topics for _ in t.prototypes]
        if not texts:
            self.proto_vectors = np.zeros((0, 1), dtype=np.float32)
            return
        key = hashlib.sha256("\n".join([str(getattr(embedder, "model_id", "")), *texts]).encode()).hexdigest()[:16]
        path = Path(cache_dir) / f"scope-prototypes-{key}.npy" if cache_dir else None
        if path is not None and path.exists():
            self.proto_vectors = np.load(path)
            return
        self.proto_vectors = np.ascontiguousarray(embedder.passages(texts), dtype=np.float32)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, self.proto_vectors)

    def similarity(self, query_vector: np.ndarray, kb_cosine: float) -> ScopeSimilarity | None:
        """The nearest off-topic topic for an embedded question, next to its best knowledge-base cosine."""
        if self.proto_vectors is None or not len(self.proto_topics):
            return None
        sims = self.proto_vectors @ np.asarray(query_vector, dtype=np.float32).reshape(-1)
        best = int(np.argmax(sims))
        return ScopeSimilarity(self.proto_topics[best], float(sims[best]), float(kb_cosine))

    def by_similarity(self, sim: ScopeSimilarity | None, margin: float) -> Decline | None:
        """Decline as the nearest topic when it is closer than the knowledge base by at least ``margin``."""
        if sim is None or sim.margin < margin:
            return None
        return Decline(sim.topic, self._by_id[sim.topic].reply, similarity=sim.margin)

    def reply_decline(self, topic_id: str, fallback: bool = False) -> Decline:
        """A decline with a topic's reply (the general one for an unknown id); ``fallback``: the topic was guessed by
        resemblance, so a reply without the city hotline adds it for the resident whose problem is another."""
        topic = self._by_id.get(topic_id) or self._by_id["general"]
        reply = topic.reply
        if fallback and "12345" not in reply:
            reply = f"{reply}{HOTLINE_FALLBACK}"
        return Decline(topic.id, reply)

    def reply_for(self, text: str, pointers: list[str]) -> str:
        """The topic whose reply gives a declined question its pointer (a blind set's ``pointer_any``): of the topics
        whose reply names the first pointer (else any), the one its cue picks, else chit-chat or the general reply,
        else the first listed; "" when no reply names any."""
        for wanted in ([pointers[0]] if pointers else [], pointers):
            names = [t.id for t in self.topics if any(str(p).lower() in t.reply.lower() for p in wanted)]
            if names:
                cue = self.topic_of(text)
                if cue is not None and cue.topic in names:
                    return cue.topic
                return next((n for n in ("chitchat", "general") if n in names), names[0])
        return ""

    def yields_to_matter(self, topic_id: str) -> bool:
        topic = self._by_id.get(topic_id)
        return topic is not None and topic.after_matter

    def topic_of(self, text: str, asking: str | None = None) -> Decline | None:
        """The first topic whose cue fires; ``asking``: the asking end of a long message, where the cues of the
        topics that are not ``anywhere`` must fire (a side detail of the story asks nothing)."""
        for t in self.topics:
            where = text if t.anywhere or asking is None else asking
            if any(c.search(where) for c in t.cues) and not (t.unless and t.unless.search(text)):
                return Decline(t.id, t.reply)
        return None

    def other_place(self, text: str) -> str | None:
        """Another place the question is about (not merely where the resident comes from)."""
        latin = self.places.find_latin(text)
        if latin is not None and not _FROM_EN.search(text[: latin[1]]):
            return latin[0]
        start = 0
        while start < len(text):
            place = self.places.find(text[start:])
            if place is None:
                return None
            at = text.find(place, start) if place in text[start:] else self._surface_at(text, start)
            said = next((k for k in self.places.lengths if self.places.names.get(text[at : at + k]) == place), 0)
            if not self.not_after.search(text[max(0, at - 6) : at]) and not _WORKS_THERE.match(text, at + said):
                return self._narrowest(text, at, place)
            start = at + 1
        return None

    def _narrowest(self, text: str, at: int, place: str) -> str:
        """A wider place said with a narrower one right after it (甘肃临夏县, 北京海淀区): the two as said, so that the
        reply names the county asked about, not only its province."""
        names, lengths = self.places.names, self.places.lengths
        n = next((k for k in lengths if names.get(text[at : at + k]) == place), 0)
        for start in (at + n, at + n + 1) if n else ():
            k = next((k for k in lengths if text[start : start + k] in names), 0)
            if k and names[text[start : start + k]] != place:
                return text[at : start + k]
        return place

    def _surface_at(self, text: str, start: int) -> int:
        for i in range(start, len(text)):
            for n in self.places.lengths:
                if text[i : i + n] in self.places.names:
                    return i
        return len(text)

    def classify(self, text: str, asking: str | None = None) -> Decline | None:
        found = self.topic_of(text, asking)
        if found is not None and not self._by_id[found.topic].after_place:
            return found
        place = self.other_place(text)
        if place is None:
            return found
        if place in ABROAD:
            reply = self.abroad_reply
        else:
            reply = self.no_hotline_reply if place in NO_HOTLINE else self.place_reply
        return Decline("other_place", reply.format(place=place), place)


#: A place where someone works or studies (年轻人都去广东打工了): the story's background, not what is asked about.
_WORKS_THERE = re.compile(r"(省|市|那边|那里|这边)?(打工|务工|上班|读书|上学|念书|做生意|当兵)")

#: Where the writer comes from or lives (I'm in Toronto, living in Canada): the story's background, not its subject.
_FROM_EN = re.compile(
    r"\b(from|born in|grew up in|moved here from|(i|we)('m| am| are|'re)? (now )?(living|live|based|working|work|staying|studying)"
    r" in|living in|(i|we)('m| am| are|'re) (now )?in|abroad in|overseas in|(lives?|works?|stays?)( alone| now)? in)\s+$",
    re.IGNORECASE,
)
