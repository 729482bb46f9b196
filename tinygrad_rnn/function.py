"""Ops of your own: ``Function``, a forward and its backward rule over numpy arrays.

The way PyTorch users write one (``torch.autograd.Function``)::

    class Cube(tinygrad_rnn.Function):
        @staticmethod
        def forward(ctx, x):              # numpy arrays in, a numpy array out
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):             # dL/d(out) in, dL/d(input) out, one per input
            (x,) = ctx.saved_tensors
            return 3 * x ** 2 * g

    y = Cube.apply(t)                     # recorded like a built-in op: y.op == "Cube"

``apply`` takes Tensors and any other arguments (numbers, strings, arrays held constant); the
Tensors reach ``forward`` as their numpy arrays, the rest as they are. ``backward`` returns one
gradient per Tensor argument (a bare array when there is one), or None for an input that needs
none (``ctx.needs_input_grad`` says which do; None for one that does counts as zero, as in
PyTorch); returning one per argument, None for the non-Tensors, as PyTorch asks, works too. A
gradient has the input's shape, or the output's where the input was broadcast to it (it is
summed back, as for the built-in ops). Each gradient is checked (real numbers, one of those
shapes) and an error names the Function and the argument's position. An error raised inside
your ``forward`` reaches you unchanged, with its traceback. The result carries the time step
it was made in, ``viz`` draws it under the Function's name and ``detect_anomaly`` checks it;
``gradcheck`` and the strategies in ``testing`` test it.

Under the hood a Function is an op of the table in ``ops.py`` (``_FunctionOp``, one per
Function class), so the engine has one mechanism for built-in ops and yours.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from . import ops
from .autograd import _apply
from .errors import BackwardError, DTypeError, ShapeError
from .modes import is_grad_enabled
from .tensor import Tensor


class Context:
    """What ``forward`` leaves for ``backward``: ``save_for_backward(*arrays)`` and
    ``saved_tensors``; ``needs_input_grad``, one bool per argument of ``apply`` (False for the
    non-Tensors), set before ``forward`` runs; and any attribute you set (``ctx.axis = 1``)."""

    def __init__(self) -> None:
        self.saved_tensors: tuple[Any, ...] = ()
        self.needs_input_grad: tuple[bool, ...] = ()
        self._inputs: tuple[tuple[tuple[int, ...], np.dtype], ...] = ()  # each Tensor input's shape, dtype
        self._out_shape: tuple[int, ...] = ()
        self._n_args = 0
        self._slots: tuple[int, ...] = ()  # where the Tensors are among the arguments

    def save_for_backward(self, *values: Any) -> None:
        """Keep ``values`` (the arrays the rule needs) for ``backward``: ``ctx.saved_tensors``."""
        self.saved_tensors = values


class Function:
    """Base class of a user-defined op: subclass it, write ``forward(ctx, *args)`` and
    ``backward(ctx, g)`` as static methods, call ``YourOp.apply(*args)``. See the module's
    docstring for the rules."""

    _op: ClassVar[type[ops.Op]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._op = type(f"{cls.__name__}Op", (_FunctionOp,), {"name": cls.__name__, "function": cls})

    @staticmethod
    def forward(ctx: Context, *args: Any) -> Any:
        raise NotImplementedError("write forward(ctx, *args) as a @staticmethod: numpy arrays in, one array out")

    @staticmethod
    def backward(ctx: Context, g: np.ndarray) -> Any:
        raise NotImplementedError("write backward(ctx, g) as a @staticmethod: one gradient per Tensor argument")

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run the op on ``args`` and record it: a Tensor whose ``op`` is this class's name."""
        if cls is Function:
            raise TypeError("Function.apply: subclass Function and call apply on the subclass")
        if kwargs:
            raise TypeError(
                f"{cls.__name__}.apply: pass every argument by position (got {', '.join(kwargs)} by name), "
                "as forward(ctx, *args) receives them"
            )
        tensors = tuple(a for a in args if isinstance(a, Tensor))
        if not tensors:
            raise DTypeError(
                f"{cls.__name__}.apply: no Tensor among the {len(args)} arguments; pass the inputs to "
                "differentiate as Tensors (e.g. Tensor(x, requires_grad=True))"
            )
        template = tuple(None if isinstance(a, Tensor) else (a,) for a in args)
        recording = is_grad_enabled()
        needs = tuple(isinstance(a, Tensor) and a.requires_grad and recording for a in args)
        return _apply(cls._op, *tensors, attrs=(template, needs))


class _FunctionOp(ops.Op):
    """The op-table entry of a Function: ``forward``/``backward`` in the table's convention,
    with the user's rules inside and their results checked."""

    function: ClassVar[type[Function]]

    @classmethod
    def forward(cls, *arrays_and_attrs: Any) -> tuple[np.ndarray, Any]:  # type: ignore[override]
        *arrays, template, needs = arrays_and_attrs
        name = cls.name
        it = iter(arrays)
        args = [next(it) if slot is None else slot[0] for slot in template]
        ctx = Context()
        ctx.needs_input_grad = needs
        out = cls.function.forward(ctx, *args)
        if isinstance(out, Tensor):
            raise DTypeError(
                f"{name}.forward returned a Tensor; forward works on numpy arrays and returns one "
                "(use .data, or np.* functions, inside it)"
            )
        if isinstance(out, tuple | list):
            raise DTypeError(
                f"{name}.forward returned {len(out)} values; a Function has one output (write one "
                "Function per output, or stack them into one array)"
            )
        floats = [a.dtype for a in arrays if a.dtype.kind == "f"]
        if not isinstance(out, np.ndarray | np.generic) and floats:  # a Python number: the inputs' precision
            out = np.asarray(out, dtype=np.result_type(*floats))
        out = np.asarray(out)
        if out.dtype.kind not in "biuf":
            raise DTypeError(f"{name}.forward returned data of dtype {out.dtype}; return a numeric numpy array")
        if out.dtype.kind != "f" and any(needs):
            raise DTypeError(
                f"{name}.forward returned {out.dtype} data from inputs that require grad; a gradient needs "
                "floating-point values (return e.g. x.astype(float) or compute in floats)"
            )
        ctx._out_shape = out.shape
        ctx._inputs = tuple((a.shape, a.dtype) for a in arrays)
        ctx._n_args = len(template)
        ctx._slots = tuple(i for i, slot in enumerate(template) if slot is None)
        return out, ctx

    @classmethod
    def backward(cls, ctx: Any, g: np.ndarray, needs: tuple[bool, ...]) -> tuple:  # type: ignore[override]
        name = cls.name
        grads = cls.function.backward(ctx, g)
        n = len(needs)
        if not isinstance(grads, tuple | list):
            grads = (grads,)
        if len(grads) == ctx._n_args and len(grads) != n:  # one per argument, PyTorch's way
            grads = tuple(grads[i] for i in ctx._slots)
        if len(grads) != n:
            raise BackwardError(
                f"{name}.backward returned {len(grads)} gradient{'s' if len(grads) != 1 else ''} for "
                f"{n} Tensor input{'s' if n != 1 else ''}; return one per Tensor argument of apply (None "
                "for one that needs no gradient)"
            )
        out = []
        for slot, gi, need, (shape, dtype) in zip(ctx._slots, grads, needs, ctx._inputs, strict=True):
            if gi is None or not need:
                out.append(None)
                continue
            out.append(_checked(name, slot, gi, shape, dtype, ctx._out_shape))
        return tuple(out)


def _checked(name: str, i: int, grad: Any, shape: tuple[int, ...], dtype: np.dtype, out_shape: tuple[int, ...]
             ) -> np.ndarray:  # fmt: skip
    """The gradient ``backward`` returned for argument ``i``, checked: real numbers, in the
    input's shape, or in the output's where the input was broadcast to it (then summed back)."""
    if isinstance(grad, Tensor):
        grad = grad.data
    try:
        arr = np.asarray(grad)
    except (TypeError, ValueError) as e:
        raise DTypeError(f"{name}.backward: the gradient of input {i} is not an array ({e})") from None
    if arr.dtype.kind not in "iuf":
        raise DTypeError(
            f"{name}.backward: the gradient of input {i} has dtype {arr.dtype}; return real numbers "
            f"(the input is {dtype})"
        )
    if arr.shape != shape:
        try:
            broadcast = np.broadcast_shapes(shape, out_shape) == out_shape
        except ValueError:
            broadcast = False
        if not (broadcast and arr.shape == out_shape):
            where = f" or the output's {out_shape}" if broadcast and out_shape != shape else ""
            raise ShapeError(
                f"{name}.backward: the gradient of input {i} has shape {arr.shape}, but it must have the "
                f"input's shape {shape}{where}; return dL/d(input) in that shape"
            )
    return arr


__all__ = ["Context", "Function"]
