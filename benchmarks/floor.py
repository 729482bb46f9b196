"""What the engine's numpy work alone costs, against the engine's whole pass and numpy's.

The graph of one pass is recorded once (every value kept, every op's non-tensor arguments kept,
every gradient kept), then replayed with no engine around it: each recorded op's ``forward`` on
its inputs' arrays, and each backward rule on the gradient the pass gave its output, in a plain
loop. That is the arithmetic the engine cannot avoid for that graph: the floor. What the engine
takes beyond it is its own work per node (making and recording tensors, step blocks and what
they give up, ``walk``, the rules' calls, ``accumulate``) plus adding into the leaves'
gradients. A target below the floor cannot be met by making the engine's bookkeeping cheaper,
only by a graph with fewer or fused ops.

Before timing, the replayed forwards are checked to give the recorded values bit for bit; the
rules run on the gradients the pass gave each node (kept by ``retain_grads``). Run as a
script, it prints the table; ``run_all.py --only floor`` runs it with one BLAS thread.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from harness import interleave, measured, median_ms, table
from row_mnist_step import BUILDERS, build_checked, make_problem
from scaling import LABELS

from tinygrad_rnn import Tensor, keep_values
from tinygrad_rnn.autograd import walk
from tinygrad_rnn.modes import recording_attrs

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))


@dataclass
class Replay:
    """One recorded pass as plain calls: ``forwards`` (op.forward, args) and ``rules``
    (op.backward, ctx, g, needs), in the order the engine runs them; ``nodes`` counts the graph's
    tensors, leaves included."""

    forwards: list[tuple[Callable[..., Any], list[Any]]]
    rules: list[tuple[Callable[..., Any], Any, np.ndarray, tuple[bool, ...]]]
    nodes: int

    def forward(self) -> None:
        for fn, args in self.forwards:
            fn(*args)

    def backward(self) -> None:
        for fn, ctx, g, needs in self.rules:
            fn(ctx, g, needs)


def replay(record: Callable[[], Tensor]) -> Replay:
    """Record ``record()``'s graph, run backward on it, and return its ops and rules as plain
    calls, checked to compute what the engine computed."""
    with recording_attrs() as attrs, keep_values():
        root = record()
    root.backward(retain_grads=True)
    order = walk(root)
    forwards, rules = [], []
    for node in order:
        if node.op is None:
            continue
        args = [p.data for p in node.parents] + list(attrs[id(node)][0])
        out = np.asarray(node._op.forward(*args)[0])
        if (out.dtype, out.shape, out.tobytes()) != (node.dtype, node.shape, node.data.tobytes()):
            raise AssertionError(f"floor.py: replaying {node.op} at step {node.step} gave another value")
        forwards.append((node._op.forward, args))
        if node.grad is not None:  # the gradient the pass gave the node (kept by retain_grads)
            rules.append((node._op.backward, node._ctx, node.grad, tuple(p.requires_grad for p in node.parents)))
    return Replay(forwards, rules, len(order))


@dataclass
class Workload:
    """A row: ``engine`` and ``numpy`` are the timed passes; ``record`` records the engine's graph;
    ``explains``, the key of the issue 14 target (``run_all.TARGETS``) whose miss this row explains."""

    name: str
    engine: Callable[[], Any]
    numpy: Callable[[], Any]
    record: Callable[[], Tensor]
    target: str
    explains: str | None = None


def row_mnist(
    key: str, B: int, T: int, H: int, dtype: type, target: str, I: int = 28, classes: int = 10,
    explains: str | None = None,
) -> Workload:
    """The row-MNIST problem's loss and gradients (no update), engine ``key`` against numpy BPTT."""
    impls = build_checked(BUILDERS, *make_problem(B=B, T=T, I=I, H=H, n_classes=classes, dtype=dtype), ("numpy", key))
    engine, ref = impls[key], impls["numpy"]
    assert engine.forward is not None
    name = f"{LABELS[key]}, B={B}, T={T:,}, H={H}, {np.dtype(dtype).name}"
    return Workload(name, engine.loss_and_grads, ref.loss_and_grads, engine.forward, target, explains)


def char_rnn(target: str, hidden: int = 100, seq_length: int = 25) -> Workload:
    """One iteration of the char-RNN at batch 1 (both sides include clipping and Adagrad, which
    the floor leaves out)."""
    import char_rnn_step

    models, chunks = char_rnn_step._setup(hidden, seq_length, 2)
    engine, ref = models["engine"], models["numpy"]
    inputs, targets, _ = chunks[1]
    onehot = engine.onehot[inputs][:, None, :]

    def record() -> Tensor:
        import tinygrad_rnn.functional as F

        hs, _ = engine.rnn(onehot, engine.h)
        return F.sequence_loss([engine.head(h) for h in hs], targets[:, None])

    return Workload(
        f"char-RNN iteration, batch 1, H={hidden}, {seq_length} steps",
        lambda: engine.step(inputs, targets, False),
        lambda: ref.step(inputs, targets, False),
        record,
        target,
        "char-RNN",
    )


def workloads(quick: bool) -> list[Workload]:
    T = 200 if quick else 2_000
    tiny = {"B": 1, "T": T, "H": 4, "dtype": np.float64, "I": 1, "classes": 2}
    row = {"B": 128, "T": 28, "dtype": np.float32}
    return [
        row_mnist("engine_hand", **tiny, target="<= 3 µs per node", explains="per node by hand"),
        row_mnist("engine_nn", **tiny, target="—"),
        char_rnn("<= 1.4x"),
        row_mnist("engine_hand", **row, H=64, target="<= 1.25x", explains="H=64 by hand float32"),
        row_mnist("engine_hand", **row, H=150, target="<= 1.10x", explains="step by hand float32"),
        row_mnist("engine_nn", **row, H=150, target="<= 1.00x", explains="step nn.RNN float32"),
    ]


def report(quick: bool = False, reps: int | None = None) -> str:
    reps = reps or (3 if quick else 30)
    rows = []
    for w in workloads(quick):
        r = replay(w.record)
        times = interleave(
            {"numpy": w.numpy, "engine": w.engine, "ops": r.forward, "rules": r.backward}, reps, warmup=2
        )
        ms = {k: median_ms(v) for k, v in times.items()}
        floor = ms["ops"] + ms["rules"]
        rest = (ms["engine"] - floor) / r.nodes * 1e3
        if w.explains is not None:
            measured(f"floor: {w.explains}", floor / ms["numpy"])
            measured(f"floor per node: {w.explains}", 1e3 * floor / r.nodes)
            measured(f"beyond the floor per node: {w.explains}", rest)
        rows.append(
            [
                w.name,
                f"{r.nodes:,}",
                f"{ms['numpy']:.2f}",
                f"{ms['engine']:.2f} ({ms['engine'] / ms['numpy']:.2f}x)",
                f"{ms['ops']:.2f} + {ms['rules']:.2f} = {floor:.2f} ({floor / ms['numpy']:.2f}x)",
                f"{1e3 * floor / r.nodes:.2f} / {1e3 * ms['engine'] / r.nodes:.2f}",
                f"{rest:.2f}",
                w.target,
            ]
        )
    headers = [
        "pass (loss and gradients)",
        "nodes",
        "numpy ms",
        "engine ms (/ numpy)",
        "floor: ops + rules alone, ms (/ numpy)",
        "µs per node: floor / engine",
        "engine beyond the floor, µs per node",
        "issue 14 target",
    ]
    return (
        f"#### The engine's numpy work alone (the floor) against the engine and numpy (median of {reps} "
        "interleaved rounds)\n\n" + table(headers, rows, numeric_from=1)
    )


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--reps", type=int, default=None)
    args = p.parse_args()
    print(report(args.quick, args.reps))
