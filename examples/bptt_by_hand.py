"""Backpropagation through time by hand: unroll a small RNN with the engine, check its gradients.

The network is Goodfellow et al.'s (Deep Learning, sec. 10.2), written as a plain loop:

    a(t) = b + W h(t-1) + U x(t)      h(t) = tanh(a(t))
    o(t) = c + V h(t)                 y_hat(t) = softmax(o(t))

and, as in Geron's BPTT figure, the cost uses only the last three outputs. U, W, b, V, c are
one tensor each, used at every step, so ``loss.backward()`` sums each step's contribution into
them. The script prints those gradients next to central finite differences.

Run: python examples/bptt_by_hand.py [--steps 5] [--hidden 3] [--seed 0]
"""

from __future__ import annotations

import argparse

import numpy as np

import tinygrad_rnn
from tinygrad_rnn import Tensor
from tinygrad_rnn.gradcheck import analytic_gradients, numerical_gradients


def unrolled_loss(params: dict[str, Tensor], xs: np.ndarray, ys: np.ndarray, cost_steps: list[int]) -> Tensor:
    """Cross-entropy summed over ``cost_steps`` of the RNN unrolled over ``xs`` (T, I)."""
    U, W, b, V, c = (params[k] for k in "UWbVc")
    h = Tensor(np.zeros(W.shape[0]), name="h0")
    loss = None
    for t, x in enumerate(xs):
        with tinygrad_rnn.step(t):
            h = (b + W @ h + U @ Tensor(x, name=f"x{t}")).tanh()
            if t not in cost_steps:
                continue
            o = c + V @ h
            shifted = o - o.data.max()  # a constant shift: softmax is unchanged, exp cannot overflow
            log_p = shifted - shifted.exp().sum().log()
            step_loss = -log_p[int(ys[t])]
            loss = step_loss if loss is None else loss + step_loss
    return loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="sequence length T (default 5)")
    parser.add_argument("--hidden", type=int, default=3, help="hidden units (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.steps < 1 or args.hidden < 1:
        parser.error("--steps and --hidden must be at least 1")

    rng = np.random.default_rng(args.seed)
    n_in, n_out, T = 2, 3, args.steps
    shapes = {"U": (args.hidden, n_in), "W": (args.hidden, args.hidden), "b": (args.hidden,)}
    shapes |= {"V": (n_out, args.hidden), "c": (n_out,)}
    params = {k: Tensor(0.5 * rng.standard_normal(s), requires_grad=True, name=k) for k, s in shapes.items()}
    xs = rng.standard_normal((T, n_in))
    ys = rng.integers(0, n_out, size=T)
    cost_steps = list(range(max(0, T - 3), T))

    names = list(params)

    def fn(*ps: Tensor) -> Tensor:
        return unrolled_loss(dict(zip(names, ps, strict=True)), xs, ys, cost_steps)

    tensors = [params[k] for k in names]
    loss = fn(*tensors)
    analytic = analytic_gradients(fn, tensors)
    numeric = numerical_gradients(fn, tensors)

    print(f"RNN unrolled over T={T} steps, {args.hidden} hidden units; cost on steps {cost_steps}")
    print(f"loss = {loss.item():.6f}\n")
    worst = 0.0
    for name, a, n in zip(names, analytic, numeric, strict=True):
        err = float(np.max(np.abs(a - n)))
        worst = max(worst, err)
        print(f"dL/d{name}  shape {params[name].shape}   max |BPTT - finite difference| = {err:.2e}")
        for row_a, row_n in zip(np.atleast_2d(a), np.atleast_2d(n), strict=True):
            print("   BPTT  " + " ".join(f"{v:+.6f}" for v in row_a))
            print("   numer " + " ".join(f"{v:+.6f}" for v in row_n))
    verdict = "match" if worst < 1e-6 else "DO NOT match"
    print(f"\nBPTT gradients {verdict} central finite differences (worst difference {worst:.2e}).")
    if worst >= 1e-6:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
