"""Keep freed memory in the process between training steps (glibc only).

An unrolled graph allocates and frees megabytes of arrays every step. With glibc's defaults,
large arrays are mmap'ed and unmapped one by one, and the top of the heap is handed back to
the system when the graph is freed, so the next step pays page faults to get it back: measured
here, that was a third of a float64 row-MNIST step. ``tune_allocator`` raises glibc's mmap and
trim thresholds so the memory stays mapped and is reused. It changes the whole process, so the
library never calls it: the programs that own their process do (``tinygrad-rnn train``,
``examples/demo.py``, the benchmarks).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3


def tune_allocator(mmap_threshold: int = 64 << 20, trim_threshold: int = 256 << 20, top_pad: int = 64 << 20) -> bool:
    """Set glibc's ``mallopt`` thresholds (bytes); returns False, changing nothing, elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc (e.g. musl)
    settings = ((_M_MMAP_THRESHOLD, mmap_threshold), (_M_TRIM_THRESHOLD, trim_threshold), (_M_TOP_PAD, top_pad))
    return all(mallopt(option, value) == 1 for option, value in settings)
