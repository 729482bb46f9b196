"""What went wrong in an op, in words: the engine's error diagnosis, kept off its hot path.

Two kinds, both keyed by op:

- ``op_error``: numpy refused an op's forward (shapes that do not broadcast, a matmul whose
  inner dimensions differ, a bad axis or index). It becomes a ``ShapeError`` (or
  ``DTypeError``) naming the op, the input shapes and, from ``HINTS``, what to do.
- anomaly checks (``check_forward``, ``check_backward``), run inside ``detect_anomaly()``: the
  first NaN or infinity raises ``AnomalyError`` naming the op, its time step, the shapes, and
  what in the input caused it, e.g. "log at step 2 produced -inf from input containing 0". A
  ``backward()`` under it first looks through the recorded forward values in forward order, so
  a forward recorded outside the block is traced to the op where its first NaN or inf appeared.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from . import ops
from .errors import AnomalyError, DTypeError, IndexOutOfRangeError, ShapeError

if TYPE_CHECKING:
    from .tensor import Tensor

_BROADCAST = (
    "shapes broadcast when, aligned from the right, each pair of dimensions is equal or one "
    "of them is 1; reshape or transpose an input so they do"
)
_MATMUL = (
    "matmul needs (..., n, k) @ (..., k, m): the left operand's last axis must equal the "
    "right operand's second-to-last"
)
_AXIS = "axis must be an int or tuple of ints within the tensor's dimensions"

#: op -> what to do when numpy refuses its forward
HINTS: dict[type[ops.Op], str] = {
    **dict.fromkeys((ops.Add, ops.Sub, ops.Mul, ops.Div, ops.Pow, ops.Maximum, ops.Where), _BROADCAST),
    **dict.fromkeys((ops.MatMul, ops.Affine, ops.TanhAffine, ops.ReLUAffine, ops.SigmoidAffine), _MATMUL),
    **dict.fromkeys((ops.Sum, ops.Mean, ops.Max), _AXIS),
    ops.Reshape: "the new shape must hold the same number of elements (one dimension may be -1)",
    ops.Transpose: "axes must be a permutation of the tensor's dimensions",
    ops.GetItem: "use ints, slices, None, ... or integer/boolean arrays that fit the tensor's shape",
    ops.Stack: "stack joins tensors of one shape along a new axis: reshape them first, or join them along an "
    "existing axis with Tensor.concat",
    ops.Concat: "every tensor must have the same shape except along the joining axis",
}


def _broadcastable(*shapes: tuple[int, ...]) -> bool:
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        return False
    return True


def _matmul_problem(a: tuple[int, ...], b: tuple[int, ...]) -> str:
    if not a or not b:
        return f"cannot multiply shapes {a} @ {b}: matmul needs at least 1-d operands"
    k_b = b[-2] if len(b) > 1 else b[0]
    if a[-1] == k_b:
        return f"cannot multiply shapes {a} @ {b}: batch dimensions do not broadcast"
    return f"cannot multiply shapes {a} @ {b}: inner dimensions {a[-1]} and {k_b} differ"


def op_error(op: type[ops.Op], parents: tuple[Tensor, ...], attrs: tuple, e: Exception) -> Exception:
    """The error to raise when ``op``'s forward raised ``e`` (numpy's text, kept as the detail):
    it names the op, the input shapes (dtypes for a TypeError) and what to do."""
    shapes = [p.shape for p in parents]
    dtypes = " and ".join(str(p.dtype) for p in parents)
    if isinstance(e, TypeError):
        return DTypeError(f"{op.name}: {e} (input dtypes {dtypes}, shapes {' and '.join(map(str, shapes))}).")
    if isinstance(e, ValueError) and "negative integer powers" in str(e):
        return DTypeError(f"{op.name}: {e} (input dtypes {dtypes}); use floating-point data, e.g. dtype=float.")
    hint = next((HINTS[c] for c in op.__mro__ if c in HINTS), "")  # a subclass of an op has its hint
    if hint == _BROADCAST and not _broadcastable(*shapes):
        names = "" if len(shapes) == 2 else "cond, a and b have "  # where
        what = f"{names}shapes {', '.join(map(str, shapes[:-1]))} and {shapes[-1]} do not broadcast"
    elif op is ops.MatMul:
        what = _matmul_problem(*shapes)
    else:
        shown = " and ".join(map(str, shapes)) if len(shapes) <= 4 else str(shapes)
        what = f"{e} (input shape{'s' if len(shapes) > 1 else ''} {shown}"
        if attrs and op not in (ops.Stack, ops.Concat) and not hasattr(op, "function"):  # a Function's are its own
            what += f", arguments {attrs if len(attrs) > 1 else attrs[0]!r}"
        what += ")"
    kind = IndexOutOfRangeError if isinstance(e, IndexError) and op is ops.GetItem else ShapeError
    return kind(f"{op.name}: {what}; {hint}." if hint else f"{op.name}: {what}.")


# --- anomaly checks ------------------------------------------------------------------------


def _bad_values(a: np.ndarray) -> str:
    """'nan', 'inf', '-inf' or a combination, for the non-finite values in ``a``."""
    kinds = [name for name, mask in (("nan", np.isnan(a)), ("inf", np.isposinf(a)), ("-inf", np.isneginf(a)))
             if mask.any()]  # fmt: skip
    return " and ".join(kinds)


def _describe_input(a: np.ndarray) -> str:
    if a.size == 0:
        return "an empty input"
    if not np.all(np.isfinite(a)):
        return f"input already containing {_bad_values(a)}"
    span = f"in [{a.min():.3g}, {a.max():.3g}]"
    return f"input containing 0, {span}" if np.any(a == 0) else f"input {span}"


def _where(op_name: str, step: int | None) -> str:
    return op_name if step is None else f"{op_name} at step {step}"


def check_forward(op: Any, parents: tuple[Tensor, ...], out: np.ndarray, step: int | None, when: str = "") -> None:
    """Raise if ``out`` holds a NaN or an infinity (``when`` says when it was found, if not as
    the op ran)."""
    if out.dtype.kind != "f" or np.all(np.isfinite(out)):
        return
    inputs = ", ".join(f"{_describe_input(p.data)} (shape {p.shape})" for p in parents)
    raise AnomalyError(
        f"{_where(op.name, step)} produced {_bad_values(out)} from {inputs}; output shape {out.shape}{when}. "
        "Look at the values fed to this op (e.g. log of 0, division by 0, exp overflow)."
    )


def check_backward(node: Tensor, index: int, parent: Tensor, grad: np.ndarray) -> None:
    """Raise if the gradient sent from ``node`` to its ``index``-th input is not finite."""
    if np.all(np.isfinite(grad)):
        return
    incoming = node.grad
    cause = (
        f"from an incoming gradient already containing {_bad_values(incoming)}"
        if incoming is not None and not np.all(np.isfinite(incoming))
        else f"from a finite incoming gradient and {_describe_input(parent.data)}"
    )
    raise AnomalyError(
        f"backward of {_where(node.op or '?', node.step)} produced {_bad_values(grad)} in the gradient of its "
        f"input {index} (shape {parent.shape}) {cause}."
    )
