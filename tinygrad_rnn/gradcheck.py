"""Numerical gradient checks: analytic gradients from ``backward`` against finite differences.

The numeric side is the fourth-order central difference

    f'(x) ~ (f(x - 2h) - 8 f(x - h) + 8 f(x + h) - f(x + 2h)) / 12h,

whose truncation error is O(h^4) and rounding error about 1.5 u |f| / h (u = 2.2e-16, the
float64 unit roundoff). With h = 1e-4 both stay near 1e-12 |f|, a thousand times below what the
two-point formula reaches at any h, so the default tolerances (atol 1e-9, rtol 1e-7) catch a
backward rule that is wrong by one part in a million. That precision needs float64 inputs, which
is why the check insists on them.

When the check fails, it says where: every input's worst element, and the first node in
backward order whose own rule disagrees with finite differences of its own forward (so a wrong
rule in a 28-step RNN is reported as "Cube at step 3", not only as a wrong dL/dW).
"""

from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from .autograd import reduce_to, walk
from .errors import ConfigError, DTypeError, GradcheckError
from .modes import no_grad, recording_attrs
from .tensor import Tensor

Fn = Callable[..., Tensor]
_STENCIL = ((-2.0, 1.0), (-1.0, -8.0), (1.0, 8.0), (2.0, -1.0))  # (offset in h, weight), divided by 12h


def _as_inputs(inputs: Tensor | np.ndarray | Sequence[Tensor | np.ndarray], who: str = "gradcheck") -> list[Tensor]:
    """One tensor or a list; arrays become float64 tensors that require grad, tensors are used
    as they are. Refuses an empty list and a list in which nothing requires grad."""
    if isinstance(inputs, Tensor | np.ndarray):
        inputs = [inputs]
    elif not isinstance(inputs, Sequence) or isinstance(inputs, str):
        raise DTypeError(f"{who}: inputs must be a Tensor, an array, or a list of them; got {type(inputs).__name__}")
    if len(inputs) == 0:
        raise ConfigError(
            f"{who}: inputs is empty, so there is nothing to check; pass the tensors to differentiate "
            "with respect to (e.g. [x] or model.parameters())"
        )
    out = []
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor):
            t = x
        else:
            try:
                t = Tensor(np.array(x, dtype=np.float64), requires_grad=True)
            except (TypeError, ValueError):
                what = f"{who}: input {i} is a {type(x).__name__}, not a Tensor or an array of numbers"
                raise DTypeError(what) from None
        if t.requires_grad and t.dtype != np.float64:
            raise DTypeError(
                f"{who}: input {i}{_label(t)} is {t.dtype}; finite differences need float64 to be "
                "accurate. Build the inputs (and the model's parameters) with dtype=np.float64."
            )
        if t.requires_grad and not t.data.flags.writeable:
            t.data = np.array(t.data)  # a read-only array cannot be perturbed in place: use a copy
        out.append(t)
    if not any(t.requires_grad for t in out):
        raise ConfigError(
            f"{who}: none of the {len(out)} inputs requires grad, so there is no gradient to check; "
            "create them with Tensor(..., requires_grad=True) (or pass numpy arrays)"
        )
    return out


def _label(t: Tensor) -> str:
    return f" ({t.name!r}, shape {t.shape})" if t.name else f" (shape {t.shape})"


def _check_seed(seed: int | None) -> None:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise ConfigError(f"gradcheck: seed is an int (or None for a scalar fn), got {seed!r}")


def _check_options(eps: float, atol: float, rtol: float) -> None:
    for name, value, positive in (("eps", eps, True), ("atol", atol, False), ("rtol", rtol, False)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ConfigError(f"gradcheck: {name} must be a finite number, got {value!r}")
        if positive and value <= 0:
            raise ConfigError(f"gradcheck: eps is the finite-difference step and must be > 0, got {value!r}; "
                              "1e-4 (the default) suits float64")  # fmt: skip
        if not positive and value < 0:
            raise ConfigError(f"gradcheck: {name} is a tolerance and cannot be negative, got {value!r}")


def _scalar_objective(fn: Fn, inputs: list[Tensor], seed: int | None) -> Callable[[], Tensor]:
    """L = fn(*inputs) if it is a single value, else sum(fn(*inputs) * r) for a fixed random r
    drawn from ``seed`` (refused without one: the check would depend on an unseen choice).

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
            if seed is None:
                raise ConfigError(
                    f"gradcheck: fn returns shape {out.shape}, not a single value; pass seed=0 (any int) to "
                    "check it along a fixed random direction, or reduce it yourself (e.g. fn(x).sum())"
                )
            weights.append(np.random.default_rng(seed).standard_normal(out.shape))
        return (out * weights[0]).sum()

    return objective


def _difference(objective: Callable[[], Tensor], data: np.ndarray, k: Any, eps: float) -> float:
    """d objective / d data[k] by the fourth-order central difference (data restored after)."""
    orig = data[k]
    total = 0.0
    try:
        for offset, weight in _STENCIL:
            data[k] = orig + offset * eps
            total += weight * objective().item()
    finally:
        data[k] = orig
    return total / (12 * eps)


def numerical_gradients(fn: Fn, inputs: Tensor | Sequence[Tensor | np.ndarray], eps: float = 1e-4,
                        seed: int | None = None) -> list:  # fmt: skip
    """Finite-difference gradients of ``fn`` (see ``gradcheck``) for each input that requires
    grad (None for the others). Inputs' data are perturbed in place one element at a time and
    restored."""
    _check_options(eps, 0.0, 0.0)
    _check_seed(seed)
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
            for k in np.ndindex(t.shape):
                g[k] = _difference(objective, t.data, k, eps)
            grads.append(g)
    return grads


def analytic_gradients(fn: Fn, inputs: Tensor | Sequence[Tensor | np.ndarray], seed: int | None = None) -> list:
    """Gradients from one ``backward`` pass through ``fn`` (zeros for inputs it does not reach,
    None for inputs that do not require grad). Every leaf's own ``.grad`` (the inputs', and
    that of the parameters ``fn`` closes over) is left as it was."""
    tensors = _as_inputs(inputs)
    _check_seed(seed)
    loss = _scalar_objective(fn, tensors, seed)()
    if not loss.requires_grad:  # no input reaches the output: every gradient is zero
        return [None if not t.requires_grad else np.zeros(t.shape) for t in tensors]
    with _grads_kept(loss, tensors):
        loss.backward()
        return [None if not t.requires_grad else (np.zeros(t.shape) if t.grad is None else t.grad.copy())
                for t in tensors]  # fmt: skip


def gradcheck(
    fn: Fn,
    inputs: Tensor | Sequence[Tensor | np.ndarray],
    *,
    eps: float = 1e-4,
    atol: float = 1e-9,
    rtol: float = 1e-7,
    seed: int | None = None,
    fast: bool = False,
    raise_exception: bool = True,
) -> bool:
    """Check the gradients ``backward`` computes for ``fn(*inputs)`` against finite differences.

    Parameters
    ----------
    fn : callable
        Called as ``fn(*inputs)``; returns a Tensor. A single value is checked as it is; an
        output of any other shape needs ``seed``, and is reduced to ``sum(out * r)`` with a
        random ``r`` drawn from it.
    inputs : Tensor, array, or a list of them
        The values to differentiate with respect to. Arrays become float64 tensors with
        ``requires_grad=True``; tensors that do not require grad are held constant (at least
        one must require grad). ``fn`` may also close over tensors (e.g. a model's parameters)
        and ignore its arguments: the inputs' data are perturbed in place, so pass
        ``model.parameters()`` as ``inputs``.
    eps : float
        The finite-difference step h (fourth-order central differences, see the module).
    atol, rtol : float
        An element passes when |analytic - numeric| <= atol + rtol * |numeric|. The defaults
        catch a relative error of 1e-6 in any element larger than about 1e-3. The numeric
        side's own rounding error, about 2e-11 * |L| (L the checked value), is added to
        ``atol``, so a large loss does not fail a right rule; raise ``atol`` to about 1e-6 where
        ``fn`` rounds in float32 inside.
    seed : int, optional
        Seed of the random direction for a non-scalar output, and of ``fast``'s directions.
    fast : bool
        Check one random direction per input instead of every element (as JAX's
        ``check_grads`` and PyTorch's ``fast_mode``): four evaluations of ``fn`` per input,
        for models with many parameters.
    raise_exception : bool
        Raise ``GradcheckError`` on failure (default) instead of returning False.

    Returns
    -------
    bool
        True when every checked element of every gradient agrees.

    Raises
    ------
    GradcheckError
        The message names each wrong input's worst element and the first op, in backward
        order, whose own backward rule disagrees with its forward ("Cube at step 3"). The
        exception's ``.node`` is that op's output tensor and ``.loss`` the checked value, so
        ``viz.draw(err.loss, "backward", mark=err.node)`` draws the graph with it marked.
    """
    _check_options(eps, atol, rtol)
    _check_seed(seed)
    if not isinstance(fast, bool | np.bool_):
        raise ConfigError(f"gradcheck: fast is True or False, got {fast!r}")
    tensors = _as_inputs(inputs)
    if all(t.size == 0 for t in tensors if t.requires_grad):
        raise ConfigError("gradcheck: every input that requires grad is empty (size 0): there is no element to check")
    analytic = analytic_gradients(fn, tensors, seed)
    with no_grad():
        noise = _noise(abs(_scalar_objective(fn, tensors, seed)().item()), eps)  # the numeric side's own error
    if fast:
        failures = _fast_failures(fn, tensors, analytic, eps, atol + noise, rtol, seed)
    else:
        numeric = numerical_gradients(fn, tensors, eps, seed)
        failures = _failures(tensors, analytic, numeric, atol + noise, rtol)
    if not failures:
        return True
    if not raise_exception:
        return False
    objective = _scalar_objective(fn, tensors, seed)
    node, where, loss = localise(objective, tensors, eps, atol, rtol)
    raise GradcheckError("gradcheck: " + "; ".join(failures) + ". " + where, node=node, loss=loss)


def _failures(tensors: list[Tensor], analytic: list, numeric: list, atol: float, rtol: float) -> list[str]:
    out = []
    for i, (t, a, n) in enumerate(zip(tensors, analytic, numeric, strict=True)):
        if a is None:
            continue
        err = np.abs(a - n)
        bad = ~(err <= atol + rtol * np.abs(n))  # written so that a NaN on either side fails
        if not bad.any():
            continue
        worst = np.unravel_index(np.argmax(np.where(bad, np.nan_to_num(err, nan=np.inf), -1)), t.shape)
        at = f" at element {tuple(int(k) for k in worst)}" if t.ndim else ""
        out.append(
            f"gradient of input {i}{_label(t)} is wrong{at}: analytic {a[worst]:.10g}, numeric {n[worst]:.10g} "
            f"(|difference| {err[worst]:.3g} > tolerance {atol + rtol * abs(n[worst]):.3g}; "
            f"{int(bad.sum())} of {bad.size} elements disagree)"
        )
    return out


def _fast_failures(fn: Fn, tensors: list[Tensor], analytic: list, eps: float, atol: float, rtol: float,
                   seed: int | None) -> list[str]:  # fmt: skip
    """One random direction d per input: <analytic, d> against the difference along d."""
    rng = np.random.default_rng(0 if seed is None else seed)
    objective = _scalar_objective(fn, tensors, seed)
    out = []
    with no_grad():
        objective()
        for i, (t, a) in enumerate(zip(tensors, analytic, strict=True)):
            if a is None:
                continue
            d = rng.standard_normal(t.shape)
            along = float(np.sum(a * d))
            numeric = _along(objective, t.data, d, eps)
            if not abs(along - numeric) <= atol * math.sqrt(t.size) + rtol * abs(numeric):
                out.append(
                    f"gradient of input {i}{_label(t)} is wrong along a random direction: analytic "
                    f"{along:.10g}, numeric {numeric:.10g} (|difference| {abs(along - numeric):.3g})"
                )
    return out


def _along(objective: Callable[[], Any], data: np.ndarray, d: np.ndarray, eps: float) -> float:
    """The derivative of ``objective`` as ``data`` moves along the direction ``d`` (restored after)."""
    orig = data.copy()
    total = 0.0
    try:
        for offset, weight in _STENCIL:
            data[...] = orig + offset * eps * d
            value = objective()
            total += weight * float(np.asarray(value.data if isinstance(value, Tensor) else value).item())
    finally:
        data[...] = orig
    return total / (12 * eps)


def localise(objective: Callable[[], Tensor], tensors: list[Tensor], eps: float = 1e-4, atol: float = 1e-9,
             rtol: float = 1e-7) -> tuple[Tensor | None, str, Tensor | None]:  # fmt: skip
    """The first node, in backward order, whose own rule disagrees with finite differences of
    its own forward: ``(node, sentence, loss)``. Each op is checked alone, along one random
    direction per input, with the gradient that really reached it in the failed pass (a rule
    that returns None for an input that needs a gradient is checked as returning zeros). Ops
    recorded before ``fn`` ran (values it closes over) cannot be run again and are skipped.
    Every ``.grad`` is left as it was."""
    with recording_attrs() as attrs:
        loss = objective()
    if not loss.requires_grad:
        return None, "No input reaches the output.", None
    with _grads_kept(loss, tensors):
        loss.backward(retain_grads=True)
        rng = np.random.default_rng(0)
        skipped = 0
        for node in reversed(walk(loss)):
            op, g = node._op, node.grad
            if op is None or g is None:
                continue
            if id(node) not in attrs:
                skipped += 1
                continue
            parents = node._parents
            needs = tuple(p.requires_grad for p in parents)
            grads = op.backward(node._ctx, g, needs)
            extra = attrs[id(node)][0]
            for i, p in enumerate(parents):
                if not needs[i]:
                    continue
                d = rng.standard_normal(p.shape)
                given = np.zeros(p.shape) if grads[i] is None else reduce_to(p, np.asarray(grads[i]))
                analytic = float(np.sum(given * d))
                arrays = [q.data.copy() for q in parents]
                numeric = _along(_op_objective(op, arrays, extra, g), arrays[i], d, eps)
                scale = math.sqrt(max(p.size, 1)) * float(np.abs(g).max(initial=0.0))
                noise = _noise(float(np.sum(np.abs(g) * np.abs(node.data))), eps)
                if not abs(analytic - numeric) <= atol * max(scale, 1.0) + rtol * abs(numeric) + noise:
                    step = f" at step {node.step}" if node.step is not None else ""
                    name = f" ({node.name!r})" if node.name else ""
                    where = (
                        f"The first wrong rule in backward order is {op.name}{name}{step}, input {i} (shape "
                        f"{p.shape}): its backward gives {analytic:.10g} along a random direction, finite "
                        f"differences of its own forward {numeric:.10g}."
                    )
                    return node, where, loss
    why = (
        "Every op's rule agrees with its own forward at this point, so either the graph was recorded in a "
        "way finite differences cannot follow (an input changed in place, or values read outside the graph)"
        f", or the tolerances are too tight for this function (|L| = {abs(float(loss.data)):.3g}: raise atol)"
    )
    if skipped:
        why += f"; {skipped} op{'s' if skipped > 1 else ''} recorded before fn ran could not be checked"
    return None, why + ".", loss


def _noise(magnitude: float, eps: float) -> float:
    """The finite differences' own rounding error for values of size ``magnitude``: the
    stencil's weights (18 / 12) times a few units of roundoff of each evaluation, over eps."""
    return 8 * float(np.finfo(np.float64).eps) * magnitude / eps


@contextlib.contextmanager
def _grads_kept(loss: Tensor, inputs: Sequence[Tensor] = ()) -> Iterator[None]:
    """Inside it, every leaf's ``.grad`` starts empty; after it, each is as it was (the
    checked inputs, also those ``loss`` does not reach, and the parameters ``fn`` closes over)."""
    leaves = list({id(t): t for t in [*walk(loss), *inputs] if t._op is None and t.requires_grad}.values())
    saved = [t.grad for t in leaves]
    try:
        for t in leaves:
            t.grad = None
        yield
    finally:
        for t, g in zip(leaves, saved, strict=True):
            t.grad = g


def _op_objective(op: Any, arrays: list[np.ndarray], extra: tuple, g: np.ndarray) -> Callable[[], float]:
    """<g, op(arrays)>: one op's forward alone, projected on the gradient that reached it."""
    return lambda: float(np.sum(np.asarray(op.forward(*arrays, *extra)[0]) * g))


__all__ = ["analytic_gradients", "gradcheck", "localise", "numerical_gradients"]
