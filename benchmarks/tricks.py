"""What each speed trick in the engine saves: the trick and the plain code it replaces, timed
against each other in this process, interleaved.

Each row is one place in the engine whose code is less plain than it could be for the sake of
speed; the comment at that place cites this table. Per-op tricks cost Python time only, so they
are timed alone at B = 1, in nanoseconds per call (best round). Array tricks save temporaries,
whose cost shows only among the allocations of a real step: each is timed inside the nn.RNN
row-MNIST step (B = 128, T = 28, H = 150, loss and gradients, median round) with the plain code
swapped in and out between rounds, and the step is checked against numpy BPTT both ways. A
per-op pair that returns arrays is checked to give the same bits first (the mode-lookup row
reads different variables by design and is not compared). Run
as a script it prints the table; ``run_all.py --only tricks`` runs it with one thread.
"""

from __future__ import annotations

import argparse
import timeit
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import numpy as np
from harness import table

from tinygrad_rnn import Tensor, ops, step
from tinygrad_rnn.modes import MODE, RECORDED, STEP, _Mode, _put_back, _Recorded

Pair = tuple[str, str, str, Callable[[], Any], Callable[[], Any]]


def per_op_pairs() -> list[Pair]:
    a, b = Tensor(np.ones(4), requires_grad=True), Tensor(np.ones(4))
    ps, out = (a, b), np.ones(4)
    rng = np.random.default_rng(0)
    h, g = rng.normal(size=(2, 1, 100))
    h16, g16 = rng.normal(size=(2, 1, 16))
    hw, b100 = rng.normal(size=(1, 100)), rng.normal(size=100)
    nll, label = rng.random(1), np.array([3])
    v, active = [ContextVar(f"plain_{i}", default=None) for i in range(3)], [0]

    def bypass() -> Tensor:
        t = object.__new__(Tensor)
        t.data, t.grad, t.name, t.step = out, None, None, None
        return t

    return [
        ("an op's result made with object.__new__, not Tensor(out)", "autograd._apply",
         "ns per op", bypass, lambda: Tensor(out)),
        ("one or two arrays passed directly, not through a list and *args", "autograd._apply",
         "ns per op", lambda: ops.Add.forward(ps[0].data, ps[1].data), lambda: ops.Add.forward(*[p.data for p in ps])),
        ("the modes read in one context-variable lookup, not the old three lookups and a list read", "modes.MODE",
         "ns per op", lambda: MODE.get(), lambda: (v[0].get(), v[1].get(), v[1].get(), active[0], v[2].get())),
        ("a^T g at batch 1 as the elementwise outer product, not a matmul (H=100)", "ops._at_g",
         "ns per op", lambda: ops._at_g(h, g), lambda: h.T @ g),
        ("a^T g at batch 1 under 2,048 products as a matmul, not the elementwise outer product (16 x 16)",
         "ops._at_g", "ns per op", lambda: ops._at_g(h16, g16), lambda: np.add(np.multiply(h16.T, g16), 0.0)),
        ("a sum written into the product by numpy's out=, refused where it cannot be, not our shape checks first",
         "ops._add_into", "ns per op",
         lambda: ops._add_into(hw.copy(), b100), lambda: _checked_add_into(hw.copy(), b100)),
        ("a two-input node's needs written out, not a comprehension", "autograd.backward",
         "ns per node",
         lambda: (ps[0].requires_grad, ps[1].requires_grad), lambda: tuple([p.requires_grad for p in ps])),
        ("a step block's two fields set by position, not through a list of the five", "modes.step",
         "ns per step block", _step_block, _plain_step_block),
        ("a mean loss as numpy's mean computes it (a sum, then a division by an intp), not nll.mean()",
         "ops.CrossEntropy.forward", "ns per loss", lambda: np.asarray(np.add.reduce(nll) / np.intp(len(nll))),
         lambda: np.asarray(nll.mean())),
        ("a batch of one label checked with Python's min and max, not numpy's", "functional._labels_array",
         "ns per loss", lambda: min(label.ravel().tolist()) < 0 or max(label.ravel().tolist()) >= 45,
         lambda: label.min() < 0 or label.max() >= 45),
    ]  # fmt: skip


def _checked_add_into(out: np.ndarray, y: np.ndarray) -> np.ndarray:
    """ops._add_into as it was: the shapes and dtypes compared in Python before the add."""
    if type(out) is np.ndarray and y.dtype == out.dtype and y.ndim <= out.ndim:
        tail = out.shape[out.ndim - y.ndim :]
        if y.shape == tail or all(n == 1 or n == m for n, m in zip(y.shape, tail, strict=True)):
            out += y
            return out
    return out + y


def _step_block() -> None:
    with step(3):
        pass


class _plain_step(_Mode):
    """modes.step's entry and exit as they were: the mode copied to a list, two fields set, back to a tuple."""

    __slots__ = ()
    field = STEP

    def __enter__(self) -> None:
        mode = list(MODE.get())
        mine = _Recorded() if mode[RECORDED] is not False else False
        self._saved = (mode[STEP], mode[RECORDED], mine, self._saved)
        mode[STEP], mode[RECORDED] = self.value, mine
        MODE.set(tuple(mode))

    def __exit__(self, *exc: object) -> None:
        mode = list(MODE.get())
        mode[STEP], before, mine, self._saved = self._saved
        mode[RECORDED] = _put_back(mode[RECORDED], mine, before)
        MODE.set(tuple(mode))


def _plain_step_block() -> None:
    with _plain_step(3):
        pass


def _plain_tanh_affine_forward(b: np.ndarray, *xw: np.ndarray) -> tuple:
    a, xw = ops.Affine.forward(b, *xw)
    h = np.tanh(a)
    return h, (xw, h)


def _plain_add_into(out: np.ndarray, y: np.ndarray) -> np.ndarray:
    return out + y


#: (what, where, the engine's object holding it, its name there, the plain replacement)
IN_THE_STEP = [
    ("tanh written over the affine sum, not into a new array", "ops.TanhAffine.forward",
     ops.TanhAffine, "forward", staticmethod(_plain_tanh_affine_forward)),
    ("each product added into the first, not into a new array", "ops._add_into",
     ops, "_add_into", _plain_add_into),
]  # fmt: skip


STEP_SIZES = {"B": 128, "T": 28, "I": 28, "H": 150}


def step_rows(dtype: type, repeat: int, sizes: dict[str, int] = STEP_SIZES) -> list[list[str]]:
    """Each array trick timed where it works: the nn.RNN row-MNIST step (loss and gradients),
    with the engine as it is and with the plain code swapped in, in alternate rounds."""
    from row_mnist_step import BUILDERS, build_checked, make_problem

    problem = make_problem(**sizes, dtype=dtype)
    rows = []
    for what, where, owner, name, plain in IN_THE_STEP:
        trick = owner.__dict__[name]
        step_fn = build_checked(BUILDERS, *problem, ("engine_nn",))["engine_nn"].loss_and_grads
        times: dict[bool, list[float]] = {True: [], False: []}
        try:
            for _ in range(repeat):
                for on in (True, False):
                    setattr(owner, name, trick if on else plain)
                    step_fn()  # a warm-up call after each swap
                    times[on].append(timeit.timeit(step_fn, number=3) / 3)
            setattr(owner, name, plain)
            build_checked(BUILDERS, *problem, ("engine_nn",))  # the plain code gives numpy's gradients too
        finally:
            setattr(owner, name, trick)
        fast, slow = np.median(times[True]) * 1e3, np.median(times[False]) * 1e3
        what = f"{what}, {np.dtype(dtype).name}"
        rows.append([what, f"`{where}`", "ms per step", f"{fast:.2f}", f"{slow:.2f}", f"{(fast - slow) / slow:+.0%}"])
    return rows


def _value(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x[0] if isinstance(x, tuple) else x


def measure(pairs: list[Pair], repeat: int) -> list[list[str]]:
    rows = []
    for what, where, unit, trick, plain in pairs:
        x, y = _value(trick()), _value(plain())
        if isinstance(x, np.ndarray) and not (isinstance(y, np.ndarray) and x.dtype == y.dtype
                                              and x.shape == y.shape and x.tobytes() == y.tobytes()):
            raise AssertionError(f"tricks.py: '{what}' does not compute what its plain version does, bit for bit")
        number = 20_000
        with_, without = [], []
        for _ in range(repeat):  # interleaved: a change of load hits both
            with_.append(timeit.timeit(trick, number=number) / number)
            without.append(timeit.timeit(plain, number=number) / number)
        fast, slow = min(with_) * 1e9, min(without) * 1e9
        rows.append([what, f"`{where}`", unit, f"{fast:,.0f}", f"{slow:,.0f}", f"{(fast - slow) / slow:+.0%}"])
    return rows


def report(repeat: int = 7) -> str:
    rows = measure(per_op_pairs(), repeat) + step_rows(np.float32, repeat) + step_rows(np.float64, repeat)
    headers = ["trick", "where", "unit", "with the trick", "plain code", "difference"]
    return (
        f"#### The engine's speed tricks, each against the plain code it replaces ({repeat} interleaved rounds; "
        "per-op rows: best round at B=1; step rows: median of the nn.RNN row-MNIST step, B=128, T=28, H=150, "
        "loss and gradients)\n\n" + table(headers, rows, numeric_from=3)
    )


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=7)
    print(report(p.parse_args().repeat))
