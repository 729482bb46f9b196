"""How the engine's step time and memory grow with sequence length T and hidden size H.

The row-MNIST step of ``row_mnist_step.py`` (I = 28, 10 classes, SGD) with the engine by hand
and through ``nn.RNN`` (``nn.SeqToVec`` + ``F.cross_entropy``), against numpy BPTT at each size,
checked and then interleaved as in the main table. Time per step is the median over the
repetitions; "per time step" divides it by T. Peak memory is tracemalloc's peak over one
separate, untimed step (numpy reports its array buffers to tracemalloc, so it counts the
activations every implementation keeps for BPTT), above what was allocated before the step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from harness import fmt_bytes, interleave, measured, median_ms, table, traced
from row_mnist_step import BUILDERS, N_CLASSES, I, Implementation, build_checked, make_problem

FULL_T = (28, 100, 1_000, 10_000)
QUICK_T = (28, 100)
FULL_H = (64, 150, 512)
QUICK_H = (64, 150)
# The batch: 128 as in row MNIST, smaller for the longest sequences so that one step stays a
# few seconds (numpy BPTT keeps T x B x H activations either way).
BATCH_FOR_T = {10_000: 32}


@dataclass
class Size:
    B: int
    T: int
    H: int

    @property
    def reps(self) -> int:
        """Fewer repetitions as a step's work, B T H (H + I) multiply-adds, grows: 40 at row MNIST's
        size, at least 7 (with 3, T=10,000's numpy median moved 14% between two runs, 1.66 and 1.93 s,
        and its ratio, an issue 14 target, from 1.07 to 1.26)."""
        return max(7, min(50, 4_000_000_000 // (self.B * self.T * self.H * (self.H + I))))


def t_sizes(quick: bool) -> list[Size]:
    return [Size(BATCH_FOR_T.get(T, 128), T, 150) for T in (QUICK_T if quick else FULL_T)]


def h_sizes(quick: bool) -> list[Size]:
    return [Size(128, 28, H) for H in (QUICK_H if quick else FULL_H)]


ENGINES = ("engine_hand", "engine_nn")
LABELS = {"numpy": "numpy", "engine_hand": "by hand", "engine_nn": "nn.RNN"}


def checked(size: Size, dtype: type) -> dict[str, Implementation]:
    """numpy BPTT and the engine (by hand, through nn.RNN) at ``size``, each checked to agree
    with numpy before anything is timed."""
    return build_checked(BUILDERS, *make_problem(size.B, size.T, I, size.H, N_CLASSES, dtype), ("numpy", *ENGINES))


def measure(sizes: Sequence[Size], dtype: type, reps: int | None = None) -> list[list[str]]:
    """One table row per size: times, ratios to numpy, time per time step, peak memory."""
    rows = []
    for size in sizes:
        impls = checked(size, dtype)
        times = interleave({k: impl.step for k, impl in impls.items()}, reps or size.reps, warmup=1)
        ms = {k: median_ms(v) for k, v in times.items()}
        peak = {k: traced(impl.step)[2] for k, impl in impls.items()}
        row = [f"{size.B}", f"{size.T:,}", f"{size.H}", f"{ms['numpy']:.2f}"]
        row += [f"{ms[k]:.2f} (**{ms[k] / ms['numpy']:.2f}**)" for k in ENGINES]
        row += [" / ".join(f"{1e3 * ms[k] / size.T:.0f}" for k in impls)]
        row += [fmt_bytes(peak["numpy"])] + [f"{fmt_bytes(peak[k])} ({peak[k] / peak['numpy']:.1f}x)" for k in ENGINES]
        rows.append(row)
        name = np.dtype(dtype).name
        if (size.T, size.H) in ((28, 64), (10_000, 150)):
            measured(f"{'H=64' if size.H == 64 else 'T=10,000'} by hand {name}", ms["engine_hand"] / ms["numpy"])
        for k in ENGINES:
            measured(f"peak {LABELS[k]}", peak[k] / peak["numpy"])
    return rows


SUBNORMAL_NOTE = (
    "\nNote: with these random weights the gradient sent back through time shrinks about 1e-12 per 100 steps, so "
    "in float32 from T of a few hundred on it passes through the subnormal range (below 1.2e-38), where x86 "
    "arithmetic is up to ~100x slower, before it reaches 0. Those float32 rows time that penalty, for every "
    "implementation alike, more than the engine; float64 (subnormal only below 2.2e-308) shows the engine's "
    "scaling."
)

HEADERS = [
    "B",
    "T",
    "H",
    "numpy ms/step",
    "engine by hand ms (ratio)",
    "engine nn.RNN ms (ratio)",
    "µs per time step: " + " / ".join(LABELS.values()),
    "numpy peak",
    "by hand peak (x numpy)",
    "nn.RNN peak (x numpy)",
]


def report(dtypes: Sequence[type], quick: bool, reps: int | None = None) -> str:
    """The T and H scaling tables, as markdown."""
    out = []
    for dtype in dtypes:
        name = np.dtype(dtype).name
        batches = ", ".join(f"B={b} at T={t:,}" for t, b in BATCH_FOR_T.items())
        out.append(f"#### Scaling in T (H=150), {name}; B=128 except {batches}\n")
        out.append(table(HEADERS, measure(t_sizes(quick), dtype, reps), numeric_from=0))
        if np.dtype(dtype) == np.float32 and not quick:
            out.append(SUBNORMAL_NOTE)
        out.append(f"\n#### Scaling in H (T=28, B=128), {name}\n")
        out.append(table(HEADERS, measure(h_sizes(quick), dtype, reps), numeric_from=0))
        out.append("")
    return "\n".join(out)
