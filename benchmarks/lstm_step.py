"""The LSTM step: ``nn.LSTM`` (each gate one fused ``sigmoid(affine)`` node) against an LSTM's
BPTT written by hand in numpy, forward and backward, at the row-MNIST sizes.

Row MNIST read by an LSTM: B = 128 digits, T = 28 rows of I = 28 pixels, H = 150 units, a
dense layer o = h(T) V + c on the last state, mean cross-entropy. One "step" here is the loss
and every parameter's gradient (the optimizer update is the same few array operations for
both and is left out). The numpy version is what a careful user writes: the four gates'
weights side by side, so each step is two matrix products (x U and h W, 4H wide) and one pass
of the gate nonlinearities; PyTorch's gate math (i, f, g, o; c = f c + i g; h = o tanh c).

Both are checked to give the same gradients (float64) before anything is timed; then they are
timed interleaved in one process, and the ratio is the engine's median over numpy's. Run as a
script it prints the table; ``run_all.py --only lstm`` runs it with one BLAS thread.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import harness
import numpy as np

import tinygrad_rnn.functional as F
from tinygrad_rnn import nn

B, T, I, H, N_CLASSES = 128, 28, 28, 150, 10
GATES = ("i", "f", "g", "o")  # PyTorch's order; g is the cell input (U, W, b)
NAMES = {"i": "_i", "f": "_f", "g": "", "o": "_o"}


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def numpy_lstm(params: dict[str, np.ndarray], xs: np.ndarray, labels: np.ndarray) -> tuple[float, dict]:
    """Loss and gradients of the LSTM classifier, by hand: forward over T steps keeping what the
    backward pass needs, then BPTT from the last step to the first."""
    U = np.concatenate([params[f"U{NAMES[k]}"] for k in GATES], axis=1)  # (I, 4H)
    W = np.concatenate([params[f"W{NAMES[k]}"] for k in GATES], axis=1)  # (H, 4H)
    b = np.concatenate([params[f"b{NAMES[k]}"] for k in GATES])
    h, c = np.zeros((xs.shape[1], H), xs.dtype), np.zeros((xs.shape[1], H), xs.dtype)
    saved = []
    for t in range(xs.shape[0]):
        a = xs[t] @ U + h @ W + b
        i, f, o = _sigmoid(a[:, :H]), _sigmoid(a[:, H : 2 * H]), _sigmoid(a[:, 3 * H :])
        g = np.tanh(a[:, 2 * H : 3 * H])
        c_prev, h_prev = c, h
        c = f * c + i * g
        tc = np.tanh(c)
        h = o * tc
        saved.append((h_prev, c_prev, i, f, g, o, tc))
    logits = h @ params["V"] + params["c"]
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    n = xs.shape[1]
    loss = float(-np.log(p[np.arange(n), labels]).mean())
    dlogits = p
    dlogits[np.arange(n), labels] -= 1
    dlogits /= n
    grads = {"V": h.T @ dlogits, "c": dlogits.sum(axis=0)}
    dh, dc = dlogits @ params["V"].T, np.zeros_like(c)
    dU, dW, db = np.zeros_like(U), np.zeros_like(W), np.zeros_like(b)
    da = np.empty((n, 4 * H), xs.dtype)
    for t in range(xs.shape[0] - 1, -1, -1):
        h_prev, c_prev, i, f, g, o, tc = saved[t]
        dc = dc + dh * o * (1 - tc * tc)
        da[:, :H] = dc * g * i * (1 - i)
        da[:, H : 2 * H] = dc * c_prev * f * (1 - f)
        da[:, 2 * H : 3 * H] = dc * i * (1 - g * g)
        da[:, 3 * H :] = dh * tc * o * (1 - o)
        dU += xs[t].T @ da
        dW += h_prev.T @ da
        db += da.sum(axis=0)
        dh, dc = da @ W.T, dc * f
    for k, gate in enumerate(GATES):
        cols = slice(k * H, (k + 1) * H)
        suffix = NAMES[gate]
        grads[f"U{suffix}"], grads[f"W{suffix}"], grads[f"b{suffix}"] = dU[:, cols], dW[:, cols], db[cols]
    return loss, grads


def engine(model: nn.SeqToVec, xs: np.ndarray, labels: np.ndarray) -> Callable[[], tuple[float, dict]]:
    """The same through the library: ``nn.SeqToVec(cell="lstm")``, ``F.cross_entropy``, backward."""

    def run() -> tuple[float, dict]:
        model.zero_grad()
        loss = F.cross_entropy(model(xs), labels)
        loss.backward()
        return loss.item(), {name.rsplit(".", 1)[-1]: p.grad for name, p in model.named_parameters()}

    return run


def setup(dtype: str, batch: int = B, steps: int = T) -> tuple[nn.SeqToVec, dict, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    model = nn.SeqToVec(I, H, N_CLASSES, cell="lstm", dtype=np.dtype(dtype), seed=0)
    params = {name.rsplit(".", 1)[-1]: p.data for name, p in model.named_parameters()}
    xs = rng.random((steps, batch, I)).astype(dtype)
    return model, params, xs, rng.integers(0, N_CLASSES, size=batch)


def check() -> float:
    """The largest relative difference between the two gradients (float64), before timing."""
    model, params, xs, labels = setup("float64")
    loss_np, want = numpy_lstm(params, xs, labels)
    loss_engine, got = engine(model, xs, labels)()
    worst = abs(loss_np - loss_engine) / abs(loss_np)
    for name, g in want.items():
        worst = max(worst, float(np.max(np.abs(got[name] - g)) / (np.max(np.abs(g)) + 1e-300)))
    if worst > 1e-9:
        raise SystemExit(f"lstm_step: the engine and numpy disagree (largest relative difference {worst:.1e})")
    return worst


def table(reps: int, dtypes: list[str], batch: int = B, steps: int = T) -> str:
    worst = check()
    rows = []
    for dtype in dtypes:
        model, params, xs, labels = setup(dtype, batch, steps)
        by_hand = lambda p=params, x=xs, y=labels: numpy_lstm(p, x, y)  # noqa: E731
        times = harness.interleave({"numpy": by_hand, "engine": engine(model, xs, labels)}, reps)
        np_ms, en_ms = harness.median_ms(times["numpy"]), harness.median_ms(times["engine"])
        rows.append([dtype, f"{np_ms:.1f}", f"{en_ms:.1f}", f"{en_ms / np_ms:.2f}"])
    head = (f"LSTM step (B={batch}, T={steps}, I={I}, H={H}; loss and gradients, no update), {reps} interleaved "
            f"rounds; gradients checked against numpy first (largest relative difference {worst:.0e})")  # fmt: skip
    return head + "\n\n" + harness.table(["dtype", "numpy ms", "nn.LSTM ms", "ratio"], rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=30)
    p.add_argument("--quick", action="store_true", help="B=16, T=8, 3 rounds: a smoke test")
    args = p.parse_args()
    if args.quick:
        print(table(3, ["float64"], batch=16, steps=8))
    else:
        print(table(args.reps, ["float32", "float64"]))


if __name__ == "__main__":
    main()
