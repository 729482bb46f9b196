"""The textbook pictures of backpropagation through time, drawn from real recorded graphs.

- Goodfellow et al., Deep Learning, fig. 10.3: an RNN with an output and a cost at every step,
  rolled (the circuit, with the black square of the one-step delay on W's loop) and unrolled
  (one frame per time step, U, V and W on the lines they act on at every step, each step's
  cost L(t) kept and summed into the total).
- Geron, Hands-On Machine Learning, BPTT figure: a 5-step sequence-to-sequence RNN X(0..4) ->
  Y(0..4) whose one cost C(Y(2), Y(3), Y(4)) uses only the last three outputs, both passes
  in one picture: the forward pass (dashed arrows) and, beside each arrow, the backward pass
  (solid), where Y(0) and Y(1) are greyed out because no gradient flows through them, while
  the gradient still reaches steps 0 and 1 through the hidden state.
- The same backward pass as a page that steps through it node by node (bptt.html).
- ‖∂L/∂h(t)‖ against t for a 40-step sequence classifier: the vanishing gradient.

Nothing is drawn by hand: each picture is ``viz`` reading the graph that ``loss.backward()``
ran on.

The README's pictures are these files (``--out docs/figures``); a test regenerates them and
compares the bytes. They are rendered in-process (``--backend wasm``, the default here) so that
the bytes do not depend on which Graphviz the machine has.

Run: python examples/textbook_figures.py [--out figures] [--seed 0] [--backend wasm|dot|auto]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

import viz
from tinygrad_rnn import Tensor, nn
from tinygrad_rnn import functional as F
from tinygrad_rnn.autograd import walk


def goodfellow_10_3(steps: int = 4, seed: int = 0) -> Tensor:
    """x(t) -> h(t) -> o(t) -> L(t) at every step, L the sum of the per-step costs."""
    rng = np.random.default_rng(seed)
    model = nn.SeqToSeq(input_size=2, hidden_size=3, output_size=3, seed=seed)
    outputs = model(rng.normal(size=(steps, 1, 2)))
    loss = F.sequence_loss(outputs, rng.integers(0, 3, size=(steps, 1)))
    loss.backward()
    return loss


def geron_bptt(seed: int = 0) -> list[Tensor]:
    """Five steps, inputs X(0..4), outputs Y(0..4), the cost on Y(2), Y(3), Y(4) only:
    ``[loss, *outputs]``."""
    rng = np.random.default_rng(seed)
    model = nn.SeqToSeq(input_size=2, hidden_size=3, output_size=3, seed=seed)
    outputs = model(rng.normal(size=(5, 1, 2)))
    for t in walk(*outputs):  # Geron's names: X for the inputs, Y for the outputs
        t.name = {"x": "X", "o": "Y"}.get(t.name or "", t.name)
    loss = F.sequence_loss(outputs, rng.integers(0, 3, size=(5, 1)), steps=[2, 3, 4])
    loss.backward()
    return [loss, *outputs]


def vanishing(steps: int = 40, seed: int = 0) -> Tensor:
    """A sequence classifier whose only cost is at the last step: the loss, after backward()."""
    rng = np.random.default_rng(seed)
    model = nn.SeqToVec(input_size=2, hidden_size=8, output_size=3, seed=seed)
    loss = F.cross_entropy(model(rng.normal(size=(steps, 1, 2))), np.array([1]))
    loss.backward()
    return loss


def main(argv: Sequence[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description="Regenerate the textbook BPTT figures from recorded graphs.")
    parser.add_argument("--out", default="figures", help="output directory (default figures/)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and inputs (default 0)")
    parser.add_argument("--backend", choices=["wasm", "dot", "auto"], default="wasm",
                        help="Graphviz to render with (default wasm: the same bytes on every machine)")  # fmt: skip
    args = parser.parse_args(argv)
    out = Path(args.out)
    start = time.perf_counter()

    fig_10_3 = goodfellow_10_3(seed=args.seed)
    geron = geron_bptt(seed=args.seed)
    be = args.backend
    paths = [
        viz.render(viz.draw(fig_10_3, "rolled", fold_cost="steps"), out / "goodfellow_10_3_rolled.svg", backend=be),
        viz.render(viz.draw(fig_10_3, "forward", fold_cost="steps"), out / "goodfellow_10_3_unrolled.svg", backend=be),
        viz.render(viz.draw(geron, "both"), out / "geron_bptt.svg", backend=be),
        viz.animate(geron, out / "bptt.html", title="Geron's BPTT figure, one node at a time", backend=be),
    ]
    grad_plot = out / "grad_norms.svg"
    title = "40 steps, cost at the last one: ‖∂L/∂h(t)‖ vanishes going back in time"
    viz.plot_gradient_norms(vanishing(seed=args.seed), grad_plot, title=title)
    paths.append(grad_plot)

    print(f"wrote {len(paths)} figures in {time.perf_counter() - start:.1f} s:")
    for p in paths:
        print(f"  {p}")
    return paths


if __name__ == "__main__":
    main()
