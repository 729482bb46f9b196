"""Cells: one step of a recurrence each, ``cell.step(x, state) -> (output, state)``.

Every cell speaks the same small interface, which the loops (``RNN``, ``LSTM``, ``GRU``),
the mappings and ``bptt.truncated_bptt`` use and nothing else:

- ``input_size``, ``hidden_size``, ``dtype``;
- ``initial_state(batch, h0=None, who=...)``: zeros, or the given state checked;
- ``step(x, state)``: the output of the step and the new state (inputs already checked);
- ``detach(state)``: the state cut from the graph (for truncated BPTT).

Calling a cell, ``cell(x, state)``, checks the inputs and returns the new state as PyTorch's
cells do: h for ``RNNCell`` and ``GRUCell``, (h, c) for ``LSTMCell``, o for
``OutputRecurrentCell``.

Inputs are batch-major within a step (rows are examples), so every affine map is written with
row vectors, ``b + h(t-1) W + x(t) U``: U has shape (input, hidden), W (recurrent, hidden).
Parameter names are Goodfellow's (U input-to-hidden, W hidden-to-hidden, b, V, c) and, for a
gate, the same with the gate's letter: ``U_f, W_f, b_f`` for the forget gate. The gate math is
PyTorch's (``torch.nn.LSTMCell``, ``torch.nn.GRUCell``), so weights exchange exactly: PyTorch's
two biases of a gate add up to our one, except the GRU's b_h, which the reset gate multiplies.
Every gate is one fused node, ``sigmoid(b_f + h W_f + x U_f)``, so a step keeps few arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..autograd import _apply
from ..errors import ConfigError, ShapeError
from ..seeding import Seed, make_rng
from ..tensor import Tensor
from .module import Module, Parameter, _as_tensor, _check_size, _float_dtype, glorot_uniform, in_dtype, orthogonal

_NONLINEARITIES = {"tanh": ops.TanhAffine, "relu": ops.ReLUAffine}
_INITS = ("glorot", "orthogonal")


def _gate(bias: Tensor, h: Tensor, W: Tensor, x: Tensor, U: Tensor, op: type = ops.SigmoidAffine) -> Tensor:
    """op(bias + h W + x U) as one node (a gate, or a step of an Elman RNN)."""
    return _apply(op, bias, h, W, x, U)


class Cell(Module):
    """The interface every cell implements (see the module's docstring)."""

    input_size: int
    hidden_size: int
    _state_name = "h0"  # what the initial state is called (in diagrams and messages)
    _state_kind = "hidden"  # what its size is
    state_parts = 1  # tensors in the state: 2 for an LSTM's (h, c)

    @property
    def dtype(self) -> np.dtype:
        return self.U.dtype

    @property
    def state_size(self) -> int:
        """The size of the state carried from step to step (h; o for output recurrence)."""
        return self.hidden_size

    def initial_state(self, batch: int, h0: Any = None, who: str | None = None) -> Any:
        """The state before the first step: zeros, or ``h0`` checked against (batch, state size)."""
        if h0 is None:
            return self._zeros(batch, self.state_size, self._state_name)
        return self._checked_state(h0, batch, self.state_size, who or type(self).__name__, self._state_name)

    def step(self, x: Tensor, state: Any) -> tuple[Tensor, Any]:
        raise NotImplementedError

    @staticmethod
    def detach(state: Any) -> Any:
        """The state cut from the graph: its values, as new leaves."""
        return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()

    def _weights(
        self, suffix: str, input_size: int, recurrent_size: int, init: str, rng: np.random.Generator, dt: np.dtype
    ) -> None:
        """U, W (and b, zeros) of one affine map of the cell, named with ``suffix`` ("_f": U_f...).

        ``init="orthogonal"``: U Glorot-uniform, W random orthogonal; ``"glorot"``: U and W
        Glorot-uniform as one (input + recurrent, hidden) kernel (TensorFlow 1's cells)."""
        H = self.hidden_size
        if init == "glorot":
            fan_in = input_size + recurrent_size
            U = glorot_uniform((input_size, H), fan_in, H, rng, dt)
            W = glorot_uniform((recurrent_size, H), fan_in, H, rng, dt)
        else:
            U = glorot_uniform((input_size, H), input_size, H, rng, dt)
            W = orthogonal((recurrent_size, H), rng, dt)
        setattr(self, f"U{suffix}", Parameter(U, f"U{suffix}"))
        setattr(self, f"W{suffix}", Parameter(W, f"W{suffix}"))
        setattr(self, f"b{suffix}", Parameter(np.zeros(H, dtype=dt), f"b{suffix}"))

    def _check_step(self, x: Any, r: Any, size: int, what: str) -> tuple[Tensor, Tensor]:
        """x(t) and one recurrent input as tensors of this cell's sizes and dtype, one batch."""
        who = type(self).__name__
        x = _as_tensor(who, x, self.input_size, self.dtype, "x")
        r = _as_tensor(who, r, size, self.dtype, what)
        if x.shape[:-1] != r.shape[:-1]:
            raise ShapeError(f"{who}: x has shape {x.shape} and {what} {r.shape}; they need the same batch size.")
        return x, r

    def _zeros(self, batch: int, size: int, name: str) -> Tensor:
        return Tensor(np.zeros((batch, size), dtype=self.dtype), name=name)

    def _checked_state(self, given: Any, batch: int, size: int, who: str, what: str, name: str | None = None
                       ) -> Tensor:  # fmt: skip
        """One given state tensor checked against (batch, size) and the cell's dtype; data becomes a
        Tensor named ``name`` (default ``what``, the API's word the errors use)."""
        t = given if isinstance(given, Tensor) else Tensor(np.asarray(given, dtype=self.dtype), name=name or what)
        if t.shape != (batch, size):
            raise ShapeError(
                f"{who}: {what} has shape {t.shape}, expected (batch, {self._state_kind}) = ({batch}, {size})."
            )
        return in_dtype(who, t, self.dtype, what)


def _options(
    who: str, input_size: int, hidden_size: int, init: str, dtype: Any, seed: Seed, nonlinearity: str | None = None
) -> tuple:
    """Checked sizes and options; returns (dtype, rng)."""
    _check_size(who, input_size=input_size, hidden_size=hidden_size)
    if init not in _INITS:
        raise ConfigError(f"{who}: init must be one of {list(_INITS)}, got {init!r}")
    if nonlinearity is not None and nonlinearity not in _NONLINEARITIES:
        raise ConfigError(f"{who}: nonlinearity must be one of {sorted(_NONLINEARITIES)}, got {nonlinearity!r}")
    return _float_dtype(who, dtype), make_rng(seed, who)


class RNNCell(Cell):
    """One step of an Elman RNN: h(t) = tanh(b + h(t-1) W + x(t) U) (or relu), one fused node.

    ``cell(x, h)`` returns h(t); the state is h. Parameters U (input, hidden), W (hidden,
    hidden), b. ``init="orthogonal"`` (default): U Glorot-uniform, W random orthogonal;
    ``init="glorot"``: U and W Glorot-uniform as one kernel. Biases start at zero.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        nonlinearity: str = "tanh",
        dtype: Any = np.float64,
        seed: Seed = None,
        init: str = "orthogonal",
    ) -> None:
        dt, rng = _options(type(self).__name__, input_size, hidden_size, init, dtype, seed, nonlinearity)
        self.input_size, self.hidden_size, self.nonlinearity = input_size, hidden_size, nonlinearity
        self._weights("", input_size, hidden_size, init, rng, dt)

    def step(self, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        h_new = _gate(self.b, h, self.W, x, self.U, _NONLINEARITIES[self.nonlinearity])
        h_new.name = "h"
        return h_new, h_new

    def forward(self, x: Any, h: Any) -> Tensor:
        """One step from x(t) (batch, input) and h(t-1) (batch, hidden); arrays are accepted."""
        return self.step(*self._check_step(x, h, self.hidden_size, "h"))[1]


class OutputRecurrentCell(Cell):
    """One step of recurrence from the output (Goodfellow fig. 10.4): ``cell(x, o_prev)`` gives

        o(t) = c + h(t) V,   h(t) = tanh(b + o(t-1) W + x(t) U),   W of shape (output, hidden).

    The state is o: feed the model's own o(t-1) (closed loop) or the true y(t-1) (teacher
    forcing). Parameters U, W, b, V, c.
    """

    _state_name, _state_kind = "o0", "output"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        *,
        nonlinearity: str = "tanh",
        dtype: Any = np.float64,
        seed: Seed = None,
        init: str = "orthogonal",
    ) -> None:
        who = type(self).__name__
        _check_size(who, output_size=output_size)
        dt, rng = _options(who, input_size, hidden_size, init, dtype, seed, nonlinearity)
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, output_size
        self.nonlinearity = nonlinearity
        self._weights("", input_size, output_size, init, rng, dt)
        self.V = Parameter(glorot_uniform((hidden_size, output_size), hidden_size, output_size, rng, dt), "V")
        self.c = Parameter(np.zeros(output_size, dtype=dt), "c")

    def step(self, x: Tensor, o_prev: Tensor) -> tuple[Tensor, Tensor]:
        h = _gate(self.b, o_prev, self.W, x, self.U, _NONLINEARITIES[self.nonlinearity])
        h.name = "h"
        o = _apply(ops.Affine, self.c, h, self.V)  # o = c + h V, one node
        o.name = "o"
        return o, o

    def forward(self, x: Any, o_prev: Any) -> Tensor:
        return self.step(*self._check_step(x, o_prev, self.output_size, "o_prev"))[1]

    @property
    def state_size(self) -> int:
        return self.output_size


class LSTMCell(Cell):
    """One step of a long short-term memory (Hochreiter & Schmidhuber 1997; Goodfellow eq.
    10.40-10.44), with PyTorch's gate math:

        i = sigmoid(b_i + h W_i + x U_i)      input gate (Goodfellow's g)
        f = sigmoid(b_f + h W_f + x U_f)      forget gate
        g = tanh(b + h W + x U)               the candidate cell input
        o = sigmoid(b_o + h W_o + x U_o)      output gate (Goodfellow's q)
        s(t) = f s(t-1) + i g,                h(t) = o tanh(s(t))

    The state is PyTorch's pair (h, c), c the cell state; ``cell(x, (h, c))`` returns (h(t),
    c(t)), the step's output is h(t). The graph names the cell state s (s0 before the first
    step, given or not), Goodfellow's name: c is a mapping's output bias, and a diagram shows
    both.
    ``forget_bias`` starts b_f (default 1: remember by default, as Jozefowicz et al. 2015 and
    Keras advise; 0 is PyTorch's). Every U is Glorot-uniform, every W random orthogonal
    (``init="glorot"``: both Glorot-uniform), the other biases zero.
    """

    state_parts = 2

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        forget_bias: float = 1.0,
        dtype: Any = np.float64,
        seed: Seed = None,
        init: str = "orthogonal",
    ) -> None:
        who = type(self).__name__
        dt, rng = _options(who, input_size, hidden_size, init, dtype, seed)
        self.input_size, self.hidden_size = input_size, hidden_size
        for suffix in ("_i", "_f", "", "_o"):  # PyTorch's order of the gates: i, f, g, o
            self._weights(suffix, input_size, hidden_size, init, rng, dt)
        self.b_f.data[...] = forget_bias

    def step(self, x: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        h, c = state
        i = _gate(self.b_i, h, self.W_i, x, self.U_i)
        f = _gate(self.b_f, h, self.W_f, x, self.U_f)
        g = _gate(self.b, h, self.W, x, self.U, ops.TanhAffine)
        o = _gate(self.b_o, h, self.W_o, x, self.U_o)
        i.name, f.name, g.name, o.name = "i", "f", "g", "o_gate"
        c_new = f * c + i * g
        c_new.name = "s"
        h_new = o * c_new.tanh()
        h_new.name = "h"
        return h_new, (h_new, c_new)

    def forward(self, x: Any, state: Any) -> tuple[Tensor, Tensor]:
        h, c = self._pair(state, type(self).__name__, "pass cell(x, (h, c))")
        x, h = self._check_step(x, h, self.hidden_size, "h")
        c = self._checked_state(c, h.shape[0], self.hidden_size, type(self).__name__, "c", "s")
        return self.step(x, (h, c))[1]

    @staticmethod
    def _pair(state: Any, who: str, how: str) -> tuple[Any, Any]:
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise ShapeError(f"{who}: an LSTM's state is the pair (h, c); {how}, got {type(state).__name__}")
        return state[0], state[1]

    def initial_state(self, batch: int, h0: Any = None, who: str | None = None) -> tuple[Tensor, Tensor]:
        if h0 is None:
            return self._zeros(batch, self.hidden_size, "h0"), self._zeros(batch, self.hidden_size, "s0")
        who = who or type(self).__name__
        h, c = self._pair(h0, who, "pass h0=(h0, c0)")
        return (
            self._checked_state(h, batch, self.hidden_size, who, "h0"),
            self._checked_state(c, batch, self.hidden_size, who, "c0", "s0"),
        )


class GRUCell(Cell):
    """One step of a gated recurrent unit (Cho et al. 2014), with PyTorch's math:

        r = sigmoid(b_r + h W_r + x U_r)          reset gate
        z = sigmoid(b_z + h W_z + x U_z)          update gate
        n = tanh(b + x U + r (h W + b_h))         the candidate state
        h(t) = (1 - z) n + z h(t-1)

    (Goodfellow's eq. 10.45-10.46 apply the reset before W; PyTorch after, with its own bias
    b_h, PyTorch's b_hn.) The state and the output are h; ``cell(x, h)`` returns h(t).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        dtype: Any = np.float64,
        seed: Seed = None,
        init: str = "orthogonal",
    ) -> None:
        who = type(self).__name__
        dt, rng = _options(who, input_size, hidden_size, init, dtype, seed)
        self.input_size, self.hidden_size = input_size, hidden_size
        for suffix in ("_r", "_z", ""):  # PyTorch's order: r, z, n
            self._weights(suffix, input_size, hidden_size, init, rng, dt)
        self.b_h = Parameter(np.zeros(hidden_size, dtype=dt), "b_h")

    def step(self, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        r = _gate(self.b_r, h, self.W_r, x, self.U_r)
        z = _gate(self.b_z, h, self.W_z, x, self.U_z)
        r.name, z.name = "r", "z"
        hw = _apply(ops.Affine, self.b_h, h, self.W)  # h W + b_h, which the reset gate scales
        n = (_apply(ops.Affine, self.b, x, self.U) + r * hw).tanh()
        n.name = "n"
        h_new = n + z * (h - n)  # (1 - z) n + z h
        h_new.name = "h"
        return h_new, h_new

    def forward(self, x: Any, h: Any) -> Tensor:
        return self.step(*self._check_step(x, h, self.hidden_size, "h"))[1]
