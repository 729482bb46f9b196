"""Hypothesis strategies for property tests of gradients: ours, and the ones you write.

A property test of a gradient is a few lines with these and ``gradcheck``::

    from hypothesis import given
    from tinygrad_rnn import testing
    from tinygrad_rnn.gradcheck import gradcheck

    @given(testing.expression_graphs())
    def test_random_graphs(graph):
        assert gradcheck(graph, graph.tensors(), seed=0)

    @given(testing.broadcastable_shapes(2).flatmap(
        lambda shapes: st.tuples(*(testing.tensors(s) for s in shapes))))
    def test_my_op(ab):
        assert gradcheck(my_op, list(ab), seed=0)

Requires the ``hypothesis`` package (the ``test`` extra).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import hypothesis.strategies as st
import numpy as np
from hypothesis.extra import numpy as hnp

from .errors import ConfigError
from .tensor import Tensor

Shape = tuple[int, ...]

#: spacing of the grid that ``distinct=True`` draws from: far wider than gradcheck's eps, so
#: finite differences never step across a tie of max, maximum, relu or clip.
GRID = 1 / 64


def shapes(*, min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4) -> st.SearchStrategy[Shape]:
    """Array shapes, scalars (``()``) included by default."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcastable_shapes(
    num_shapes: int = 2, *, min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4
) -> st.SearchStrategy[tuple[Shape, ...]]:
    """Tuples of ``num_shapes`` shapes that broadcast together, e.g. ((3, 1), (4, 3, 2)) or ((), (2,))."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    ).map(lambda b: b.input_shapes)


def _elements(dtype: np.dtype, lo: float, hi: float, min_magnitude: float, distinct: bool) -> st.SearchStrategy:
    if lo > hi:
        raise ConfigError(f"min_value {lo} is greater than max_value {hi}")
    width = 32 if dtype == np.float32 else 16 if dtype == np.float16 else 64

    def interval(a: float, b: float) -> st.SearchStrategy:
        if distinct:
            return st.integers(int(np.ceil(a / GRID)), int(np.floor(b / GRID))).map(lambda k: k * GRID)
        # bounds rounded inward to values the dtype can hold exactly (0.1 is not a float32)
        lo_, hi_ = dtype.type(a), dtype.type(b)
        lo_ = lo_ if lo_ >= a else np.nextafter(lo_, dtype.type(np.inf))
        hi_ = hi_ if hi_ <= b else np.nextafter(hi_, dtype.type(-np.inf))
        return st.floats(float(lo_), float(hi_), allow_nan=False, allow_infinity=False, width=width)

    pieces = []
    if lo <= -min_magnitude or min_magnitude == 0:
        pieces.append(interval(lo, min(hi, -min_magnitude) if min_magnitude else hi))
    if min_magnitude and hi >= min_magnitude:
        pieces.append(interval(max(lo, min_magnitude), hi))
    if not pieces:
        raise ConfigError(f"no value in [{lo}, {hi}] has magnitude >= {min_magnitude}")
    return st.one_of(*pieces)


def arrays(
    shape: Shape | st.SearchStrategy[Shape],
    dtype: Any = np.float64,
    *,
    min_value: float = -3.0,
    max_value: float = 3.0,
    min_magnitude: float = 0.0,
    distinct: bool = False,
) -> st.SearchStrategy[np.ndarray]:
    """Finite float arrays with values in [min_value, max_value].

    ``min_magnitude`` keeps values away from 0 (for log, division, relu's kink); ``distinct``
    draws unique values from a grid of spacing ``GRID`` (for max, maximum and clip, whose
    gradients are not defined at ties).
    """
    dtype = np.dtype(dtype)
    return hnp.arrays(
        dtype, shape, elements=_elements(dtype, min_value, max_value, min_magnitude, distinct), unique=distinct
    )


def tensors(
    shape: Shape | st.SearchStrategy[Shape] | None = None,
    dtype: Any = np.float64,
    *,
    min_value: float = -3.0,
    max_value: float = 3.0,
    min_magnitude: float = 0.0,
    distinct: bool = False,
    requires_grad: bool = True,
    name: str | None = None,
) -> st.SearchStrategy[Tensor]:
    """Tensors over ``arrays(...)`` (same options); ``shape=None`` draws one from ``shapes()``."""
    values = arrays(
        shapes() if shape is None else shape,
        dtype,
        min_value=min_value,
        max_value=max_value,
        min_magnitude=min_magnitude,
        distinct=distinct,
    )
    return values.map(lambda a: Tensor(a, requires_grad=requires_grad, name=name))


# --- random expression graphs ------------------------------------------------------------


@dataclass(frozen=True)
class _Rule:
    arity: int
    apply: Callable[..., Tensor]
    bound: Callable[..., float]  # a bound on |output| from bounds on |inputs| (and last dim)


_RULES: dict[str, _Rule] = {
    "add": _Rule(2, lambda a, b: a + b, lambda a, b, n: a + b),
    "sub": _Rule(2, lambda a, b: a - b, lambda a, b, n: a + b),
    "mul": _Rule(2, lambda a, b: a * b, lambda a, b, n: a * b),
    "tanh": _Rule(1, lambda a: a.tanh(), lambda a, n: 1.0),
    "sigmoid": _Rule(1, lambda a: a.sigmoid(), lambda a, n: 1.0),
    "exp": _Rule(1, lambda a: a.exp(), lambda a, n: float(np.exp(a))),
    "neg": _Rule(1, lambda a: -a, lambda a, n: a),
    "scale": _Rule(1, lambda a: 0.5 * a + 1, lambda a, n: 0.5 * a + 1),
    "sum_last": _Rule(1, lambda a: a.sum(axis=-1, keepdims=True), lambda a, n: a * n),
}
_MAX_BOUND = 20.0


@dataclass
class ExpressionGraph:
    """A random program over broadcastable float64 inputs, in which values are reused.

    Value ``k`` (inputs first) is ``op(value[i], value[j])``; the output is the sum of every
    value no later op used, so every input reaches it. Call it on tensors to record the graph.
    """

    inputs: list[np.ndarray]
    program: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)

    def tensors(self) -> list[Tensor]:
        """Fresh float64 tensors ``x0, x1, ...`` holding copies of the inputs, requiring grad."""
        return [Tensor(a.copy(), requires_grad=True, name=f"x{i}") for i, a in enumerate(self.inputs)]

    def __call__(self, *xs: Tensor) -> Tensor:
        values = list(xs)
        used = [False] * (len(xs) + len(self.program))
        for name, args in self.program:
            values.append(_RULES[name].apply(*(values[i] for i in args)))
            for i in args:
                used[i] = True
        sinks = [v.sum() for v, u in zip(values, used, strict=True) if not u]
        out = sinks[0]
        for s in sinks[1:]:
            out = out + s
        return out

    def __repr__(self) -> str:
        shapes = ", ".join(f"x{i}: {a.shape}" for i, a in enumerate(self.inputs))
        n = len(self.inputs)
        lines = [
            f"v{n + k} = {name}({', '.join(_vname(i, n) for i in args)})" for k, (name, args) in enumerate(self.program)
        ]
        return f"ExpressionGraph({shapes}; {'; '.join(lines)})"


def _vname(i: int, n_inputs: int) -> str:
    return f"x{i}" if i < n_inputs else f"v{i}"


@st.composite
def expression_graphs(
    draw: st.DrawFn,
    *,
    min_inputs: int = 1,
    max_inputs: int = 3,
    min_ops: int = 1,
    max_ops: int = 8,
    max_dims: int = 2,
    max_side: int = 3,
    ops: Sequence[str] | None = None,
) -> ExpressionGraph:
    """Random expression graphs with reuse (a value may feed several later ops, or one op twice).

    Ops are drawn from ``ops`` (default: add, sub, mul, tanh, sigmoid, exp, neg, scale,
    sum_last); an op whose output could exceed magnitude 20 is replaced by tanh, so values stay
    well conditioned for finite differences.
    """
    names = list(_RULES) if ops is None else list(ops)
    unknown = set(names) - set(_RULES)
    if unknown:
        raise ConfigError(f"unknown ops {sorted(unknown)}; choose from {sorted(_RULES)}")
    n_inputs = draw(st.integers(min_inputs, max_inputs))
    in_shapes = draw(broadcastable_shapes(n_inputs, max_dims=max_dims, max_side=max_side))
    inputs = [draw(arrays(s, min_value=-2.0, max_value=2.0)) for s in in_shapes]
    bounds = [2.0] * n_inputs
    shapes_ = list(in_shapes)
    program: list[tuple[str, tuple[int, ...]]] = []
    for _ in range(draw(st.integers(min_ops, max_ops))):
        name = draw(st.sampled_from(names))
        rule = _RULES[name]
        args = tuple(draw(st.integers(0, len(bounds) - 1)) for _ in range(rule.arity))
        shape = np.broadcast_shapes(*(shapes_[i] for i in args))
        if name == "sum_last" and not shape:
            name, rule = "tanh", _RULES["tanh"]
        last = shape[-1] if shape else 1
        bound = rule.bound(*(bounds[i] for i in args), last)
        if bound > _MAX_BOUND:
            name, args, bound = "tanh", args[:1], 1.0
            shape = shapes_[args[0]]
        if name == "sum_last":
            shape = shape[:-1] + (1,)
        program.append((name, args))
        bounds.append(bound)
        shapes_.append(shape)
    return ExpressionGraph(inputs, program)


__all__ = [
    "GRID",
    "ExpressionGraph",
    "arrays",
    "broadcastable_shapes",
    "expression_graphs",
    "shapes",
    "tensors",
]
