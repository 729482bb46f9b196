"""Why the gradient vanishes in a tanh RNN and survives in an LSTM, shown on the adding problem.

For each sequence length T (``--T``, default 100 and 200), a tanh RNN and an LSTM of the same
width (``--hidden`` 32, ``nn.SeqToVec`` with ``cell="rnn"`` and ``cell="lstm"``, the same seed)
are trained side by side on the adding problem (sum the two marked values; always answering 1
scores 0.167) with Adam on fresh batches of 32, the gradient's norm clipped to 1. Then, on one
held-out batch, the loss of each is backpropagated and the script writes, for each T:

- ``grad_norms_T{T}.svg``: ‖∂L/∂h(t)‖ for every step t, both networks on one log axis: the
  RNN's falls by orders of magnitude towards the start, the LSTM's far less;
- ``loss_T{T}.svg``: both training curves (mean squared error per step, log axis);
- ``rnn_backward_T{T}.svg`` and ``lstm_backward_T{T}.svg``: the backward diagrams of the two
  recordings, the first two and last two steps drawn, each tensor coloured by its gradient.

Run: python examples/vanishing_gradients.py [--T 100 200] [--steps 300] [--hidden 32] [--seed 0] [--out runs/vanishing]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

import viz
from tinygrad_rnn import data, nn, optim
from tinygrad_rnn import functional as F

KINDS = {"rnn": "tanh RNN", "lstm": "LSTM"}


def train(kind: str, T: int, args: argparse.Namespace) -> tuple[nn.SeqToVec, list[float]]:
    """A SeqToVec of ``kind`` trained for ``args.steps`` Adam steps; returns it and its losses."""
    model = nn.SeqToVec(2, args.hidden, 1, cell=kind, seed=args.seed)
    opt = optim.Adam(model.parameters(), lr=args.lr)
    rng = np.random.default_rng([args.seed, T])  # the same batches for both networks
    losses = []
    for _ in range(args.steps):
        xs, ys = data.adding_problem(32, T, seed=rng)
        loss = F.mse(model(xs.astype(np.float64)), ys)
        opt.zero_grad()
        loss.backward()
        optim.clip_grad_norm(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
    return model, losses


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--T", type=int, nargs="+", default=[100, 200], help="sequence lengths (default 100 200)")
    parser.add_argument("--steps", type=int, default=300, help="Adam steps per network (default 300)")
    parser.add_argument("--hidden", type=int, default=32, help="units of both networks (default 32)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 0.001)")
    parser.add_argument("--seed", type=int, default=0, help="weights and batches (default 0)")
    parser.add_argument("--out", default="runs/vanishing", help="folder for the pictures (default runs/vanishing)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    results = {}
    for T in args.T:
        xs, ys = data.adding_problem(256, T, seed=[args.seed, T, 1])  # held out
        norms, curves, summary = {}, {}, {}
        for kind, label in KINDS.items():
            model, losses = train(kind, T, args)
            loss = F.mse(model(xs.astype(np.float64)), ys)
            model.zero_grad()
            loss.backward()
            steps, norm = viz.gradient_norms(loss)
            norms[kind] = (steps, norm, label)
            curves[kind] = (np.arange(1, len(losses) + 1), np.array(losses), label)
            diagram = viz.draw(loss, "backward", max_steps=4, title=f"{label}, adding problem, T = {T}")
            viz.render(diagram, out / f"{kind}_backward_T{T}.svg")
            summary[kind] = {"test_mse": loss.item(), "first": float(norm[0]), "last": float(norm[-1])}
            print(f"T = {T:3d}  {label:8s}  test MSE {loss.item():.4f}  ‖∂L/∂h(t)‖ from {norm[-1]:.2e} at the "
                  f"last step to {norm[0]:.2e} at the first ({norm[0] / norm[-1]:.1e} of it)")  # fmt: skip
        viz.plot_curves(out / f"grad_norms_T{T}.svg", norms["rnn"], norms["lstm"], x_label="time step t",
                        y_label="‖∂L/∂h(t)‖",
                        title=f"Adding problem, T = {T}: ‖∂L/∂h(t)‖ after {args.steps} steps of training")  # fmt: skip
        viz.plot_curves(out / f"loss_T{T}.svg", curves["rnn"], curves["lstm"], y_label="training loss (MSE)",
                        title=f"Adding problem, T = {T}: training loss (MSE; 0.167 answers 1 always)")  # fmt: skip
        results[T] = summary
    print(f"pictures in {out}/")
    return results


if __name__ == "__main__":
    main()
