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

from .errors import ConfigError
from .nn import RNN, OutputRecurrentCell
from .steps import step
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
    """One truncation window: backpropagate the loss on ``hidden`` (the states h(t) for
    ``start <= t < stop``); the graph reaches back to step ``first`` = start - (k2 - k1) (or 0)."""

    first: int
    start: int
    stop: int
    hidden: list[Tensor]


def truncated_bptt(rnn: RNN, xs: Any, k1: int, k2: int | None = None, h0: Any = None) -> Iterator[Window]:
    """Run ``rnn`` over ``xs`` (T, B, I) in windows of ``k1`` steps for truncated BPTT.

    For each window, the states of steps [stop - k2, stop) are recomputed from the detached
    state h(stop - k2) with the current parameters, so an optimizer step between windows is
    used from the next window on. Typical use::

        for w in truncated_bptt(model, xs, k1=10, k2=20):
            loss = sequence_loss([model.output(h) for h in w.hidden], ys[w.start:w.stop])
            opt.zero_grad(); loss.backward(); opt.step()

    ``k2`` defaults to ``k1`` (non-overlapping windows, the usual "detach every k steps").
    """
    k2 = k1 if k2 is None else k2
    k1, k2 = _window_size("k1", k1), _window_size("k2", k2)
    if k2 < k1:
        raise ConfigError(
            f"truncated_bptt: k2 ({k2}) must be at least k1 ({k1}): each window backpropagates its k1 outputs"
        )
    if not isinstance(rnn, RNN) or rnn.W.shape[0] != rnn.hidden_size or isinstance(rnn, OutputRecurrentCell):
        raise ConfigError(
            f"truncated_bptt: needs a network whose recurrence is h(t-1) -> h(t) (RNN, SeqToSeq, SeqToVec), "
            f"got {type(rnn).__name__}; an output-recurrent network feeds o(t-1) back, so cut it by hand with detach()"
        )
    inputs = rnn._inputs(xs, "truncated_bptt")
    return _windows(rnn, inputs, k1, k2, rnn._state(inputs[0].shape[0], h0, "truncated_bptt"))


def _windows(rnn: RNN, inputs: list[Tensor], k1: int, k2: int, h0: Tensor) -> Iterator[Window]:
    states = [h0.detach()]  # states[t] = h(t), detached
    for stop in range(k1, len(inputs) + k1, k1):
        stop = min(stop, len(inputs))
        start = stop - k1 if stop % k1 == 0 else stop - stop % k1
        first = max(0, start - (k2 - k1))  # k2 - k1 steps of look-back before the window's outputs
        h = states[first].detach()
        hidden = []
        for t in range(first, stop):
            with step(t):
                h = rnn.cell(inputs[t], h)
            hidden.append(h)
            if t + 1 == len(states):
                states.append(h.detach())
        yield Window(first, start, stop, hidden[start - first :])
