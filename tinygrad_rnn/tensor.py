"""Tensor: the array facade. A numpy array with numpy's and PyTorch's everyday API (operators,
``shape``, ``sum``, ``reshape``, indexing, ``item``, comparisons) whose every op goes through
``autograd._apply``, which records it when a gradient is wanted. The graph itself (``op``,
``parents``, ``backward``) is autograd.py's; the ops' math is ops.py's.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Union

import numpy as np

from . import autograd, ops
from .autograd import RETAINED, Released, _apply, backward, retain
from .errors import DTypeError, ShapeError
from .modes import MODE, STEP

ArrayLike = Union["Tensor", np.ndarray, float, int, Sequence[Any]]


def _check_dtype(arr: np.ndarray, requires_grad: bool) -> None:
    if arr.dtype.kind not in "biuf":
        raise DTypeError(
            f"Tensor: data of dtype {arr.dtype} is not numeric; pass real numbers "
            "(a numpy array, a list or a scalar of floats or integers)."
        )
    if requires_grad and arr.dtype.kind != "f":
        raise DTypeError(
            f"Tensor(requires_grad=True): only floating-point data can have gradients, got "
            f"{arr.dtype}. Convert it first, e.g. np.asarray(data, dtype=np.float64)."
        )


def _binary(op: type[ops.Op]) -> tuple[Any, Any]:
    """``op``'s operator (``t + x``) and reflected operator (``x + t``): the other operand is lifted
    to a Tensor of t's floating dtype (``_lift``) and the op is recorded by ``_apply``."""

    def forward(self: Tensor, other: ArrayLike) -> Tensor:
        return _apply(op, self, _lift(other, self))

    def reflected(self: Tensor, other: ArrayLike) -> Tensor:
        return _apply(op, _lift(other, self), self)

    return forward, reflected


def _unary(op: type[ops.Op], doc: str) -> Any:
    """A method that records ``op`` on the tensor alone (``t.tanh()``)."""

    def method(self: Tensor) -> Tensor:
        return _apply(op, self)

    method.__doc__ = doc
    return method


def _comparison(fn: Any) -> Any:
    """A comparison operator: ``fn`` (np.less, ...) on the data, broadcasting, as a boolean
    tensor that records nothing (it has no gradient), as numpy's comparisons give arrays."""

    def compare(self: Tensor, other: Any) -> Tensor:
        b = other.data if isinstance(other, Tensor) else other
        try:
            return Tensor(fn(self.data, b))
        except (ValueError, TypeError) as e:
            shape = np.shape(b) if not isinstance(b, str) else "a string"
            message = f"{fn.__name__}: cannot compare a tensor of shape {self.shape} with {shape}: {e}"
            raise ShapeError(message) from None

    return compare


class Tensor:
    """An n-dimensional array that can record the ops applied to it, for reverse-mode autodiff.

    Parameters
    ----------
    data : array-like
        Numeric data. numpy arrays are used as they are (not copied); lists and scalars are
        converted with ``np.asarray``, so Python floats become float64.
    requires_grad : bool
        Record the ops applied to this tensor and fill ``.grad`` on ``backward()``. Only
        floating-point data can require gradients.
    name : str, optional
        A label for diagrams and error messages (parameters: "U", "W", "b", "V", "c").
    dtype : optional
        Convert the data to this dtype first.

    Attributes
    ----------
    data : np.ndarray
    grad : np.ndarray or None
        dL/d(this tensor), same shape and dtype as ``data``, after ``backward()``.
    step : int or None
        The time step this tensor was created in (see ``tinygrad_rnn.step``).
    """

    __slots__ = ("_data", "grad", "requires_grad", "name", "step", "_op", "_parents", "_ctx", "__weakref__")
    __array_ufunc__ = None  # numpy defers to our reflected operators: ndarray + Tensor -> Tensor

    def __init__(
        self, data: ArrayLike, requires_grad: bool = False, name: str | None = None, dtype: Any = None
    ) -> None:
        try:
            arr = np.asarray(data.data if isinstance(data, Tensor) else data, dtype=dtype)
        except (TypeError, ValueError) as e:
            raise DTypeError(f"Tensor: cannot make a numeric array from {type(data).__name__}: {e}") from None
        if requires_grad is not False and requires_grad is not True and not isinstance(requires_grad, np.bool_):
            raise DTypeError(
                f"Tensor: requires_grad must be True or False, got {requires_grad!r} ({type(requires_grad).__name__})"
            )
        _check_dtype(arr, requires_grad)
        self._data: np.ndarray | Released = arr
        self.grad: np.ndarray | None = None
        self.requires_grad = bool(requires_grad)
        self.name = name
        self.step = MODE.get()[STEP]
        self._op: type[ops.Op] | None = None
        self._parents: tuple[Tensor, ...] = ()
        self._ctx: Any = None

    # --- the graph, read-only --------------------------------------------------------------

    @property
    def op(self) -> str | None:
        """Name of the op that made this tensor, or None for a leaf (input, parameter, constant)."""
        return None if self._op is None else self._op.name

    @property
    def parents(self) -> tuple[Tensor, ...]:
        """The tensors this one was computed from, in argument order (empty for a leaf)."""
        return self._parents

    @property
    def is_leaf(self) -> bool:
        return self._op is None

    # --- array-like ------------------------------------------------------------------------

    @property
    def data(self) -> np.ndarray:
        """The values. A value its ``step`` block gave up (``autograd.release``: only the graph
        referred to this tensor) is computed again from its inputs when read, and kept."""
        value = self._data
        return value if type(value) is not Released else autograd.restore(self)

    @data.setter
    def data(self, value: np.ndarray) -> None:
        self._data = value

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> int:
        return self._data.size

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor: it holds one value and has no first axis; use .item()")
        return self.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        """The sub-tensors along the first axis, each recorded in the graph (``t[i]``), as
        iterating a numpy array gives its rows: ``for x in xs``, ``list(t)``, ``zip(*t)``."""
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor: it holds one value; use .item()")
        return (self[i] for i in range(self.shape[0]))

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """``np.asarray(t)``: the data (no gradient flows through numpy)."""
        if copy:
            return np.array(self.data, dtype=dtype, copy=True)
        return self.data if dtype is None else self.data.astype(dtype, copy=False)

    def _scalar(self, what: str, kind: type[Exception] = TypeError) -> Any:
        """The one value of a one-element tensor as a Python number, else ``kind`` (numpy's error
        for float() and int(); a ShapeError, a ValueError, for item())."""
        if self.size != 1:
            raise kind(
                f"{what}: only a tensor holding exactly one value converts to a Python number; this one has "
                f"shape {self.shape} ({self.size} values). Reduce it first (.sum(), .mean()) or index one element."
            )
        return self.data.item()

    def __float__(self) -> float:
        return float(self._scalar("float()"))

    def __int__(self) -> int:
        return int(self._scalar("int()"))

    def __bool__(self) -> bool:
        if self.size != 1:
            raise ValueError(
                f"the truth value of a tensor with {self.size} values (shape {self.shape}) is ambiguous; "
                "reduce it first, e.g. bool((t > 0).data.any()) or .all()"
            )
        return bool(self.data.reshape(()).item())

    # comparisons: boolean tensors that record nothing (they have no gradient), as numpy's do;
    # tensors still hash by identity, so sets and dicts of tensors keep working
    __hash__ = object.__hash__

    __lt__, __le__ = _comparison(np.less), _comparison(np.less_equal)
    __gt__, __ge__ = _comparison(np.greater), _comparison(np.greater_equal)
    __eq__, __ne__ = _comparison(np.equal), _comparison(np.not_equal)  # type: ignore[assignment]

    def numpy(self) -> np.ndarray:
        """The data array (shared, not copied)."""
        return self.data

    def item(self) -> float:
        """The single value of a one-element tensor, as a Python number."""
        return self._scalar("item()", ShapeError)

    def __repr__(self) -> str:
        """A leaf of up to 1,000 values prints as code that makes it again (``Tensor([1.0, 2.0],
        requires_grad=True, name='W')``, so a failing hypothesis example can be pasted); an op's
        output, or a larger leaf, as a summary with its shape, dtype, op and step."""
        if self._op is None and self.size <= 1000:
            parts = [repr(self.data.tolist())]
            if np.asarray(self.data.tolist()).dtype != self.dtype:
                parts.append(f"dtype={str(self.dtype)!r}")
            if self.requires_grad:
                parts.append("requires_grad=True")
            if self.name is not None:
                parts.append(f"name={self.name!r}")
            return f"Tensor({', '.join(parts)})"
        parts = [f"shape={self.shape}", f"dtype={self.dtype}"]
        if self.name is not None:
            parts.insert(0, f"name={self.name!r}")
        if self._op is not None:
            parts.append(f"op={self._op.name!r}")
        if self.requires_grad:
            parts.append("requires_grad=True")
        if self.step is not None:
            parts.append(f"step={self.step}")
        if self.size <= 8:
            parts.insert(0, np.array2string(self.data, separator=", "))
        return f"Tensor({', '.join(parts)})"

    # --- autodiff --------------------------------------------------------------------------

    def backward(self, grad: ArrayLike | None = None, retain_grads: bool = False) -> None:
        """Compute dL/dx for every tensor x this one depends on, L being this tensor.

        Without ``grad`` the tensor must hold a single value. Leaves (parameters) add the new
        gradient to ``.grad``; reset it with ``zero_grad()`` between steps. Intermediate
        tensors' ``.grad`` is released once passed on, as in PyTorch; ``retain_grads=True``
        keeps every one (``retain_grad()`` one tensor's). This tensor keeps its own.
        """
        backward(self, grad, retain_grads)

    def retain_grad(self) -> Tensor:
        """Keep this intermediate tensor's ``.grad`` after ``backward()`` (PyTorch's
        ``retain_grad``); a leaf's is always kept. Returns the tensor."""
        if self._op is not None:
            retain(self)
        return self

    @property
    def retains_grad(self) -> bool:
        """Whether ``backward()`` keeps this intermediate tensor's ``.grad`` (``retain_grad()``)."""
        return id(self) in RETAINED

    def zero_grad(self) -> None:
        """Forget the accumulated gradient (``.grad = None``)."""
        self.grad = None

    def detach(self) -> Tensor:
        """The same data as a new leaf that does not require grad: gradients stop here."""
        return Tensor(self.data, name=self.name)

    # --- operators -------------------------------------------------------------------------

    # a + b is _apply(ops.Add, a, b); 2 * t and ndarray + t reach the reflected forms (__radd__)
    __add__, __radd__ = _binary(ops.Add)
    __sub__, __rsub__ = _binary(ops.Sub)
    __mul__, __rmul__ = _binary(ops.Mul)
    __truediv__, __rtruediv__ = _binary(ops.Div)
    __pow__, __rpow__ = _binary(ops.Pow)
    __matmul__, __rmatmul__ = _binary(ops.MatMul)

    __neg__ = _unary(ops.Neg, "-t, elementwise.")
    __abs__ = _unary(ops.Abs, "abs(t): elementwise |x|; the gradient sign(x) is 0 at 0, as in PyTorch.")

    def __getitem__(self, index: Any) -> Tensor:
        return _apply(ops.GetItem, self, attrs=(_index_data(index),))

    # --- elementwise functions -------------------------------------------------------------

    tanh = _unary(ops.Tanh, "Elementwise tanh(x); the gradient is 1 - tanh(x)^2.")
    sigmoid = _unary(ops.Sigmoid, "Elementwise 1 / (1 + e^-x); the gradient is s (1 - s).")
    relu = _unary(ops.ReLU, "Elementwise max(0, x); the gradient is 0 at 0, as in PyTorch.")
    exp = _unary(ops.Exp, "Elementwise e^x.")
    log = _unary(ops.Log, "Elementwise natural logarithm; -inf at 0.")
    sqrt = _unary(ops.Sqrt, "Elementwise square root; the gradient 1 / (2 sqrt(x)) is inf at 0, as in PyTorch.")
    abs = _unary(ops.Abs, "Elementwise |x| (also ``abs(t)``); the gradient sign(x) is 0 at 0, as in PyTorch.")
    softplus = _unary(ops.Softplus, "Elementwise log(1 + e^x), without overflow; the gradient is sigmoid(x).")
    logsigmoid = _unary(
        ops.LogSigmoid, "Elementwise log(sigmoid(x)) = -softplus(-x), finite even where sigmoid(x) rounds to 0."
    )

    def maximum(self, other: ArrayLike) -> Tensor:
        """Elementwise max(self, other), broadcasting."""
        return _apply(ops.Maximum, self, _lift(other, self))

    def clip(self, lo: float | None = None, hi: float | None = None) -> Tensor:
        """Values limited to [lo, hi]; the gradient is zero where a value was clipped."""
        return _apply(ops.Clip, self, attrs=(lo, hi))

    # --- reductions ------------------------------------------------------------------------

    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        return _apply(ops.Sum, self, attrs=(check_axis("sum", axis, self), keepdims))

    def mean(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        return _apply(ops.Mean, self, attrs=(check_axis("mean", axis, self), keepdims))

    def max(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        return _apply(ops.Max, self, attrs=(check_axis("max", axis, self), keepdims))

    # --- shape -----------------------------------------------------------------------------

    def reshape(self, *shape: int | Sequence[int]) -> Tensor:
        """Same data, new shape: ``t.reshape(2, 3)`` or ``t.reshape((2, 3))``."""
        new = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return _apply(ops.Reshape, self, attrs=(new,))

    def transpose(self, *axes: int | Sequence[int]) -> Tensor:
        """Axes permuted; without arguments, reversed (``t.T``)."""
        perm = tuple(axes[0]) if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        return _apply(ops.Transpose, self, attrs=(perm if axes else None,))

    @property
    def T(self) -> Tensor:
        return self.transpose()

    @staticmethod
    def stack(tensors: Sequence[ArrayLike], axis: int = 0) -> Tensor:
        """Join same-shaped tensors along a new axis."""
        return _apply(ops.Stack, *_lift_all(tensors, "stack"), attrs=(axis,))

    @staticmethod
    def concat(tensors: Sequence[ArrayLike], axis: int = 0) -> Tensor:
        """Join tensors along an existing axis."""
        return _apply(ops.Concat, *_lift_all(tensors, "concat"), attrs=(axis,))

    @staticmethod
    def where(cond: ArrayLike, a: ArrayLike, b: ArrayLike) -> Tensor:
        """Elementwise ``a`` where ``cond`` is True, else ``b``; the three broadcast as in
        ``numpy.where``. ``cond`` is booleans (an array, a list, or a Tensor, e.g. ``Tensor(x.data > 0)``)
        and gets no gradient; ``a`` gets the gradient where cond holds, ``b`` where it does not."""
        c = cond if isinstance(cond, Tensor) else Tensor(cond)
        if c.dtype != np.bool_:
            raise DTypeError(
                f"where: cond must be booleans, got dtype {c.dtype}; make it with a comparison, "
                "e.g. Tensor.where(x.data > 0, x, 0.0)."
            )
        return _apply(ops.Where, c, *_lift_all((a, b), "where"))


def check_axis(who: str, axis: Any, t: Tensor) -> Any:
    """``axis`` (None, an int or a tuple of ints) if it names axes of ``t``; else an error naming
    ``who``, the axis, the tensor's shape and the fix."""
    if axis is None:
        return axis
    axes = axis if isinstance(axis, tuple) else (axis,)
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, int | np.integer):
            raise DTypeError(f"{who}: axis must be an int, a tuple of ints or None, got {axis!r}")
        n = max(t.ndim, 1)  # numpy lets a 0-d array reduce over axis 0 (or -1)
        if not -n <= a < n:
            raise ShapeError(
                f"{who}: axis {a} is out of range for a tensor of shape {t.shape} ({t.ndim} dimensions); "
                f"use an axis in [{-n}, {n})"
            )
    return axis


def _lift(x: ArrayLike, like: Tensor) -> Tensor:
    """The other operand as a Tensor. Numbers, lists and arrays of numbers take ``like``'s
    floating dtype, so ``2 * t`` and ``t + np.ones(4)`` keep a float32 tensor float32 (two
    Tensors of different float dtypes compute in the wider, as numpy does)."""
    if isinstance(x, Tensor):
        return x
    if like.dtype.kind == "f":
        if isinstance(x, (int, float)) and not isinstance(x, bool):
            return Tensor(np.asarray(x, dtype=like.dtype))
        data = np.asarray(x)
        if data.dtype.kind in "iuf":
            return Tensor(data.astype(like.dtype, copy=False))
    return Tensor(x)


def _lift_all(tensors: Sequence[ArrayLike], name: str) -> list[Tensor]:
    if isinstance(tensors, Tensor) or not isinstance(tensors, Sequence) or len(tensors) == 0:
        raise ShapeError(f"{name}: expected a non-empty list or tuple of tensors, got {type(tensors).__name__}")
    ts = [t for t in tensors if isinstance(t, Tensor)]
    like = ts[0] if ts else Tensor(tensors[0])
    return [_lift(t, like) for t in tensors]


def _index_data(index: Any) -> Any:
    """An index with any Tensors in it replaced by their arrays."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    if isinstance(index, list):
        return np.asarray(index)
    return index


for _name, _method in vars(Tensor).items():  # the factories' methods, named as written (help(), pickle, tracebacks)
    if callable(_method) and getattr(_method, "__qualname__", "").startswith(("_binary.", "_unary.", "_comparison.")):
        _method.__name__, _method.__qualname__ = _name, f"Tensor.{_name}"
del _name, _method

autograd.Tensor = Tensor  # the class _apply makes its results of
