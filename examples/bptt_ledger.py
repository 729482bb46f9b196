"""See what BPTT does: where a recurrent weight's gradient comes from, where it dies, and what
truncation throws away, measured on real recordings with ``tinygrad_rnn.analysis``.

1. Row-MNIST: Geron's classifier (28 rows of a digit read as 28 steps by 150 tanh units, a
   dense layer on the last state) trained for ``--epochs`` with the library's loop. On 100 test
   digits, the ledger of W splits dL/dW by the step at which W was used (``mnist_ledger.svg``),
   and on one digit the Jacobians dh(28)/dh(t) show how much of the gradient reaches each row
   (``mnist_jacobians.svg``).
2. The adding problem at T = ``--T`` (100): an untrained tanh RNN of 32 units whose loss is on
   its last step. The ledger by lag (``adding_ledger.svg``) and the Jacobians
   (``adding_jacobians.svg``) show the gradient from the two marked steps, far back, vanishing.
3. Truncated BPTT: a sequence-to-sequence RNN predicting a sine wave one step ahead (loss at
   every step) against BPTT(k, k) with ``--k`` = 20: the full ledger of W by lag, with the terms
   truncation drops crossed out (``truncation.svg``), and each parameter's dropped share.
4. The same in the backward diagram (``overlay.svg``): the sine predictor on one sequence, its
   gradient clipped to norm 1 after backward as a training loop would, drawn with each share of
   W split by loss term and each state's Jacobian norms, the states the gradient from the last
   one no longer reaches outlined in blue.

Run: python examples/bptt_ledger.py [--out runs/ledger] [--epochs 3] [--T 100] [--k 20] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

import viz
from tinygrad_rnn import analysis, data, nn, optim
from tinygrad_rnn import functional as F
from tinygrad_rnn.app.training import fit


def _share_within(ledger: analysis.Ledger, lags: int) -> float:
    """The fraction of the gradient's norm that the lags 0 .. lags-1 alone give."""
    lag, sums = ledger.by_lag()
    near = sums[lag < lags].sum(axis=0)
    return float(np.linalg.norm(near) / np.linalg.norm(ledger.total))


def row_mnist(out: Path, epochs: int, digits: int | None) -> dict:
    images, labels = data.mnist5k()
    x_train, x_test, y_train, y_test = data.train_test_split(images.astype(np.float64), labels, seed=42)
    if digits is not None:
        x_train, y_train = x_train[:digits], y_train[:digits]
    model = nn.SeqToVec(28, 150, 10, seed=42)

    def loss_fn(model, x, y):
        return F.cross_entropy(model(x.transpose(1, 0, 2)), y)

    def accuracy(model):
        return {"test_accuracy": float((model(x_test.transpose(1, 0, 2)).data.argmax(1) == y_test).mean())}

    history = fit(model, optim.Adam(model.parameters(), lr=1e-3), loss_fn, (x_train, y_train), epochs=epochs,
                  batch_size=150, seed=42, evaluate=accuracy, stream=sys.stdout)  # fmt: skip
    batch = loss_fn(model, x_test[:100], y_test[:100])
    ledger = analysis.ledger(batch, model.W)
    viz.plot_ledger(ledger, out / "mnist_ledger.svg", title="Row-MNIST, 100 test digits: ‖∂L/∂W through step k‖")
    one = loss_fn(model, x_test[:1], y_test[:1])
    jac = analysis.jacobian_norms(analysis.hidden_states(one))
    viz.plot_jacobian_norms(jac, out / "mnist_jacobians.svg", title="Row-MNIST, one test digit: Jacobians through time")
    per_step = ledger.norms()[0]
    return {"accuracy": history[-1]["test_accuracy"], "last5": float(per_step[-5:].sum() / per_step.sum()),
            "to_first": float(jac.to_last[0])}  # fmt: skip


def adding(out: Path, T: int, seed: int) -> dict:
    xs, ys = data.adding_problem(32, T, seed=seed)
    model = nn.SeqToVec(2, 32, 1, seed=seed)
    loss = F.mse(model(xs.astype(np.float64)), ys)
    ledger = analysis.ledger(loss, model.W)
    viz.plot_ledger(ledger, out / "adding_ledger.svg", by="lag", title=f"Adding problem, T = {T}: ‖∂L/∂W at lag t − k‖")
    jac = analysis.jacobian_norms(analysis.hidden_states(F.mse(model(xs[:, :1].astype(np.float64)), ys[:1])))
    viz.plot_jacobian_norms(jac, out / "adding_jacobians.svg", title=f"Adding problem, T = {T}: Jacobians through time")
    return {"within10": _share_within(ledger, 10), "to_first": float(jac.to_last[0])}


def truncation(out: Path, T: int, k: int, seed: int) -> dict:
    xs, ys = data.sine_series(8, T, seed=seed)
    model = nn.SeqToSeq(1, 16, 1, seed=seed)
    diffs = analysis.truncation_diff(model, xs.astype(np.float64), ys.astype(np.float64), k, k, loss=F.mse)
    w = next(d for d in diffs if d.name == "W")
    viz.plot_ledger(w.full_ledger, out / "truncation.svg", by="lag", marked=w.dropped_terms,
                    marked_label=f"dropped by BPTT({k}, {k})",
                    title=f"Sine prediction, T = {T}: what truncated BPTT({k}, {k}) drops from ∂L/∂W")  # fmt: skip
    return {d.name: float(np.linalg.norm(d.dropped) / np.linalg.norm(d.full)) for d in diffs}


def overlay(out: Path, T: int, seed: int) -> dict:
    xs, ys = data.sine_series(1, T, seed=seed)
    model = nn.SeqToSeq(1, 16, 1, seed=seed)
    model.W.data *= 0.5  # a smaller recurrent weight: the gradient from h(T) dies within the picture
    loss = F.sequence_loss(model(xs.astype(np.float64)), ys.astype(np.float64), loss=F.mse)
    loss.backward()
    before = optim.clip_grad_norm(model.parameters(), 1.0)
    diagram = viz.draw(loss, "backward", split=[model.W], jacobians=True, max_steps=6,
                       title=f"Sine prediction, T = {T}, W at half scale")  # fmt: skip
    viz.render(diagram, out / "overlay.svg")
    died = [t for t, (_, _, to_last) in diagram.description.jacobians.items() if to_last < 1e-3]
    return {"norm": before, "died": len(died)}


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/ledger", help="folder for the pictures (default runs/ledger)")
    parser.add_argument("--epochs", type=int, default=3, help="row-MNIST training epochs (default 3)")
    parser.add_argument("--digits", type=int, default=None, help="train on only the first N digits")
    parser.add_argument("--T", type=int, default=100, help="steps of the adding and sine sequences (default 100)")
    parser.add_argument("--k", type=int, default=20, help="truncation window k of BPTT(k, k) (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="data and weights of parts 2 and 3 (default 0)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    mnist = row_mnist(out, args.epochs, args.digits)
    print(f"row-MNIST (test accuracy {mnist['accuracy']:.3f}): the last 5 of 28 steps give {mnist['last5']:.0%} of "
          f"the per-step norms of dL/dW; ||dh(28)/dh(1)|| = {mnist['to_first']:.2e}")  # fmt: skip
    add = adding(out, args.T, args.seed)
    print(f"adding problem, T = {args.T}: lags 0-9 give {add['within10']:.0%} of ||dL/dW||; "
          f"||dh(T)/dh(1)|| = {add['to_first']:.2e}")  # fmt: skip
    dropped = truncation(out, args.T, args.k, args.seed)
    print(f"sine prediction, T = {args.T}, BPTT({args.k}, {args.k}) drops, relative to full BPTT: "
          + ", ".join(f"{name} {share:.1%}" for name, share in dropped.items()))  # fmt: skip
    drawn = overlay(out, args.T, args.seed)
    print(f"the backward diagram: ||dL/dparams|| = {drawn['norm']:.2f} clipped to 1; the gradient from h(T) has "
          f"died at {drawn['died']} of the drawn states")  # fmt: skip
    for name in ("mnist_ledger", "mnist_jacobians", "adding_ledger", "adding_jacobians", "truncation", "overlay"):
        print(f"  {out / name}.svg")
    return {"mnist": mnist, "adding": add, "truncation": dropped, "overlay": drawn}


if __name__ == "__main__":
    main()
