"""Keep memory between training steps instead of faulting it in again.

An unrolled graph allocates and frees megabytes of arrays every step. With glibc's defaults,
large arrays are mmap'ed and unmapped one by one, and the top of the heap is handed back to
the system when the graph is freed, so the next step pays a page fault for every page it
touches again: measured, that made the forward pass of a row-MNIST step 2.6x slower
(``benchmarks/allocator.py``). Two remedies, one place:

- **The buffer pool** (on by default; only the engine's own arrays). The hot ops (matmul, the
  fused affine steps, add, sub, mul, tanh) write their outputs into ``output(shape, dtype)``: an
  array of the pool that nothing else refers to any more (the last step's graph, once dropped), or
  a new one the pool keeps. Arrays under 16 kB are left to the allocator, which keeps those
  anyway. The pool holds at most ``limit`` bytes per thread (``set_pool_limit``; 0 turns it off)
  and ``empty_pool()`` gives its memory back; ``pool_bytes()`` says how much it holds. "Refers
  to" is Python's reference count: a weak reference or a raw address (``a.ctypes.data``) of an
  op's output does not keep it, hold the array itself. When the pool is full, it drops the
  arrays nothing refers to (e.g. of a past batch size) to make room. A value a ``step`` block
  gives up (``autograd.release``) comes back to the pool through ``give_back`` and is the next
  output of its shape: a by-hand step then reuses the last step's products and sums.
- ``tune_allocator`` raises glibc's mmap and trim thresholds so that all freed memory stays
  mapped. It changes the whole process, so the library never calls it: programs that own their
  process may (``tinygrad-rnn train``, ``examples/demo.py``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

#: arrays smaller than this are not pooled (bytes)
MIN_BYTES = 16 << 10
_DEFAULT_LIMIT = 256 << 20


class _Pool(threading.local):
    """One thread's pool: per (shape, dtype), its arrays, oldest first."""

    def __init__(self) -> None:
        self.queues: dict[tuple, deque[np.ndarray]] = {}
        self.bytes = 0
        self.limit = _DEFAULT_LIMIT
        self.arrays = 0  # in all queues
        self.wait = 0  # new arrays to pass up, while full, before looking for free ones again
        self.ids: set[int] = set()  # id of every array in the queues
        self.given_back: dict[tuple, list[np.ndarray]] = {}  # per key, arrays to hand out first


_POOL = _Pool()
_refs = sys.getrefcount


def refs_at(items: Sequence[Any], i: int) -> int:
    """References to ``items[i]`` (a pooled array, or a tensor a step block recorded: autograd's
    ``release``), counted the same way as for the probe ``UNHELD`` (no local name holds it: a
    tracer that reads a frame's locals would add a reference)."""
    return _refs(items[i])


def _probe() -> int:
    """What ``refs_at`` gives for an object only its container holds, on this Python (the count of
    references a call adds differs between versions; anything above it means "in use")."""
    return refs_at(deque([np.empty(1)]), 0)


UNHELD = _probe()
if hasattr(sys, "_is_gil_enabled") and not sys._is_gil_enabled():  # free-threaded: counts are not exact
    _POOL.limit = _DEFAULT_LIMIT = 0


def output(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """An uninitialised C-contiguous array for an op's output: one of the pool's arrays of this
    shape and dtype that nothing else refers to any more, else a new one (which the pool keeps
    while it holds less than its limit). The caller must overwrite every element.

    Two arrays are looked at: the newest (a temporary of this step that died, still in cache)
    and the oldest (the last step's graph, dropped); the oldest then goes to the back, free or
    not, so that an array someone keeps does not stop the queue."""
    pool = _POOL
    key = (shape, dtype)
    if pool.given_back:
        back = pool.given_back.get(key)
        if back:
            return back.pop()
    q = pool.queues.get(key)
    if q is not None:
        if refs_at(q, -1) == UNHELD:
            return q[-1]
        free = refs_at(q, 0) == UNHELD
        q.rotate(-1)
        if free:
            return q[-1]
    arr = np.empty(shape, dtype)
    if pool.bytes + arr.nbytes > pool.limit and pool.limit:
        if pool.wait > 0:
            pool.wait -= 1
        else:
            _evict(pool)
    if pool.bytes + arr.nbytes <= pool.limit:
        if q is None:
            q = pool.queues[key] = deque()
        q.append(arr)
        pool.ids.add(id(arr))
        pool.bytes += arr.nbytes
        pool.arrays += 1
    return arr


def is_pooled(arr: np.ndarray) -> bool:
    """Whether ``arr`` is one of this thread's pool's arrays."""
    return id(arr) in _POOL.ids


def give_back(arr: np.ndarray) -> None:
    """Hand ``arr`` out again before looking at the queues, if it is one of the pool's. The caller
    guarantees that nothing else refers to it but the pool and the caller, which then drops it
    (a value a step block gave up: ``autograd.release``). Without this, the two looks of
    ``output`` rarely find such an array (neither the newest nor the oldest): a by-hand
    row-MNIST step's peak memory was 2.1x numpy's with the pool, 1.05x without it."""
    if is_pooled(arr):  # the queue's array itself: a queue keeps its arrays alive
        _POOL.given_back.setdefault((arr.shape, arr.dtype), []).append(arr)


def _evict(pool: _Pool) -> None:
    """Drop every array of the pool that nothing else refers to (the pool is full: arrays of
    shapes no longer asked for, e.g. a past batch size, make room for the shapes in use).

    One look at each array, in order. The next look waits for as many new arrays as the pool
    holds, so that a graph larger than the pool (which holds every pooled array) costs one
    look per new array, not a look at the whole pool each (T = 10,000 by hand took 26x numpy)."""
    pool.given_back.clear()  # its hold would make them look in use
    for key in list(pool.queues):
        q = pool.queues[key]
        for _ in range(len(q)):
            if refs_at(q, 0) == UNHELD:
                pool.ids.discard(id(q[0]))
                pool.bytes -= q.popleft().nbytes
                pool.arrays -= 1
            else:
                q.rotate(-1)
        if not q:
            del pool.queues[key]
    pool.wait = pool.arrays


def set_pool_limit(limit: int) -> None:
    """The most bytes this thread's pool keeps (default 256 MiB); 0 turns pooling off. Arrays it
    already holds beyond the new limit are dropped (freed once nothing else refers to them)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValueError(f"memory.set_pool_limit: limit must be a number of bytes >= 0, got {limit!r}")
    _POOL.limit = limit
    if _POOL.bytes > limit:
        empty_pool()


def empty_pool() -> None:
    """Drop every array the pool holds (each is freed once nothing else refers to it)."""
    _POOL.queues.clear()
    _POOL.ids.clear()
    _POOL.given_back.clear()
    _POOL.bytes = _POOL.arrays = _POOL.wait = 0


def pool_bytes() -> int:
    """Bytes of the arrays this thread's pool holds, in use or free."""
    return _POOL.bytes

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
