"""Every op against numpy (value, shape, dtype) and against central differences (gradient).

The ops live in tables; each family has one property test that draws shapes, values and
arguments with ``tinygrad_rnn.testing`` and hands a row to ``check_op``, which asserts that

- the forward value is numpy's: same shape, same dtype, values equal to 1e-12;
- the result requires grad exactly when an operand does, and then the gradient of every
  operand that requires grad passes ``gradcheck`` (float64 central differences).

Binary ops are checked with each operand as a tensor that requires grad, as a constant tensor
and as a bare numpy array (so ``ndarray + t`` and ``ndarray @ t`` reach the reflected operators);
Python numbers on either side are rows of the unary table (``2 * x``, ``1 - x``, ``x ** 0.5``).

Kinks (relu, max, maximum, clip) are kept off ties with ``distinct=True``: its grid is far wider
than gradcheck's step, so a finite difference never straddles one. log, sqrt, division and negative
or fractional powers keep away from 0 with ``min_magnitude`` or a positive range, and so does abs.
``where`` draws its condition, a and b in three shapes that broadcast together.
(tests/test_numerics.py checks the precision of sigmoid, softplus and logsigmoid on their tails.)
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis.extra import numpy as hnp

from tinygrad_rnn import DTypeError, ShapeError, Tensor, testing
from tinygrad_rnn import functional as F
from tinygrad_rnn.gradcheck import gradcheck

SHAPES = testing.shapes(max_dims=3, max_side=3)
PAIRS = testing.broadcastable_shapes(2, max_dims=3, max_side=3)

# --- operands and the one check every op goes through ------------------------------------

GRAD, CONST, NUMPY = "grad", "const", "numpy"
#: how each operand of a binary op is given: a tensor that requires grad, a constant tensor,
#: or a bare numpy array (on the left it reaches the tensor's reflected operator).
OPERAND_KINDS = [(GRAD, GRAD), (GRAD, CONST), (CONST, GRAD), (NUMPY, GRAD), (GRAD, NUMPY), (CONST, CONST)]


def operand(a: np.ndarray, kind: str) -> Tensor | np.ndarray:
    """A copy of ``a`` as a tensor that requires grad (GRAD), a constant tensor (CONST) or bare (NUMPY)."""
    return a.copy() if kind == NUMPY else Tensor(a.copy(), requires_grad=kind == GRAD)


def check_op(
    fn: Callable[..., Tensor],
    ref: Callable[..., Any] | None,
    arrays: list[np.ndarray],
    kinds: tuple[str, ...] | list[str] | None = None,
) -> None:
    """``fn`` on operands made from ``arrays`` matches ``ref`` on the arrays, and so does its gradient.

    ``ref=None`` means the same expression works on numpy arrays (operators, ``.T``, ``.sum``...).
    ``kinds`` says how each operand is given (see ``operand``); by default all require grad.
    """
    kinds = tuple(kinds or (GRAD,) * len(arrays))
    operands = [operand(a, k) for a, k in zip(arrays, kinds, strict=True)]
    expected = np.asarray((ref or fn)(*arrays))
    out = fn(*operands)
    assert isinstance(out, Tensor)
    assert out.shape == expected.shape
    assert out.dtype == expected.dtype
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)
    assert out.requires_grad == (GRAD in kinds)
    if GRAD in kinds:
        # fn closes over the operands; gradcheck perturbs the tensors' data in place
        assert gradcheck(lambda *_: fn(*operands), [o for o in operands if isinstance(o, Tensor)], seed=0)


# --- the op tables -----------------------------------------------------------------------

ANY: dict[str, Any] = {}
POSITIVE = {"min_value": 0.25}  # log, fractional and negative powers, the base of x ** y
NONZERO = {"min_magnitude": 0.5}  # divisors, x ** -1
KINKED = {"distinct": True}  # max, maximum, clip
KINKED_AT_0 = {"distinct": True, "min_magnitude": testing.GRID}  # relu: also off its kink at 0
OFF_0 = {"min_magnitude": testing.GRID}  # abs: its kink at 0 is its only one
# clip bounds and maximum's scalar are off the GRID, so no drawn value sits on them
LO, HI = -0.3, 0.7


@dataclass(frozen=True)
class Case:
    """A row of an op table: the expression on tensors, numpy's version of it (None: the same
    expression works on arrays) and the ``testing.arrays`` options of each operand's values."""

    fn: Callable[..., Any]
    ref: Callable[..., Any] | None = None
    domains: tuple[dict[str, Any], ...] = (ANY, ANY)


UNARY = {
    "neg": Case(lambda x: -x),
    "tanh": Case(lambda x: x.tanh(), np.tanh),
    "sigmoid": Case(lambda x: x.sigmoid(), lambda a: 1 / (1 + np.exp(-a))),
    "softplus": Case(lambda x: x.softplus(), lambda a: np.logaddexp(0, a)),
    "logsigmoid": Case(lambda x: x.logsigmoid(), lambda a: -np.logaddexp(0, -a)),
    "F.softplus": Case(F.softplus, lambda a: np.logaddexp(0, a)),
    "F.logsigmoid": Case(F.logsigmoid, lambda a: -np.logaddexp(0, -a)),
    "sqrt": Case(lambda x: x.sqrt(), np.sqrt, (POSITIVE,)),
    "abs": Case(lambda x: x.abs(), np.abs, (OFF_0,)),
    "abs(x)": Case(abs, None, (OFF_0,)),
    "relu": Case(lambda x: x.relu(), lambda a: np.maximum(a, 0), (KINKED_AT_0,)),
    "exp": Case(lambda x: x.exp(), np.exp),
    "log": Case(lambda x: x.log(), np.log, (POSITIVE,)),
    "pow 2": Case(lambda x: x**2),
    "pow 3": Case(lambda x: x**3),
    "pow 0.5": Case(lambda x: x**0.5, None, (POSITIVE,)),
    "pow -1": Case(lambda x: x**-1, None, (NONZERO,)),
    "pow -1.5": Case(lambda x: x**-1.5, None, (POSITIVE,)),
    "2 ** x": Case(lambda x: 2**x),
    "0.5 ** x": Case(lambda x: 0.5**x),
    "3 + x": Case(lambda x: 3 + x),
    "1 - x": Case(lambda x: 1 - x),
    "2 * x": Case(lambda x: 2 * x),
    "2.0 / x": Case(lambda x: 2.0 / x, None, (NONZERO,)),
    "x - 0.5": Case(lambda x: x - 0.5),
    "x / 4": Case(lambda x: x / 4),
    "maximum scalar": Case(lambda x: x.maximum(LO), lambda a: np.maximum(a, LO), (KINKED,)),
    "clip lo": Case(lambda x: x.clip(lo=LO), lambda a: np.clip(a, LO, None), (KINKED,)),
    "clip hi": Case(lambda x: x.clip(hi=HI), lambda a: np.clip(a, None, HI), (KINKED,)),
    "clip both": Case(lambda x: x.clip(LO, HI), lambda a: np.clip(a, LO, HI), (KINKED,)),
    "transpose()": Case(lambda x: x.transpose()),
    ".T": Case(lambda x: x.T),
    "reshape -1": Case(lambda x: x.reshape(-1)),
    # the same tensor twice in one op: both gradients add up in it
    "x * x": Case(lambda x: x * x),
    "x - x": Case(lambda x: x - x),
    "x ** x": Case(lambda x: x**x, None, (POSITIVE,)),
    "maximum(x, x)": Case(lambda x: x.maximum(x), lambda a: np.maximum(a, a)),
    "stack [x, x]": Case(lambda x: Tensor.stack([x, x], axis=-1), lambda a: np.stack([a, a], axis=-1)),
    "concat [x, x]": Case(lambda x: Tensor.concat([x.reshape(-1)] * 2), lambda a: np.concatenate([a.reshape(-1)] * 2)),
    "where(x > 0, x, -x)": Case(lambda x: Tensor.where(x.data > 0, x, -x), np.abs, (OFF_0,)),
}

BINARY = {
    "add": Case(operator.add),
    "sub": Case(operator.sub),
    "mul": Case(operator.mul),
    "div": Case(operator.truediv, None, (ANY, NONZERO)),
    "pow": Case(operator.pow, None, (POSITIVE, {"min_value": -2.0, "max_value": 2.0})),
    "maximum": Case(lambda x, y: x.maximum(y), np.maximum, (KINKED, KINKED)),
}

# A bare array on the left only works for operators (ref None): ``ndarray.maximum`` does not exist.
BINARY_PARAMS = [
    pytest.param(name, kinds, id=f"{name}-{'-'.join(kinds)}")
    for name in BINARY
    for kinds in OPERAND_KINDS
    if kinds[0] != NUMPY or BINARY[name].ref is None
]


# --- elementwise, scalars, broadcasting --------------------------------------------------


@pytest.mark.parametrize("name", UNARY)
@given(data=st.data())
def test_unary(name: str, data: st.DataObject) -> None:
    case = UNARY[name]
    x = data.draw(testing.arrays(SHAPES, **case.domains[0]), label="x")
    check_op(case.fn, case.ref, [x])


@pytest.mark.parametrize(("name", "kinds"), BINARY_PARAMS)
@given(data=st.data())
def test_binary(name: str, kinds: tuple[str, str], data: st.DataObject) -> None:
    case = BINARY[name]
    shapes = data.draw(PAIRS, label="shapes")
    arrays = [
        data.draw(testing.arrays(s, **d), label=f"operand {i}")
        for i, (s, d) in enumerate(zip(shapes, case.domains, strict=True))
    ]
    check_op(case.fn, case.ref, arrays, kinds)


# --- where -------------------------------------------------------------------------------

WHERE_FORMS = {
    "Tensor.where, cond an array": lambda c, a, b: Tensor.where(c, a, b),
    "Tensor.where, cond a list": lambda c, a, b: Tensor.where(c.tolist(), a, b),
    "F.where, cond a Tensor": lambda c, a, b: F.where(Tensor(c), a, b),
}
#: how a and b are given: requiring grad, constant, a bare array, a Python number
WHERE_KINDS = [*OPERAND_KINDS, (NUMPY, NUMPY), (GRAD, "number"), ("number", GRAD)]


@pytest.mark.parametrize("form", WHERE_FORMS)
@pytest.mark.parametrize("kinds", WHERE_KINDS, ids="-".join)
@given(data=st.data())
def test_where(form: str, kinds: tuple[str, str], data: st.DataObject) -> None:
    """cond, a and b broadcast together (numpy.where); a gets g where cond holds, b elsewhere,
    each reduced to its own shape."""
    shapes = data.draw(testing.broadcastable_shapes(3, max_dims=3, max_side=3), label="shapes")
    cond = data.draw(hnp.arrays(bool, shapes[0]), label="cond")
    arrays = [data.draw(testing.arrays(s), label=f"operand {i}") for i, s in enumerate(shapes[1:])]
    numbers = [float(a.flat[0]) for a in arrays]
    given_kinds = [k if k != "number" else NUMPY for k in kinds]

    def fn(*ab):
        ab = [numbers[i] if kinds[i] == "number" else x for i, x in enumerate(ab)]
        return WHERE_FORMS[form](cond, *ab)

    def ref(*ab):
        return np.where(cond, *(numbers[i] if kinds[i] == "number" else x for i, x in enumerate(ab)))

    check_op(fn, ref, arrays, given_kinds)


def test_where_gradient_exact() -> None:
    """Every element of g goes to exactly one of a and b, summed over what each was broadcast to."""
    a = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    b = Tensor(np.array([[10.0], [20.0]]), requires_grad=True)
    cond = np.array([[True, False, True], [False, False, True]])
    y = Tensor.where(cond, a, b)
    np.testing.assert_array_equal(y.data, [[1, 10, 3], [20, 20, 3]])
    assert y.op == "where" and y.parents[1:] == (a, b) and y.parents[0].dtype == bool
    y.backward(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
    np.testing.assert_array_equal(a.grad, [1, 0, 9])
    np.testing.assert_array_equal(b.grad, [[2], [9]])


WHERE_ERRORS = {
    "shapes": (
        lambda: Tensor.where(np.ones((2,), bool), Tensor(np.ones(3), requires_grad=True), np.ones((4, 1))),
        ShapeError,
        r"^where: cond, a and b have shapes \(2,\), \(3,\) and \(4, 1\) do not broadcast; shapes broadcast when",
    ),
    "a float cond": (
        lambda: F.where(np.array([1.0, 0.0]), Tensor(np.ones(2)), 0.0),
        DTypeError,
        r"where: cond must be booleans, got dtype float64; make it with a comparison, e\.g\. ",
    ),
    "an int cond Tensor": (lambda: Tensor.where(Tensor([1, 0]), 1.0, 0.0), DTypeError, r"got dtype int64"),
}


@pytest.mark.parametrize("name", WHERE_ERRORS)
def test_where_errors(name: str) -> None:
    fn, error, message = WHERE_ERRORS[name]
    with pytest.raises(error, match=message):
        fn()


# --- matmul ------------------------------------------------------------------------------

MATMUL_SHAPES = [
    pytest.param((3,), (3,), id="1d@1d"),
    pytest.param((3,), (3, 2), id="1d@2d"),
    pytest.param((2, 3), (3,), id="2d@1d"),
    pytest.param((2, 3), (3, 4), id="2d@2d"),
    pytest.param((4,), (2, 4, 3), id="1d@batched"),
    pytest.param((2, 3, 4), (4,), id="batched@1d"),
    pytest.param((2, 3, 4), (4, 2), id="batched@2d"),
    pytest.param((2, 1, 3, 4), (5, 4, 2), id="batch-broadcast"),
]

#: any shapes numpy's matmul accepts, batch dimensions broadcasting
MATMUL_PAIRS = hnp.mutually_broadcastable_shapes(signature=np.matmul.signature, max_dims=2, max_side=3).map(
    lambda b: b.input_shapes
)


@pytest.mark.parametrize(("a_shape", "b_shape"), MATMUL_SHAPES)
@given(data=st.data())
def test_matmul(a_shape: tuple[int, ...], b_shape: tuple[int, ...], data: st.DataObject) -> None:
    kinds = data.draw(st.sampled_from(OPERAND_KINDS), label="kinds")
    arrays = [data.draw(testing.arrays(s), label=f"operand {i}") for i, s in enumerate((a_shape, b_shape))]
    check_op(operator.matmul, None, arrays, kinds)


@given(data=st.data())
def test_matmul_any_shapes(data: st.DataObject) -> None:
    shapes = data.draw(MATMUL_PAIRS, label="shapes")
    check_op(operator.matmul, None, [data.draw(testing.arrays(s), label="operand") for s in shapes])


# --- reductions --------------------------------------------------------------------------


def axes(ndim: int) -> st.SearchStrategy[int | tuple[int, ...] | None]:
    """Every form of ``axis``: None, an int (maybe negative), a tuple (maybe negative, maybe empty)."""
    ints = st.integers(-ndim, ndim - 1) if ndim else st.nothing()
    return st.one_of(st.none(), ints, hnp.valid_tuple_axes(ndim))


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("name", ["sum", "mean", "max"])
@given(data=st.data())
def test_reduction(name: str, keepdims: bool, data: st.DataObject) -> None:
    x = data.draw(testing.arrays(SHAPES, **(KINKED if name == "max" else ANY)), label="x")
    axis = data.draw(axes(x.ndim), label="axis")
    check_op(lambda t: getattr(t, name)(axis=axis, keepdims=keepdims), None, [x])


# --- the fused affine ops ----------------------------------------------------------------

ACTIVATIONS = {None: lambda a: a, "tanh": np.tanh, "relu": lambda a: np.maximum(a, 0)}


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@given(data=st.data())
def test_affine(activation: str | None, data: st.DataObject) -> None:
    """bias + x1 W1 + ... + xk Wk (k = 1..3), then the activation, as one node: numpy's value and
    central-difference gradients for every operand, with x batched over extra axes and a bias of
    shape (H,), (1, H) or the output's whole shape (broadcast and reduced back)."""
    lead = data.draw(testing.shapes(min_dims=1, max_dims=2, max_side=3), label="x's leading axes")
    H, k = data.draw(st.integers(1, 3), label="H"), data.draw(st.integers(1, 3), label="pairs")
    bias_shape = data.draw(st.sampled_from([(H,), (1, H), (*lead, H)]), label="bias shape")
    values = KINKED_AT_0 if activation == "relu" else ANY  # relu: the pre-activation stays off 0
    arrays = [data.draw(testing.arrays(bias_shape, **values), label="bias")]
    for i in range(k):
        n_in = data.draw(st.integers(1, 3), label=f"inputs of pair {i}")
        arrays += [data.draw(testing.arrays((*lead, n_in)), label=f"x{i}"), data.draw(testing.arrays((n_in, H)))]

    def reference(b, *xw):
        return ACTIVATIONS[activation](b + sum(x @ w for x, w in zip(xw[::2], xw[1::2], strict=True)))

    def fused(b, *xw):
        return F.affine(b, *zip(xw[::2], xw[1::2], strict=True), activation=activation)

    if activation == "relu":  # keep the sum off the kink too: skip draws that land within the step
        pre = arrays[0] + sum(x @ w for x, w in zip(arrays[1::2], arrays[2::2], strict=True))
        assume(np.abs(pre).min() > 1e-3)
    check_op(fused, reference, arrays)


# --- shape -------------------------------------------------------------------------------


@st.composite
def reshapes(draw: st.DrawFn, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A new shape for ``shape``'s elements: dims permuted, two merged, 1s inserted, one maybe -1."""
    new = list(draw(st.permutations(shape)))
    if len(new) >= 2 and draw(st.booleans()):
        i = draw(st.integers(0, len(new) - 2))
        new[i : i + 2] = [new[i] * new[i + 1]]
    for _ in range(draw(st.integers(0, 2))):
        new.insert(draw(st.integers(0, len(new))), 1)
    if new and draw(st.booleans()):
        new[draw(st.integers(0, len(new) - 1))] = -1
    return tuple(new)


@pytest.mark.parametrize("as_tuple", [False, True], ids=["reshape(*shape)", "reshape(shape)"])
@given(data=st.data())
def test_reshape(as_tuple: bool, data: st.DataObject) -> None:
    x = data.draw(testing.arrays(SHAPES), label="x")
    new = data.draw(reshapes(x.shape), label="new shape")
    check_op(lambda t: t.reshape(new) if as_tuple else t.reshape(*new), lambda a: a.reshape(new), [x])


@pytest.mark.parametrize("style", ["transpose(*perm)", "transpose(perm)", "negative axes"])
@given(data=st.data())
def test_transpose(style: str, data: st.DataObject) -> None:
    x = data.draw(testing.arrays(SHAPES), label="x")
    perm = data.draw(st.permutations(range(x.ndim)), label="perm")
    if style == "negative axes":
        flips = data.draw(st.lists(st.booleans(), min_size=x.ndim, max_size=x.ndim), label="negate")
        perm = [p - x.ndim if flip else p for p, flip in zip(perm, flips, strict=True)]
    fn = (lambda t: t.transpose(*perm)) if style == "transpose(*perm)" else (lambda t: t.transpose(perm))
    check_op(fn, lambda a: a.transpose(perm), [x])


# --- indexing ----------------------------------------------------------------------------


def wrap(index: np.ndarray, how: str) -> Any:
    """An index array as given by a user: the array itself, a (nested) list, or a Tensor."""
    return {"array": index, "list": index.tolist(), "tensor": Tensor(index)}[how]


WRAPS = ["array", "list", "tensor"]


@given(data=st.data())
def test_basic_index(data: st.DataObject) -> None:
    """ints (negative too), slices with steps, None, Ellipsis."""
    x = data.draw(testing.arrays(SHAPES), label="x")
    index = data.draw(hnp.basic_indices(x.shape, allow_newaxis=True, allow_ellipsis=True), label="index")
    check_op(lambda t: t[index], None, [x])


@pytest.mark.parametrize("how", WRAPS)
@given(data=st.data())
def test_integer_array_index(how: str, data: st.DataObject) -> None:
    """One integer array per axis, negative and repeated entries included."""
    x = data.draw(testing.arrays(testing.shapes(min_dims=1, max_dims=3, max_side=3)), label="x")
    idx = data.draw(hnp.integer_array_indices(x.shape, result_shape=testing.shapes(max_side=4)), label="index")
    index = wrap(idx[0], how) if len(idx) == 1 else tuple(wrap(i, how) for i in idx)
    check_op(lambda t: t[index], lambda a: a[idx], [x])


@pytest.mark.parametrize("how", WRAPS)
@given(data=st.data())
def test_boolean_mask_index(how: str, data: st.DataObject) -> None:
    """A mask over the leading axes."""
    x = data.draw(testing.arrays(testing.shapes(min_dims=1, max_dims=3, max_side=3)), label="x")
    k = data.draw(st.integers(1, x.ndim), label="mask axes")
    mask = data.draw(hnp.arrays(bool, x.shape[:k]), label="mask")
    check_op(lambda t: t[wrap(mask, how)], lambda a: a[mask], [x])


EXACT_INDEX_GRADS = {
    "repeats": ((3,), [0, 0, 1], [2, 1, 0]),
    "repeats via negative": ((3,), np.array([2, -1, 0, 2]), [1, 0, 3]),
    "Tensor index": ((3,), Tensor(np.array([1, 1])), [0, 2, 0]),
    "pairs": ((2, 3), ([0, 0, 1], [2, 2, -1]), [[0, 0, 2], [0, 0, 1]]),
    "slice and repeats": ((2, 3), (slice(None), [1, 1]), [[0, 2, 0], [0, 2, 0]]),
    "Ellipsis and repeats": ((2, 3), (..., [0, 0, 0]), [[3, 0, 0], [3, 0, 0]]),
    "step slice": ((5,), slice(None, None, -2), [1, 0, 1, 0, 1]),
    "None and negative int": ((2, 3), (None, -1, 1), [[0, 0, 0], [0, 1, 0]]),
    "mask": ((2, 3), np.array([[True, False, True], [False, False, True]]), [[1, 0, 1], [0, 0, 1]]),
}


@pytest.mark.parametrize("name", EXACT_INDEX_GRADS)
def test_index_gradient_exact(name: str) -> None:
    """x[index].sum() sends 1 to every pick, so each element's gradient counts its picks."""
    shape, index, expected = EXACT_INDEX_GRADS[name]
    a = np.arange(float(np.prod(shape))).reshape(shape)
    x = Tensor(a.copy(), requires_grad=True)
    y = x[index]
    np.testing.assert_array_equal(y.data, a[index.data if isinstance(index, Tensor) else index])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.array(expected, dtype=np.float64))


# --- stack and concat --------------------------------------------------------------------


@pytest.mark.parametrize("join", ["stack", "concat"])
@given(data=st.data())
def test_stack_concat(join: str, data: st.DataObject) -> None:
    """1 to 5 inputs, any axis (negative too); each input requires grad, is constant or is bare."""
    n = data.draw(st.integers(1, 5), label="inputs")
    shape = data.draw(testing.shapes(min_dims=int(join == "concat"), max_dims=3, max_side=3), label="shape")
    out_ndim = len(shape) + (join == "stack")
    axis = data.draw(st.integers(-out_ndim, out_ndim - 1), label="axis")
    shapes = [shape] * n
    if join == "concat":  # inputs differ along the joining axis
        sides = data.draw(st.lists(st.integers(1, 3), min_size=n, max_size=n), label="sides")
        shapes = [shape[: axis % out_ndim] + (side,) + shape[axis % out_ndim + 1 :] for side in sides]
    arrays = [data.draw(testing.arrays(s), label="input") for s in shapes]
    kinds = data.draw(st.lists(st.sampled_from([GRAD, CONST, NUMPY]), min_size=n, max_size=n), label="kinds")
    np_join = np.stack if join == "stack" else np.concatenate
    check_op(lambda *ts: getattr(Tensor, join)(ts, axis=axis), lambda *arrs: np_join(arrs, axis=axis), arrays, kinds)


# --- dtypes ------------------------------------------------------------------------------


def values(shape: tuple[int, ...], dtype: Any = np.float64) -> np.ndarray:
    """Distinct values in [0.6, 1.9]: inside every op's domain and off every kink."""
    return np.linspace(0.6, 1.9, int(np.prod(shape))).reshape(shape).astype(dtype)


#: every op as (fn, input shapes), for dtype checks that need no hypothesis
DTYPE_CASES: dict[str, tuple[Callable[..., Tensor], list[tuple[int, ...]]]] = {
    **{name: (case.fn, [(2, 3)]) for name, case in UNARY.items()},
    **{name: (case.fn, [(2, 3), (3,)]) for name, case in BINARY.items()},
    "matmul": (operator.matmul, [(2, 3), (3, 2)]),
    "matmul batched": (operator.matmul, [(2, 1, 2, 3), (3, 3, 2)]),
    "sum": (lambda x: x.sum(axis=-1), [(2, 3)]),
    "mean": (lambda x: x.mean(axis=(0, 1), keepdims=True), [(2, 3)]),
    "max": (lambda x: x.max(axis=0), [(2, 3)]),
    "reshape": (lambda x: x.reshape(3, -1), [(2, 3)]),
    "transpose": (lambda x: x.transpose(1, 0), [(2, 3)]),
    "basic index": (lambda x: x[None, ..., ::-2], [(2, 3)]),
    "repeated index": (lambda x: x[[1, 1, 0]], [(2, 3)]),
    "mask index": (lambda x: x[np.array([[True, False, True], [False, True, False]])], [(2, 3)]),
    "stack": (lambda x, y: Tensor.stack([x, y, x], axis=-1), [(2, 3), (2, 3)]),
    "concat": (lambda x, y: Tensor.concat([x, y], axis=-2), [(2, 3), (1, 3)]),
    "where": (lambda x, y: Tensor.where(np.array([True, False, True]), x, y), [(2, 3), (3,)]),
}
BINARY_DTYPE_CASES = [name for name, (_, shapes) in DTYPE_CASES.items() if len(shapes) == 2]


def backward_through(name: str, dtypes: list[Any], bare: int | None = None) -> tuple[Tensor, list[Any]]:
    """Run DTYPE_CASES[name] on inputs of ``dtypes`` that require grad (input ``bare`` as a numpy
    array instead); backpropagate out.sum(). Returns the output and each input (tensor or array)."""
    fn, shapes = DTYPE_CASES[name]
    inputs = [
        values(s, d) if i == bare else Tensor(values(s, d), requires_grad=True)
        for i, (s, d) in enumerate(zip(shapes, dtypes, strict=True))
    ]
    out = fn(*inputs)
    out.sum().backward()
    return out, inputs


@pytest.mark.parametrize("name", DTYPE_CASES)
def test_float32_stays_float32(name: str) -> None:
    out, inputs = backward_through(name, [np.float32] * len(DTYPE_CASES[name][1]))
    assert out.dtype == np.float32
    for x in inputs:
        assert x.grad.dtype == np.float32 and x.grad.shape == x.shape


SCALAR_EXPRESSIONS = {
    "2.0 * t": lambda t: 2.0 * t,
    "t * 2": lambda t: t * 2,
    "t ** 2": lambda t: t**2,
    "2 ** t": lambda t: 2**t,
    "1 - t": lambda t: 1 - t,
    "t / 3.0": lambda t: t / 3.0,
    "1 + t": lambda t: 1 + t,
}


@pytest.mark.parametrize("expr", SCALAR_EXPRESSIONS)
def test_python_scalar_never_upcasts(expr: str) -> None:
    """A Python number takes the tensor's dtype, as in numpy 2 (NEP 50): same values, float32."""
    fn = SCALAR_EXPRESSIONS[expr]
    a = values((2, 3), np.float32)
    t = Tensor(a.copy(), requires_grad=True)
    out = fn(t)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.data, fn(a))
    out.sum().backward()
    assert t.grad.dtype == np.float32


@pytest.mark.parametrize("order", [(np.float32, np.float64), (np.float64, np.float32)], ids=["32,64", "64,32"])
@pytest.mark.parametrize("name", BINARY_DTYPE_CASES)
def test_float32_with_float64_promotes(name: str, order: tuple[Any, Any]) -> None:
    """The result follows numpy (float64); each leaf's .grad keeps the leaf's own dtype."""
    out, inputs = backward_through(name, list(order))
    assert out.dtype == np.float64
    for x, dtype in zip(inputs, order, strict=True):
        assert x.grad.dtype == dtype


@pytest.mark.parametrize("name", BINARY_DTYPE_CASES)
def test_float32_tensor_with_float64_array(name: str) -> None:
    """An array mixed in takes the tensor's dtype, as a Python number does (issue 13: float32
    stays float32 through every op); only two Tensors promote."""
    out, (t32, _) = backward_through(name, [np.float32, np.float64], bare=1)
    assert out.dtype == np.float32
    assert t32.grad.dtype == np.float32


# --- exact gradients where a formula needs a convention ----------------------------------

#: name -> (fn, input values, expected gradient of fn(...).sum() for each input): the engine's
#: documented choices at ties and corners, which the property tests above stay away from
EDGE_GRADIENTS = {
    "max splits ties": (lambda x: x.max(), [[1.0, 3.0, 3.0]], [[0, 0.5, 0.5]]),
    "max splits ties per axis": (lambda x: x.max(axis=0), [[[1.0, 2.0], [1.0, 0.0]]], [[[0.5, 1], [0.5, 0]]]),
    "maximum splits ties": (lambda x, y: x.maximum(y), [[1.0, 2.0], [1.0, 3.0]], [[0.5, 0], [0.5, 1]]),
    "relu at 0": (lambda x: x.relu(), [[0.0, 1.0]], [[0, 1]]),
    "clip passes its bounds": (lambda x: x.clip(0.0, 1.0), [[-1.0, 0.0, 1.0, 2.0]], [[0, 1, 1, 0]]),
    # p * 0**(p - 1) at 0, and 0 where p = 0 (x**0 is constant), never 0 * inf = nan
    "x ** 0 at 0": (lambda x: x**0, [[0.0, 2.0]], [[0, 0]]),
    "x ** 1 at 0": (lambda x: x**1, [[0.0, 2.0]], [[1, 1]]),
    "x ** 2 at 0": (lambda x: x**2, [[0.0, 2.0]], [[0, 4]]),
    "x ** 3 at 0": (lambda x: x**3, [[0.0, 2.0]], [[0, 12]]),
    # 0**p is 0 for every p > 0, so the element at 0 adds 0 (not 0 * log 0 = nan) to dL/dp
    "0 ** p": (lambda p: np.array([0.0, 2.0]) ** p, [3.0], [8 * np.log(2.0)]),
    # 0**0 = 1 but constant in p, as in PyTorch: 0 (not 1 * log 0 = -inf) for dL/dp, 0 for dL/dx
    "0 ** 0": (lambda x, p: x**p, [[0.0, 0.0, 2.0], [0.0, 1.0, 0.0]], [[0, 1, 0], [0, 0, np.log(2.0)]]),
    "0 ** p, p = 0": (lambda p: np.array([0.0, 2.0]) ** p, [0.0], [np.log(2.0)]),
    "negative ** p": (lambda p: np.array([-2.0]) ** p, [2.0], [np.nan]),  # log(-2), as numpy
    "sqrt at 0": (lambda x: x.sqrt(), [[0.0, 4.0]], [[np.inf, 0.25]]),  # 1 / (2 sqrt(0)), as in PyTorch
    "abs at 0": (lambda x: x.abs(), [[-2.0, 0.0, 3.0]], [[-1, 0, 1]]),  # sign(0) = 0, as in PyTorch
}


@pytest.mark.parametrize("name", EDGE_GRADIENTS)
def test_edge_gradient_exact(name: str) -> None:
    fn, inputs, expected = EDGE_GRADIENTS[name]
    xs = [Tensor(np.array(v), requires_grad=True) for v in inputs]
    fn(*xs).sum().backward()
    for x, e in zip(xs, expected, strict=True):
        np.testing.assert_array_equal(x.grad, e)


def test_a_batch_1_outer_product_gives_matmuls_bits_signed_zeros_included():
    """MatMul's a^T g at batch 1 is computed elementwise (ops._at_g) from 2,048 products on, and
    by matmul under that; matmul's sums start at +0, so a product that is -0 comes out +0 there,
    and must on both paths."""
    from tinygrad_rnn.ops import _at_g

    for dtype in (np.float32, np.float64):
        a = np.array([[0.0, -0.0, 1.5, -2.0, 0.0]], dtype=dtype)  # a one-hot-like row with signed zeros
        g = np.array([[-3.0, 0.0, -0.0, 2.5]], dtype=dtype)
        for reps in (1, 32):  # 20 products (matmul) and 20,480 (elementwise)
            wide_a, wide_g = np.tile(a, reps), np.tile(g, reps)
            assert _at_g(wide_a, wide_g).tobytes() == (wide_a.T @ wide_g).tobytes()
        big = np.random.default_rng(0).normal(size=(2, 3)).astype(dtype)  # batch 2: matmul itself
        assert _at_g(big, big).tobytes() == (big.T @ big).tobytes()


def test_a_batch_1_outer_product_in_float16_keeps_plus_zero_for_a_product_that_underflows():
    """float16's matmul keeps the -0 of a negative product too small for float16; the gradient
    has always been the elementwise product + 0.0 there (+0), at every size."""
    from tinygrad_rnn.ops import _at_g

    a = np.array([[1e-4, -1e-4]], dtype=np.float16)
    g = np.array([[1e-5, 2e-5]], dtype=np.float16)  # products 1e-9, 2e-9: under half float16's smallest, 6e-8
    out = _at_g(a, g)
    assert out.tobytes() == np.add(np.multiply(a.T, g), 0.0).tobytes() and not np.signbit(out).any()


def test_an_affine_node_with_an_input_and_no_weight_is_refused_by_name():
    from tinygrad_rnn import ops
    from tinygrad_rnn.autograd import _apply

    b, x, W = (Tensor(np.ones(s)) for s in ((3,), (2, 4), (4, 3)))
    with pytest.raises(ShapeError, match=r"affine takes a bias and \(input, weight\) pairs, got a bias and 3 arrays"):
        _apply(ops.Affine, b, x, W, x)


def test_a_subclass_of_an_op_keeps_its_hint_in_errors():
    from tinygrad_rnn import ShapeError, ops
    from tinygrad_rnn.autograd import _apply

    class MyAdd(ops.Add):
        name = "myadd"

    with pytest.raises(ShapeError, match=r"myadd: shapes \(2,\) and \(3,\) do not broadcast; shapes broadcast when"):
        _apply(MyAdd, Tensor(np.ones(2)), Tensor(np.ones(3)))
