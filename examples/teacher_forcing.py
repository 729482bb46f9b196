"""Teacher forcing and its catch, exposure bias (Goodfellow et al., Deep Learning, sec. 10.2.1).

The network's only recurrence runs from its output o(t-1) to its state h(t) (fig. 10.4,
``nn.OutputRecurrentRNN``)::

    h(t) = tanh(b + r(t-1) W + x(t) U),    o(t) = c + h(t) V

where r(t-1) is the true previous target y(t-1) under teacher forcing, and the net's own
o(t-1) in closed loop. The task is a sine wave s (random frequency and phase per series):
at each step the input is the previous value, x(t) = s(t-1), the target the next value
s(t+1), and the current value s(t) arrives only through the recurrence. (Were x(t) the current
value itself, teacher forcing would feed y(t-1) = x(t) twice and the recurrence would carry
nothing.) Under teacher forcing the steps decouple: no gradient flows from step to step.

One model is trained with teacher forcing, one closed loop, and both are scored both ways on
held-out series. The teacher-forced model never saw its own mistakes during training, so run
closed loop its errors feed back into its input and compound from step to step.

Run: python examples/teacher_forcing.py [--steps 1500] [--T 40] [--hidden 32]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numpy as np

from tinygrad_rnn import data as datasets
from tinygrad_rnn import functional as F
from tinygrad_rnn import nn, no_grad, optim

MODES = {"teacher forcing": True, "closed loop": False}


def sine_task(n: int, T: int, seed: int | np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Inputs x(t) = s(t-1) and targets y(t) = s(t+1), each (T, n, 1)."""
    values, next_values = datasets.sine_series(n, T + 1, seed=seed)
    return values[:-1], next_values[1:]


def step_mse(model: nn.OutputRecurrentRNN, x: np.ndarray, y: np.ndarray, teacher_forcing: bool) -> list:
    """The squared error of each step, as tensors (their mean is the training loss)."""
    outputs = model(x, targets=y) if teacher_forcing else model(x)  # targets= means teacher forcing
    return [F.mse(o, y[t]) for t, o in enumerate(outputs)]


def train(teacher_forcing: bool, args: argparse.Namespace) -> nn.OutputRecurrentRNN:
    model = nn.OutputRecurrentRNN(1, args.hidden, 1, seed=args.seed)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    rng = np.random.default_rng(args.seed)
    for _ in range(args.steps):
        errors = step_mse(model, *sine_task(args.batch, args.T, rng), teacher_forcing)
        loss = sum(errors[1:], errors[0]) / len(errors)
        optimizer.zero_grad()
        loss.backward()
        optim.clip_grad_norm(model.parameters(), 1.0)
        optimizer.step()
    return model


def main(argv: Sequence[str] | None = None) -> dict:
    """Train both ways, print the held-out MSE table; returns {(trained, scored): MSE}."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500, help="Adam steps per model (default 1500)")
    parser.add_argument("--T", type=int, default=40, help="steps per series (default 40)")
    parser.add_argument("--hidden", type=int, default=32, help="tanh units (default 32)")
    parser.add_argument("--batch", type=int, default=32, help="series per step (default 32)")
    parser.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate (default 1e-2)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.T < 2:
        parser.error("--T must be at least 2")

    x_test, y_test = sine_task(500, args.T, seed=args.seed + 1)
    results, curves = {}, {}
    for trained, forced in MODES.items():
        started = time.perf_counter()
        model = train(forced, args)
        print(f"trained with {trained}: {args.steps} steps in {time.perf_counter() - started:.1f} s")
        with no_grad():
            for scored, forced_now in MODES.items():
                per_step = [e.item() for e in step_mse(model, x_test, y_test, forced_now)]
                results[trained, scored], curves[trained, scored] = float(np.mean(per_step)), per_step

    shown = sorted({0, 1, 2, 5, 10, args.T // 2, args.T - 1} & set(range(args.T)))
    print(f"\nheld-out MSE, 500 series of {args.T} steps (predicting 0 scores 0.5)")
    print(f"{'trained with':<18}{'scored with':<18}{'mean':>8}   " + "".join(f"{f't={t}':>8}" for t in shown))
    for (trained, scored), mse in results.items():
        at = "".join(f"{curves[trained, scored][t]:8.4f}" for t in shown)
        print(f"{trained:<18}{scored:<18}{mse:8.4f}   {at}")
    after_t0 = {key: np.mean(curve[1:]) for key, curve in curves.items()}
    gap = after_t0["teacher forcing", "closed loop"] / after_t0["teacher forcing", "teacher forcing"]
    print(
        "\nAt t=0 no output has been fed back yet, so both ways agree. From t=1 on, the teacher-forced\n"
        f"model is {gap:.0f}x worse closed loop than fed the true values: in training it only ever saw the\n"
        "true s(t), so its own errors are inputs it has never met, and fed back they do not die out\n"
        "(exposure bias). The model trained closed loop learned from its own outputs: it is the better\n"
        "one closed loop, the way a generator is used, and the worse one fed values it never trained on."
    )
    return results


if __name__ == "__main__":
    main()
