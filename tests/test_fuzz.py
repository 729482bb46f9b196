"""Fuzzing: random chains of ops on random, often invalid, shapes and dtypes.

Every op must either give numpy's answer (values, shape and dtype) or raise one of our own
exceptions (a TinygradRNNError with a message); never another exception, a RecursionError, or
a result of the wrong shape. Backward through whatever was built must likewise succeed with
gradients of the right shapes or raise our error.
"""

from __future__ import annotations

import numpy as np
from hypothesis import event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_rnn import Tensor, TinygradRNNError

DTYPES = [np.float64, np.float32, np.int64, np.bool_]


def _sigmoid(a):
    return 0.5 * (1 + np.tanh(0.5 * a))


def _mean(a, axis):
    """np.mean, except that like np.sum and np.max (and the engine) it lets a 0-d array be
    reduced over axis 0 or -1, where numpy's mean alone refuses."""
    if a.ndim == 0 and isinstance(axis, int) and axis in (0, -1):
        return np.mean(a)
    return np.mean(a, axis=axis)


# name -> (arity, engine function, numpy reference); attributes come from the drawn "arg"
UNARY = {
    "neg": (lambda t, arg: -t, lambda a, arg: -a),
    "tanh": (lambda t, arg: t.tanh(), lambda a, arg: np.tanh(a)),
    "sigmoid": (lambda t, arg: t.sigmoid(), lambda a, arg: _sigmoid(a)),
    "relu": (lambda t, arg: t.relu(), lambda a, arg: np.maximum(a, 0)),
    "exp": (lambda t, arg: t.exp(), lambda a, arg: np.exp(a)),
    "log": (lambda t, arg: t.log(), lambda a, arg: np.log(a)),
    "sum": (lambda t, arg: t.sum(axis=arg), lambda a, arg: np.sum(a, axis=arg)),
    "mean": (lambda t, arg: t.mean(axis=arg), _mean),
    "max": (lambda t, arg: t.max(axis=arg), lambda a, arg: np.max(a, axis=arg)),
    "reshape": (lambda t, arg: t.reshape(arg), lambda a, arg: np.reshape(a, arg)),
    "transpose": (lambda t, arg: t.transpose(arg), lambda a, arg: np.transpose(a, arg)),
    "getitem": (lambda t, arg: t[arg], lambda a, arg: a[arg]),
    "clip": (lambda t, arg: t.clip(-1.0, 1.0), lambda a, arg: np.clip(a, -1.0, 1.0)),
}
BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "div": (lambda a, b: a / b, np.true_divide),
    "pow": (lambda a, b: a**b, np.power),
    "matmul": (lambda a, b: a @ b, np.matmul),
    "maximum": (lambda a, b: a.maximum(b), np.maximum),
    "stack": (lambda a, b: Tensor.stack([a, b], axis=-1), lambda a, b: np.stack([a, b], axis=-1)),
    "concat": (lambda a, b: Tensor.concat([a, b], axis=0), lambda a, b: np.concatenate([a, b], axis=0)),
}

shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)
axes = st.one_of(st.none(), st.integers(-4, 3), st.tuples(st.integers(-3, 3), st.integers(-3, 3)))
indices = st.one_of(
    st.integers(-4, 4),
    st.slices(4),
    st.lists(st.integers(-4, 4), min_size=1, max_size=3),
    st.tuples(st.integers(-3, 3), st.integers(-3, 3)),
)
new_shapes = st.one_of(st.tuples(st.integers(-1, 4)), st.tuples(st.integers(-1, 4), st.integers(1, 3)))
perms = st.one_of(st.tuples(), st.permutations([0, 1]).map(tuple), st.permutations([0, 1, 2]).map(tuple))
ARGS = {"sum": axes, "mean": axes, "max": axes, "reshape": new_shapes, "transpose": perms, "getitem": indices}


@st.composite
def programs(draw):
    n = draw(st.integers(1, 3))
    inputs = []
    for _ in range(n):
        dtype = draw(st.sampled_from(DTYPES))
        elements = st.booleans() if dtype == np.bool_ else st.integers(-3, 3)
        arr = draw(hnp.arrays(dtype, draw(shapes), elements=elements))
        inputs.append((arr, draw(st.booleans())))
    steps = []
    for _ in range(draw(st.integers(1, 6))):
        if draw(st.booleans()):
            name = draw(st.sampled_from(sorted(UNARY)))
            arg = draw(ARGS.get(name, st.none()))
            steps.append((name, (draw(st.integers(0, 20)),), arg))
        else:
            name = draw(st.sampled_from(sorted(BINARY)))
            steps.append((name, (draw(st.integers(0, 20)), draw(st.integers(0, 20))), None))
    return inputs, steps


def _numpy(fn, *args):
    """numpy's answer, or the exception numpy raises."""
    with np.errstate(all="ignore"):
        try:
            return np.asarray(fn(*args)), None
        except Exception as e:  # noqa: BLE001 - any numpy refusal means ours must refuse too
            return None, e


def _check(result, expected, error, what):
    if error is not None:
        raise AssertionError(f"{what}: numpy refused ({error!r}) but the engine returned {result!r}")
    assert result.shape == expected.shape, f"{what}: shape {result.shape} != numpy's {expected.shape}"
    assert result.dtype == expected.dtype or {result.dtype.kind, expected.dtype.kind} == {"f"}, what
    np.testing.assert_allclose(result.data, expected, rtol=1e-6, atol=1e-6, equal_nan=True, err_msg=what)


@settings(max_examples=1000)
@given(programs())
def test_random_op_chains_give_numpy_results_or_our_errors(program):
    inputs, steps = program
    pool = []
    for arr, wants_grad in inputs:
        try:
            pool.append(Tensor(arr, requires_grad=wants_grad))
        except TinygradRNNError:
            assert wants_grad and arr.dtype.kind != "f"  # only non-float data may be refused
            pool.append(Tensor(arr))
    for name, picks, arg in steps:
        operands = [pool[i % len(pool)] for i in picks]
        if name in UNARY:
            engine, reference = UNARY[name]
            expected, error = _numpy(reference, operands[0].data, arg)
            call = lambda e=engine, o=operands[0], a=arg: e(o, a)  # noqa: E731
        else:
            engine, reference = BINARY[name]
            expected, error = _numpy(reference, *(o.data for o in operands))
            call = lambda e=engine, o=operands: e(*o)  # noqa: E731
        what = f"{name}{tuple((o.shape, str(o.dtype)) for o in operands)} arg={arg!r}"
        with np.errstate(all="ignore"):
            try:
                result = call()
            except TinygradRNNError as e:
                assert str(e), what
                assert error is not None, f"{what}: numpy computes it but the engine refused: {e}"
                event(f"{name}: refused")
                continue
        _check(result, expected, error, what)
        event(f"{name}: computed")
        pool.append(result)
    last = pool[-1]
    if last.requires_grad and last.dtype.kind == "f":
        with np.errstate(all="ignore"):
            try:
                last.sum().backward()
            except TinygradRNNError as e:
                assert str(e)
                return
        for t in pool:
            assert t.grad is None or t.grad.shape == t.shape
