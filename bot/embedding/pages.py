"""Drop the clean, memory-mapped pages of the fp32 weights file from this process's resident set.

Why: ONNX Runtime maps ``model.onnx.data`` privately and reads the 384 MB word-embedding table from it; every
token row a text touches makes the kernel map its neighbours too (fault-around, large page-cache folios), so
the index build and the first questions leave ~70-130 MB of the table mapped in the process although a
query needs a few rows. The MatMul weights are repacked into ONNX Runtime's own memory, so their mapped
originals are not read again either. ``madvise(MADV_DONTNEED)`` on a clean private file mapping only unmaps:
a later read faults the same bytes back from the page cache (or the file). Ranges holding a dirty or
copy-on-write page are left alone, since dropping those would lose data. Linux only; elsewhere a no-op.

The pages stay in the kernel's page cache (shared, reclaimable): this lowers what the process holds, not
what the machine caches.
"""

from __future__ import annotations

import ctypes
import logging
import sys
from pathlib import Path

MADV_DONTNEED = 4
log = logging.getLogger(__name__)


def mapped_ranges(path: Path | str) -> list[tuple[int, int, int, bool]]:
    """(start, end, resident kB, clean) of every mapping of ``path`` in this process."""
    target = str(Path(path).resolve())
    out: list[list] = []
    current: list | None = None
    try:
        with open("/proc/self/smaps", encoding="utf-8", errors="replace") as f:
            for line in f:
                head, _, rest = line.partition(" ")
                if "-" in head and not head.endswith(":"):
                    current = None
                    fields = rest.split(None, 4)
                    if len(fields) == 5 and fields[4].strip() == target:
                        start, end = (int(x, 16) for x in head.split("-"))
                        current = [start, end, 0, True]
                        out.append(current)
                elif current is not None:
                    key, _, value = line.partition(":")
                    if key == "Rss":
                        current[2] = int(value.split()[0])
                    elif key in ("Private_Dirty", "Shared_Dirty", "Anonymous") and int(value.split()[0]):
                        current[3] = False
    except OSError:
        return []
    return [tuple(r) for r in out]


def release_mapped_pages(path: Path | str) -> int:
    """Unmap the resident pages of ``path``'s clean mappings; the kB released (0 where nothing applies)."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return 0
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    released = 0
    for start, end, resident, clean in mapped_ranges(path):
        if clean and resident and libc.madvise(start, end - start, MADV_DONTNEED) == 0:
            released += resident
    if released:
        log.debug("released %d kB of mapped pages of %s", released, path)
    return released
