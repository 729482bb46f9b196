"""Anomaly mode: find the op where a NaN or an infinity first appears.

Inside ``with detect_anomaly():`` every op's output is checked in the forward pass and every
gradient in the backward pass; the first non-finite value raises ``AnomalyError`` naming the
op, its time step, the shapes, and what in the input caused it, e.g.
"log at step 2 produced -inf from input containing 0". A ``backward()`` under it first looks
through the recorded forward values in forward order, so a forward recorded outside the block
is traced to the op where its first NaN or inf appeared, not to a gradient far downstream.
Outside it, the only cost is reading one module-level flag per op.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import AnomalyError

if TYPE_CHECKING:
    from .tensor import Tensor

#: [depth of nested detect_anomaly blocks]; a list so the engine reads it without a global statement
ACTIVE = [0]


@contextmanager
def detect_anomaly() -> Iterator[None]:
    """Check every forward output and backward gradient for NaN/inf while the block runs."""
    ACTIVE[0] += 1
    try:
        yield
    finally:
        ACTIVE[0] -= 1


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
