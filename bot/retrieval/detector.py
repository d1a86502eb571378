"""The shape of the assistant's two detectors: ``gate.ScopeGate`` (about the knowledge base at all?) and
``matter.MatterDetector`` (a community matter for a consultation?).

Each gathers evidence about a question once (a signal), weighs it into one score with weights calibrated on the
dev set only, and decides by a threshold; ``signal_with`` re-weighs kept evidence, so calibration never re-encodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar


@dataclass(frozen=True)
class Weights:
    """A detector's calibrated weights; a question passes at ``score >= threshold``."""

    threshold: float = 0.0


@dataclass(frozen=True)
class Signal:
    """A detector's evidence about one question, and the score its weights give it."""

    score: float = field(default=0.0, kw_only=True)


W = TypeVar("W", bound=Weights)
S = TypeVar("S", bound=Signal)


class Detector(Generic[W, S]):
    params: W

    def signal_with(self, s: S, params: W) -> S:
        """The same evidence re-scored with other weights."""
        raise NotImplementedError

    def passes(self, s: S, params: W | None = None) -> bool:
        return s.score >= (params or self.params).threshold
