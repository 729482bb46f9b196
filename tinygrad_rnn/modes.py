"""The engine's modes, in one context variable: whether ops are recorded (``no_grad``), the
time step new tensors are tagged with (``step``), whether anomaly checks run
(``detect_anomaly``), whether ops keep their non-tensor arguments (``recording_attrs``), and
the tensors the current ``step`` block recorded, whose values it gives up on exit unless
inside ``keep_values()``.

Every op reads all five with one lookup (``MODE.get()``). Being a context variable, a mode
holds in the thread or asyncio task that set it, and each block restores on exit what it found,
so blocks nest.

An RNN unrolled by a Python loop wraps the loop's body in ``with step(t):``; every tensor made
inside has ``tensor.step == t``, which is what lets ``viz`` draw one cluster per time step.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, ClassVar, TypeVar

from .errors import DTypeError

#: (grad enabled, step tag, anomaly checks on, attrs table or None, the step block's recorded
#: tensors: a list, None outside any block, False inside keep_values()), the fields in that order;
#: one variable, not the three variables and a list before: 60 ns less per op (benchmarks/tricks.py)
MODE: ContextVar[tuple[bool, int | None, bool, dict | None, list | bool | None]] = ContextVar(
    "tinygrad_rnn_mode", default=(True, None, False, None, None)
)
GRAD, STEP, ANOMALY, ATTRS, RECORDED = range(5)

F = TypeVar("F", bound=Callable[..., Any])


def is_grad_enabled() -> bool:
    """True unless inside ``no_grad()``."""
    return MODE.get()[GRAD]


def current_step() -> int | None:
    """The time step being recorded, or None outside any ``step`` block."""
    return MODE.get()[STEP]


def is_anomaly_enabled() -> bool:
    """True inside ``detect_anomaly()``."""
    return MODE.get()[ANOMALY]


class _Mode:
    """Entering sets one field of the mode to ``self.value``; exiting puts back what that field
    held, and only that field, so blocks that close out of order (a generator suspended inside
    ``step(t)`` and resumed inside ``no_grad()``) leave the other modes alone. As a decorator,
    each call of the function runs inside a block of its own. (Classes, not generator-based
    context managers: ``step`` is entered once per time step.)"""

    __slots__ = ("value", "_saved")
    field: ClassVar[int]

    def __init__(self, value: Any) -> None:
        self.value = value
        self._saved: tuple | None = None  # (the field's value before, the values before that): re-entry

    def __enter__(self) -> None:
        mode = list(MODE.get())
        self._saved = (mode[self.field], self._saved)
        mode[self.field] = self.value
        MODE.set(tuple(mode))  # type: ignore[arg-type]

    def __exit__(self, *exc: object) -> None:
        mode = list(MODE.get())
        mode[self.field], self._saved = self._saved  # type: ignore[misc]
        MODE.set(tuple(mode))  # type: ignore[arg-type]

    def __call__(self, fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            block = object.__new__(type(self))  # a block of its own: calls may nest, or run in several threads
            block.value, block._saved = self.value, None
            with block:
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class no_grad(_Mode):
    """Context manager and decorator (``@no_grad`` or ``@no_grad()``) that stops recording.

    Inside it, ops compute values only: results have ``requires_grad=False`` and keep no
    reference to their inputs. Use it for evaluation and for parameter updates.
    """

    __slots__ = ()
    field = GRAD

    def __new__(cls, fn: Callable[..., Any] | None = None) -> Any:
        return cls()(fn) if fn is not None else super().__new__(cls)  # @no_grad: the function, decorated

    def __init__(self, fn: Callable[..., Any] | None = None) -> None:
        super().__init__(False)


class step(_Mode):
    """Tag every tensor created inside the block with ``step == t``; the innermost block wins.

    On exit the block gives up the values of the tensors it recorded that only the graph still
    refers to and no backward rule saved (e.g. ``h @ W`` in ``(b + h @ W + x @ U).tanh()``):
    ``autograd.release``. Reading such a tensor's ``.data`` later (a diagram, ``walk``) computes
    it again. Inside ``keep_values()`` every value is kept."""

    __slots__ = ()
    field = STEP

    def __init__(self, t: int | None) -> None:
        if t is not None and type(t) is not int:  # a bool, a float, an array ... or a numpy integer
            try:
                if isinstance(t, bool):
                    raise TypeError
                t = operator.index(t)
            except TypeError:
                raise DTypeError(f"step(t): t must be an integer time step or None, got {t!r}") from None
        self.value, self._saved = t, None  # _Mode.__init__'s, written out (in tricks.py's step-block row)

    # The two fields by position, not through a list as _Mode does: a block per time step,
    # 13% less each (benchmarks/tricks.py)
    def __enter__(self) -> None:
        grad, t, anomaly, attrs, before = MODE.get()
        mine = _Recorded() if before is not False else False
        self._saved = (t, before, mine, self._saved)
        MODE.set((grad, self.value, anomaly, attrs, mine))

    def __exit__(self, *exc: object) -> None:
        grad, _, anomaly, attrs, now = MODE.get()
        t, before, mine, self._saved = self._saved  # type: ignore[misc]
        MODE.set((grad, t, anomaly, attrs, _put_back(now, mine, before)))
        if mine is not False:
            mine.open = False
            if mine:
                _release(mine)


class _Recorded(list):
    """A step block's list of recorded tensors; ``open`` until the block ends, so that a block
    closing out of order (a generator's) never puts back the list of a block that has ended.
    (``open`` a class default, not set by an ``__init__``: 0.2 µs less per step block.)"""

    open = True


def _put_back(now: Any, own: Any, before: Any) -> Any:
    """What the recorded-tensors field is to hold when a block that set it to ``own`` ends, given
    what it holds ``now``: what it held before the block, only if it still holds ``own`` (else a
    block that closed out of order set it, and it is left alone), and never the list of a step
    block that has ended."""
    if now is not own:
        return now
    return before if not isinstance(before, _Recorded) or before.open else None


def _release(recorded: list) -> None:
    """``autograd.release``, imported on the first use (autograd imports this module)."""
    global _release
    from .autograd import release

    _release = release
    release(recorded)


class keep_values(_Mode):
    """Context manager and decorator: ``step`` blocks inside it give up no values, so every
    recorded tensor keeps its array (as when nothing is released; the memory it costs is what
    releasing saves). Values given up are computed again when read, from the inputs as they
    are then: record inside this block to change the parameters in place before reading."""

    __slots__ = ()
    field = RECORDED

    def __init__(self) -> None:
        super().__init__(False)

    def __exit__(self, *exc: object) -> None:
        mode = list(MODE.get())
        before, self._saved = self._saved  # type: ignore[misc]
        mode[RECORDED] = _put_back(mode[RECORDED], False, before)
        MODE.set(tuple(mode))  # type: ignore[arg-type]


class detect_anomaly(_Mode):
    """Check every forward output and backward gradient for NaN/inf while the block runs (or,
    as ``@detect_anomaly()``, while the function runs): ``diagnose.check_forward`` /
    ``check_backward``; the first one raises ``AnomalyError`` naming the op, its step and the
    cause. A node's gradients are all checked before any is added, so the error leaves its
    inputs' ``.grad`` as they were. Outside it an op pays nothing more."""

    __slots__ = ()
    field = ANOMALY

    def __init__(self) -> None:
        super().__init__(True)


class recording_attrs(_Mode):
    """Inside it, every recorded op also keeps the non-tensor arguments it was called with
    (axis, index, ...), keyed by ``id(output)`` in the dict the block gives: what ``gradcheck``
    needs to run one op's forward again on its own. Off by default, so a graph keeps only what
    backward needs."""

    __slots__ = ()
    field = ATTRS

    def __init__(self) -> None:
        super().__init__({})

    def __enter__(self) -> dict:  # type: ignore[override]
        super().__enter__()
        return self.value
