"""What `make run` shows a person: progress and errors, not the libraries' warnings.

Reads a command's output on stdin, writes every line to the log file given, and echoes to the terminal only
progress lines (``[setup]``, ``[train]``, ``[run]``) and lines that report an error. Deprecation and other
warnings of TensorFlow, pkg_resources, pyparsing and friends stay in the log.

    scripts/setup.sh 2>&1 | python3 scripts/console.py var/log/setup.log
"""

from __future__ import annotations

import re
import sys

PROGRESS = re.compile(r"^(\x1b\[[0-9;]*m)?\[(setup|train|run)\]")
ERROR = re.compile(
    r"Traceback \(most recent call last\)|\b(ERROR|CRITICAL|FATAL)\b|\b\w*(Error|Exception):|"
    r"\bfailed\b|\berror:",
    re.IGNORECASE,
)
NOISE = re.compile(
    r"Warning\b|warnings\.warn|pkg_resources|pyparsing|tensorflow|oneDNN|cuda|absl|"
    r"^\s*(from|import) |^\s+\S",
    re.IGNORECASE,
)


def shown(line: str) -> bool:
    """True for a line a person needs to see: progress, or an error that is not a library warning."""
    if PROGRESS.match(line):
        return True
    return bool(ERROR.search(line)) and not NOISE.search(line)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: console.py LOGFILE < output", file=sys.stderr)
        return 2
    with open(argv[1], "a", encoding="utf-8", errors="replace") as log:
        for line in sys.stdin:
            log.write(line)
            log.flush()
            if shown(line):
                sys.stderr.write(line)
                sys.stderr.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
