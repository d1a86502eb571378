"""Documents issued elsewhere (passports, driving licences, ID cards): the catalogue-gap reply with who issues them.

The catalogue-gap reply (“服务目录里没有…”) alone points to 12345; for a document a resident can only get from one
office (出入境 12367, 车管所/交管12123, 派出所), naming that office is what helps. The documents and their offices are
data (``data/elsewhere.yml``); a question is matched where it asks (the asking end of a long story), so a document
mentioned in passing (身份证 among the materials) never turns a service question away.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bot.kb.yamlload import load_file

ELSEWHERE_FILE = Path(__file__).with_name("data") / "elsewhere.yml"

#: The catalogue-gap reply with the office that issues the document.
ISSUED_ELSEWHERE = (
    "服务目录里没有“{word}”这项服务，我不想拿别的服务凑数。{pointer}其他问题也可以拨打12345政务服务便民热线。"
)


@dataclass(frozen=True)
class Issued:
    word: str  # how the reply names the document
    cue: re.Pattern
    pointer: str  # who issues it

    @property
    def reply(self) -> str:
        return ISSUED_ELSEWHERE.format(word=self.word, pointer=self.pointer)


class IssuedElsewhere:
    def __init__(self, documents: list[Issued]):
        self.documents = documents

    @classmethod
    def load(cls, path: Path = ELSEWHERE_FILE) -> IssuedElsewhere:
        raw = load_file(path)
        return cls([Issued(d["word"], re.compile(d["cue"], re.IGNORECASE), d["pointer"]) for d in raw["documents"]])

    def find(self, asking: str) -> Issued | None:
        """The first document the asking words name (None when they name none)."""
        return next((d for d in self.documents if d.cue.search(asking)), None)
