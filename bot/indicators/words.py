"""Figures from a community worker's message: "户数1200，设施面积400平方米" or "1200户" (the words in FIGURES)."""

from __future__ import annotations

import re

_NUM = r"(\d+(?:\.\d+)?)"


def parse_figures(text: str) -> dict[str, float]:
    """'户数1200，设施面积400平方米' or '1200户' → {'households': 1200, 'facility_area': 400}."""
    from bot.indicators import FIGURES

    found: dict[str, float] = {}
    spans: list[tuple[int, int]] = []
    pairs = sorted(((w, k) for k, (_, _, ws) in FIGURES.items() for w in ws), key=lambda x: -len(x[0]))
    for word, key in pairs:
        if key in found:
            continue
        for pattern in (re.escape(word) + r"\s*(?:是|为|有|:|：)?\s*" + _NUM, _NUM + r"\s*" + re.escape(word)):
            for m in re.finditer(pattern, text):
                if any(a < m.end() and m.start() < b for a, b in spans):
                    continue
                if word == "户" and m.re.pattern.startswith(re.escape(word)):
                    continue  # "户数" handled above; bare 户 only after a number
                found[key] = float(m.group(1))
                spans.append(m.span())
                break
            if key in found:
                break
    return found


def parse_message(text: str) -> dict[str, float | str]:
    """The figures of a message, with ``kind`` 村 when it starts by naming a village (empty: no figures)."""
    figures: dict[str, float | str] = dict(parse_figures(text))
    if figures and "村" in text[:12] and "社区" not in text[:12]:
        figures["kind"] = "村"
    return figures
