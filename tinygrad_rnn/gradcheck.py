"""Numerical gradient checks: analytic gradients from ``backward`` against central differences.

Central differences, (f(x + eps) - f(x - eps)) / 2 eps, have error O(eps^2) plus rounding of
order (machine epsilon / eps); in float64 with eps = 1e-6 both are far below the tolerances,
which is why the check insists on float64 inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .autograd import no_grad
from .errors import DTypeError, GradcheckError
from .tensor import Tensor

Fn = Callable[..., Tensor]


def _as_inputs(inputs: Sequence[Tensor | np.ndarray]) -> list[Tensor]:
    """Arrays become float64 tensors that require grad; tensors are used as they are."""
    out = []
    for i, x in enumerate(inputs):
        t = x if isinstance(x, Tensor) else Tensor(np.array(x, dtype=np.float64), requires_grad=True)
        if t.requires_grad and t.dtype != np.float64:
            raise DTypeError(
                f"gradcheck: input {i}{_label(t)} is {t.dtype}; finite differences need float64 to be "
                "accurate. Build the inputs (and the model's parameters) with dtype=np.float64."
            )
        if t.requires_grad and not t.data.flags.writeable:
            t.data = np.array(t.data)  # a read-only array cannot be perturbed in place: use a copy
        out.append(t)
    return out


def _label(t: Tensor) -> str:
    return f" ({t.name!r}, shape {t.shape})" if t.name else f" (shape {t.shape})"


def _scalar_objective(fn: Fn, inputs: list[Tensor], seed: int) -> Callable[[], Tensor]:
    """L = fn(*inputs) if it is a scalar, else sum(fn(*inputs) * r) for a fixed random r.

    Projecting a non-scalar output on a random direction checks every output's gradient at
    once, with one backward pass instead of one per output element.
    """
    weights: list[np.ndarray] = []

    def objective() -> Tensor:
        out = fn(*inputs)
        if not isinstance(out, Tensor):
            raise DTypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
        if out.size == 1:
            return out.reshape(())
        if not weights:
            weights.append(np.random.default_rng(seed).standard_normal(out.shape))
        return (out * weights[0]).sum()

    return objective


def numerical_gradients(fn: Fn, inputs: Sequence[Tensor | np.ndarray], eps: float = 1e-6, seed: int = 0) -> list:
    """Central-difference gradients of ``fn`` (see ``gradcheck``) for each input that requires grad
    (None for the others). Inputs' data are perturbed in place one element at a time and restored."""
    tensors = _as_inputs(inputs)
    objective = _scalar_objective(fn, tensors, seed)
    with no_grad():
        objective()  # fixes the projection direction before any perturbation
        grads: list[np.ndarray | None] = []
        for t in tensors:
            if not t.requires_grad:
                grads.append(None)
                continue
            g = np.zeros(t.shape, dtype=np.float64)
            data = t.data
            for k in np.ndindex(t.shape):
                orig = data[k]
                data[k] = orig + eps
                plus = objective().item()
                data[k] = orig - eps
                minus = objective().item()
                data[k] = orig
                g[k] = (plus - minus) / (2 * eps)
            grads.append(g)
    return grads


def analytic_gradients(fn: Fn, inputs: Sequence[Tensor | np.ndarray], seed: int = 0) -> list:
    """Gradients from one ``backward`` pass through ``fn`` (zeros for inputs it does not reach,
    None for inputs that do not require grad). The inputs' own ``.grad`` is left as it was."""
    tensors = _as_inputs(inputs)
    saved = [t.grad for t in tensors]
    try:
        for t in tensors:
            t.grad = None
        loss = _scalar_objective(fn, tensors, seed)()
        if loss.requires_grad:  # else no input reaches the output: every gradient is zero
            loss.backward()
        return [
            None if not t.requires_grad else (np.zeros(t.shape) if t.grad is None else t.grad.copy()) for t in tensors
        ]
    finally:
        for t, g in zip(tensors, saved, strict=True):
            t.grad = g


def gradcheck(
    fn: Fn,
    inputs: Sequence[Tensor | np.ndarray],
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    seed: int = 0,
    raise_exception: bool = True,
) -> bool:
    """Check the gradients ``backward`` computes for ``fn(*inputs)`` against finite differences.

    Parameters
    ----------
    fn : callable
        Called as ``fn(*inputs)``; returns a Tensor. A non-scalar output is reduced to
        ``sum(out * r)`` with a fixed random ``r`` (drawn from ``seed``).
    inputs : sequence of Tensor or array
        The values to differentiate with respect to. Arrays become float64 tensors with
        ``requires_grad=True``; tensors that do not require grad are held constant. ``fn`` may
        also close over tensors (e.g. a model's parameters) and receive nothing it uses: the
        inputs' data are perturbed in place, so pass ``model.parameters()`` as ``inputs``.
    eps, atol, rtol : float
        Step size; an element passes when |analytic - numeric| <= atol + rtol * |numeric|.
    raise_exception : bool
        Raise ``GradcheckError`` on failure (default) instead of returning False.

    Returns
    -------
    bool
        True when every element of every gradient agrees.
    """
    tensors = _as_inputs(inputs)
    analytic = analytic_gradients(fn, tensors, seed)
    numeric = numerical_gradients(fn, tensors, eps, seed)
    for i, (t, a, n) in enumerate(zip(tensors, analytic, numeric, strict=True)):
        if a is None:
            continue
        err = np.abs(a - n)
        bad = ~(err <= atol + rtol * np.abs(n))  # written so that a NaN on either side fails
        if not bad.any():
            continue
        if not raise_exception:
            return False
        worst = np.unravel_index(np.argmax(np.where(bad, np.nan_to_num(err, nan=np.inf), -1)), t.shape)
        where = f" at element {tuple(int(k) for k in worst)}" if t.ndim else ""
        raise GradcheckError(
            f"gradcheck: gradient of input {i}{_label(t)} is wrong{where}: analytic {a[worst]:.8g}, "
            f"numeric {n[worst]:.8g} (|difference| {err[worst]:.3g} > tolerance "
            f"{atol + rtol * abs(n[worst]):.3g}); {int(bad.sum())} of {bad.size} elements disagree."
        )
    return True


__all__ = ["analytic_gradients", "gradcheck", "numerical_gradients"]
