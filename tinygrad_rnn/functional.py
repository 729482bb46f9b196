"""Losses and normalisations built on the engine: softmax, log_softmax, softplus, logsigmoid,
where, cross_entropy, mse, and ``sequence_loss``, which puts only chosen time steps into the cost.
"""

from __future__ import annotations

import operator
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from . import ops
from .autograd import _apply, walk
from .errors import ConfigError, DTypeError, ShapeError
from .modes import no_grad, step
from .tensor import Tensor, _lift, check_axis

Loss = Callable[..., Tensor]


def _shifted(x: Any, axis: int, who: str) -> Tensor:
    """x minus its max over ``axis``, the max taken as a constant: the shift leaves softmax
    unchanged and stops exp from overflowing, and as a constant it adds nothing to the
    backward pass. Arrays are accepted; a bad axis is an error naming ``who``."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    check_axis(who, axis, x)
    with no_grad():
        m = x.max(axis=axis, keepdims=True)
    return x - m


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """softmax(x)_i = exp(x_i - m) / sum_j exp(x_j - m), with m the max along ``axis``."""
    e = _shifted(x, axis, "softmax").exp()
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """log softmax(x)_i = (x_i - m) - log sum_j exp(x_j - m), computed without overflow."""
    shifted = _shifted(x, axis, "log_softmax")
    return shifted - shifted.exp().sum(axis=axis, keepdims=True).log()


def softplus(x: Any) -> Tensor:
    """softplus(x) = log(1 + e^x), elementwise and without overflow (``Tensor.softplus``)."""
    return (x if isinstance(x, Tensor) else Tensor(x)).softplus()


def logsigmoid(x: Any) -> Tensor:
    """log sigmoid(x) = -softplus(-x), elementwise, finite where sigmoid(x) underflows
    (``Tensor.logsigmoid``)."""
    return (x if isinstance(x, Tensor) else Tensor(x)).logsigmoid()


def where(cond: Any, a: Any, b: Any) -> Tensor:
    """``a`` where the booleans ``cond`` are True, else ``b``, broadcasting as ``numpy.where``
    (``Tensor.where``); the gradient goes to whichever of a and b was picked."""
    return Tensor.where(cond, a, b)


ACTIVATED_AFFINE = {None: ops.Affine, "tanh": ops.TanhAffine, "relu": ops.ReLUAffine, "sigmoid": ops.SigmoidAffine}


def affine(bias: Any, *pairs: tuple[Tensor, Tensor], activation: str | None = None) -> Tensor:
    """bias + x1 @ W1 + x2 @ W2 + ..., then ``activation`` ("tanh", "relu", "sigmoid" or None), as one
    node of the graph (one fused op).

    An RNN's step h(t) = tanh(b + h(t-1) W + x(t) U) is ``affine(b, (h, W), (x, U),
    activation="tanh")``: one node per step, holding only h(t), with an edge from each input.
    """
    if activation not in ACTIVATED_AFFINE:
        raise ConfigError(f"affine: activation must be one of {list(ACTIVATED_AFFINE)}, got {activation!r}")
    if not pairs:
        raise ConfigError("affine: pass at least one (input, weight) pair after the bias")
    flat = [bias]
    for pair in pairs:
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise DTypeError(f"affine: each term must be an (input, weight) tuple, got {pair!r}")
        flat += pair
    if not all(isinstance(t, Tensor) for t in flat):
        like = next((t for t in flat if isinstance(t, Tensor)), None) or Tensor(pairs[0][0])
        flat = [_lift(t, like) for t in flat]
    return _apply(ACTIVATED_AFFINE[activation], *flat)


def _labels_array(labels: Any, logits: Tensor) -> np.ndarray:
    y = labels.data if isinstance(labels, Tensor) else np.asarray(labels)
    if y.dtype.kind not in "iu":
        raise DTypeError(
            f"cross_entropy: labels must be integer class indices, got dtype {y.dtype}; "
            "convert them with np.asarray(labels, dtype=np.int64)."
        )
    if y.shape != logits.shape[:1]:
        raise ShapeError(
            f"cross_entropy: logits have shape {logits.shape} (batch, classes), so labels need shape "
            f"{logits.shape[:1]}, got {y.shape}."
        )
    n_classes = logits.shape[1]
    if y.size <= 16:  # a few labels (a batch of one): Python's min and max, a fifth of numpy's time (tricks.py)
        values = y.ravel().tolist()
        out_of_range = bool(values) and (min(values) < 0 or max(values) >= n_classes)
    else:
        out_of_range = y.min() < 0 or y.max() >= n_classes
    if out_of_range:
        bad = y[(y < 0) | (y >= n_classes)][0]
        raise ShapeError(
            f"cross_entropy: label {bad} is out of range for {n_classes} classes; labels must lie in [0, {n_classes})."
        )
    return y


def cross_entropy(logits: Tensor, labels: Any, reduction: str = "mean") -> Tensor:
    """Mean (or summed) negative log-likelihood of integer ``labels`` under softmax(``logits``).

    Parameters
    ----------
    logits : Tensor of shape (batch, classes)
    labels : integer array or Tensor of shape (batch,), values in [0, classes)
    reduction : "mean" or "sum" over the batch

    One fused op: the forward subtracts each row's max; the backward is softmax - onehot.
    """
    if reduction not in ("mean", "sum"):
        raise ConfigError(f"cross_entropy: reduction must be 'mean' or 'sum', got {reduction!r}")
    if not isinstance(logits, Tensor):
        logits = Tensor(logits)
    if logits.ndim != 2:
        raise ShapeError(
            f"cross_entropy: logits must have shape (batch, classes), got {logits.shape}; "
            "for a single example use logits.reshape(1, -1)."
        )
    if logits.shape[0] == 0:
        raise ShapeError(f"cross_entropy: logits have shape {logits.shape}: an empty batch has no loss.")
    if logits.dtype.kind != "f":
        raise DTypeError(f"cross_entropy: logits must be floating point, got {logits.dtype}")
    y = _labels_array(labels, logits)
    # the labels are an input of the recorded op (no gradient), so that diagrams show y -> L
    target = labels if isinstance(labels, Tensor) and labels.data is y else Tensor(y, name="y")
    return _apply(ops.CrossEntropy, logits, target, attrs=(reduction == "mean",))


def mse(prediction: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean (or summed) squared error; ``target`` is a constant of the same shape."""
    if reduction not in ("mean", "sum"):
        raise ConfigError(f"mse: reduction must be 'mean' or 'sum', got {reduction!r}")
    target_shape = target.shape if hasattr(target, "shape") else np.shape(target)
    if tuple(target_shape) != prediction.shape:
        raise ShapeError(
            f"mse: prediction has shape {prediction.shape} but target has shape {tuple(target_shape)}; "
            "they must match (reshape one of them)."
        )
    diff = prediction - target
    sq = diff * diff
    return sq.mean() if reduction == "mean" else sq.sum()


def check_lengths(who: str, lengths: Any, T: int, batch: int, empty_ok: bool = False,
                  steps_of: str = "the input has") -> np.ndarray:  # fmt: skip
    """``lengths`` as an int array (batch,) of values 1..T (0..T with ``empty_ok``: a loss over a
    window of steps, where a sequence may have ended before it), or an error saying what is wrong."""
    data = np.asarray(lengths.data if isinstance(lengths, Tensor) else lengths)
    if data.shape != (batch,) or data.dtype.kind not in "iu":
        error = ShapeError if data.shape != (batch,) else DTypeError
        raise error(
            f"{who}: lengths must be one integer per sequence, shape ({batch},), got "
            f"{'dtype ' + str(data.dtype) + ', ' if data.dtype.kind not in 'iu' else ''}shape {data.shape}."
        )
    low = 0 if empty_ok else 1
    bad = np.flatnonzero((data < low) | (data > T))
    if bad.size:
        raise ConfigError(
            f"{who}: lengths[{int(bad[0])}] is {int(data[bad[0]])}, but {steps_of} {T} steps; each length must be "
            f"between {low} and {T}."
        )
    return data.astype(np.int64)


def sequence_lengths(who: str, lengths: Any, mask: Any, T: int, batch: int, empty_ok: bool = False,
                     steps_of: str = "the input has") -> np.ndarray | None:  # fmt: skip
    """Each sequence's length from ``lengths`` (batch,) or from ``mask`` (T, batch): True (or 1)
    at a sequence's real steps, False after its end; None when neither is given, or when every
    sequence runs all T steps (nothing to mask: the same graph as without them). A mask must be
    a prefix in every column (padding only at the end) and, unless ``empty_ok``, have at least
    one real step."""
    if mask is None:
        ends = None if lengths is None else check_lengths(who, lengths, T, batch, empty_ok, steps_of)
    elif lengths is not None:
        raise ConfigError(f"{who}: pass lengths= or mask=, not both (they say the same thing)")
    else:
        ends = _mask_lengths(who, mask, T, batch, empty_ok)
    return None if ends is None or (ends == T).all() else ends


def _mask_lengths(who: str, mask: Any, T: int, batch: int, empty_ok: bool) -> np.ndarray:
    """Each sequence's length from a checked mask (T, batch): see ``sequence_lengths``."""
    data = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
    if data.shape != (T, batch):
        raise ShapeError(
            f"{who}: mask must have one entry per step and sequence, shape (time, batch) = ({T}, {batch}), got shape "
            f"{data.shape}."
        )
    if data.dtype.kind not in "biuf" or not np.isin(data, (0, 1)).all():
        raise DTypeError(
            f"{who}: mask must hold booleans (or 0 / 1), True at a sequence's real steps; got {data.dtype} with "
            f"values {np.unique(data)[:4].tolist()}"
        )
    real = data.astype(bool)
    ends = real.sum(axis=0)
    gap = np.flatnonzero((real != (np.arange(T)[:, None] < ends)).any(axis=0))
    if gap.size:
        b = int(gap[0])
        raise ConfigError(
            f"{who}: mask[:, {b}] = {real[:, b].astype(int).tolist()} has a real step after padding; padding goes at "
            "the end of a sequence (True for its first steps, then False), or pass lengths="
        )
    if (ends == 0).any() and not empty_ok:
        raise ConfigError(f"{who}: mask[:, {int(np.flatnonzero(ends == 0)[0])}] has no real step; each sequence needs "
                          "at least one")  # fmt: skip
    return ends.astype(np.int64)


#: id -> weak reference of each op a per-step loss function made from the output and the target
#: alone inside ``sequence_loss`` (an mse's o - y and its square): the term L(t)'s own ops, which
#: viz folds into the cost node with it. Keyed by id: tensors compare elementwise, not by identity.
TERM_OPS: dict[int, weakref.ref] = {}


def _mark_term(term: Tensor, output: Tensor, target: Any) -> None:
    """Remember the unnamed ops of ``term`` computed from ``output``, ``target`` and constants
    alone (in ``term``'s step): the loss function's, not the model's. A cross-entropy term is one
    op and has none; an op that reads anything else (a parameter, a tensor of the model, a named
    one) is not one, nor is anything computed from it."""
    if all(p is output or p is target or p.op is None for p in term.parents):
        return  # one fused op (cross_entropy): nothing inside it
    beyond = _Beyond({id(output), id(target)}, term.step)
    own: set[int] = set()
    for t in walk(term, stop=beyond):  # inputs first
        if t is term or t.op is None or t in beyond or t.name is not None:  # a named tensor is the model's
            continue
        if all(id(p) in beyond.inputs or id(p) in own or (p.op is None and not p.requires_grad) for p in t.parents):
            own.add(id(t))
            _remember(t)


def _remember(t: Tensor) -> None:
    key = id(t)
    TERM_OPS[key] = weakref.ref(t, lambda _: TERM_OPS.pop(key, None))


class _Beyond:
    """``walk``'s stop for ``_mark_term``: the term's inputs, and the tensors of other steps."""

    __slots__ = ("inputs", "step")

    def __init__(self, inputs: set[int], step: int | None) -> None:
        self.inputs, self.step = inputs, step

    def __contains__(self, t: Tensor) -> bool:
        return id(t) in self.inputs or t.step != self.step


def sequence_loss(
    outputs: Sequence[Tensor],
    targets: Any,
    steps: Iterable[int] | None = None,
    loss: Loss = cross_entropy,
    lengths: Any = None,
    mask: Any = None,
) -> Tensor:
    """Sum over the chosen time steps of ``loss(outputs[t], targets[t])``.

    Only the listed ``steps`` (negative indices count from the end; None means all) enter the
    cost, so the other outputs are not ancestors of it and get no gradient: Geron's BPTT
    figure, with the cost on the last three outputs, is ``steps=[-3, -2, -1]``. Each step's
    loss is tagged with its time step. With ``lengths`` (one per sequence, as given to the
    network), step t's loss is taken over the sequences still running (length > t) only, and a
    step where none runs adds nothing: padding never enters the cost. ``mask`` (T, batch), True
    at the real steps, says the same as ``lengths``. A length may be 0 here (a window of a
    truncated unroll that a sequence ended before: ``bptt.Window.lengths``).
    """
    T = len(outputs)
    if T == 0:
        raise ShapeError("sequence_loss: outputs is empty; pass the list of per-step outputs")
    try:
        n_targets = len(targets)
    except TypeError:
        raise ShapeError(
            f"sequence_loss: targets must hold one target per step ({T}), e.g. an array of shape ({T}, batch); "
            f"got {type(targets).__name__}."
        ) from None
    if n_targets != T:
        raise ShapeError(f"sequence_loss: {T} outputs but {n_targets} targets; give one target per step.")
    try:
        chosen = list(range(T)) if steps is None else [operator.index(s) for s in steps]
    except TypeError:
        shown = list(steps) if isinstance(steps, Iterable) else steps
        example = f"[{steps}]" if isinstance(steps, int) else "[-3, -2, -1]"
        raise DTypeError(
            f"sequence_loss: steps must be a list of integer time steps, got {shown!r}; e.g. steps={example}"
        ) from None
    if not chosen:
        raise ConfigError("sequence_loss: steps is empty; list at least one time step to put in the cost")
    normalized = []
    for s in chosen:
        if not -T <= s < T:
            raise ConfigError(f"sequence_loss: step {s} is out of range for {T} outputs (valid: {-T} to {T - 1})")
        normalized.append(s % T)
    if len(set(normalized)) != len(normalized):
        raise ConfigError(f"sequence_loss: step listed twice in {chosen}")
    ends = sequence_lengths("sequence_loss", lengths, mask, T, outputs[0].shape[0], empty_ok=True)
    total = None
    for t in sorted(normalized):
        rows = None
        if ends is not None and (ends <= t).any():
            rows = np.flatnonzero(ends > t)
            if rows.size == 0:
                continue  # every sequence has ended: nothing of this step enters the cost
        # tag each step's cost with its output's own time step (a decoder's steps come after the encoder's);
        # a Tensor target's slices too, made in the block
        with step(outputs[t].step if outputs[t].step is not None else t):
            output, target = outputs[t], targets[t]
            if rows is not None:
                target = target[rows] if isinstance(target, Tensor) else np.asarray(target)[rows]
            if isinstance(targets, Tensor) and target.op is not None:  # a slice recorded here, in the step
                target.name = "target"
            given = output if rows is None else output[rows]
            step_loss = loss(given, target)
            if not isinstance(step_loss, Tensor):
                raise DTypeError(
                    f"sequence_loss: the loss function returned {type(step_loss).__name__} at step {t}; it must return "
                    "a Tensor computed from the output and the target (e.g. F.mse(o, y)), so that gradients flow."
                )
            if step_loss.name is None and step_loss.op is not None:
                step_loss.name = "L"  # a term the loss made (a tensor it was given, or a named one, keeps its name)
                _mark_term(step_loss, output, target)
            total = step_loss if total is None else total + step_loss
    if total is None:
        raise ConfigError(f"sequence_loss: no chosen step has a running sequence (steps {chosen}, lengths {ends})")
    return total
