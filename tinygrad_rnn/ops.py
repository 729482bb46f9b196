"""The op table: each differentiable op's forward and backward, side by side.

An op is a small class with two static methods over numpy arrays:

``forward(*arrays, *attrs) -> (out, ctx)``
    computes the output and saves in ``ctx`` what the backward rule needs.
``backward(ctx, g, needs) -> tuple``
    given g = dL/d(out), returns dL/d(input) for each array input, or None where
    ``needs[i]`` is False (that input is a constant, so its gradient would be wasted work).

The rules are pure math: a rule may return a gradient in the broadcast shape of the output,
and ``autograd.accumulate`` reduces it to the input's shape, in that one place. The hot
forwards write large outputs into ``memory.output`` buffers (the section below); the fused
ops (an RNN step, a gate, a loss in one node) come last. ``autograd._apply`` is the only
caller; users reach these ops through ``Tensor``'s methods and operators. What to say when
numpy refuses an op's forward is in diagnose.py, keyed by op.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from numpy.lib.array_utils import normalize_axis_tuple

from .memory import MIN_BYTES, output

Ctx = Any


# --- outputs into pooled buffers (memory.py) -----------------------------------------------
# Why: benchmarks/allocator.py, a by-hand row-MNIST forward pass was 2.6x slower from page faults.


#: what is pooled: numpy gives these a C-ordered, native output from C-ordered inputs, as ours
_POOLED = frozenset([np.dtype(np.float32), np.dtype(np.float64)])


def _pooled_like(a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """A pooled output for an elementwise op of a and b (C-ordered, float32 or float64, one
    dtype) when one of them has the result's shape (the other's shape is its trailing
    dimensions) and it is large enough to pool; else None (numpy allocates, as it would)."""
    if type(a) is not np.ndarray or type(b) is not np.ndarray:
        return None
    if a.size < b.size:
        a, b = b, a
    if a.nbytes < MIN_BYTES or b.dtype != a.dtype or a.dtype not in _POOLED:  # the size first: it is the cheapest
        return None
    if b.shape != a.shape and (b.ndim > a.ndim or a.shape[a.ndim - b.ndim :] != b.shape):
        return None
    if not (a.flags.c_contiguous and b.flags.c_contiguous):  # numpy would keep an F order: so do we
        return None
    return output(a.shape, a.dtype)


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b, into a pooled output for two 2-d operands of one pooled dtype."""
    if type(a) is np.ndarray and type(b) is np.ndarray and a.ndim == 2 and b.ndim == 2:
        big = a.shape[0] * b.shape[1] * a.itemsize >= MIN_BYTES
        if big and a.dtype == b.dtype in _POOLED and a.shape[1] == b.shape[0]:
            return np.matmul(a, b, out=output((a.shape[0], b.shape[1]), a.dtype))
    return a @ b


class Op:
    """Base of the table. ``name`` is what graphs and error messages call the op."""

    name = "op"

    @staticmethod
    def forward(*args: Any) -> tuple[np.ndarray, Ctx]:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Ctx, g: np.ndarray, needs: tuple[bool, ...]) -> tuple:
        raise NotImplementedError


# --- elementwise binary ------------------------------------------------------------------


class Add(Op):
    """y = a + b;  dL/da = g, dL/db = g."""

    name = "add"

    @staticmethod
    def forward(a, b):
        out = _pooled_like(a, b)
        return (a + b if out is None else np.add(a, b, out=out)), None

    @staticmethod
    def backward(ctx, g, needs):
        return g, g


class Sub(Op):
    """y = a - b;  dL/da = g, dL/db = -g."""

    name = "sub"

    @staticmethod
    def forward(a, b):
        out = _pooled_like(a, b)
        return (a - b if out is None else np.subtract(a, b, out=out)), None

    @staticmethod
    def backward(ctx, g, needs):
        return g, (-g if needs[1] else None)


class Mul(Op):
    """y = a * b;  dL/da = g b, dL/db = g a."""

    name = "mul"

    @staticmethod
    def forward(a, b):
        out = _pooled_like(a, b)
        return (a * b if out is None else np.multiply(a, b, out=out)), (a, b)

    @staticmethod
    def backward(ctx, g, needs):
        a, b = ctx
        return (g * b if needs[0] else None), (g * a if needs[1] else None)


class Div(Op):
    """y = a / b;  dL/da = g / b, dL/db = -g a / b^2 = -g y / b."""

    name = "div"

    @staticmethod
    def forward(a, b):
        y = a / b
        return y, (b, y)

    @staticmethod
    def backward(ctx, g, needs):
        b, y = ctx
        return (g / b if needs[0] else None), (-g * y / b if needs[1] else None)


class Pow(Op):
    """y = a ** b;  dL/da = g b a^(b-1), dL/db = g y log(a).

    At a = 0 the formulas meet 0 * inf, and the gradients follow PyTorch: dL/da = 0 where b = 0
    (0 ** 0 = 1 and a ** 0 is constant); dL/db = 0 where b >= 0, both for b > 0 (y = 0) and at
    0 ** 0 (where y log(a) would be 1 * -inf), and -inf where b < 0. At negative a, log(a) is
    NaN, as numpy gives it.
    """

    name = "pow"

    @staticmethod
    def forward(a, b):
        y = a**b
        return y, (a, b, y)

    @staticmethod
    def backward(ctx, g, needs):
        a, b, y = ctx
        with np.errstate(divide="ignore", invalid="ignore"):
            ga = g * np.where(b == 0, 0, b * a ** (b - 1)) if needs[0] else None
            gb = g * np.where((a == 0) & (b >= 0), 0, y * np.log(a)) if needs[1] else None
        return ga, gb


class Maximum(Op):
    """y = max(a, b) elementwise; the gradient goes to the larger input, split evenly on ties."""

    name = "maximum"

    @staticmethod
    def forward(a, b):
        return np.maximum(a, b), (a, b)

    @staticmethod
    def backward(ctx, g, needs):
        a, b = ctx
        share_a = (a > b) + 0.5 * (a == b)
        return (g * share_a if needs[0] else None), (g * (1.0 - share_a) if needs[1] else None)


class Where(Op):
    """y = a where cond, else b (numpy.where: the three broadcast together);
    dL/da = g where cond, else 0; dL/db = g where not cond, else 0. cond (booleans) gets none."""

    name = "where"

    @staticmethod
    def forward(cond, a, b):
        return np.where(cond, a, b), cond

    @staticmethod
    def backward(cond, g, needs):
        ga = np.where(cond, g, 0) if needs[1] else None
        gb = np.where(cond, 0, g) if needs[2] else None
        return None, ga, gb


def _at_g(a: np.ndarray, g: np.ndarray) -> np.ndarray:
    """a^T @ g. For one row (batch 1) it is the outer product a_i g_j, which the elementwise
    product computes in 60-70% of matmul's time (benchmarks/tricks.py); + 0.0 gives matmul's bits
    (its sums start at +0, so a product of -0 comes out +0). Under 2,048 products of float32 or
    float64 the two calls cost more than matmul's one (16 x 16: 28% more, tricks.py), and matmul
    gives the same numbers; not in float16, whose matmul keeps the -0 of a product that underflows."""
    if a.shape[0] == 1 == g.shape[0] and (a.shape[1] * g.shape[1] >= 2048 or a.dtype not in _POOLED):
        out = np.multiply(a.T, g)
        return np.add(out, 0.0, out=out)
    return a.T @ g


class MatMul(Op):
    """y = a @ b (numpy rules, batch dimensions broadcast);
    dL/da = g @ b^T, dL/db = a^T @ g, with 1-d operands treated as a row / column."""

    name = "matmul"

    @staticmethod
    def forward(a, b):
        return _matmul(a, b), (a, b)

    @staticmethod
    def backward(ctx, g, needs):
        a, b = ctx
        if a.ndim == 2 and b.ndim == 2:  # the common case, without the reshaping below
            return (g @ b.T if needs[0] else None), (_at_g(a, g) if needs[1] else None)
        # a 1-d operand as a row (a) or a column (b), and g with the axis the product dropped put back
        a2, b2 = (a[None, :] if a.ndim == 1 else a), (b[:, None] if b.ndim == 1 else b)
        g2 = g[..., None] if b.ndim == 1 else g
        g2 = g2[..., None, :] if a.ndim == 1 else g2
        ga = g2 @ np.swapaxes(b2, -1, -2) if needs[0] else None
        gb = np.swapaxes(a2, -1, -2) @ g2 if needs[1] else None
        if a.ndim == 1 and needs[0]:
            ga = ga[..., 0, :]  # the row axis added above, taken away again
        if b.ndim == 1 and needs[1]:
            gb = gb[..., 0]
        return ga, gb


# --- elementwise unary -------------------------------------------------------------------


class Neg(Op):
    """y = -a;  dL/da = -g."""

    name = "neg"

    @staticmethod
    def forward(a):
        return -a, None

    @staticmethod
    def backward(ctx, g, needs):
        return (-g,)


class Tanh(Op):
    """h = tanh(a);  dL/da = g (1 - h^2), from the saved output."""

    name = "tanh"

    @staticmethod
    def forward(a):
        out = _pooled_like(a, a)
        h = np.tanh(a) if out is None else np.tanh(a, out=out)
        return h, h

    @staticmethod
    def backward(h, g, needs):
        # g (1 - h^2) in one temporary, not three: for backward's peak memory (test_autograd's peak
        # test), not for speed (no difference in the nn.RNN step: RESULTS.md, issue 14, third step)
        d = np.multiply(h, h, out=np.empty_like(h))
        return (np.multiply(np.subtract(1, d, out=d), g, out=d),)


def _float(a: np.ndarray) -> np.ndarray:
    """``a`` itself if it is floating point, else as float64."""
    return a if a.dtype.kind == "f" else a.astype(np.float64)


@functools.cache
def _exp_safe(dtype: np.dtype) -> float:
    """A bound under which e^a and 1 + e^a are finite: log of the dtype's largest value, less 2
    (707.8 for float64, 86.7 for float32)."""
    return float(np.log(np.finfo(dtype).max)) - 2


def _sigmoids(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sigmoid(a), sigmoid(-a)), each to a few ulp over the whole range, tails included.

    With e = e^a: sigmoid(-a) = 1 / (1 + e) and sigmoid(a) = e / (1 + e) = e sigmoid(-a). No step
    subtracts, so nothing cancels: each keeps its relative accuracy where it is tiny (sigmoid(a)
    for a << 0, sigmoid(-a) for a >> 0), and an e^a that underflows gives the subnormal or 0 the
    true value rounds to. Where e^a would overflow, a is clamped (sigmoid(a) is 1 to rounding
    there) and sigmoid(-a) = e^-a is computed for those elements alone.
    """
    a = _float(a)
    if a.ndim == 0:  # ufuncs turn 0-d arrays into numpy scalars, which cannot be written in place
        s, t = _sigmoids(a.reshape(1))
        return s.reshape(()), t.reshape(())
    safe = _exp_safe(a.dtype)
    big = None
    if a.size and not a.max() <= safe:  # (also for a NaN, which then goes through as NaN)
        big = a > safe
        e = np.exp(np.minimum(a, safe))
    else:
        e = np.exp(a)
    t = e + 1
    np.divide(1, t, out=t)  # sigmoid(-a)
    s = np.multiply(e, t, out=e)
    if big is not None and big.any():
        t[big] = np.exp(-a[big])
    return s, t


class Sigmoid(Op):
    """s = 1 / (1 + e^-a);  dL/da = g s (1 - s) = g s t, with t = sigmoid(-a) = 1 - s.

    Both s and t come from e^a without a subtraction (see ``_sigmoids``), so each is accurate to
    a few ulp on both tails: s(-40) = 4.25e-18 (the former (1 + tanh(a/2)) / 2 gave 0), and the
    gradient s t keeps its relative accuracy for large |a| on either side, where s (1 - s) is 0
    once s rounds to 1. t is saved (one array more than s alone), so the backward is one product.
    """

    name = "sigmoid"

    @staticmethod
    def forward(a):
        s, t = _sigmoids(a)
        return s, (s, t)

    @staticmethod
    def backward(ctx, g, needs):
        s, t = ctx
        d = s * t
        d *= g
        return (d,)


class Softplus(Op):
    """y = log(1 + e^a), computed as max(a, 0) + log1p(e^-|a|) (no overflow, no cancellation);
    dL/da = g sigmoid(a)."""

    name = "softplus"

    @staticmethod
    def forward(a):
        a = _float(a)
        return np.maximum(a, 0) + np.log1p(np.exp(-np.abs(a))), a

    @staticmethod
    def backward(a, g, needs):
        return (g * _sigmoids(a)[0],)


class LogSigmoid(Op):
    """y = log sigmoid(a) = -softplus(-a), computed as min(a, 0) - log1p(e^-|a|);
    dL/da = g sigmoid(-a) = g (1 - sigmoid(a)), with sigmoid(-a) computed directly."""

    name = "logsigmoid"

    @staticmethod
    def forward(a):
        a = _float(a)
        return np.minimum(a, 0) - np.log1p(np.exp(-np.abs(a))), a

    @staticmethod
    def backward(a, g, needs):
        return (g * _sigmoids(a)[1],)


class ReLU(Op):
    """y = max(a, 0);  dL/da = g where a > 0, else 0."""

    name = "relu"

    @staticmethod
    def forward(a):
        return np.maximum(a, 0), a > 0

    @staticmethod
    def backward(positive, g, needs):
        return (g * positive,)


class Exp(Op):
    """y = e^a;  dL/da = g y."""

    name = "exp"

    @staticmethod
    def forward(a):
        y = np.exp(a)
        return y, y

    @staticmethod
    def backward(y, g, needs):
        return (g * y,)


class Log(Op):
    """y = log(a);  dL/da = g / a."""

    name = "log"

    @staticmethod
    def forward(a):
        return np.log(a), a

    @staticmethod
    def backward(a, g, needs):
        return (g / a,)


class Sqrt(Op):
    """y = sqrt(a);  dL/da = g / (2 y), from the saved output.

    At a = 0 that is g / 0: inf for g > 0 (as in PyTorch), NaN where g = 0 there."""

    name = "sqrt"

    @staticmethod
    def forward(a):
        y = np.sqrt(a)
        return y, y

    @staticmethod
    def backward(y, g, needs):
        with np.errstate(divide="ignore", invalid="ignore"):
            return (g / (2 * y),)


class Abs(Op):
    """y = |a|;  dL/da = g sign(a), which is 0 at a = 0 (as in PyTorch)."""

    name = "abs"

    @staticmethod
    def forward(a):
        return np.abs(a), a

    @staticmethod
    def backward(a, g, needs):
        return (g * np.sign(a),)


class Clip(Op):
    """y = min(max(a, lo), hi);  dL/da = g where lo <= a <= hi, else 0."""

    name = "clip"

    @staticmethod
    def forward(a, lo, hi):
        return np.clip(a, lo, hi), (a, lo, hi)

    @staticmethod
    def backward(ctx, g, needs):
        a, lo, hi = ctx
        return (g * ((True if lo is None else a >= lo) & (True if hi is None else a <= hi)),)


# --- reductions --------------------------------------------------------------------------


def _normalize_axes(axis: int | tuple[int, ...] | None, ndim: int) -> tuple[int, ...]:
    """Axis argument as a sorted tuple of non-negative axes (None means all)."""
    if axis is None:
        return tuple(range(ndim))
    if ndim == 0 and isinstance(axis, (int, np.integer)) and axis in (0, -1):
        return ()  # as in np.sum and np.max, a 0-d array may be reduced "over axis 0": nothing to do
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = sorted({int(ax) % ndim for ax in axes if -ndim <= ax < ndim})
    if len(out) != len(axes):  # numpy's errors: an AxisError, or a ValueError for an axis given twice
        return normalize_axis_tuple(axis, ndim)
    return tuple(out)


def _expand(g: np.ndarray, shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    """Undo a reduction over ``axes``: put the reduced axes back and broadcast to ``shape``."""
    if not keepdims:
        g = np.expand_dims(g, axes)
    return np.broadcast_to(g, shape)


class Sum(Op):
    """y = sum of a over axes;  dL/da = g broadcast back over the summed axes."""

    name = "sum"

    @staticmethod
    def forward(a, axis, keepdims):
        axes = _normalize_axes(axis, a.ndim)
        return np.sum(a, axis=axes, keepdims=keepdims), (a.shape, axes, keepdims)

    @staticmethod
    def backward(ctx, g, needs):
        return (_expand(g, *ctx),)


class Mean(Op):
    """y = mean of a over axes (n elements each);  dL/da = g / n broadcast back."""

    name = "mean"

    @staticmethod
    def forward(a, axis, keepdims):
        axes = _normalize_axes(axis, a.ndim)
        n = int(np.prod([a.shape[i] for i in axes]))
        return np.mean(a, axis=axes, keepdims=keepdims), (a.shape, axes, keepdims, n)

    @staticmethod
    def backward(ctx, g, needs):
        shape, axes, keepdims, n = ctx
        return (_expand(g / n, shape, axes, keepdims),)


class Max(Op):
    """y = max of a over axes;  dL/da = g at the maxima, split evenly between ties."""

    name = "max"

    @staticmethod
    def forward(a, axis, keepdims):
        axes = _normalize_axes(axis, a.ndim)
        y = np.max(a, axis=axes, keepdims=True)
        winners = a == y
        count = winners.sum(axis=axes, keepdims=True)
        return (y if keepdims else np.squeeze(y, axis=axes)), (winners, count, axes, keepdims)

    @staticmethod
    def backward(ctx, g, needs):
        winners, count, axes, keepdims = ctx
        if not keepdims:
            g = np.expand_dims(g, axes)
        return (g * winners / count,)


# --- shape -------------------------------------------------------------------------------


class Reshape(Op):
    """y = a viewed with a new shape;  dL/da = g reshaped back."""

    name = "reshape"

    @staticmethod
    def forward(a, shape):
        return np.reshape(a, shape), a.shape

    @staticmethod
    def backward(shape, g, needs):
        return (np.reshape(g, shape),)


class Transpose(Op):
    """y = a with axes permuted;  dL/da = g permuted back by the inverse permutation."""

    name = "transpose"

    @staticmethod
    def forward(a, axes):
        return np.transpose(a, axes), None if axes is None else tuple(int(ax) % a.ndim for ax in axes)

    @staticmethod
    def backward(axes, g, needs):
        return (np.transpose(g, None if axes is None else np.argsort(axes)),)


def _is_basic_index(index: Any) -> bool:
    """True for ints, slices, None and Ellipsis only: no element is picked twice."""
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis for i in items)


class GetItem(Op):
    """y = a[index];  dL/da = zeros with g scattered back to the picked places, adding where
    an integer-array index picks the same element more than once."""

    name = "getitem"

    @staticmethod
    def forward(a, index):
        return a[index], (a.shape, a.dtype, index)

    @staticmethod
    def backward(ctx, g, needs):
        shape, dtype, index = ctx
        out = np.zeros(shape, dtype=np.result_type(dtype, g.dtype))
        if _is_basic_index(index):
            out[index] = g
        else:
            np.add.at(out, index, g)
        return (out,)


class Stack(Op):
    """y = the inputs stacked along a new axis;  dL/d(input i) = g taken at i on that axis."""

    name = "stack"

    @staticmethod
    def forward(*args):
        *arrays, axis = args
        y = np.stack(arrays, axis=axis)
        return y, axis if axis >= 0 else axis + y.ndim

    @staticmethod
    def backward(axis, g, needs):
        return tuple(np.take(g, i, axis=axis) if need else None for i, need in enumerate(needs))


class Concat(Op):
    """y = the inputs joined along an existing axis;  dL/d(input i) = g's slice for input i."""

    name = "concat"

    @staticmethod
    def forward(*args):
        *arrays, axis = args
        y = np.concatenate(arrays, axis=axis)
        return y, (axis % y.ndim, np.cumsum([a.shape[axis] for a in arrays])[:-1])

    @staticmethod
    def backward(ctx, g, needs):
        axis, splits = ctx
        return tuple(np.split(g, splits, axis=axis))


# --- fused ops: one node for what would be several ------------------------------------
# Why: benchmarks/RESULTS.md (issue 14, second step), the row-MNIST step through nn.RNN (one
# tanh(affine) node per step) runs at 0.97x numpy BPTT; by hand (five nodes per step) at 1.03-1.09x.


def _add_into(out: np.ndarray, y: np.ndarray) -> np.ndarray:
    """out + y, written into ``out`` (a fresh array of ours) when the result has its shape and
    dtype: numpy refuses the ``out=`` (a broadcast that grows out, another dtype, a scalar out),
    and then it is a new array. Not a new array per sum: 7-18% less per nn.RNN step; numpy's
    refusal, not our checks of shapes first: 0.3 µs less per sum (benchmarks/tricks.py)."""
    try:
        return np.add(out, y, out=out, casting="no")
    except (ValueError, TypeError):
        return out + y


class Affine(Op):
    """a = b + x1 W1 + x2 W2 + ... in one node (e.g. an RNN's a(t) = b + h(t-1) W + x(t) U);
    dL/db = g, dL/dx_i = g W_i^T, dL/dW_i = x_i^T g (each pair's rule is MatMul's).

    Fusing the sum keeps one array per step instead of one per product and partial sum, which
    is most of the memory of an unrolled RNN; the graph still has an edge from b, each x_i and
    each W_i, so diagrams and per-step gradients are unchanged in meaning.
    """

    name = "affine"

    @staticmethod
    def forward(b, *xw):
        if len(xw) < 2 or len(xw) % 2:
            raise ValueError(f"affine takes a bias and (input, weight) pairs, got a bias and {len(xw)} arrays")
        out = _matmul(xw[0], xw[1])
        for i in range(2, len(xw), 2):
            out = _add_into(out, xw[i] @ xw[i + 1])
        return _add_into(out, b), xw  # ctx: x1, W1, x2, W2, ...

    @staticmethod
    def backward(xw, g, needs):
        grads = [g if needs[0] else None]
        for i in range(0, len(xw), 2):
            grads.extend(MatMul.backward(xw[i : i + 2], g, needs[1 + i : 3 + i]))
        return tuple(grads)


class TanhAffine(Affine):
    """h = tanh(b + x1 W1 + x2 W2 + ...): a whole RNN step, h(t) = tanh(b + h(t-1) W + x(t) U),
    in one node that keeps only h; dL/da = g (1 - h^2), then Affine's rule."""

    name = "tanh(affine)"

    @staticmethod
    def forward(b, *xw):
        a, xw = Affine.forward(b, *xw)
        # written over the sum a, which nothing else holds: 8-15% less per nn.RNN step (benchmarks/tricks.py)
        h = np.tanh(a, out=a) if type(a) is np.ndarray else np.tanh(a)
        return h, (xw, h)

    @staticmethod
    def backward(ctx, g, needs):
        xw, h = ctx
        return Affine.backward(xw, Tanh.backward(h, g, needs)[0], needs)


class ReLUAffine(Affine):
    """h = max(0, b + x1 W1 + ...) in one node; dL/da = g where h > 0, then Affine's rule."""

    name = "relu(affine)"

    @staticmethod
    def forward(b, *xw):
        a, xw = Affine.forward(b, *xw)
        h = np.maximum(a, 0, out=a) if type(a) is np.ndarray else np.maximum(a, 0)
        return h, (xw, h > 0)

    @staticmethod
    def backward(ctx, g, needs):
        xw, positive = ctx
        return Affine.backward(xw, g * positive, needs)


class SigmoidAffine(Affine):
    """s = sigmoid(b + x1 W1 + x2 W2 + ...) in one node: a gate of an LSTM or a GRU, e.g.
    f(t) = sigmoid(b_f + h(t-1) W_f + x(t) U_f); dL/da = g s (1 - s) (Sigmoid's rule, with its
    accurate 1 - s), then Affine's rule."""

    name = "sigmoid(affine)"

    @staticmethod
    def forward(b, *xw):
        a, xw = Affine.forward(b, *xw)
        s, t = _sigmoids(a)
        return s, (xw, s, t)

    @staticmethod
    def backward(ctx, g, needs):
        xw, s, t = ctx
        return Affine.backward(xw, Sigmoid.backward((s, t), g, needs)[0], needs)




class CrossEntropy(Op):
    """L = -sum_i log softmax(z_i)[y_i] / n (or the sum), fused;  dL/dz = (softmax(z) - onehot(y)) g / n.

    One node instead of six: the forward subtracts each row's max so exp cannot overflow,
    and the backward reuses the softmax it saved. The integer labels y are the second input
    (recorded, so that a diagram shows y -> L) and get no gradient.
    """

    name = "cross_entropy"

    @staticmethod
    def forward(z, labels, mean):
        shifted = z - z.max(axis=-1, keepdims=True)
        e = np.exp(shifted)
        total = e.sum(axis=-1, keepdims=True)
        rows = np.arange(len(labels))
        nll = np.log(total[:, 0]) - shifted[rows, labels]
        # nll.mean() / nll.sum()'s arithmetic without their Python layer, in half the time
        # (benchmarks/tricks.py): the sum (float16's in float32, for the mean), then, for the mean,
        # a division by the count as an intp (so float32 divides in float64), as numpy's mean does
        loss = np.add.reduce(nll, dtype=np.float32 if mean and nll.dtype == np.float16 else None)
        if mean:
            loss = loss / np.intp(len(nll))
        return np.asarray(loss, dtype=z.dtype), (e / total, labels, rows, mean)

    @staticmethod
    def backward(ctx, g, needs):
        p, labels, rows, mean = ctx
        dz = p.copy()
        dz[rows, labels] -= 1
        scale = g / len(labels) if mean else g
        return dz * scale, None
