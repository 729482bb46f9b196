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
from ..functional import sequence_lengths
from ..modes import step
from ..seeding import make_rng
from ..tensor import Tensor
from .cells import Cell, GRUCell, LSTMCell, RNNCell
from .module import Module, _check_size, built_by, in_dtype


def _carry(running: np.ndarray, new: Any, old: Any) -> Any:
    """The state after a step: ``new`` for the sequences still running, ``old`` for the others."""
    if isinstance(new, tuple):
        return tuple(_carry(running, n, o) for n, o in zip(new, old, strict=True))
    carried = Tensor.where(running, new, old)
    carried.name = new.name  # the state h(t); the cell's own result is drawn as its op
    if new is not old:  # (a state the cell hands back unchanged, the user's h0 say, keeps its name)
        new.name = None
    return carried


def masked_step(
    cell: Cell, x: Tensor, state: Any, t: int, ends: np.ndarray | None, suffix: str = ""
) -> tuple[Tensor, Any]:
    """Step t of ``cell``; with ``ends`` (each sequence's length), a sequence that has ended keeps
    its state and outputs zeros, which no gradient flows into. ``suffix`` (a stacked network's
    layer and direction, e.g. "_l1_reverse") goes at the end of every name the step gives.

    With ``ends``, the carried state where(running, new, old) is the step's state h(t), and the
    output is where(running, h(t), 0) (h_out): h(t)'s gradient is then the whole of ∂L/∂h(t),
    from the step's output and from the steps after, as without padding. Every step of a padded
    batch blends, also those where every sequence still runs (where(True, new, old) is new, its
    gradient too), so that the steps record the same ops and the rolled view folds each into
    one node. A cell's output is its state, or its state's first part (an LSTM's h)."""
    out, new = cell.step(x, state)
    _renamed(new, suffix)
    _renamed(out, suffix)
    if ends is None:
        return out, new
    running = (ends > t)[:, None]
    name = out.name
    carried = _carry(running, new, state)
    zeroed = Tensor.where(running, carried[0] if isinstance(carried, tuple) else carried, 0.0)
    zeroed.name = f"{name[: len(name) - len(suffix)]}_out{suffix}"  # h_out, h_out_l1, o_out
    return zeroed, carried


def sequence(xs: Any, size: int, dtype: np.dtype, who: str, name: str = "x") -> list[Tensor]:
    """The sequence as T per-step tensors (B, size) from a (T, B, size) array or Tensor, or a
    list of (B, size) steps, in ``dtype`` (the modules' dtype rule: ``module.in_dtype``). Step
    t's tensor is tagged t."""
    if isinstance(xs, (list, tuple)):
        steps = []
        for t, x in enumerate(xs):  # a Tensor keeps its own tag; data becomes step t's tensor
            if isinstance(x, Tensor):
                steps.append(in_dtype(who, x, dtype, name))
                continue
            data = np.asarray(x)
            if data.dtype.kind not in "iuf":
                raise DTypeError(f"{who}: step {t} of the input must be numeric, got dtype {data.dtype}.")
            leaf = Tensor(data.astype(dtype), name=name)
            leaf.step = t  # the tag a step block would give, without the block: a leaf records nothing
            steps.append(leaf)
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
        leaf = Tensor(data[t], name=name)
        leaf.step = t
        out.append(leaf)
    return out


def cell_attribute(layer: int, reverse: bool) -> str:
    """The attribute holding a layer's cell for one direction: cell, cell_reverse, cell_l1, ..."""
    return "cell" + layer_suffix(layer, reverse)


def layer_suffix(layer: int, reverse: bool) -> str:
    """What the names of a stacked network's tensors and parameters end with, as PyTorch's
    (weight_hh_l1_reverse): "" for layer 0 forward, "_reverse", "_l1", "_l1_reverse", ..."""
    return (f"_l{layer}" if layer else "") + ("_reverse" if reverse else "")


def _renamed(state: Any, suffix: str) -> None:
    """Give a stacked network's states (a tensor or a tuple: a state, a cell's parameters) names
    that say their layer and direction (h_l1_reverse); an unnamed one keeps none."""
    for t in (state if isinstance(state, tuple) else (state,)) if suffix else ():
        if t.name and not t.name.endswith(suffix):
            t.name += suffix


class RNN(Module):
    """A cell unrolled over a (T, B, I) input: ``rnn(xs, h0=None, lengths=None)`` returns
    (outputs, state).

    ``RNN(input_size, hidden_size, nonlinearity=..., init=..., dtype=..., seed=...)`` makes an
    Elman RNN (``RNNCell``); ``RNN(cell)`` unrolls the given cell. ``h0`` defaults to zeros.

    ``num_layers=L`` stacks L loops (each layer reads the outputs of the one below) and
    ``bidirectional=True`` adds, in every layer, a cell that reads the sequence backwards; a
    step's output is then the forward and backward outputs side by side (B, 2H), as PyTorch's,
    named after both ("[h, h_reverse]").
    Such a network's state, ``h0`` as well as the final one, is PyTorch's stack (L x directions,
    B, H), ordered layer 0 forward, layer 0 backward, layer 1 forward, ...; a single forward layer
    keeps the plain (B, H). The cells are ``cell`` (layer 0, forward), ``cell_reverse``,
    ``cell_l1``, ...; their tensors are named h_l1, h_reverse, ... (s_l1 ... for an LSTM's cell state), and
    their parameters W_l1, W_reverse, ... (the names diagrams print).
    """

    cell_type: type[Cell] = RNNCell
    _delegates = ("cell",)

    def __init__(
        self,
        input_size: int | Cell,
        hidden_size: int | None = None,
        *,
        num_layers: int = 1,
        bidirectional: bool = False,
        **options: Any,
    ) -> None:
        who = type(self).__name__
        _check_size(who, num_layers=num_layers)
        if not isinstance(bidirectional, (bool, np.bool_)):
            raise ConfigError(f"{who}: bidirectional must be True or False, got {bidirectional!r}")
        self.num_layers, self.bidirectional = int(num_layers), bool(bidirectional)
        if isinstance(input_size, Cell):
            if hidden_size is not None or options or num_layers != 1 or bidirectional:
                raise ConfigError(
                    f"{who}: a cell brings its own sizes and options; pass {who}(cell) alone, or {who}(input_size, "
                    "hidden_size, ...) to build one (num_layers and bidirectional need sizes)"
                )
            self.cell = input_size
            return
        rng = make_rng(options.pop("seed", None), who)  # one stream for every cell, in PyTorch's order
        directions = 2 if self.bidirectional else 1
        for layer in range(self.num_layers):
            size = input_size if layer == 0 else hidden_size * directions
            for reverse in range(directions):
                cell = built_by(who, lambda size=size: self.cell_type(size, hidden_size, seed=rng, **options))
                setattr(self, cell_attribute(layer, bool(reverse)), cell)
                # W_l1_reverse: diagrams tell the cells' weights apart
                _renamed(tuple(p for _, p in cell.named_parameters()), layer_suffix(layer, bool(reverse)))

    @property
    def stacked(self) -> bool:
        """Whether the state is PyTorch's stack (layers x directions, B, H)."""
        return self.num_layers > 1 or self.bidirectional

    def cells(self) -> list[tuple[int, bool, Cell]]:
        """(layer, reverse, cell) for every cell, in PyTorch's order: layer 0 forward, layer 0
        backward, layer 1 forward, ..."""
        return [
            (layer, bool(r), getattr(self, cell_attribute(layer, bool(r))))
            for layer in range(self.num_layers)
            for r in range(2 if self.bidirectional else 1)
        ]

    def _initial(self, batch: int, h0: Any, who: str) -> list[Any]:
        """One initial state per (layer, direction), in PyTorch's order."""
        cells = [cell for _, _, cell in self.cells()]
        n = len(cells)
        if self.cell.state_parts == 1 and isinstance(h0, tuple):  # an LSTM's (h0, c0) given to an RNN or GRU
            shape = (n, batch, self.cell.hidden_size) if self.stacked else (batch, self.cell.hidden_size)
            raise ShapeError(
                f"{who}: h0 is a tuple of {len(h0)}, but a {type(self.cell).__name__}'s state is one tensor h (an "
                f"LSTM's is the pair (h, c)): give h0 alone, of shape {shape}."
            )
        if not self.stacked:
            return [self.cell.initial_state(batch, h0, who)]
        if h0 is None:
            return [cell.initial_state(batch, None, who) for cell in cells]
        parts = tuple(h0) if self.cell.state_parts > 1 and isinstance(h0, (tuple, list)) else (h0,)
        H = self.cell.hidden_size
        for part in parts:
            shape = np.shape(part.data if isinstance(part, Tensor) else part)
            if shape != (n, batch, H):
                raise ShapeError(
                    f"{who}: with num_layers={self.num_layers} and bidirectional={self.bidirectional}, h0 is a stack "
                    f"(layers x directions, batch, hidden) = ({n}, {batch}, {H}), got shape {shape}."
                )
        pieces = [[p[k] if isinstance(p, Tensor) else np.asarray(p)[k] for p in parts] for k in range(n)]
        return [cell.initial_state(batch, tuple(pc) if len(pc) > 1 else pc[0], who)
                for cell, pc in zip(cells, pieces, strict=True)]  # fmt: skip

    def _named(self, states: list[Any]) -> list[Any]:
        """A stacked network's initial states named with their layer and direction, as its other
        states are (h0_l1, s0_reverse): the ones made here (zeros, or arrays given), not a
        Tensor the user passed."""
        if self.stacked:
            directions = 2 if self.bidirectional else 1
            for k, state in enumerate(states):
                mine = tuple(t for t in (state if isinstance(state, tuple) else (state,)) if t.name in ("h0", "s0"))
                _renamed(mine, layer_suffix(k // directions, bool(k % directions)))
        return states

    def forward(self, xs: Any, h0: Any = None, lengths: Any = None, mask: Any = None) -> tuple[list[Tensor], Any]:
        """Run the cells over ``xs``. With ``lengths`` (one per sequence, 1..T), sequence b stops at
        step lengths[b]: its state is carried unchanged after that (a backward direction starts at
        the sequence's own end), its outputs there are zeros (no gradient flows into them), and
        the final state is its own last state. ``mask`` (T, B), True at the real steps, is the
        other way to say it."""
        who = type(self).__name__
        first = self.cell
        inputs = sequence(xs, first.input_size, first.dtype, who)
        T, B = len(inputs), inputs[0].shape[0]
        ends = sequence_lengths(who, lengths, mask, T, B)
        states = self._named(self._initial(B, h0, who))
        directions = 2 if self.bidirectional else 1
        finals = []
        for layer in range(self.num_layers):
            runs = []
            for reverse in range(directions):
                cell = getattr(self, cell_attribute(layer, bool(reverse)))
                suffix = layer_suffix(layer, bool(reverse))
                state = states[layer * directions + reverse]
                outs: list[Any] = [None] * T
                for t in reversed(range(T)) if reverse else range(T):
                    with step(t):
                        out, state = masked_step(cell, inputs[t], state, t, ends, suffix)
                    outs[t] = out
                runs.append(outs)
                finals.append(state)
            if directions == 1:
                inputs = runs[0]
            else:
                inputs = []
                for t in range(T):
                    with step(t):
                        both = Tensor.concat([runs[0][t], runs[1][t]], axis=-1)
                        both.name = f"[{runs[0][t].name}, {runs[1][t].name}]"  # [h, h_reverse]: not h's own name
                    inputs.append(both)
        if not self.stacked:
            return inputs, finals[0]
        if isinstance(finals[0], tuple):
            return inputs, tuple(Tensor.stack([f[i] for f in finals]) for i in range(len(finals[0])))
        return inputs, Tensor.stack(finals)


class LSTM(RNN):
    """An LSTM unrolled over a (T, B, I) input: ``lstm(xs, (h0, c0)=None)`` returns (outputs,
    (h(T), c(T))), the outputs h(1..T). ``LSTM(input_size, hidden_size, forget_bias=1.0, ...)``."""

    cell_type = LSTMCell


class GRU(RNN):
    """A GRU unrolled over a (T, B, I) input: ``gru(xs, h0=None)`` returns (outputs, h(T))."""

    cell_type = GRUCell
