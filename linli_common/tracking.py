"""The tracking-number pattern ``YS-20261129-0042``: the store formats at least four sequence digits."""

from __future__ import annotations

import re

PREFIX = "YS"  # 议事
#: The pattern as text (also the NLU regex of ``tracking_number`` in nlu_data/nlu.yml, checked by a test).
REGEX = r"YS-\d{8}-\d{4,}"
#: A tracking number inside a resident's message, any case.
IN_TEXT = re.compile(REGEX, re.IGNORECASE)
#: A whole, canonical tracking number; groups: the day, the sequence.
PATTERN = re.compile(r"^YS-(\d{8})-(\d{4,})$")
#: The example residents are shown.
EXAMPLE = "YS-20260101-0001"
