"""What every benchmark script here shares: BLAS threads, the allocator, interleaved timing,
memory measurement, markdown tables and the machine description.

Nothing in this file knows about RNNs; the scripts beside it do. Timings are always taken
interleaved (A, B, C, A, B, C, ...) after a warm-up and reported as medians, so a burst of load
from another process hits every column alike instead of one of them.
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

# The variables BLAS libraries (and PyTorch's OpenMP pool) read once, when they are loaded:
# so a thread count can only be chosen for a process before it imports numpy.
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")
# XLA (JAX) ignores those; these flags keep its CPU backend to one thread.
XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def all_threads() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def thread_env(threads: int) -> dict[str, str]:
    """Environment variables that hold BLAS, OpenMP and XLA to ``threads`` threads (0: all CPUs)."""
    n = threads or all_threads()
    env = {var: str(n) for var in THREAD_ENV_VARS}
    if n == 1:
        env["XLA_FLAGS"] = XLA_ONE_THREAD
    return env


DEFAULT_ALLOCATOR = "allocator: the system's default, as a user's script leaves it (no tune_allocator)"


def tune_process_allocator() -> str:
    """Call ``tinygrad_rnn.memory.tune_allocator`` (glibc mallopt thresholds) for this whole
    process, so the engine, numpy and every peer run with the same allocator settings; returns
    the sentence the report prints about it."""
    from tinygrad_rnn.memory import tune_allocator

    if tune_allocator():
        return "allocator: glibc mallopt tuned by tinygrad_rnn.memory.tune_allocator() at process start (all columns)"
    return "allocator: system default (tune_allocator() is glibc-only and changed nothing here)"


# --- timing --------------------------------------------------------------------------------


def interleave(fns: Mapping[str, Callable[[], Any]], reps: int, warmup: int = 3) -> dict[str, list[float]]:
    """Seconds per call of each function, from ``reps`` rounds that call each once, in turn.

    ``warmup`` untimed rounds go first; a full garbage collection runs before the timed rounds
    (and automatic collection stays as it is: the engines that make cycles pay for them).
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    gc.collect()
    times: dict[str, list[float]] = {name: [] for name in fns}
    clock = time.perf_counter
    for _ in range(reps):
        for name, fn in fns.items():
            t0 = clock()
            fn()
            times[name].append(clock() - t0)
    return times


def median_ms(seconds: Sequence[float]) -> float:
    return 1e3 * statistics.median(seconds)


def time_once(fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    """(fn(*args), seconds it took)."""
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


# --- memory --------------------------------------------------------------------------------


def traced(fn: Callable[[], Any]) -> tuple[Any, int, int]:
    """(fn's result, bytes it left allocated while its result is alive, peak bytes while it ran),
    both above what was allocated before.

    tracemalloc sees Python objects and numpy's array buffers (numpy reports them to it); it
    slows Python code down, so never time a function while measuring it. The engine's buffer
    pool is emptied first: otherwise the arrays ``fn`` reuses from it would not count.
    """
    from tinygrad_rnn import memory

    memory.empty_pool()
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        out = fn()
        now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return out, now - base, peak - base


def traced_growth(fn: Callable[[], Any], runs: int) -> list[int]:
    """Bytes still allocated after each of ``runs`` calls of ``fn`` (its result dropped), as
    differences from before the first: a leak shows as a rising list, a freed graph as ~0."""
    import numpy as np

    left = np.zeros(runs, dtype=np.int64)  # filled in place: the loop keeps no new object alive
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for i in range(runs):
            fn()
            left[i] = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    return left.tolist()


def rss_bytes() -> int:
    """The resident set size of this process now (Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


# --- output --------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], numeric_from: int = 1) -> str:
    """A markdown table; columns from ``numeric_from`` on are right-aligned."""
    align = ["---" if i < numeric_from else "---:" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt_bytes(n: float) -> str:
    """1234567 -> '1.2 MB' (decimal units)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f} B"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def blas_description() -> str:
    """numpy's version and the BLAS it was built with."""
    import numpy as np

    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{blas['name']} {blas['version']}"
    except Exception:  # show_config's layout is not a stable API; the line is informative only
        blas = "BLAS unknown"
    return f"numpy {np.__version__} ({blas})"


def blas_threads() -> str:
    """How many threads BLAS runs, as threadpoolctl reports it, else from the environment."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        env = ", ".join(f"{v}={os.environ[v]}" for v in THREAD_ENV_VARS if v in os.environ)
        return f"{env or 'library default'} (set before numpy was imported)"
    libs = [f"{i['internal_api']} {i['num_threads']}" for i in threadpool_info() if i["user_api"] == "blas"]
    return f"{', '.join(libs) or 'none found'} (threadpoolctl)"


def machine_lines() -> list[str]:
    """The machine, Python, numpy and BLAS, one fact per line."""
    u = platform.uname()
    return [
        f"machine: {u.system} {u.release} {u.machine}; {cpu_model()}; {os.cpu_count()} CPUs",
        f"Python {platform.python_version()} ({sys.executable}); {blas_description()}",
    ]


def source_state() -> str:
    """The commit of the working tree this run measured, and any uncommitted library files."""
    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=False)
        except OSError:
            return ""
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("diff", "--name-only", "HEAD", "--", "tinygrad_rnn", "viz").split()
    return f"source: commit {commit}" + (f", with uncommitted changes to {', '.join(dirty)}" if dirty else "")


def load_average() -> str:
    try:
        return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "load average unknown"


#: what this process measured that issue 14's targets read (``run_all.TARGETS``): key -> value
MEASURED: dict[str, float] = {}


def measured(key: str, value: float) -> None:
    """Keep ``value`` under ``key`` for the targets table; of several, the worst (the largest)."""
    MEASURED[key] = max(float(value), MEASURED.get(key, float(value)))


def progress(message: str) -> None:
    """A progress line on stderr (stdout carries only the markdown report)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def torch_threads() -> str | None:
    """PyTorch's own thread count, if it was loaded (it reads OMP_NUM_THREADS at import)."""
    torch = sys.modules.get("torch")
    return None if torch is None else f"PyTorch intra-op threads: {torch.get_num_threads()}."
