"""Benchmark: one training step of the row-MNIST RNN classifier, the engine against numpy BPTT.

Row MNIST reads a 28x28 digit one row per time step (T = 28 steps of I = 28 pixels) and
classifies it from the last hidden state. One training step, B = 128, H = 150, 10 classes::

    a(t) = b + h(t-1) W + x(t) U,    h(t) = tanh(a(t)),    h(0) = 0
    o = h(T) V + c,    L = mean cross-entropy of softmax(o),    p -= lr * dL/dp

is run two ways in the same process, on the same seeded parameters and random data:

1. the engine: parameters are ``Tensor``s, the loop over t records the graph, ``backward()``
   fills ``.grad``, and the update is written on ``.data``;
2. ``numpy_bptt.py``: the same step written out by hand, our floor.

Before any timing, ``check_gradients`` asserts that both give the same gradients, so the two
columns cannot silently time different work. The repetitions are interleaved (engine, numpy,
engine, ...) after a warm-up, and the table reports medians and their ratio; nothing here
asserts a time. BLAS runs on one thread unless ``--threads`` says otherwise, so that the
ratio measures the engine rather than how many cores the matmuls got.

Usage (from the repository root)::

    .venv/bin/python benchmarks/row_mnist_step.py [--reps N] [--threads N] [--dtype float32|float64|both]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import sys
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

BLAS_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
HAVE_THREADPOOLCTL = importlib.util.find_spec("threadpoolctl") is not None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=300, help="timed steps per implementation and dtype (default 300)")
    p.add_argument("--warmup", type=int, default=10, help="untimed steps first (default 10)")
    p.add_argument("--threads", type=int, default=1, help="BLAS threads; 0 leaves the library default (default 1)")
    p.add_argument("--dtype", choices=("float32", "float64", "both"), default="both")
    return p


if __name__ == "__main__" and not HAVE_THREADPOOLCTL:
    # Without threadpoolctl the only handle on BLAS threads is these variables, which the
    # library reads once, when numpy is first imported: so they are set here, before that.
    _threads = _parser().parse_args().threads
    if _threads > 0:
        for _var in BLAS_ENV_VARS:
            os.environ[_var] = str(_threads)

# What BLAS saw at load time; None when numpy was imported before this module (e.g. by pytest).
_BLAS_ENV_AT_LOAD = None if "numpy" in sys.modules else {v: os.environ.get(v) for v in BLAS_ENV_VARS}

# numpy_bptt.py sits beside this file; make it importable however this file is loaded.
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import numpy_bptt  # noqa: E402

from tinygrad_rnn import Tensor, step  # noqa: E402

B, T, I, H, N_CLASSES = 128, 28, 28, 150, 10
LR = 0.01
# Gradient agreement required before timing: (rtol, atol) for np.allclose.
TOLERANCES = {np.dtype(np.float64): (1e-5, 1e-8), np.dtype(np.float32): (1e-4, 1e-6)}


# --- the problem ---------------------------------------------------------------------------


def make_problem(
    B: int, T: int, I: int, H: int, n_classes: int = N_CLASSES, dtype: type = np.float64, seed: int = 0
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Seeded parameters and one batch: ``(params, xs, labels)``.

    Weights are Gaussian with variance 1 / fan-in, biases small; inputs are pixel-like values
    in [0, 1), time-major (T, B, I) so that ``xs[t]`` is a contiguous batch of rows. Random
    data is enough: the work per step does not depend on the values.
    """
    rng = np.random.default_rng(seed)
    params = {
        "U": rng.standard_normal((I, H)) / np.sqrt(I),
        "W": rng.standard_normal((H, H)) / np.sqrt(H),
        "b": 0.1 * rng.standard_normal(H),
        "V": rng.standard_normal((H, n_classes)) / np.sqrt(H),
        "c": 0.1 * rng.standard_normal(n_classes),
    }
    params = {k: v.astype(dtype) for k, v in params.items()}
    xs = rng.random((T, B, I)).astype(dtype)
    labels = rng.integers(0, n_classes, size=B)
    return params, xs, labels


# --- implementation 1: the engine ----------------------------------------------------------


def engine_params(params: dict[str, np.ndarray]) -> dict[str, Tensor]:
    """The parameters as named leaf tensors that require grad (copies: the arrays stay untouched)."""
    return {k: Tensor(v.copy(), requires_grad=True, name=k) for k, v in params.items()}


def cross_entropy(logits: Tensor, labels: np.ndarray) -> Tensor:
    """Mean over the batch of -log softmax(logits)[label], from engine ops.

    log softmax(o) = o - m - log sum exp(o - m) for any m; m = the row max, taken as a constant,
    keeps exp from overflowing without changing the value or the gradient.
    """
    shifted = logits - Tensor(logits.data.max(axis=1, keepdims=True))
    logp = shifted - shifted.exp().sum(axis=1, keepdims=True).log()
    return -logp[np.arange(len(labels)), labels].mean()


def engine_loss(params: dict[str, Tensor], xs: np.ndarray, labels: np.ndarray) -> Tensor:
    """The forward pass, recorded: the loop over t reuses U, W, b at every step."""
    U, W, b, V, c = (params[k] for k in numpy_bptt.PARAM_NAMES)
    h = Tensor(np.zeros((xs.shape[1], W.shape[0]), dtype=W.dtype))
    for t in range(len(xs)):
        with step(t):
            h = (b + h @ W + Tensor(xs[t]) @ U).tanh()
    return cross_entropy(h @ V + c, labels)


def engine_train_step(params: dict[str, Tensor], xs: np.ndarray, labels: np.ndarray, lr: float) -> float:
    """One SGD step with the engine: forward, ``backward()``, p -= lr * p.grad, reset the grads."""
    loss = engine_loss(params, xs, labels)
    loss.backward()
    for p in params.values():
        p.data -= lr * p.grad
        p.grad = None
    return loss.item()


# --- the check -----------------------------------------------------------------------------


def check_gradients(
    B: int, T: int, I: int, H: int, n_classes: int = N_CLASSES, dtype: type = np.float64, seed: int = 0
) -> dict[str, float]:
    """Assert that the engine and numpy BPTT agree on the loss and every gradient.

    Runs both on ``make_problem(B, T, I, H, n_classes, dtype, seed)`` and compares with
    ``np.allclose`` at the dtype's tolerance in ``TOLERANCES``. Raises AssertionError naming
    the first parameter that differs; returns, per name ("loss", "U", "W", "b", "V", "c"), the
    largest difference relative to the largest magnitude, for the record.
    """
    params, xs, labels = make_problem(B, T, I, H, n_classes, dtype, seed)
    rtol, atol = TOLERANCES[np.dtype(dtype)]
    tensors = engine_params(params)
    loss = engine_loss(tensors, xs, labels)
    loss.backward()
    ref_loss, ref_grads = numpy_bptt.loss_and_grads(params, xs, labels)

    pairs = {"loss": (np.asarray(loss.data), np.asarray(ref_loss, dtype=dtype))}
    pairs.update({k: (tensors[k].grad, ref_grads[k]) for k in numpy_bptt.PARAM_NAMES})
    errors = {}
    for name, (got, want) in pairs.items():
        if got is None or got.shape != want.shape or got.dtype != want.dtype:
            what = "no gradient" if got is None else f"shape {got.shape}, dtype {got.dtype}"
            raise AssertionError(f"{name}: engine gave {what}; numpy BPTT gave shape {want.shape}, dtype {want.dtype}")
        if not np.allclose(got, want, rtol=rtol, atol=atol):
            worst = np.unravel_index(np.argmax(np.abs(got - want)), want.shape)
            raise AssertionError(
                f"{name}: engine and numpy BPTT disagree (rtol={rtol}, atol={atol}); at {worst} "
                f"engine {got[worst]!r} vs numpy {want[worst]!r}. The benchmark would time different work."
            )
        errors[name] = float(np.abs(got - want).max() / max(np.abs(want).max(), np.finfo(dtype).tiny))
    return errors


# --- timing --------------------------------------------------------------------------------


def time_steps(dtype: type, reps: int, warmup: int, seed: int = 0) -> tuple[list[float], list[float]]:
    """Seconds per training step, ``(engine, numpy)``, from ``reps`` interleaved repetitions.

    Both start from the same parameters and see the same batch; each updates its own copy.
    """
    check_gradients(B, T, I, H, N_CLASSES, dtype, seed)
    params, xs, labels = make_problem(B, T, I, H, N_CLASSES, dtype, seed)
    tensors = engine_params(params)
    for _ in range(warmup):
        engine_train_step(tensors, xs, labels, LR)
        numpy_bptt.train_step(params, xs, labels, LR)
    engine, ref = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        engine_train_step(tensors, xs, labels, LR)
        t1 = time.perf_counter()
        numpy_bptt.train_step(params, xs, labels, LR)
        t2 = time.perf_counter()
        engine.append(t1 - t0)
        ref.append(t2 - t1)
    return engine, ref


def _blas_limit(threads: int) -> AbstractContextManager:
    """A context that holds BLAS to ``threads`` threads, if threadpoolctl can do it at run time."""
    if threads > 0 and HAVE_THREADPOOLCTL:
        from threadpoolctl import threadpool_limits

        return threadpool_limits(limits=threads, user_api="blas")
    return nullcontext()


def _blas_threads_note(threads: int) -> str:
    """How many threads BLAS had, and how we know."""
    if HAVE_THREADPOOLCTL:
        from threadpoolctl import threadpool_info

        libs = [f"{i['internal_api']} {i['num_threads']}" for i in threadpool_info() if i["user_api"] == "blas"]
        return f"{', '.join(libs) or 'none found'} (threadpoolctl)"
    if _BLAS_ENV_AT_LOAD is None:
        return "unknown (numpy was imported before this script could set the thread variables)"
    env = ", ".join(f"{k}={v}" for k, v in _BLAS_ENV_AT_LOAD.items() if v is not None)
    if threads > 0:
        return f"{threads} ({env} when numpy was imported)"
    return f"not limited by this script ({env or 'no thread variables set: the library default, usually one per CPU'})"


def _machine_line(threads: int) -> str:
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{blas['name']} {blas['version']}"
    except Exception:  # show_config's layout is not a stable API; the line is informative only
        blas = "BLAS unknown"
    return (
        f"machine: {platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs; "
        f"Python {platform.python_version()}, numpy {np.__version__} ({blas}); "
        f"BLAS threads: {_blas_threads_note(threads)}"
    )


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the markdown report."""
    args = _parser().parse_args(argv)
    dtypes = [np.float32, np.float64] if args.dtype == "both" else [np.dtype(args.dtype).type]
    rows = []
    with _blas_limit(args.threads):
        for dtype in dtypes:
            engine, ref = time_steps(dtype, args.reps, args.warmup)
            e_ms, n_ms = 1e3 * statistics.median(engine), 1e3 * statistics.median(ref)
            rows.append(f"| {np.dtype(dtype).name} | {e_ms:.2f} | {n_ms:.2f} | {e_ms / n_ms:.2f} |")
        machine = _machine_line(args.threads)

    print(f"## Row-MNIST RNN, one training step (B={B}, T={T}, I={I}, H={H}, {N_CLASSES} classes, SGD)\n")
    print("| dtype | engine ms/step (median) | numpy ms/step (median) | ratio engine/numpy |")
    print("|---|---:|---:|---:|")
    print("\n".join(rows))
    print()
    print(machine)
    print(
        f"{args.reps} interleaved repetitions per implementation after {args.warmup} warm-up steps; "
        "gradients checked equal first (np.allclose, rtol "
        + ", ".join(f"{TOLERANCES[np.dtype(d)][0]:g} in {np.dtype(d).name}" for d in dtypes)
        + "). Ratio = median engine / median numpy."
    )


if __name__ == "__main__":
    main()
