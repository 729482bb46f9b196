"""Optimizers and gradient clipping: what turns ``.grad`` into a change of the parameters.

An optimizer holds the list of parameters it was built from and, for each, the state its rule
needs (a velocity, moment estimates, a running sum of squared gradients). ``step()`` writes
the new values into ``p.data`` in place, because the model, the graph of the next forward pass
and the caller all hold references to those arrays. Updates are plain numpy: nothing is recorded.

State arrays have the parameter's dtype, so float32 training stays float32 end to end.
Hyperparameters are stored as Python floats, which numpy treats as "weak" scalars that take
the array's dtype instead of upcasting it to float64.

A typical training step::

    opt = Adam(model.parameters(), lr=1e-3)
    loss = model(x, y)
    opt.zero_grad()
    loss.backward()
    clip_grad_norm(model.parameters(), max_norm=5.0)
    opt.step()
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np

from .errors import OptimizerError, ShapeError
from .tensor import Tensor

__all__ = ["SGD", "Adagrad", "Adam", "Momentum", "Optimizer", "OptimizerError", "clip_grad_norm", "clip_grad_value"]


def _describe(i: int, p: Any) -> str:
    """'parameter 2 ('W', shape (4, 4))' for error messages."""
    if isinstance(p, Tensor):
        label = f"{p.name!r}, " if p.name is not None else ""
        return f"parameter {i} ({label}shape {p.shape})"
    return f"parameter {i}"


def _collect_params(params: Iterable[Tensor], who: str) -> list[Tensor]:
    """The parameters as a list, each checked to be a distinct, writable Tensor that requires grad."""
    if isinstance(params, Tensor):
        raise OptimizerError(
            f"{who}: expected an iterable of parameter Tensors, got a single Tensor; "
            "wrap it in a list, e.g. [t], or pass model.parameters()."
        )
    try:
        params = list(params)
    except TypeError:
        raise OptimizerError(
            f"{who}: expected an iterable of parameter Tensors, got {type(params).__name__}; pass model.parameters()."
        ) from None
    if not params:
        raise OptimizerError(f"{who}: optimizer got no parameters; pass model.parameters().")
    seen: dict[int, int] = {}
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise OptimizerError(
                f"{who}: {_describe(i, p)} is a {type(p).__name__}, not a Tensor; "
                "pass the model's parameter Tensors, e.g. model.parameters()."
            )
        if not p.requires_grad:
            raise OptimizerError(
                f"{who}: {_describe(i, p)} does not require grad, so it never gets a gradient to "
                "step with; create it with Tensor(..., requires_grad=True) or leave it out."
            )
        if not p.is_leaf:
            raise OptimizerError(
                f"{who}: {_describe(i, p)} was computed by the op {p.op!r}, so stepping it would never move "
                "the tensors it came from; pass the leaf parameters themselves (model.parameters())."
            )
        if id(p) in seen:
            raise OptimizerError(
                f"{who}: {_describe(i, p)} is the same Tensor as parameter {seen[id(p)]}; it would be "
                "updated twice per step. Pass each parameter once."
            )
        if not p.data.flags.writeable:
            raise OptimizerError(
                f"{who}: {_describe(i, p)} has read-only data and cannot be updated in place; "
                "give it a writable array, e.g. Tensor(np.array(data), requires_grad=True)."
            )
        seen[id(p)] = i
    return params


def _number(who: str, name: str, value: Any, low: float, low_ok: bool, high: float | None = None) -> float:
    """``value`` as a Python float, checked to lie in [low, high) (or (low, high) if not ``low_ok``)."""
    lo_br, lo_op = ("[", ">=") if low_ok else ("(", ">")
    want = f"a finite number {lo_op} {low:g}" if high is None else f"a number in {lo_br}{low:g}, {high:g})"
    real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    x = float(value) if real else math.nan
    if not math.isfinite(x) or x < low or (x == low and not low_ok) or (high is not None and x >= high):
        raise OptimizerError(f"{who}: {name} must be {want}, got {value!r}.")
    return x


class Optimizer:
    """Base class: holds the parameters and their per-parameter state; subclasses add the rule.

    A subclass defines ``_check_hyperparams`` (validate and normalise its hyperparameters),
    ``_state_keys`` (the names of its per-parameter state) and ``_update`` (one parameter's
    step). State lives in ``self.state``: a dict from state name to a list with one entry per
    parameter, in the order the parameters were given. Entries named in ``_counters`` are
    ints (step counts); the others are arrays shaped and typed like the parameter.

    Parameters
    ----------
    params : iterable of Tensor
        The tensors to optimise, e.g. ``model.parameters()`` (a generator is fine).
    **hyperparams
        The subclass's hyperparameters; they become attributes (``opt.lr``) so a schedule
        can change them between steps.
    """

    _counters: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Tensor], **hyperparams: Any) -> None:
        who = type(self).__name__
        self.params: list[Tensor] = _collect_params(params, who)
        hp = self._check_hyperparams(**hyperparams)
        self._hyperparam_names = tuple(hp)
        for name, value in hp.items():
            setattr(self, name, value)
        self.state: dict[str, list[Any]] = {
            key: [0 if key in self._counters else np.zeros_like(p.data) for p in self.params]
            for key in self._state_keys(hp)
        }

    # --- what a subclass provides ----------------------------------------------------------

    def _check_hyperparams(self, **hyperparams: Any) -> dict[str, Any]:
        raise NotImplementedError

    def _state_keys(self, hyperparams: dict[str, Any]) -> tuple[str, ...]:
        raise NotImplementedError

    def _update(self, i: int, p: Tensor, g: np.ndarray) -> None:
        raise NotImplementedError

    # --- the public API --------------------------------------------------------------------

    @property
    def hyperparams(self) -> dict[str, Any]:
        """The current hyperparameters, by name."""
        return {name: getattr(self, name) for name in self._hyperparam_names}

    def step(self) -> None:
        """Update every parameter that has a gradient, in place; parameters whose ``.grad`` is
        None are skipped (their state, step counts included, does not change)."""
        who = type(self).__name__
        for i, p in enumerate(self.params):
            if p.grad is not None and np.shape(p.grad) != p.shape:
                raise ShapeError(
                    f"{who}.step: {_describe(i, p)} has a .grad of shape {np.shape(p.grad)}; a gradient "
                    "must have its parameter's shape. Was .grad set by hand?"
                )
        for i, p in enumerate(self.params):
            if p.grad is not None:
                self._update(i, p, np.asarray(p.grad))

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (``p.grad = None``), before the next ``backward()``."""
        for p in self.params:
            p.grad = None

    def state_dict(self) -> dict[str, Any]:
        """A snapshot to resume training from exactly: plain Python and numpy, safe to pickle.

        Returns
        -------
        dict
            ``{"optimizer": class name, "hyperparams": {name: value},
            "state": {state name: [entry of parameter 0, entry of parameter 1, ...]}}``.
            Arrays are copies: later steps do not change a saved snapshot.
        """
        return {
            "optimizer": type(self).__name__,
            "hyperparams": dict(self.hyperparams),
            "state": {
                key: [int(v) if key in self._counters else v.copy() for v in values]
                for key, values in self.state.items()
            },
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore hyperparameters and state saved by ``state_dict()``.

        The optimizer must be of the same class and built over parameters of the same shapes,
        in the same order. Everything is checked before anything changes, so a failed load
        leaves the optimizer as it was. Arrays are copied and cast to the parameter's dtype.
        """
        who = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict) or not {"optimizer", "hyperparams", "state"} <= set(state_dict):
            raise OptimizerError(
                f"{who}: expected a dict with keys 'optimizer', 'hyperparams' and 'state', as returned by "
                f"state_dict(), got {type(state_dict).__name__}"
                + (f" with keys {sorted(state_dict)}" if isinstance(state_dict, dict) else "")
                + "."
            )
        if state_dict["optimizer"] != type(self).__name__:
            raise OptimizerError(
                f"{who}: the state was saved from a {state_dict['optimizer']} optimizer; load it into a "
                f"{state_dict['optimizer']}, not a {type(self).__name__}."
            )
        saved_hp = state_dict["hyperparams"]
        if not isinstance(saved_hp, dict) or set(saved_hp) != set(self._hyperparam_names):
            got = sorted(saved_hp) if isinstance(saved_hp, dict) else type(saved_hp).__name__
            raise OptimizerError(f"{who}: hyperparams must have the keys {sorted(self._hyperparam_names)}, got {got}.")
        hp = self._check_hyperparams(**saved_hp)
        keys = self._state_keys(hp)
        saved = state_dict["state"]
        if not isinstance(saved, dict) or set(saved) != set(keys):
            got = sorted(saved) if isinstance(saved, dict) else type(saved).__name__
            raise OptimizerError(f"{who}: state must have the keys {sorted(keys)}, got {got}.")
        n = len(self.params)
        new_state: dict[str, list[Any]] = {}
        for key in keys:
            values = saved[key]
            if not isinstance(values, (list, tuple)) or len(values) != n:
                got = f"{len(values)} entries" if isinstance(values, (list, tuple)) else type(values).__name__
                raise OptimizerError(
                    f"{who}: state {key!r} must be a list with one entry per parameter ({n}), got {got}; "
                    "build the optimizer from the same model.parameters() that were saved."
                )
            converted: list[Any] = []
            for i, (p, v) in enumerate(zip(self.params, values, strict=True)):
                if key in self._counters:
                    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                        raise OptimizerError(
                            f"{who}: state {key!r} of {_describe(i, p)} must be a step count (an int >= 0), got {v!r}."
                        )
                    converted.append(int(v))
                    continue
                arr = np.asarray(v)
                if arr.shape != p.shape:
                    raise OptimizerError(
                        f"{who}: state {key!r} of {_describe(i, p)} has shape {arr.shape}; it must match the "
                        "parameter. Build the optimizer from the same model, with parameters in the same order."
                    )
                if arr.dtype.kind not in "biuf":
                    raise OptimizerError(
                        f"{who}: state {key!r} of {_describe(i, p)} has non-numeric dtype {arr.dtype}."
                    )
                converted.append(np.array(arr, dtype=p.dtype, copy=True))
            new_state[key] = converted
        for name, value in hp.items():
            setattr(self, name, value)
        self.state = new_state

    def __repr__(self) -> str:
        hp = ", ".join(f"{k}={v!r}" for k, v in self.hyperparams.items())
        n = len(self.params)
        return f"{type(self).__name__}({hp}; {n} parameter{'' if n == 1 else 's'})"


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum, as in PyTorch.

    With g = dL/dp (+ weight_decay * p), velocity v (starting at 0) and momentum mu:

    .. math::

        v &\\leftarrow \\mu v + g \\\\
        p &\\leftarrow p - \\mathrm{lr}\\, v                    \\quad\\text{(classical)} \\\\
        p &\\leftarrow p - \\mathrm{lr}\\, (g + \\mu v)          \\quad\\text{(nesterov)}

    With ``momentum=0`` this is plain p <- p - lr * g and the velocity stays 0, so a schedule
    may switch momentum on or off between steps (``opt.momentum = 0.9``).

    Parameters
    ----------
    params : iterable of Tensor
    lr : float
        Learning rate, > 0.
    momentum : float
        mu >= 0.
    nesterov : bool
        Use Nesterov momentum (needs ``momentum > 0``).
    weight_decay : float
        L2 penalty coefficient, >= 0, added to the gradient.
    """

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)

    def _check_hyperparams(self, lr: Any, momentum: Any, nesterov: Any, weight_decay: Any) -> dict[str, Any]:
        who = type(self).__name__
        hp = {
            "lr": _number(who, "lr", lr, 0.0, low_ok=False),
            "momentum": _number(who, "momentum", momentum, 0.0, low_ok=True),
            "nesterov": bool(nesterov),
            "weight_decay": _number(who, "weight_decay", weight_decay, 0.0, low_ok=True),
        }
        if hp["nesterov"] and hp["momentum"] == 0.0:
            raise OptimizerError(f"{who}: nesterov=True needs momentum > 0, e.g. momentum=0.9.")
        return hp

    def _state_keys(self, hyperparams: dict[str, Any]) -> tuple[str, ...]:
        return ("velocity",)

    def _update(self, i: int, p: Tensor, g: np.ndarray) -> None:
        if self.weight_decay:
            g = g + self.weight_decay * p.data
        if self.momentum:
            v = self.state["velocity"][i]
            v *= self.momentum
            v += g
            g = g + self.momentum * v if self.nesterov else v
        p.data -= self.lr * g


class Momentum(SGD):
    """SGD with (heavy-ball) momentum, 0.9 unless given: ``Momentum(params, lr)`` is
    ``SGD(params, lr, momentum=0.9)``, with the same equations and state."""

    def __init__(self, params: Iterable[Tensor], lr: float, momentum: float = 0.9, **kwargs: Any) -> None:
        super().__init__(params, lr=lr, momentum=momentum, **kwargs)


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) with bias correction, as in PyTorch.

    With g = dL/dp (+ weight_decay * p), moments m and v (starting at 0) and t the number of
    steps this parameter has taken (counted per parameter, so skipped steps do not count):

    .. math::

        m &\\leftarrow \\beta_1 m + (1 - \\beta_1) g \\\\
        v &\\leftarrow \\beta_2 v + (1 - \\beta_2) g^2 \\\\
        p &\\leftarrow p - \\frac{\\mathrm{lr}}{1 - \\beta_1^t}
              \\frac{m}{\\sqrt{v} / \\sqrt{1 - \\beta_2^t} + \\epsilon}

    ``weight_decay`` is the L2 penalty added to the gradient (PyTorch's ``Adam``), not the
    decoupled decay of ``AdamW``.

    Parameters
    ----------
    params : iterable of Tensor
    lr : float
        Learning rate, > 0.
    betas : (float, float)
        Decay rates of the first and second moment estimates, each in [0, 1).
    eps : float
        Added to the denominator for numerical stability, > 0.
    weight_decay : float
        L2 penalty coefficient, >= 0.
    """

    _counters = ("step",)

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

    def _check_hyperparams(self, lr: Any, betas: Any, eps: Any, weight_decay: Any) -> dict[str, Any]:
        who = type(self).__name__
        try:
            b1, b2 = betas
        except (TypeError, ValueError):
            raise OptimizerError(
                f"{who}: betas must be a pair (beta1, beta2), e.g. (0.9, 0.999), got {betas!r}."
            ) from None
        return {
            "lr": _number(who, "lr", lr, 0.0, low_ok=False),
            "betas": (_number(who, "betas[0]", b1, 0.0, True, 1.0), _number(who, "betas[1]", b2, 0.0, True, 1.0)),
            "eps": _number(who, "eps", eps, 0.0, low_ok=False),
            "weight_decay": _number(who, "weight_decay", weight_decay, 0.0, low_ok=True),
        }

    def _state_keys(self, hyperparams: dict[str, Any]) -> tuple[str, ...]:
        return ("step", "m", "v")

    def _update(self, i: int, p: Tensor, g: np.ndarray) -> None:
        b1, b2 = self.betas
        if self.weight_decay:
            g = g + self.weight_decay * p.data
        m, v = self.state["m"][i], self.state["v"][i]
        m *= b1
        m += (1.0 - b1) * g
        v *= b2
        v += (1.0 - b2) * (g * g)
        self.state["step"][i] += 1
        t = self.state["step"][i]
        step_size = self.lr / (1.0 - b1**t)
        denom = np.sqrt(v) / math.sqrt(1.0 - b2**t) + self.eps
        p.data -= step_size * m / denom


class Adagrad(Optimizer):
    """Adagrad as in Karpathy's min-char-rnn: a per-weight step size that shrinks with the sum
    of the squared gradients that weight has seen.

    With g = dL/dp and ``mem`` (starting at 0) the running sum of squares:

    .. math::

        \\mathrm{mem} &\\leftarrow \\mathrm{mem} + g^2 \\\\
        p &\\leftarrow p - \\mathrm{lr}\\, \\frac{g}{\\sqrt{\\mathrm{mem} + \\epsilon}}

    (PyTorch's ``Adagrad`` puts eps outside the root, sqrt(mem) + eps; the two agree unless
    gradients are tiny.)

    Parameters
    ----------
    params : iterable of Tensor
    lr : float
        Learning rate, > 0.
    eps : float
        Keeps the denominator away from zero, > 0.
    """

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-2, eps: float = 1e-8) -> None:
        super().__init__(params, lr=lr, eps=eps)

    def _check_hyperparams(self, lr: Any, eps: Any) -> dict[str, Any]:
        who = type(self).__name__
        return {"lr": _number(who, "lr", lr, 0.0, low_ok=False), "eps": _number(who, "eps", eps, 0.0, low_ok=False)}

    def _state_keys(self, hyperparams: dict[str, Any]) -> tuple[str, ...]:
        return ("mem",)

    def _update(self, i: int, p: Tensor, g: np.ndarray) -> None:
        mem = self.state["mem"][i]
        mem += g * g
        p.data -= self.lr * g / np.sqrt(mem + self.eps)


# --- gradient clipping -----------------------------------------------------------------------


def _clip_params(params: Tensor | Iterable[Tensor], who: str) -> list[Tensor]:
    """A single Tensor or an iterable of them, as a list (no requires_grad check: only .grad is read)."""
    if isinstance(params, Tensor):
        return [params]
    try:
        params = list(params)
    except TypeError:
        raise OptimizerError(
            f"{who}: expected a Tensor or an iterable of Tensors, got {type(params).__name__}; pass model.parameters()."
        ) from None
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise OptimizerError(f"{who}: {_describe(i, p)} is a {type(p).__name__}, not a Tensor.")
    return params


def clip_grad_norm(params: Tensor | Iterable[Tensor], max_norm: float) -> float:
    """Scale all gradients together so that their global L2 norm is at most ``max_norm``.

    .. math::

        \\|g\\| = \\sqrt{\\textstyle\\sum_p \\sum_i g_{p,i}^2}, \\qquad
        g \\leftarrow g \\cdot \\frac{\\text{max\\_norm}}{\\|g\\| + 10^{-6}}
        \\quad\\text{if } \\|g\\| > \\text{max\\_norm}

    The direction of the overall gradient is kept; only its length is limited, which tames
    the exploding gradients of backpropagation through long sequences. Gradients are scaled in
    place; parameters whose ``.grad`` is None are skipped.

    If the norm is not finite (a gradient holds inf or nan), the gradients are left untouched
    and the norm is returned, so the caller can detect it (``math.isfinite``) and skip the step.

    Parameters
    ----------
    params : Tensor or iterable of Tensor
    max_norm : float
        Largest allowed global norm, > 0.

    Returns
    -------
    float
        The global norm *before* clipping (useful to log).
    """
    who = "clip_grad_norm"
    params = _clip_params(params, who)
    max_norm = _number(who, "max_norm", max_norm, 0.0, low_ok=False)
    grads = [p.grad for p in params if p.grad is not None]
    # Summed in float64, so a float32 gradient with large entries does not overflow to inf.
    total = math.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads))
    if math.isfinite(total) and total > max_norm:
        scale = max_norm / (total + 1e-6)
        for g in grads:
            g *= scale
    return total


def clip_grad_value(params: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clip every gradient entry to [-clip_value, clip_value], in place.

    .. math::

        g_i \\leftarrow \\min(\\max(g_i, -c), c)

    Karpathy's min-char-rnn clips to [-5, 5]. Unlike ``clip_grad_norm`` this changes the
    gradient's direction. Parameters whose ``.grad`` is None are skipped.

    Parameters
    ----------
    params : Tensor or iterable of Tensor
    clip_value : float
        c > 0.
    """
    who = "clip_grad_value"
    params = _clip_params(params, who)
    c = _number(who, "clip_value", clip_value, 0.0, low_ok=False)
    for p in params:
        if p.grad is not None:
            np.clip(p.grad, -c, c, out=p.grad)
