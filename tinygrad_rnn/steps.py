"""Time-step tagging: every tensor remembers the step ``t`` it was created in.

A recurrent network is unrolled by an ordinary loop; wrapping the body of that loop in
``with step(t):`` tags every tensor created inside with ``tensor.step == t``. The tag costs one
context-variable read per tensor, and it is what lets ``viz`` draw one cluster per time step.
"""

from __future__ import annotations

import operator
from contextvars import ContextVar

from .errors import DTypeError

_STEP: ContextVar[int | None] = ContextVar("tinygrad_rnn_step", default=None)


def current_step() -> int | None:
    """The time step being recorded, or None outside any ``step`` block."""
    return _STEP.get()


class step:
    """Tag every tensor created inside the block with ``step == t``.

    Blocks nest; the innermost one wins, and the outer tag comes back on exit. (A class rather
    than a generator-based context manager: it is entered once per time step, so it is kept cheap.)
    """

    __slots__ = ("t", "_token")

    def __init__(self, t: int | None) -> None:
        if isinstance(t, bool):
            raise DTypeError(f"step(t): t must be an integer time step or None, got {t!r}")
        if t is not None and type(t) is not int:
            try:
                t = operator.index(t)
            except TypeError:
                raise DTypeError(f"step(t): t must be an integer time step or None, got {t!r}") from None
        self.t = t

    def __enter__(self) -> None:
        self._token = _STEP.set(self.t)

    def __exit__(self, *exc: object) -> None:
        _STEP.reset(self._token)
