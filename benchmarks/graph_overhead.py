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

import numpy as np
from harness import fmt_bytes, interleave, median_ms, rss_bytes, table, time_once, traced, traced_growth
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


def unroll(T: int, runs: int = 5) -> str:
    """The long-unroll table: time, bytes per node and memory across repeated passes."""
    impls = checked(T, UNROLL, ("engine_nn", "numpy"))
    engine, ref = impls["engine_nn"], impls["numpy"]
    nodes = count_nodes(engine)
    _, graph, _ = traced(engine.forward)
    _, _, peak = traced(engine.loss_and_grads)
    left = traced_growth(engine.loss_and_grads, runs)

    gc.collect()
    rss0 = rss_bytes()
    rows = []
    for i in range(runs):
        _, seconds = time_once(engine.loss_and_grads)
        _, np_seconds = time_once(ref.loss_and_grads)
        rows.append(
            [
                f"{i + 1}",
                f"{seconds:.2f}",
                f"{np_seconds:.2f}",
                f"{seconds / np_seconds:.2f}",
                fmt_bytes(rss_bytes() - rss0),
                f"{left[i]:,}",
                f"{left[i] - left[0]:+,}",
            ]
        )
    headers = [
        "run",
        "engine forward+backward s",
        "numpy s",
        "ratio",
        "RSS growth since before run 1",
        "traced bytes still allocated after the run",
        "growth since run 1 (bytes)",
    ]
    sizes = ", ".join(f"{k}={v}" for k, v in UNROLL.items())
    head = (
        f"#### {T:,}-step unroll through nn.RNN ({sizes}, float64, cross-entropy on the last step)\n\n"
        f"{nodes:,} nodes ({nodes / T:.1f} per step); the recorded graph holds {fmt_bytes(graph)} after the forward "
        f"pass = **{graph / nodes:.0f} bytes per node**; peak over forward + backward {fmt_bytes(peak)} = "
        f"{peak / nodes:.0f} bytes per node. The loss is dropped after each run; no gc.collect() between runs. "
        f"RSS is measured on the {runs} timed runs, allocations (tracemalloc) on {runs} separate runs. What stays "
        "allocated after the first run is CPython's free lists (e.g. up to 2,000 spare tuples), the same size at any "
        f"T; after that, allocations grow by {(left[-1] - left[0]) / max(runs - 1, 1):.0f} bytes per run for "
        f"{nodes:,} nodes: the graph is freed. RSS moves in steps of about a megabyte (how glibc and CPython's "
        "arenas happen to be fragmented, a few % of the peak); it is not a count of live objects.\n\n"
    )
    return head + table(headers, rows, numeric_from=0)


def graph_is_freed(T: int, runs: int = 3, slack: int = 100_000) -> list[int]:
    """Repeat forward + backward ``runs`` times and assert that what stays allocated does not
    grow (within ``slack`` bytes); returns the bytes left after each run."""
    engine = checked(T, UNROLL, ("engine_nn",))["engine_nn"]
    left = traced_growth(engine.loss_and_grads, runs)
    if max(left) - left[0] > slack:
        raise AssertionError(f"memory grows across repeated forward+backward passes: {left} bytes left after each")
    return left
