"""Hypothesis strategies for property tests of gradients: ours, and the ones you write.

A property test of a gradient is a few lines with these and ``gradcheck``::

    from hypothesis import given
    from tinygrad_rnn import testing
    from tinygrad_rnn.gradcheck import gradcheck

    test_cube = testing.check_op(Cube.apply, lambda x: x ** 3)  # your Function, against numpy

    @given(testing.operands(2))  # two tensors whose shapes broadcast together
    def test_my_op(ab):
        assert gradcheck(my_op, list(ab), seed=0)

    @given(testing.expression_graphs())  # random programs over every public op
    def test_random_graphs(graph):
        assert gradcheck(graph, graph.tensors(), seed=0)

    @given(testing.rnn_configs())  # recurrent networks: mapping, sizes, cost steps
    def test_bptt(cfg):
        model = cfg.model()
        assert gradcheck(lambda *p: cfg.loss(model), list(model.parameters()))

A failing example prints as code that makes it again. Requires the ``hypothesis`` package (the
``test`` extra).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import hypothesis.strategies as st
import numpy as np
from hypothesis import given, settings
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
#
# A graph is built by running it: each op is applied to concrete values while the program is
# drawn, so an op whose result would sit near a kink (relu, abs, maximum, max, clip) or grow
# large is swapped for tanh before it is kept. Every value the finite differences see is then
# at least MARGIN from a kink and at most MAX_MAGNITUDE in size, whatever was drawn.

MARGIN = 0.02  # distance kept from a kink: far beyond what gradcheck's stencil (4 eps = 4e-4) moves a value
MAX_MAGNITUDE = 20.0


@dataclass(frozen=True)
class _Rule:
    """One op of the graphs: ``apply(*tensors, *params)``; ``pair``: how a second operand is
    chosen ("broadcast": any shape that broadcasts; "same": the same shape); ``kink``: the
    values that must stay MARGIN away from 0 (None: smooth); ``draw_params``: the op's
    non-tensor arguments, drawn for the operands' values; ``code``: the op as Python."""

    arity: int
    apply: Callable[..., Tensor]
    code: str | Callable[..., str]  # a format string over the operands, or f(operands, *params)
    pair: str = "broadcast"
    min_ndim: int = 0
    draw_params: Callable[[st.DrawFn, list[np.ndarray]], tuple] | None = None
    kink: Callable[..., np.ndarray] | None = None


def _axis(draw: st.DrawFn, vals: list[np.ndarray]) -> tuple:
    a = vals[0]
    axis = draw(st.sampled_from([None, *range(a.ndim)])) if a.ndim else None
    return axis, draw(st.booleans())


def _max_gap(a: np.ndarray, axis: int | None, keepdims: bool) -> np.ndarray:
    """The gap between the largest and the second largest value (ties have no gradient)."""
    flat = a.reshape(-1) if axis is None else np.moveaxis(a, axis, -1)
    if flat.shape[-1] < 2:
        return np.array([np.inf])
    top2 = np.sort(flat, axis=-1)[..., -2:]
    return top2[..., 1] - top2[..., 0]


def _index(draw: st.DrawFn, vals: list[np.ndarray]) -> tuple:
    n = vals[0].shape[0]
    kind = draw(st.sampled_from(["repeated", "slice", "newaxis", "int", "mask"]))
    if kind == "repeated":  # repeated indices accumulate their gradients
        return (tuple(draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=4))) + (0, 0),)
    if kind == "int":
        return (draw(st.integers(-n, n - 1)),)
    if kind == "mask":  # a boolean array over the first axis, at least one True
        return (("mask", *draw(st.lists(st.booleans(), min_size=n, max_size=n).filter(any))),)
    return (kind,)


def _index_code(a: str, index: Any) -> str:
    if index == "slice":
        return f"{a}[..., ::-1]"
    if index == "newaxis":
        return f"{a}[None]"
    if isinstance(index, int):
        return f"{a}[{index}]"
    if index[0] == "mask":
        return f"{a}[np.array({list(index[1:])})]"
    return f"{a}[{list(index)}]"


def _clip_bounds(draw: st.DrawFn, vals: list[np.ndarray]) -> tuple:
    a = vals[0].reshape(-1)
    lo, hi = sorted(draw(st.tuples(st.floats(-2.5, 2.5), st.floats(-2.5, 2.5))))
    return (lo, hi if hi - lo > 2 * MARGIN else lo + 1.0) if a.size else (-1.0, 1.0)


def _labels(draw: st.DrawFn, vals: list[np.ndarray]) -> tuple:
    a = vals[0]
    rows, classes = int(np.prod(a.shape[:-1], dtype=int)), a.shape[-1]
    return (tuple(draw(st.lists(st.integers(0, classes - 1), min_size=rows, max_size=rows))),)


def _product_form(draw: st.DrawFn, vals: list[np.ndarray]) -> tuple:
    """How matmul and affine multiply a by b: a real product (a's rows times b's columns, inner
    dimension n = a's last) where b's size allows, an outer product, or a batched one."""
    a, b = vals
    n = a.shape[-1] if a.ndim else 1
    forms = ["outer", "batched"] + (["matrix"] if a.ndim and b.size % n == 0 else [])
    forms += ["square"] if a.ndim and n > 1 and b.size % n == 0 else []
    return draw(st.sampled_from(forms)), n


def _matmul_code(a: str, b: str, form: str, n: int) -> str:
    if form == "outer":  # (p, 1) @ (1, m)
        return f"{a}.reshape(-1, 1) @ {b}.reshape(1, -1)"
    if form == "batched":  # batch dimensions broadcast: (p,) with (1,)
        return f"{a}.reshape(-1, 1, 1) @ {b}.reshape(1, 1, -1)"
    if form == "square":  # (p, n) @ (n, n), W = u v^T from b: a slip between W and W^T keeps the shapes
        return f"{a}.reshape(-1, {n}) @ {_square(b, n)}"
    return f"{a}.reshape(-1, {n}) @ {b}.reshape({n}, -1)"  # (p, n) @ (n, m)


def _square(b: str, n: int) -> str:
    """An (n, n) matrix from b that is not symmetric: b's first column (as n rows) times its
    last n values, reversed."""
    return f"({b}.reshape({n}, -1)[:, :1] @ {b}.reshape(1, -1)[:, ::-1][:, :{n}])"


def _affine_code(a: str, b: str, form: str, n: int, activation: str | None) -> str:
    if form in ("matrix", "square"):
        w = _square(b, n) if form == "square" else f"{b}.reshape({n}, -1)"
        x, bias = f"{a}.reshape(-1, {n})", f"{w}[0]"
    else:
        x, w, bias = f"{a}.reshape(-1, 1)", f"{b}.reshape(1, -1)", f"{b}.reshape(1, -1)"
    return f"F.affine({bias}, ({x}, {w}), activation={activation!r})"


def _product_form_act(draw: st.DrawFn, vals: list[np.ndarray]) -> tuple:
    form, n = _product_form(draw, vals)
    return "outer" if form == "batched" else form, n, draw(st.sampled_from([None, "tanh", "relu", "sigmoid"]))


def _run(code: Callable[..., str]) -> Callable[..., Tensor]:
    """An op that runs its own source text (so that a graph and its source() cannot differ)."""

    def apply(*tensors_and_params: Any) -> Tensor:
        from . import functional as F

        arity = sum(isinstance(x, Tensor) for x in tensors_and_params)
        names = [f"v{i}" for i in range(arity)]
        text = code(*names, *tensors_and_params[arity:])
        return eval(text, {"F": F, "np": np, "Tensor": Tensor}, dict(zip(names, tensors_and_params, strict=False)))

    return apply


def _pre_affine(a: np.ndarray, b: np.ndarray, form: str, n: int, activation: str | None) -> np.ndarray:
    """relu(affine)'s input, kept away from relu's kink."""
    if activation != "relu":
        return np.array([np.inf])
    return _run(_affine_code)(Tensor(a), Tensor(b), form, n, None).data


def _cross_entropy_code(a: str, labels: tuple) -> str:
    return f"F.cross_entropy({a}.reshape(-1, {a}.shape[-1]), np.array({list(labels)}))"


def _functional(name: str) -> Callable[..., Tensor]:
    def call(*args: Any) -> Tensor:
        from . import functional as F

        return getattr(F, name)(*args)

    return call


def _where_cond(draw: st.DrawFn, vals: list[np.ndarray]) -> tuple:
    shape = np.broadcast_shapes(vals[0].shape, vals[1].shape)
    return (tuple(draw(st.lists(st.booleans(), min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))), shape)


def _where_code(a: str, b: str, cond: tuple, shape: tuple) -> str:
    return f"F.where(np.array({list(cond)}).reshape({shape}), {a}, {b})"


_RULES: dict[str, _Rule] = {
    "add": _Rule(2, lambda a, b: a + b, "{0} + {1}"),
    "sub": _Rule(2, lambda a, b: a - b, "{0} - {1}"),
    "mul": _Rule(2, lambda a, b: a * b, "{0} * {1}"),
    "div": _Rule(2, lambda a, b: a / (b * b + 0.5), "{0} / ({1} * {1} + 0.5)"),
    "pow": _Rule(2, lambda a, b: (a * a + 0.5) ** b.tanh(), "({0} * {0} + 0.5) ** {1}.tanh()"),
    "square": _Rule(1, lambda a: a**2, "{0} ** 2"),
    "maximum": _Rule(2, lambda a, b: a.maximum(b), "{0}.maximum({1})", kink=lambda a, b: a - b),
    "matmul": _Rule(2, _run(_matmul_code), _matmul_code, pair="product", draw_params=_product_form),
    "affine": _Rule(
        2, _run(_affine_code), _affine_code, pair="product", draw_params=_product_form_act, kink=_pre_affine
    ),  # fmt: skip
    "neg": _Rule(1, lambda a: -a, "-{0}"),
    "scale": _Rule(1, lambda a: 0.5 * a + 1, "0.5 * {0} + 1"),
    "tanh": _Rule(1, lambda a: a.tanh(), "{0}.tanh()"),
    "sigmoid": _Rule(1, lambda a: a.sigmoid(), "{0}.sigmoid()"),
    "relu": _Rule(1, lambda a: a.relu(), "{0}.relu()", kink=lambda a: a),
    "exp": _Rule(1, lambda a: a.exp(), "{0}.exp()"),
    "log": _Rule(1, lambda a: (a * a + 0.5).log(), "({0} * {0} + 0.5).log()"),
    "clip": _Rule(
        1,
        lambda a, lo, hi: a.clip(lo, hi),
        "{0}.clip({p0!r}, {p1!r})",
        draw_params=_clip_bounds,
        kink=lambda a, lo, hi: np.minimum(np.abs(a - lo), np.abs(a - hi)),
    ),  # fmt: skip
    "sum": _Rule(
        1,
        lambda a, axis, keep: a.sum(axis=axis, keepdims=keep),
        "{0}.sum(axis={p0!r}, keepdims={p1!r})",
        draw_params=_axis,
    ),  # fmt: skip
    "sum_last": _Rule(1, lambda a: a.sum(axis=-1, keepdims=True), "{0}.sum(axis=-1, keepdims=True)", min_ndim=1),
    "mean": _Rule(
        1,
        lambda a, axis, keep: a.mean(axis=axis, keepdims=keep),
        "{0}.mean(axis={p0!r}, keepdims={p1!r})",
        draw_params=_axis,
    ),  # fmt: skip
    "max": _Rule(
        1,
        lambda a, axis, keep: a.max(axis=axis, keepdims=keep),
        "{0}.max(axis={p0!r}, keepdims={p1!r})",
        draw_params=_axis,
        kink=_max_gap,
    ),  # fmt: skip
    "reshape": _Rule(1, lambda a: a.reshape(-1), "{0}.reshape(-1)"),
    "transpose": _Rule(1, lambda a: a.T, "{0}.T"),
    "getitem": _Rule(
        1,
        _run(_index_code),
        _index_code,
        min_ndim=1,
        draw_params=_index,
    ),
    "stack": _Rule(2, lambda a, b: Tensor.stack([a, b]), "Tensor.stack([{0}, {1}])", pair="same"),
    "concat": _Rule(
        2, lambda a, b: Tensor.concat([a, b], axis=0), "Tensor.concat([{0}, {1}], axis=0)", pair="same", min_ndim=1
    ),  # fmt: skip
    "softmax": _Rule(1, _functional("softmax"), "F.softmax({0})", min_ndim=1),
    "log_softmax": _Rule(1, _functional("log_softmax"), "F.log_softmax({0})", min_ndim=1),
    "cross_entropy": _Rule(1, _run(_cross_entropy_code), _cross_entropy_code, min_ndim=1, draw_params=_labels),
    "mse": _Rule(2, _functional("mse"), "F.mse({0}, {1})", pair="same"),
    "sqrt": _Rule(1, lambda a: (a * a + 0.5).sqrt(), "({0} * {0} + 0.5).sqrt()"),
    "abs": _Rule(1, lambda a: a.abs(), "{0}.abs()", kink=lambda a: a),
    "softplus": _Rule(1, lambda a: a.softplus(), "{0}.softplus()"),
    "logsigmoid": _Rule(1, lambda a: a.logsigmoid(), "{0}.logsigmoid()"),
    "where": _Rule(2, _run(_where_code), _where_code, draw_params=_where_cond),
}
OPS: tuple[str, ...] = tuple(_RULES)  #: the ops ``expression_graphs`` draws from


@dataclass
class ExpressionGraph:
    """A random program over float64 inputs, in which values are reused.

    Value ``k`` (inputs first) is ``op(value[i], value[j], *params)``; the output is the sum
    of every value no later op used, so every input reaches it. Call it on tensors to record
    the graph. ``repr`` is code that makes the same graph again; ``source()`` is the program as
    a Python function, to paste into a test or a bug report.
    """

    inputs: list[Any]
    program: list[tuple[str, tuple[int, ...], tuple]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.inputs = [np.asarray(a, dtype=np.float64) for a in self.inputs]
        self.program = [(name, tuple(args), tuple(params)) for name, args, *rest in self.program
                        for params in [rest[0] if rest else ()]]  # fmt: skip

    def tensors(self) -> list[Tensor]:
        """Fresh float64 tensors ``x0, x1, ...`` holding copies of the inputs, requiring grad."""
        return [Tensor(a.copy(), requires_grad=True, name=f"x{i}") for i, a in enumerate(self.inputs)]

    @property
    def ops(self) -> list[str]:
        """The ops of the program, in order."""
        return [name for name, _, _ in self.program]

    def __call__(self, *xs: Tensor) -> Tensor:
        values = list(xs)
        used = [False] * (len(xs) + len(self.program))
        for name, args, params in self.program:
            values.append(_RULES[name].apply(*(values[i] for i in args), *params))
            for i in args:
                used[i] = True
        sinks = [v.sum() for v, u in zip(values, used, strict=True) if not u]
        out = sinks[0]
        for s in sinks[1:]:
            out = out + s
        return out

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # hypothesis prints failing examples with this
        p.text(repr(self))

    def __repr__(self) -> str:
        inputs = ", ".join(repr(a.tolist()) for a in self.inputs)
        return f"ExpressionGraph(inputs=[{inputs}], program={self.program!r})"

    def source(self) -> str:
        """The program as Python, with its imports: ``def graph(x0, x1, ...): ... return loss``."""
        n = len(self.inputs)
        names = [f"x{i}" for i in range(n)]
        lines = ["import numpy as np", "from tinygrad_rnn import Tensor, functional as F", "", "",
                 f"def graph({', '.join(names)}):"]  # fmt: skip
        used = [False] * (n + len(self.program))
        for k, (name, args, params) in enumerate(self.program):
            code = _RULES[name].code
            operands = [names[i] for i in args]
            text = code.format(*operands, **{f"p{j}": p for j, p in enumerate(params)}) if isinstance(code, str) \
                else code(*operands, *params)  # fmt: skip
            lines.append(f"    v{n + k} = {text}")
            names.append(f"v{n + k}")
            for i in args:
                used[i] = True
        sinks = [f"{v}.sum()" for v, u in zip(names, used, strict=True) if not u]
        lines.append(f"    return {' + '.join(sinks)}")
        return "\n".join(lines)


def _kink_clear(rule: _Rule, vals: list[np.ndarray], params: tuple) -> bool:
    if rule.kink is None:
        return True
    with np.errstate(all="ignore"):
        gap = np.abs(np.asarray(rule.kink(*vals, *params), dtype=np.float64))
    return bool(gap.size == 0 or np.all(gap >= MARGIN))


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
    """Random expression graphs over every public op (``ops`` to choose), with broadcasting and
    reuse (a value may feed several later ops, or one op twice).

    The inputs broadcast together; a second operand is any value whose shape broadcasts with
    the first (the same shape for stack, concat, mse). Ops run on the drawn values as the
    program is drawn: an op whose result would lie within ``MARGIN`` of a kink (relu, abs,
    maximum, max's ties, clip's bounds) or exceed ``MAX_MAGNITUDE`` becomes tanh, so every
    graph is well conditioned for finite differences. ``testing.OPS`` lists the ops.
    """
    names = list(_RULES) if ops is None else list(ops)
    unknown = set(names) - set(_RULES)
    if unknown or not names:
        raise ConfigError(f"unknown ops {sorted(unknown)}; choose from {sorted(_RULES)}")
    n_inputs = draw(st.integers(min_inputs, max_inputs))
    in_shapes = draw(broadcastable_shapes(n_inputs, max_dims=max_dims, max_side=max_side))
    # one pool of distinct values on GRID, none near 0, split into the inputs: no two inputs
    # tie and no input sits on a kink, so kinked ops are kept often
    sizes = [int(np.prod(s, dtype=int)) for s in in_shapes]
    pool = draw(arrays((sum(sizes),), min_value=-2.0, max_value=2.0, min_magnitude=3 * GRID, distinct=True))
    cuts = np.cumsum([0, *sizes])
    inputs = [pool[a:b].reshape(s) for a, b, s in zip(cuts[:-1], cuts[1:], in_shapes, strict=True)]
    values = [Tensor(a) for a in inputs]
    program: list[tuple[str, tuple[int, ...], tuple]] = []
    for _ in range(draw(st.integers(min_ops, max_ops))):
        name = draw(st.sampled_from(names))
        rule = _RULES[name]
        first = draw(st.integers(0, len(values) - 1))
        args: tuple[int, ...] = (first,)
        fits = [i for i, v in enumerate(values) if _pairs(rule.pair, values[first].shape, v.shape)]
        if values[first].ndim < rule.min_ndim or (rule.arity == 2 and not fits):
            name, rule = "tanh", _RULES["tanh"]
        elif rule.arity == 2:
            args = (first, draw(st.sampled_from(fits)))
        vals = [values[i].data for i in args]
        params = rule.draw_params(draw, vals) if rule.draw_params else ()
        with np.errstate(all="ignore"):
            out = rule.apply(*(values[i] for i in args), *params)
        if not _kink_clear(rule, vals, params) or not np.all(np.abs(out.data) <= MAX_MAGNITUDE):
            name, rule, args, params = "tanh", _RULES["tanh"], args[:1], ()
            out = values[args[0]].tanh()
        program.append((name, args, params))
        values.append(out)
    return ExpressionGraph(inputs, program)


def _pairs(how: str, a: Shape, b: Shape) -> bool:
    if how == "same":
        return a == b
    if how == "product":  # b can be reshaped into n rows, n being a's last dimension
        return not a or int(np.prod(b, dtype=int)) % a[-1] == 0
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return True


# --- operands for your own ops, and a property test in one line ---------------------------


def operands(
    n: int = 1,
    *,
    broadcast: bool = True,
    dtype: Any = np.float64,
    min_value: float = -3.0,
    max_value: float = 3.0,
    min_magnitude: float = 0.0,
    distinct: bool = False,
    max_dims: int = 3,
    max_side: int = 4,
) -> st.SearchStrategy[tuple[Tensor, ...]]:
    """Tuples of ``n`` tensors that require grad, the inputs of an op (a ``Function`` of yours):
    shapes that broadcast together (``broadcast=False``: one shape for all), values as in
    ``arrays``."""
    if n < 1:
        raise ConfigError(f"operands: n is the number of inputs, at least 1; got {n}")
    if broadcast:
        in_shapes = broadcastable_shapes(n, max_dims=max_dims, max_side=max_side)
    else:
        in_shapes = shapes(max_dims=max_dims, max_side=max_side).map(lambda s: (s,) * n)
    options = {"min_value": min_value, "max_value": max_value, "min_magnitude": min_magnitude, "distinct": distinct}
    return in_shapes.flatmap(lambda ss: st.tuples(*(tensors(s, dtype, **options) for s in ss)))


def check_op(
    op: Callable[..., Tensor],
    reference: Callable[..., Any] | None = None,
    *,
    n_inputs: int = 1,
    rtol: float = 1e-12,
    atol: float = 1e-12,
    fast: bool = False,
    max_examples: int | None = None,
    **operand_options: Any,
) -> Callable[[], None]:
    """One declaration, one property test: over ``operands(n_inputs, **operand_options)``,
    ``op``'s forward agrees with ``reference`` (numpy arrays in, an array out; skipped if None)
    to ``rtol``/``atol``, and its backward with finite differences (``gradcheck``, in float64:
    with ``dtype=np.float32`` the forward is compared in float32, set ``rtol`` to about 1e-6,
    and the rule is checked on float64 copies of the inputs)::

        test_cube = testing.check_op(Cube.apply, lambda x: x ** 3)

    pytest collects the returned function as a test (hypothesis drives it)."""
    from .gradcheck import gradcheck

    def test(xs: tuple[Tensor, ...]) -> None:
        out = op(*xs)
        if not isinstance(out, Tensor):
            raise TypeError(f"check_op: {_name(op)} returned {type(out).__name__}, not a Tensor")
        if reference is not None:
            expected = np.asarray(reference(*(x.data.copy() for x in xs)))
            np.testing.assert_allclose(out.data, expected, rtol=rtol, atol=atol,
                                       err_msg=f"{_name(op)}: forward disagrees with the reference")  # fmt: skip
        # finite differences need float64: a float32 op's rule is checked on float64 copies
        inputs = [x if x.dtype == np.float64 else Tensor(x.data.astype(np.float64), requires_grad=True) for x in xs]
        gradcheck(lambda *a: op(*a), inputs, seed=0, fast=fast)

    test.__name__ = test.__qualname__ = f"test_{_name(op)}"
    wrapped = given(operands(n_inputs, **operand_options))(test)
    return settings(max_examples=max_examples)(wrapped) if max_examples else wrapped


def _name(op: Callable[..., Any]) -> str:
    owner = getattr(op, "__self__", None)
    if isinstance(owner, type):  # YourFunction.apply
        return owner.__name__
    name = getattr(op, "__qualname__", None) or getattr(op, "__name__", None) or type(op).__name__
    return name.removesuffix(".apply").replace(".", "_").replace("<lambda>", "lambda")


# --- recurrent networks ---------------------------------------------------------------------


MAPPINGS = ("seq2seq", "seq2vec", "vec2seq", "encdec", "output_recurrent")


@dataclass(frozen=True)
class RNNConfig:
    """One recurrent network and its data, drawn by ``rnn_configs``: ``model()`` builds it,
    ``loss(model)`` runs it on the inputs and returns the cross-entropy of the outputs at
    ``cost_steps`` (all if None). Its repr is code that makes it again."""

    mapping: str
    T: int
    B: int
    I: int  # noqa: E741 (Goodfellow's and PyTorch's name for the input size)
    H: int
    O: int  # noqa: E741
    cost_steps: tuple[int, ...] | None
    dtype: str = "float64"
    seed: int = 0

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))

    def model(self) -> Any:
        from . import nn

        sizes = {"input_size": self.I, "hidden_size": self.H, "output_size": self.O, "seed": self.seed,
                 "dtype": np.dtype(self.dtype)}  # fmt: skip
        return {
            "seq2seq": nn.SeqToSeq,
            "seq2vec": nn.SeqToVec,
            "encdec": nn.EncoderDecoder,
            "output_recurrent": nn.OutputRecurrentRNN,
        }.get(self.mapping, nn.VecToSeq)(  # fmt: skip
            **sizes, **({"steps": self.T} if self.mapping == "vec2seq" else {})
        )

    def inputs(self) -> np.ndarray:
        """x(1..T) of shape (T, B, I), or one x of shape (B, I) for vec2seq."""
        rng = np.random.default_rng(self.seed)
        xs = rng.normal(size=(self.T, self.B, self.I)).astype(self.dtype)
        return xs[0] if self.mapping == "vec2seq" else xs

    def outputs(self, model: Any) -> list[Tensor]:
        xs = self.inputs()
        if self.mapping == "encdec":
            targets = np.eye(self.O, dtype=self.dtype)[self.labels()]  # teacher forcing: one-hot y(s)
            return model(xs, targets=targets)
        out = model(xs)
        return [out] if isinstance(out, Tensor) else list(out)

    def labels(self) -> np.ndarray:
        n = 1 if self.mapping == "seq2vec" else self.T
        return np.random.default_rng(self.seed + 1).integers(0, self.O, size=(n, self.B))

    def loss(self, model: Any) -> Tensor:
        from . import functional as F

        steps = None if self.cost_steps is None else list(self.cost_steps)
        return F.sequence_loss(self.outputs(model), self.labels(), steps=steps)


@st.composite
def rnn_configs(
    draw: st.DrawFn,
    *,
    mappings: Sequence[str] = MAPPINGS,
    max_steps: int = 5,
    max_batch: int = 3,
    max_input: int = 3,
    max_hidden: int = 4,
    max_output: int = 3,
    dtypes: Sequence[str] = ("float64",),
) -> RNNConfig:
    """Recurrent networks to property-test: the mapping, T, batch, input, hidden and output
    sizes, which outputs enter the cost, the dtype and the weights' seed (``gradcheck`` needs
    float64; draw float32 configurations for properties of the float32 path itself)::

        @given(testing.rnn_configs())
        def test_bptt(cfg):
            model = cfg.model()
            assert gradcheck(lambda *p: cfg.loss(model), list(model.parameters()))
    """
    unknown = set(mappings) - set(MAPPINGS)
    if unknown or not mappings:
        raise ConfigError(f"rnn_configs: unknown mappings {sorted(unknown)}; choose from {list(MAPPINGS)}")
    mapping = draw(st.sampled_from(list(mappings)))
    T = draw(st.integers(1, max_steps))
    n_outputs = 1 if mapping == "seq2vec" else T
    subset = draw(st.one_of(st.none(), st.sets(st.integers(0, n_outputs - 1), min_size=1).map(sorted).map(tuple)))
    return RNNConfig(
        mapping, T, draw(st.integers(1, max_batch)), draw(st.integers(1, max_input)),
        draw(st.integers(1, max_hidden)), draw(st.integers(2, max(2, max_output))), subset,
        draw(st.sampled_from(list(dtypes))), draw(st.integers(0, 2**16)),
    )  # fmt: skip


__all__ = [
    "GRID",
    "MAPPINGS",
    "OPS",
    "ExpressionGraph",
    "RNNConfig",
    "arrays",
    "broadcastable_shapes",
    "check_op",
    "expression_graphs",
    "operands",
    "rnn_configs",
    "shapes",
    "tensors",
]
