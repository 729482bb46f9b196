"""What the engine costs per recorded node, and a 100,000-step unroll.

**Per node.** At tiny sizes (B = 1, I = 1, H = 4, 2 classes) numpy's arithmetic is negligible,
so the time of a forward + backward pass is the engine's own work per node: making the Tensor,
recording it, walking the graph, calling the backward rule, accumulating. Nodes are counted with
``tinygrad_rnn.autograd.walk`` (every tensor the loss depends on, leaves included). Memory per
node is tracemalloc's count, divided by the nodes: what the recorded graph holds after the
forward pass, and the peak over forward + backward. numpy BPTT at the same size is the floor per
time step (its own Python and numpy-call overhead).

**Unroll.** The issue's stress case: B = 1, H = 8, T = 100,000, forward + backward through
``nn.RNN``, checked against numpy BPTT first. Reported: the time, bytes per node, and whether
memory grows when the pass is repeated with the loss dropped each time (the graph must be freed
by reference counting alone, so no garbage collection runs between the repetitions).
"""

from __future__ import annotations

import gc
import time

import numpy as np
from harness import fmt_bytes, interleave, measured, median_ms, rss_bytes, table, traced, traced_growth
from row_mnist_step import BUILDERS, Implementation, build_checked, make_problem

from tinygrad_rnn.autograd import walk

TINY = {"B": 1, "I": 1, "H": 4, "n_classes": 2}
UNROLL = {"B": 1, "I": 1, "H": 8, "n_classes": 2}


def checked(T: int, sizes: dict[str, int], keys: tuple[str, ...] = tuple(BUILDERS)) -> dict[str, Implementation]:
    """The implementations named by ``keys`` on one seeded float64 problem, checked against numpy."""
    return build_checked(BUILDERS, *make_problem(T=T, dtype=np.float64, **sizes), keys)


def count_nodes(impl: Implementation) -> int:
    return len(walk(impl.forward()))


def per_node(T: int, reps: int) -> str:
    """The per-node table: forward + backward at tiny sizes, float64."""
    impls = checked(T, TINY)
    times = interleave({k: impl.loss_and_grads for k, impl in impls.items()}, reps)
    rows = []
    for key, impl in impls.items():
        ms = median_ms(times[key])
        per_step = f"{1e3 * ms / T:.1f}"
        if impl.forward is None:
            _, _, peak = traced(impl.loss_and_grads)
            rows.append([impl.name, "—", f"{ms:.2f}", per_step, "—", "—", f"{fmt_bytes(peak / T)} per time step"])
            continue
        nodes = count_nodes(impl)
        _, graph, _ = traced(impl.forward)
        _, _, peak = traced(impl.loss_and_grads)
        if key == "engine_hand":
            measured("per node by hand", 1e3 * ms / nodes)
        rows.append(
            [
                impl.name,
                f"{nodes:,} ({nodes / T:.1f} per step)",
                f"{ms:.2f}",
                per_step,
                f"{1e3 * ms / nodes:.2f}",
                f"{graph / nodes:.0f}",
                f"{peak / nodes:.0f}",
            ]
        )
    sizes = ", ".join(f"{k}={v}" for k, v in TINY.items())
    headers = [
        "implementation",
        "nodes",
        "forward+backward ms",
        "µs per time step",
        "µs per node",
        "graph bytes per node (after forward)",
        "peak bytes per node (forward+backward)",
    ]
    return f"#### Per-node overhead (T={T:,}, {sizes}, float64)\n\n" + table(headers, rows)


def unroll(T: int, runs: int = 20, traced_runs: int = 3) -> str:
    """The long-unroll tables: time and bytes per node over ``traced_runs`` repeated passes
    (allocations counted by tracemalloc), then RSS over ``runs`` timed passes."""
    impls = checked(T, UNROLL, ("engine_nn", "numpy"))
    engine, ref = impls["engine_nn"], impls["numpy"]
    nodes = count_nodes(engine)
    _, graph, _ = traced(engine.forward)
    _, _, peak = traced(engine.loss_and_grads)
    left = traced_growth(engine.loss_and_grads, traced_runs)
    seconds, rss = repeat(engine, ref, runs)
    history: list[float] = []
    _, rss_kept = repeat(engine, None, runs, history)
    measured("unroll peak bytes per node", max(graph, peak) / nodes)
    measured("unroll growth bytes per node per pass", (left[-1] - left[0]) / max(traced_runs - 1, 1) / nodes)

    passes = [
        [f"{i + 1}", f"{seconds[i, 0]:.2f}", f"{seconds[i, 1]:.2f}", f"{seconds[i, 0] / seconds[i, 1]:.2f}"]
        + [f"{left[i]:,}", f"{left[i] - left[0]:+,}"]
        for i in range(traced_runs)
    ]
    shown = sorted({n for n in (1, 2, 3, 5, 10, 15, 20, runs) if n <= runs})
    memory = [[f"{n}", fmt_bytes(rss[n - 1]), fmt_bytes(rss_kept[n - 1])] for n in shown]
    sizes = ", ".join(f"{k}={v}" for k, v in UNROLL.items())
    return (
        f"#### {T:,}-step unroll through nn.RNN ({sizes}, float64, cross-entropy on the last step)\n\n"
        f"{nodes:,} nodes ({nodes / T:.1f} per step); the recorded graph holds {fmt_bytes(graph)} after the forward "
        f"pass = **{graph / nodes:.0f} bytes per node**; peak over forward + backward {fmt_bytes(peak)} = "
        f"{peak / nodes:.0f} bytes per node. The loss is dropped after each pass; no gc.collect() between passes. "
        "What stays allocated after the first pass is CPython's free lists (e.g. up to 2,000 spare tuples), the "
        f"same size at any T; after that allocations grow by {(left[-1] - left[0]) / max(traced_runs - 1, 1):.0f} "
        f"bytes per pass for {nodes:,} nodes: the graph is freed.\n\n"
        + table(
            ["pass", "engine forward+backward s", "numpy s", "ratio", "traced bytes still allocated", "growth"],
            passes,
            numeric_from=0,
        )
        + f"\n\nRSS after n of {runs} timed passes (growth since before the first). The second column repeats the "
        "passes keeping each pass's loss (a Python float, as a loss history does): one surviving small object can "
        "keep a whole 1 MiB pymalloc arena of the freed graph mapped, so RSS can creep up by up to ~1 MB per pass "
        "although nothing else survives (PYTHONMALLOC=malloc avoids that).\n\n"
        + table(["after pass", "RSS growth, loop keeps nothing", "RSS growth, loop keeps each loss"], memory, 0)
    )


def repeat(
    engine: Implementation, ref: Implementation | None, runs: int, history: list[float] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Seconds of forward + backward per run (columns: engine, numpy) and RSS growth after each run.

    Results go into preallocated arrays, so the loop itself keeps no new Python object alive
    from one run to the next, unless ``history`` is given: then it keeps each run's loss there.
    """
    seconds, rss = np.ones((runs, 2)), np.zeros(runs, dtype=np.int64)
    gc.collect()
    rss0 = rss_bytes()
    for i in range(runs):
        t0 = time.perf_counter()
        loss, _ = engine.loss_and_grads()
        seconds[i, 0] = time.perf_counter() - t0
        if history is not None:
            history.append(loss)
        if ref is not None:
            t0 = time.perf_counter()
            ref.loss_and_grads()
            seconds[i, 1] = time.perf_counter() - t0
        rss[i] = rss_bytes() - rss0
    return seconds, rss


def graph_is_freed(T: int, runs: int = 3, slack: int = 100_000) -> list[int]:
    """Repeat forward + backward ``runs`` times and assert that what stays allocated does not
    grow (within ``slack`` bytes); returns the bytes left after each run."""
    engine = checked(T, UNROLL, ("engine_nn",))["engine_nn"]
    left = traced_growth(engine.loss_and_grads, runs)
    if max(left) - left[0] > slack:
        raise AssertionError(f"memory grows across repeated forward+backward passes: {left} bytes left after each")
    return left
