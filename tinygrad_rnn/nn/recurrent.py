"""The loops: ``RNN``, ``LSTM`` and ``GRU`` run a cell over a (T, B, I) input, one step at a
time, and tag every tensor made in step t with ``step == t``.

``RNN(input_size, hidden_size, ...)`` builds its ``RNNCell``; ``RNN(cell)`` runs any cell that
has the cell interface (``nn.cells``), so ``RNN(nn.LSTMCell(3, 4))`` is ``LSTM(3, 4)``. The
loop returns ``(outputs, state)``: the T step outputs (h(1..T), each (B, H)) and the final
state (h(T); (h(T), c(T)) for an LSTM). The cell's parameters are reached through the loop as
well: ``rnn.W`` is ``rnn.cell.W``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError, DTypeError, ShapeError
from ..functional import check_lengths
from ..steps import step
from ..tensor import Tensor
from .cells import Cell, GRUCell, LSTMCell, RNNCell
from .module import Module, built_by, in_dtype


def _carry(running: np.ndarray, new: Any, old: Any) -> Any:
    """The state after a step: ``new`` for the sequences still running, ``old`` for the others."""
    if isinstance(new, tuple):
        return tuple(_carry(running, n, o) for n, o in zip(new, old, strict=True))
    carried = Tensor.where(running, new, old)
    carried.name = new.name
    return carried


def sequence(xs: Any, size: int, dtype: np.dtype, who: str, name: str = "x") -> list[Tensor]:
    """The sequence as T per-step tensors (B, size) from a (T, B, size) array or Tensor, or a
    list of (B, size) steps, in ``dtype`` (the modules' dtype rule: ``module.in_dtype``). Step
    t's tensor is tagged t."""
    if isinstance(xs, (list, tuple)):
        steps = [
            in_dtype(who, x, dtype, name) if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=dtype), name=name)
            for x in xs
        ]
        shapes = {x.shape for x in steps}
        if len(steps) == 0 or len(shapes) != 1 or len(steps[0].shape) != 2 or steps[0].shape[1] != size:
            raise ShapeError(
                f"{who}: expected a non-empty list of (batch, {size}) steps of one shape, got shapes "
                f"{[x.shape for x in steps][:5]}."
            )
        return steps
    data = xs.data if isinstance(xs, Tensor) else np.asarray(xs)
    if data.ndim == 3 and data.shape[0] == 0:
        raise ShapeError(
            f"{who}: the input has shape {data.shape}: 0 time steps; an RNN needs at least one "
            f"(shape (time, batch, {size}) with time >= 1)."
        )
    if data.ndim != 3 or data.shape[2] != size:
        raise ShapeError(
            f"{who}: expected input of shape (time, batch, {size}), got {data.shape}"
            + ("; add a time axis, e.g. x[None]" if data.ndim == 2 else "")
            + ("; the feature size differs" if data.ndim == 3 and data.shape[2] != size else "")
            + "."
        )
    if data.dtype.kind not in "iuf":
        raise DTypeError(f"{who}: input must be numeric, got dtype {data.dtype}.")
    out = []
    if isinstance(xs, Tensor):
        xs = in_dtype(who, xs, dtype, name)
    if isinstance(xs, Tensor) and xs.requires_grad:
        for t in range(data.shape[0]):
            with step(t):
                out.append(xs[t])
        return out
    data = data.astype(dtype, copy=False)
    for t in range(data.shape[0]):
        with step(t):
            out.append(Tensor(data[t], name=name))
    return out


class RNN(Module):
    """A cell unrolled over a (T, B, I) input: ``rnn(xs, h0=None)`` returns (outputs, state).

    ``RNN(input_size, hidden_size, nonlinearity=..., init=..., dtype=..., seed=...)`` makes an
    Elman RNN (``RNNCell``); ``RNN(cell)`` unrolls the given cell. ``h0`` defaults to zeros.
    """

    cell_type: type[Cell] = RNNCell
    _delegates = ("cell",)

    def __init__(self, input_size: int | Cell, hidden_size: int | None = None, **options: Any) -> None:
        who = type(self).__name__
        if isinstance(input_size, Cell):
            if hidden_size is not None or options:
                raise ConfigError(
                    f"{who}: a cell brings its own sizes and options; pass {who}(cell) alone, or {who}(input_size, "
                    "hidden_size, ...) to build one"
                )
            self.cell = input_size
        else:
            self.cell = built_by(who, lambda: self.cell_type(input_size, hidden_size, **options))

    def forward(self, xs: Any, h0: Any = None, lengths: Any = None) -> tuple[list[Tensor], Any]:
        """Run the cell over ``xs``. With ``lengths`` (one per sequence, 1..T), sequence b stops at
        step lengths[b]: its state is carried unchanged after that, its outputs there are zeros
        (no gradient flows into them), and the final state is its own last state."""
        who = type(self).__name__
        cell = self.cell
        inputs = sequence(xs, cell.input_size, cell.dtype, who)
        B = inputs[0].shape[0]
        state = cell.initial_state(B, h0, who)
        ends = None if lengths is None else check_lengths(who, lengths, len(inputs), B)
        outputs = []
        for t, x in enumerate(inputs):
            with step(t):
                out, new = cell.step(x, state)
                if ends is not None and (ends <= t).any():
                    running = (ends > t)[:, None]
                    state = _carry(running, new, state)
                    out = Tensor.where(running, out, 0.0)
                    out.name = "h_out"  # zeros past a sequence's end; the carried state keeps its own name
                else:
                    state = new
            outputs.append(out)
        return outputs, state


class LSTM(RNN):
    """An LSTM unrolled over a (T, B, I) input: ``lstm(xs, (h0, c0)=None)`` returns (outputs,
    (h(T), c(T))), the outputs h(1..T). ``LSTM(input_size, hidden_size, forget_bias=1.0, ...)``."""

    cell_type = LSTMCell


class GRU(RNN):
    """A GRU unrolled over a (T, B, I) input: ``gru(xs, h0=None)`` returns (outputs, h(T))."""

    cell_type = GRUCell
