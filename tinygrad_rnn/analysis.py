"""What BPTT does, measured on a recording: the gradient ledger, Jacobians through time, and
what truncation drops.

- ``ledger(losses, param)``: the gradient of a shared parameter split by loss term and by the
  step at which the parameter was used. Entry ``terms[i, k]`` is the part of dL_i/d(param)
  that enters through the use of ``param`` at step k; summed over i and k it is ``param.grad``.
  ``by_lag()`` groups the entries by lag (the loss term's step minus k): the per-lag sum that
  vanishes or explodes.
- ``jacobian_norms(states)``: for a chain of recorded hidden states h(0..T), the spectral norm of
  every one-step Jacobian dh(t)/dh(t-1) and of every dh(T)/dh(t), built row by row from the
  engine's own backward rules (exact, not finite differences).
- ``truncation_diff(model, xs, targets, k1, k2)``: full BPTT's gradient, truncated BPTT's
  (``bptt.truncated_bptt``, summed over the windows), and the difference, each as a ledger.

Nothing here changes ``.grad`` or any other state of the graph: every backward pass is the
engine's rule replayed into a dictionary (``autograd.gradients``). The cost is one backward
pass per loss term for a ledger, and one per state element for Jacobians: sizes for teaching
and debugging (T in the hundreds, H in the tens), not for production runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .autograd import gradients, local_gradients, reduce_to, walk
from .errors import ConfigError, DTypeError
from .modes import step
from .tensor import Tensor


def _describe(t: Any) -> str:
    if isinstance(t, Tensor):
        name = f"{t.name!r} " if t.name else ""
        where = f" at step {t.step}" if t.step is not None else ""
        return f"tensor {name}of shape {t.shape}{where}"
    return f"{type(t).__name__} {t!r:.40}"


# ----------------------------------------------------------------------------------------------
# The gradient ledger
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ledger:
    """A shared parameter's gradient split by loss term (rows) and by the step of the use
    through which it entered (columns).

    ``terms[i, k]`` has the parameter's shape; ``loss_steps[i]`` is the step of loss term i and
    ``steps[k]`` the step of the parameter's k-th use (None for a use made outside any step,
    listed last). A loss term made outside any step (say, on the last state after the loop)
    takes the last step it was computed from. ``reached[i, k]`` says whether L_i depends on
    that use at all (a later step's use cannot affect an earlier loss: its term is zero and not
    reached). ``terms.sum(axis=(0, 1))`` is the parameter's gradient.
    """

    name: str
    terms: np.ndarray
    loss_steps: list[int | None]
    steps: list[int | None]
    reached: np.ndarray

    @property
    def total(self) -> np.ndarray:
        """The parameter's gradient: the sum of every term."""
        return self.terms.sum(axis=(0, 1))

    def norms(self) -> np.ndarray:
        """The Frobenius norm of each term, shape (loss terms, steps)."""
        flat = self.terms.reshape(self.terms.shape[0], self.terms.shape[1], -1)
        return np.sqrt((flat.astype(np.float64) ** 2).sum(axis=2))

    def by_lag(self) -> tuple[np.ndarray, np.ndarray]:
        """(lags, sums): ``sums[j]`` is the sum of the terms whose loss step minus use step is
        ``lags[j]``, in increasing order of lag, over the reached terms (terms with an untagged
        step are left out)."""
        lags: dict[int, np.ndarray] = {}
        for i, li in enumerate(self.loss_steps):
            for k, sk in enumerate(self.steps):
                if li is None or sk is None or not self.reached[i, k]:
                    continue
                lag = li - sk
                lags[lag] = self.terms[i, k] + lags[lag] if lag in lags else self.terms[i, k].copy()
        keys = sorted(lags)
        shape = self.terms.shape[2:]
        values = np.stack([lags[k] for k in keys]) if keys else np.zeros((0, *shape), dtype=self.terms.dtype)
        return np.array(keys, dtype=np.int64), values


Term = tuple[Tensor, np.ndarray, tuple[Tensor, ...]]  # (root, seed, where its backward pass stops)


def _loss_terms(losses: Any, who: str) -> list[Term]:
    """The loss terms, each with the seed of its backward pass: a list is taken as it is; one
    loss is split into the terms ``functional.sequence_loss`` built (tensors named "L", each
    seeded with d total / d term), plus the rest of the loss (what reaches the parameters other
    than through those terms, e.g. a weight penalty), or kept whole if it has none."""
    if isinstance(losses, Tensor):
        if losses.size != 1:
            raise ConfigError(
                f"{who}: the loss has shape {losses.shape}; pass a scalar loss (e.g. from sequence_loss) or the "
                "list of per-step scalar losses"
            )
        if not losses.requires_grad:
            raise ConfigError(f"{who}: the loss does not require grad: no parameter was used to compute it")
        found = [n for n in walk(losses) if n.name == "L" and n.size == 1 and n.requires_grad]
        one = np.ones_like(losses.data)
        if not found:
            return [(losses, one, ())]
        seeds = gradients(losses, one, stop=tuple(found))
        return [(n, seeds.get(n, np.zeros_like(n.data)), ()) for n in found] + [(losses, one, tuple(found))]
    if isinstance(losses, (list, tuple)) and losses:
        for i, term in enumerate(losses):
            if not isinstance(term, Tensor) or term.size != 1 or not term.requires_grad:
                raise ConfigError(
                    f"{who}: losses[{i}] is a {_describe(term)}; each loss term must be a scalar Tensor computed "
                    "from the parameters (one per step, e.g. cross_entropy(o[t], y[t]))"
                )
        return [(t, np.ones_like(t.data), ()) for t in losses]
    raise ConfigError(
        f"{who}: losses must be a scalar loss Tensor or a non-empty list of per-step loss Tensors, got "
        f"{_describe(losses)}"
    )


def _term_step(term: Tensor) -> int | None:
    """A loss term's step: its own tag, or else the last step of what it was computed from (a
    loss computed after the loop, e.g. on h(T), belongs to the last step it reads)."""
    if term.step is not None:
        return term.step
    return max((n.step for n in walk(term) if n.step is not None), default=None)


def _users(terms: list[Term], params: Sequence[Tensor], who: str) -> dict[int, list[Tensor]]:
    """Per parameter (by id), the ops of the losses' graph that read it, in topological order;
    a ConfigError for a parameter no such op reads."""
    nodes = walk(*(root for root, _, _ in terms))
    users = {id(p): [n for n in nodes if any(q is p for q in n._parents)] for p in params}
    for p in params:
        if not users[id(p)]:
            raise ConfigError(
                f"{who}: the parameter {_describe(p)} is not used by any op the losses were computed from; pass a "
                "parameter of the model that made them (e.g. one of model.parameters())"
            )
    return users


def _term_uses(terms: list[Term], params: Sequence[Tensor], users: dict[int, list[Tensor]]
               ) -> Iterator[tuple[int, Tensor, Tensor, list[tuple[int, np.ndarray]]]]:  # fmt: skip
    """For each loss term i and each op that reads a parameter and that term's gradient
    reached: (i, parameter, op, [(input index, the part of dL_i/d(parameter) through that
    input)]). One backward pass per term; the ledger and ``per_use`` are sums of these."""
    for i, (term, seed, stop) in enumerate(terms):
        grads = gradients(term, seed, stop=stop)
        for p in params:
            for user in users[id(p)]:
                g = grads.get(user)
                if g is not None:
                    yield i, p, user, [(j, reduce_to(p, pg)) for j, _, pg in local_gradients(user, g, only=p)]


def _loss_steps(terms: list[Term]) -> list[int | None]:
    """Each term's step; None for the rest of a split loss (the last term, which has stops)."""
    return [None if stop else _term_step(t) for t, _, stop in terms]


def _ledgers(terms: list[Term], params: Sequence[Tensor], who: str) -> list[Ledger]:
    """One ledger per parameter, from one backward pass per loss term (the rest of a split
    loss is a last row, loss step None, kept only if it reaches a parameter)."""
    users = _users(terms, params, who)
    steps = {id(p): sorted({u.step for u in users[id(p)]}, key=lambda s: (s is None, s or 0)) for p in params}
    column = {id(p): {s: k for k, s in enumerate(steps[id(p)])} for p in params}
    tables = {id(p): np.zeros((len(terms), len(steps[id(p)]), *p.shape), dtype=p.dtype) for p in params}
    reached = {id(p): np.zeros((len(terms), len(steps[id(p)])), dtype=bool) for p in params}
    for i, p, user, parts in _term_uses(terms, params, users):
        k = column[id(p)][user.step]
        reached[id(p)][i, k] = True
        for _, g in parts:
            tables[id(p)][i, k] += g
    loss_steps = _loss_steps(terms)
    keep = slice(None)
    if terms[-1][2] and not any(reached[id(p)][-1].any() for p in params):
        keep, loss_steps = slice(0, -1), loss_steps[:-1]  # nothing outside the per-step terms
    return [
        Ledger(p.name or "param", tables[id(p)][keep], loss_steps, steps[id(p)], reached[id(p)][keep]) for p in params
    ]


@dataclass(frozen=True)
class Use:
    """One use of a parameter (input ``index`` of the op ``op``) and each loss term's part of
    the gradient that entered through it: ``parts[i]`` is dL_i/d(param) through this use, for
    the loss terms that reach it (``loss_steps[i]``: the term's step, None for the rest of a
    split loss)."""

    param: Tensor
    op: Tensor
    index: int
    parts: dict[int, np.ndarray]


@dataclass(frozen=True)
class PerUse:
    """``per_use``'s answer: ``uses`` (each use of each parameter with each loss term's part of
    its gradient), ``loss_steps[i]`` (loss term i's step), whether the last term is the ``rest``
    of a split loss (what reaches the parameters outside its per-step terms, e.g. a penalty), and
    whether the loss was ``split`` into terms at all (False: one term, the whole loss)."""

    loss_steps: list[int | None]
    uses: list[Use]
    rest: bool = False
    split: bool = True

    def names(self) -> list[str]:
        """The terms as a diagram names them: L(3) for step 3's term (L(3)#2 for a second one),
        "rest", or L for the whole loss or a term without a step."""
        names: list[str] = []
        for i, s in enumerate(self.loss_steps):
            name = "rest" if self.rest and i == len(self.loss_steps) - 1 else (
                f"L({s})" if s is not None and self.split else "L")  # fmt: skip
            count = sum(1 for n in names if n == name or n.startswith(f"{name}#"))
            names.append(name if not count else f"{name}#{count + 1}")
        return names


def per_use(losses: Tensor | Sequence[Tensor], params: Sequence[Tensor]) -> PerUse:
    """The ledger one level finer: each use of each parameter (an op's input, not a step) with
    each loss term's part of the gradient through it. The parts of the uses at step k, summed,
    are the ledger's column k. ``viz.draw(..., split=True)`` writes them under each parameter
    label. Costs one backward pass per loss term."""
    terms = _loss_terms(losses, "per_use")
    params = [_check_param(p, "per_use") for p in params]
    users = _users(terms, params, "per_use")
    found: dict[tuple[int, int, int], Use] = {}
    for i, p, user, parts in _term_uses(terms, params, users):
        for j, g in parts:
            use = found.setdefault((id(p), id(user), j), Use(p, user, j, {}))
            use.parts[i] = g
    loss_steps = _loss_steps(terms)
    rest = bool(terms[-1][2])
    if rest and not any(len(terms) - 1 in u.parts for u in found.values()):
        loss_steps, rest = loss_steps[:-1], False  # nothing outside the per-step terms (as in the ledger)
    whole = isinstance(losses, Tensor) and len(terms) == 1  # not split: the loss is its one term
    return PerUse(loss_steps, list(found.values()), rest, not whole)


def _check_param(param: Any, who: str) -> Tensor:
    if not isinstance(param, Tensor) or not param.requires_grad:
        raise ConfigError(
            f"{who}: param must be a Tensor that requires grad (a model's parameter), got {_describe(param)}"
        )
    return param


def ledger(losses: Tensor | Sequence[Tensor], param: Tensor) -> Ledger:
    """Split ``param``'s gradient by loss term and by the step where ``param`` was used.

    Parameters
    ----------
    losses : Tensor or list of Tensor
        The per-step loss terms L_i (scalars), or one loss built by ``functional.sequence_loss``,
        whose per-step terms are found in its graph (any other scalar loss is one term).
    param : Tensor
        A parameter used at several steps, e.g. ``model.W``.

    Returns
    -------
    Ledger
        ``terms[i, k]`` is the part of dL_i/d(param) that entered through the use of ``param``
        at step ``steps[k]``; ``loss_steps[i]`` is L_i's step. Summed over i and k: what
        ``sum(losses).backward()`` puts in ``param.grad`` (to rounding).

    Costs one backward pass per loss term; changes no ``.grad``.
    """
    (result,) = _ledgers(_loss_terms(losses, "ledger"), [_check_param(param, "ledger")], "ledger")
    return result


# ----------------------------------------------------------------------------------------------
# Jacobians through time
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JacobianNorms:
    """Spectral norms along a chain of states h(0..T) (``steps`` are their time-step tags; an
    initial state made outside any step has None).

    ``one_step[t - 1]`` is ||dh(t)/dh(t-1)||_2 for t = 1..T and ``to_last[t]`` is
    ||dh(T)/dh(t)||_2 for t = 0..T (1 at t = T): how much of a gradient arriving at h(T) can
    reach h(t). ``jacobians`` holds the one-step matrices, row j the gradient of element j of
    h(t) (states flattened, batch included).
    """

    steps: list[int | None]
    one_step: np.ndarray
    to_last: np.ndarray
    jacobians: np.ndarray


def _rows(root: Tensor, wanted: Sequence[Tensor], order: list[Tensor], stop: tuple[Tensor, ...]) -> list[np.ndarray]:
    """For each tensor in ``wanted``, the matrix d root / d tensor (root and tensor flattened),
    one backward pass per element of ``root``."""
    n = root.size
    mats = [np.zeros((n, t.size), dtype=np.float64) for t in wanted]
    seed = np.zeros(n, dtype=root.dtype)
    for j in range(n):
        seed[j] = 1
        grads = gradients(root, seed.reshape(root.shape), stop=stop, order=order)
        seed[j] = 0
        for m, t in zip(mats, wanted, strict=True):
            g = grads.get(t)
            if g is not None:
                m[j] = g.ravel()
    return mats


def hidden_states(root: Tensor, name: str = "h") -> list[Tensor]:
    """The recorded states named ``name`` that ``root`` was computed from, one per time step in
    step order (the last one made in a step, if several): the chain ``jacobian_norms`` takes,
    found in a graph whose network does not hand its states out (``nn.SeqToVec``, say)."""
    if not isinstance(root, Tensor):
        raise ConfigError(f"hidden_states: pass the loss (a Tensor), got {_describe(root)}")
    last: dict[int, Tensor] = {}
    for node in walk(root):  # topological order: a later state of the same step overwrites
        if node.name == name and node.step is not None:
            last[node.step] = node
    if not last:
        raise ConfigError(
            f"hidden_states: no tensor named {name!r} with a time step in the graph; pass name= the name of the "
            "hidden states (nn's networks call them 'h')"
        )
    return [last[t] for t in sorted(last)]


def jacobian_norms(states: Sequence[Tensor]) -> JacobianNorms:
    """Spectral norms of the Jacobians along the recorded states h(0), ..., h(T).

    ``states`` is the chain of hidden states in order (e.g. ``[h0, *outputs]`` of an ``nn.RNN``
    given its own ``h0``, or the outputs alone): each must be computed from the one before it.
    Each Jacobian is built exactly from the engine's backward rules, one pass per element of a
    state; for a batch it is the Jacobian of the whole flattened state, whose norm is the
    largest over the examples when they do not interact.
    """
    who = "jacobian_norms"
    if not isinstance(states, (list, tuple)) or len(states) < 2:
        raise ConfigError(f"{who}: states must be a list of at least two recorded states h(0..T), got {states!r:.60}")
    for t, h in enumerate(states):
        if not isinstance(h, Tensor):
            raise DTypeError(f"{who}: states[{t}] is a {_describe(h)}, not a Tensor")
        if h.shape != states[0].shape:
            raise ConfigError(
                f"{who}: states[{t}] has shape {h.shape} but states[0] has {states[0].shape}; pass the hidden states "
                "of one network, one per step"
            )
    if not states[0].requires_grad:
        raise ConfigError(
            f"{who}: states[0] ({_describe(states[0])}) does not require grad, so no gradient flows to it; make "
            "the initial state with requires_grad=True (e.g. h0 = Tensor(np.zeros((B, H)), requires_grad=True) "
            "passed to the network), or start the chain at h(1)"
        )
    for t in range(1, len(states)):
        if not states[t].requires_grad or not any(n is states[t - 1] for n in walk(states[t], stop={states[t - 1]})):
            raise ConfigError(
                f"{who}: states[{t}] ({_describe(states[t])}) was not computed from states[{t - 1}]; pass a chain "
                "of states in order, each computed from the one before (e.g. [h0, *outputs])"
            )
    T = len(states) - 1
    jac = []
    for t in range(1, T + 1):
        stop = (states[t - 1],)
        (m,) = _rows(states[t], stop, walk(states[t], stop=set(stop)), stop)
        jac.append(m)
    one_step = np.array([np.linalg.norm(m, 2) for m in jac])
    first = (states[0],)
    to_last_mats = _rows(states[T], states[:T], walk(states[T], stop=set(first)), first)
    to_last = np.array([np.linalg.norm(m, 2) for m in to_last_mats] + [1.0])
    return JacobianNorms([h.step for h in states], one_step, to_last, np.stack(jac))


# ----------------------------------------------------------------------------------------------
# What truncation drops
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TruncationDiff:
    """Full against truncated BPTT for one parameter: the gradients, their difference (what
    truncation drops), and both ledgers on the same grid of loss steps and use steps."""

    name: str
    full: np.ndarray
    truncated: np.ndarray
    dropped: np.ndarray
    full_ledger: Ledger
    truncated_ledger: Ledger

    @property
    def dropped_terms(self) -> np.ndarray:
        """(loss terms, steps) mask of the full ledger's terms that truncation leaves out."""
        return self.full_ledger.reached & ~self.truncated_ledger.reached


def _regrid(parts: list[Ledger], loss_steps: list[int | None], steps: list[int | None], like: Ledger) -> Ledger:
    """The window ledgers ``parts`` of one parameter added into one ledger on the full grid."""
    terms = np.zeros((len(loss_steps), len(steps), *like.terms.shape[2:]), dtype=like.terms.dtype)
    reached = np.zeros((len(loss_steps), len(steps)), dtype=bool)
    rows = {s: i for i, s in enumerate(loss_steps)}
    cols = {s: k for k, s in enumerate(steps)}
    for part in parts:
        for i, li in enumerate(part.loss_steps):
            for k, sk in enumerate(part.steps):
                terms[rows[li], cols[sk]] += part.terms[i, k]
                reached[rows[li], cols[sk]] |= part.reached[i, k]
    return Ledger(like.name, terms, list(loss_steps), list(steps), reached)


def truncation_diff(
    model: Any, xs: Any, targets: Any, k1: int, k2: int | None = None, loss: Callable[..., Tensor] | None = None
) -> list[TruncationDiff]:
    """Full BPTT's gradient against truncated BPTT's (k1, k2), per parameter of ``model``.

    ``model`` is a network with an output layer at every step (``nn.SeqToSeq``, with any cell);
    the cost is
    ``functional.sequence_loss(outputs, targets, loss=loss)`` over all steps (cross-entropy by
    default). Truncated BPTT runs ``bptt.truncated_bptt(model, xs, k1, k2)`` with no update
    between windows, each window's loss on its own outputs, and sums the windows' gradients.
    ``dropped = full - truncated``; the ledgers show which (loss step, use step) terms went.
    """
    from . import functional as F
    from .bptt import truncated_bptt

    loss = F.cross_entropy if loss is None else loss
    params = list(model.parameters())
    outputs = model(xs)
    full_loss = F.sequence_loss(outputs, targets, loss=loss)
    full_ledgers = _ledgers(_loss_terms(full_loss, "truncation_diff"), params, "truncation_diff")
    full_grads = gradients(full_loss, np.ones_like(full_loss.data))
    truncated = [np.zeros_like(p.data) for p in params]
    parts: list[list[Ledger]] = [[] for _ in params]
    for w in truncated_bptt(model, xs, k1, k2):
        outs = []
        for t, h in zip(range(w.start, w.stop), w.hidden, strict=True):
            with step(t):
                outs.append(model.head(h))
        window_loss = F.sequence_loss(outs, targets[w.start : w.stop], loss=loss)
        grads = gradients(window_loss, np.ones_like(window_loss.data))
        for j, p in enumerate(params):
            if p in grads:
                truncated[j] += grads[p]
        window_params = [p for p in params if p in grads]
        window_ledgers = _ledgers(_loss_terms(window_loss, "truncation_diff"), window_params, "truncation_diff")
        for p, part in zip(window_params, window_ledgers, strict=True):
            parts[next(j for j, q in enumerate(params) if q is p)].append(part)
    result = []
    for j, p in enumerate(params):
        full = full_grads.get(p, np.zeros_like(p.data))
        like = full_ledgers[j]
        trunc_ledger = _regrid(parts[j], like.loss_steps, like.steps, like)
        result.append(TruncationDiff(like.name, full, truncated[j], full - truncated[j], like, trunc_ledger))
    return result


__all__ = [
    "JacobianNorms",
    "Ledger",
    "PerUse",
    "TruncationDiff",
    "Use",
    "hidden_states",
    "jacobian_norms",
    "ledger",
    "per_use",
    "truncation_diff",
]
