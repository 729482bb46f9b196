"""Backpropagation through time, full and truncated.

Full BPTT needs no code of its own: unroll the network, compute the loss, call
``loss.backward()``. Each parameter is one node used at every step, so its gradient is the sum
of the contributions of all T steps.

Truncated BPTT (Williams & Peng's BPTT(k1, k2)) bounds the cost of long sequences: every k1
steps, the loss on those k1 steps' outputs is backpropagated through the last k2 steps only.
The cut is a ``detach()`` of the hidden state carried into each window, so the gradient of a
window's loss is exactly full BPTT restricted to the window's k2 steps.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ConfigError
from .functional import sequence_lengths
from .modes import step
from .nn import RNN, Cell, OutputRecurrentRNN, SeqToSeq, SeqToVec, sequence
from .nn.recurrent import masked_step
from .tensor import Tensor


def _window_size(key: str, k: Any) -> int:
    if not isinstance(k, bool):
        try:
            k = operator.index(k)
        except TypeError:
            pass
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"truncated_bptt: {key} must be a positive integer, got {k!r}")
    return k


@dataclass
class Window:
    """One truncation window: backpropagate the loss on ``hidden`` (the step outputs, h(t), for
    ``start <= t < stop``); the graph reaches back to step ``first`` = start - (k2 - k1) (or 0)."""

    first: int
    start: int
    stop: int
    hidden: list[Tensor]

    def lengths(self, lengths: Any) -> np.ndarray:
        """The sequences' lengths within this window's outputs (0 for a sequence that ended
        before it), for ``sequence_loss(..., lengths=w.lengths(lengths))``."""
        ends = np.asarray(lengths.data if isinstance(lengths, Tensor) else lengths)
        return np.clip(ends - self.start, 0, self.stop - self.start).astype(np.int64)


def _cell_of(model: Any) -> Cell:
    """The cell a truncated unroll steps: the model itself, an RNN loop's, or a mapping's loop's."""
    if isinstance(model, Cell):
        return model
    if isinstance(model, RNN):
        if model.stacked:
            raise ConfigError(
                f"truncated_bptt: carries one cell's state from window to window; {type(model).__name__} with "
                f"num_layers={model.num_layers}, bidirectional={model.bidirectional} has several (a backward "
                "direction cannot be truncated forwards at all)"
            )
        return model.cell
    if isinstance(model, (SeqToSeq, SeqToVec)):
        return model.rnn.cell
    if isinstance(model, OutputRecurrentRNN):
        return model.cell
    raise ConfigError(
        f"truncated_bptt: needs a network that reads a sequence one step at a time (a cell, RNN, LSTM, GRU, SeqToSeq, "
        f"SeqToVec or OutputRecurrentRNN), got {type(model).__name__}"
    )


def truncated_bptt(
    model: Any, xs: Any, k1: int, k2: int | None = None, h0: Any = None, lengths: Any = None, mask: Any = None
) -> Iterator[Window]:
    """Run ``model`` over ``xs`` (T, B, I) in windows of ``k1`` steps for truncated BPTT.

    ``model`` is any cell (``RNNCell``, ``LSTMCell``, ``GRUCell``, ``OutputRecurrentCell``) or
    a network built on one (``RNN``, ``LSTM``, ``GRU``, ``SeqToSeq``, ``SeqToVec``,
    ``OutputRecurrentRNN``); only the cell interface is used: ``initial_state``, ``step`` and
    ``detach``. Each window's ``hidden`` holds the step outputs (h(t); o(t) for output
    recurrence) of its steps [start, stop). The window recomputes the steps [first, stop), where
    first = start - (k2 - k1) (or 0), from the detached state before them, with the current
    parameters, so an optimizer step between windows is used from the next window on. Typical
    use::

        for w in truncated_bptt(model, xs, k1=10, k2=20):
            loss = sequence_loss([model.head(h) for h in w.hidden], ys[w.start:w.stop])
            opt.zero_grad(); loss.backward(); opt.step()

    ``k2`` defaults to ``k1`` (non-overlapping windows, the usual "detach every k steps").
    With ``lengths`` (or ``mask``), as for ``nn.RNN``: a sequence that has ended keeps its state
    and outputs zeros; ``sequence_loss(..., lengths=w.lengths(lengths))`` leaves them out of
    the window's loss, and a window where every sequence has ended has no loss at all
    (``if w.lengths(lengths).any():``).
    """
    k2 = k1 if k2 is None else k2
    k1, k2 = _window_size("k1", k1), _window_size("k2", k2)
    if k2 < k1:
        raise ConfigError(
            f"truncated_bptt: k2 ({k2}) must be at least k1 ({k1}): each window backpropagates its k1 outputs"
        )
    cell = _cell_of(model)
    inputs = sequence(xs, cell.input_size, cell.dtype, "truncated_bptt")
    ends = sequence_lengths("truncated_bptt", lengths, mask, len(inputs), inputs[0].shape[0])
    return _windows(cell, inputs, k1, k2, cell.initial_state(inputs[0].shape[0], h0, "truncated_bptt"), ends)


def _windows(cell: Cell, inputs: list[Tensor], k1: int, k2: int, state0: Any, ends: np.ndarray | None = None
             ) -> Iterator[Window]:  # fmt: skip
    states = [cell.detach(state0)]  # states[t]: the state before step t, detached
    for stop in range(k1, len(inputs) + k1, k1):
        stop = min(stop, len(inputs))
        start = stop - k1 if stop % k1 == 0 else stop - stop % k1
        first = max(0, start - (k2 - k1))  # k2 - k1 steps of look-back before the window's outputs
        state = cell.detach(states[first])
        hidden = []
        for t in range(first, stop):
            with step(t):
                out, state = masked_step(cell, inputs[t], state, t, ends)
            hidden.append(out)
            if t + 1 == len(states):
                states.append(cell.detach(state))
        yield Window(first, start, stop, hidden[start - first :])
