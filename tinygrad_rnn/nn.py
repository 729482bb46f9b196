"""Recurrent networks as ordinary code on the engine.

Parameters are named as in Goodfellow et al., Deep Learning, ch. 10: U input-to-hidden,
W hidden-to-hidden, b hidden bias, V hidden-to-output, c output bias. Inputs are batch-major
within a step (rows are examples), so the update is written with row vectors,

    a(t) = b + h(t-1) W + x(t) U,    h(t) = tanh(a(t)),    o(t) = c + h(t) V,

the transpose of the book's column form; U has shape (input, hidden), W (hidden, hidden),
V (hidden, output). Each parameter is one tensor used at every step, so the recorded graph has
one node per parameter with an edge into every step, and ``backward`` sums over the steps.
Every tensor created while processing step t is tagged ``step == t``.

Initialisation (Keras's ``SimpleRNN`` + ``Dense`` defaults, which the row-MNIST reference used):
U Glorot-uniform in +-sqrt(6 / (input + hidden)); W a random orthogonal matrix (all singular
values 1, so h(t-1) W neither shrinks nor blows up the state at the start of training); V
Glorot-uniform in +-sqrt(6 / (hidden + output)); biases zero. ``init="glorot"`` gives
TensorFlow 1's ``BasicRNNCell`` instead: U and W Glorot-uniform as one (input + hidden, hidden)
kernel, i.e. uniform in +-sqrt(6 / (input + 2 hidden)).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from . import ops
from .errors import ConfigError, DTypeError, ShapeError
from .functional import ACTIVATED_AFFINE
from .seeding import Seed, make_rng
from .steps import step
from .tensor import Tensor, _apply


class Parameter(Tensor):
    """A leaf tensor that requires grad: what a Module registers as a parameter."""

    __slots__ = ()

    def __init__(self, data: Any, name: str | None = None, dtype: Any = None) -> None:
        super().__init__(data, requires_grad=True, name=name, dtype=dtype)


def glorot_uniform(
    shape: tuple[int, ...], fan_in: int, fan_out: int, rng: np.random.Generator, dtype: Any
) -> np.ndarray:
    """Uniform in +-sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010): keeps activations'
    and gradients' variance roughly constant from layer to layer."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def orthogonal(shape: tuple[int, int], rng: np.random.Generator, dtype: Any) -> np.ndarray:
    """A random matrix with orthonormal rows or columns, whichever are fewer (Saxe et al., 2014):
    the QR factor of a Gaussian matrix, with signs fixed so that it is uniformly distributed."""
    rows, cols = shape
    q, r = np.linalg.qr(rng.standard_normal((max(rows, cols), min(rows, cols))))
    q *= np.sign(np.diag(r))
    return (q if rows >= cols else q.T).astype(dtype)


def _check_size(who: str, **sizes: Any) -> None:
    for key, n in sizes.items():
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ConfigError(f"{who}: {key} must be a positive integer, got {n!r}")


def _float_dtype(who: str, dtype: Any) -> np.dtype:
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise DTypeError(f"{who}: dtype must be a floating-point type such as np.float32 or np.float64, got {dt}")
    return dt


def _as_tensor(who: str, x: Any, features: int, dtype: np.dtype, what: str) -> Tensor:
    """``x`` as a Tensor with ``features`` in its last axis; arrays and lists take ``dtype``."""
    if not isinstance(x, Tensor):
        data = np.asarray(x)
        if data.dtype.kind not in "iuf":
            raise DTypeError(f"{who}: {what} must be numeric, got dtype {data.dtype}.")
        x = Tensor(data.astype(dtype, copy=False))
    if x.data.ndim < 1 or x.shape[-1] != features:
        raise ShapeError(f"{who}: {what} has shape {x.shape}, expected (..., {features}).")
    return x


class Module:
    """Base class: parameters are the attributes holding leaf tensors with requires_grad,
    found in attribute order, including those of sub-modules (named ``sub.name``)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def named_parameters(self) -> Iterator[tuple[str, Tensor]]:
        """(name, parameter) pairs in attribute order; a tensor shared by two attributes once."""
        seen: set[int] = set()
        stack: list[tuple[str, Module]] = [("", self)]
        while stack:
            prefix, module = stack.pop()
            subs = []
            for key, value in vars(module).items():
                if isinstance(value, Tensor) and value.requires_grad and value.is_leaf:
                    if id(value) not in seen:
                        seen.add(id(value))
                        yield prefix + key, value
                elif isinstance(value, Module):
                    subs.append((f"{prefix}{key}.", value))
            stack.extend(reversed(subs))

    def parameters(self) -> Iterator[Tensor]:
        for _, p in self.named_parameters():
            yield p

    def zero_grad(self) -> None:
        """Reset every parameter's ``.grad`` to None."""
        for p in self.parameters():
            p.grad = None

    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of every parameter's values, by name."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Copy values into the parameters in place (their arrays and dtypes are kept).

        Every name must match and every shape agree; nothing is changed unless all do.
        """
        params = dict(self.named_parameters())
        missing, unexpected = sorted(set(params) - set(state)), sorted(set(state) - set(params))
        if missing or unexpected:
            raise ShapeError(
                f"{type(self).__name__}.load_state_dict: missing parameters {missing}, unexpected {unexpected}; "
                "the state must come from a module of the same kind and sizes."
            )
        for name, p in params.items():
            shape, dtype = np.shape(state[name]), np.asarray(state[name]).dtype
            if dtype.kind not in "biuf":
                raise DTypeError(
                    f"{type(self).__name__}.load_state_dict: parameter {name!r} is {p.dtype} but the state holds "
                    f"{dtype} values; pass real numbers."
                )
            if shape != p.shape:
                raise ShapeError(
                    f"{type(self).__name__}.load_state_dict: parameter {name!r} has shape {p.shape} but the "
                    f"state holds {shape}; build the module with the sizes the state was saved with."
                )
        for name, p in params.items():
            np.copyto(p.data, np.asarray(state[name]), casting="same_kind")

    def __repr__(self) -> str:
        params = ", ".join(f"{n}: {p.shape}" for n, p in self.named_parameters())
        return f"{type(self).__name__}({params})"


class Linear(Module):
    """o = c + h V: the output layer (V has shape (in_features, out_features), c zeros)."""

    def __init__(self, in_features: int, out_features: int, *, dtype: Any = np.float64, seed: Seed = None) -> None:
        _check_size("Linear", in_features=in_features, out_features=out_features)
        dt = _float_dtype("Linear", dtype)
        rng = make_rng(seed, "Linear")
        self.in_features, self.out_features = in_features, out_features
        self.V = Parameter(glorot_uniform((in_features, out_features), in_features, out_features, rng, dt), "V")
        self.c = Parameter(np.zeros(out_features, dtype=dt), "c")

    def forward(self, h: Any) -> Tensor:
        if not isinstance(h, Tensor) or h.shape[-1:] != (self.in_features,):
            h = _as_tensor(
                f"Linear({self.in_features}, {self.out_features})", h, self.in_features, self.V.dtype, "input"
            )
        o = _apply(ops.Affine, self.c, h, self.V)  # o = c + h V, one node
        o.name = "o"
        return o


_NONLINEARITIES = ("relu", "tanh")
_INITS = ("glorot", "orthogonal")


class RNNCell(Module):
    """One step of an Elman RNN: h(t) = tanh(b + h(t-1) W + x(t) U) (or relu).

    ``init="orthogonal"`` (default): U Glorot-uniform, W random orthogonal; ``init="glorot"``:
    U and W Glorot-uniform as one (input + recurrent, hidden) kernel. Biases start at zero.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        nonlinearity: str = "tanh",
        dtype: Any = np.float64,
        seed: Seed = None,
        recurrent_size: int | None = None,
        init: str = "orthogonal",
    ) -> None:
        who = type(self).__name__
        _check_size(who, input_size=input_size, hidden_size=hidden_size)
        if nonlinearity not in _NONLINEARITIES:
            raise ConfigError(f"{who}: nonlinearity must be one of {sorted(_NONLINEARITIES)}, got {nonlinearity!r}")
        if init not in _INITS:
            raise ConfigError(f"{who}: init must be one of {list(_INITS)}, got {init!r}")
        dt = _float_dtype(who, dtype)
        rng = make_rng(seed, who)
        rec = hidden_size if recurrent_size is None else recurrent_size
        self.input_size, self.hidden_size, self.nonlinearity = input_size, hidden_size, nonlinearity
        if init == "glorot":
            fan_in = input_size + rec
            self.U = Parameter(glorot_uniform((input_size, hidden_size), fan_in, hidden_size, rng, dt), "U")
            self.W = Parameter(glorot_uniform((rec, hidden_size), fan_in, hidden_size, rng, dt), "W")
        else:
            self.U = Parameter(glorot_uniform((input_size, hidden_size), input_size, hidden_size, rng, dt), "U")
            self.W = Parameter(orthogonal((rec, hidden_size), rng, dt), "W")
        self.b = Parameter(np.zeros(hidden_size, dtype=dt), "b")
        self._rng = rng

    @property
    def dtype(self) -> np.dtype:
        return self.U.dtype

    def cell(self, x: Tensor, h: Tensor) -> Tensor:
        """h(t) from x(t) and the recurrent input (h(t-1), or o(t-1) for output recurrence)."""
        # h(t) = tanh(b + h(t-1) W + x(t) U) as one fused node, so each step keeps one array
        h_new = _apply(ACTIVATED_AFFINE[self.nonlinearity], self.b, h, self.W, x, self.U)
        h_new.name = "h"
        return h_new

    def forward(self, x: Any, h: Any) -> Tensor:
        """One step from x(t) (batch, input) and h(t-1) (batch, recurrent); arrays are accepted."""
        return self.cell(*self._step_inputs(x, h, "h"))

    def _step_inputs(self, x: Any, r: Any, what: str) -> tuple[Tensor, Tensor]:
        """x(t) and the recurrent input as tensors of this cell's sizes and dtype, one batch."""
        who = type(self).__name__
        x = _as_tensor(who, x, self.input_size, self.dtype, "x")
        r = _as_tensor(who, r, self.W.shape[0], self.dtype, what)
        if x.shape[:-1] != r.shape[:-1]:
            raise ShapeError(f"{who}: x has shape {x.shape} and {what} {r.shape}; they need the same batch size.")
        return x, r

    def _state(self, batch: int, h0: Any, who: str) -> Tensor:
        """h(0): zeros, or the given state checked against (batch, recurrent size)."""
        size = self.W.shape[0]
        if h0 is None:
            return Tensor(np.zeros((batch, size), dtype=self.dtype), name="h0")
        h0 = h0 if isinstance(h0, Tensor) else Tensor(np.asarray(h0, dtype=self.dtype), name="h0")
        if h0.shape != (batch, size):
            raise ShapeError(f"{who}: h0 has shape {h0.shape}, expected (batch, hidden) = ({batch}, {size}).")
        if h0.dtype != self.dtype:
            raise DTypeError(
                f"{who}: h0 has dtype {h0.dtype} but the network is {self.dtype}; make h0 {self.dtype} "
                "(a mixed step would silently compute in the wider type)."
            )
        return h0

    def _inputs(self, xs: Any, who: str, size: int | None = None, name: str = "x") -> list[Tensor]:
        """The sequence as T per-step tensors (B, size) from a (T, B, size) array/Tensor or a list."""
        size = self.input_size if size is None else size
        if isinstance(xs, (list, tuple)):
            steps = [x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=self.dtype), name=name) for x in xs]
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
        if isinstance(xs, Tensor) and xs.requires_grad:
            out = []
            for t in range(data.shape[0]):
                with step(t):
                    out.append(xs[t])
            return out
        data = data.astype(self.dtype, copy=False)
        out = []
        for t in range(data.shape[0]):
            with step(t):
                out.append(Tensor(data[t], name=name))
        return out


class RNN(RNNCell):
    """An Elman RNN unrolled over a (T, B, I) input: returns (outputs, h_T).

    ``outputs`` is the list of the T hidden states h(1..T), each (B, H); ``h0`` defaults to zeros.
    The parameters are the attributes U, W, b.
    """

    def forward(self, xs: Any, h0: Any = None) -> tuple[list[Tensor], Tensor]:
        who = type(self).__name__
        inputs = self._inputs(xs, who)
        h = self._state(inputs[0].shape[0], h0, who)
        outputs = []
        for t, x in enumerate(inputs):
            with step(t):
                h = self.cell(x, h)
            outputs.append(h)
        return outputs, h


class _WithOutput(RNN):
    """An RNN with an output layer o(t) = c + h(t) V (parameters U, W, b, V, c)."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int, **kwargs: Any) -> None:
        _check_size(type(self).__name__, output_size=output_size)
        super().__init__(input_size, hidden_size, **kwargs)
        self.output_size = output_size
        self.V = Parameter(
            glorot_uniform((hidden_size, output_size), hidden_size, output_size, self._rng, self.dtype), "V"
        )
        self.c = Parameter(np.zeros(output_size, dtype=self.dtype), "c")

    def output(self, h: Tensor) -> Tensor:
        o = _apply(ops.Affine, self.c, h, self.V)  # o = c + h V, one node
        o.name = "o"
        return o


class SeqToSeq(_WithOutput):
    """Synced sequence to sequence: o(t) at every step; returns the list of T outputs (B, O)."""

    def forward(self, xs: Any, h0: Any = None) -> list[Tensor]:
        hs, _ = super().forward(xs, h0)
        outputs = []
        for t, h in enumerate(hs):
            with step(t):
                outputs.append(self.output(h))
        return outputs


class SeqToVec(_WithOutput):
    """Sequence to vector: reads the whole sequence, one output o = c + h(T) V of shape (B, O)."""

    def forward(self, xs: Any, h0: Any = None) -> Tensor:
        hs, h_T = super().forward(xs, h0)
        with step(len(hs) - 1):
            return self.output(h_T)


class VecToSeq(_WithOutput):
    """Vector to sequence: one input x (B, I) drives S steps of output (e.g. image captioning).

    ``feed="every"`` gives x as the input at every step (Goodfellow fig. 10.9); ``"first"``
    gives it at step 0 and zeros after.
    """

    def __init__(
        self, input_size: int, hidden_size: int, output_size: int, *, steps: int, feed: str = "every", **kwargs: Any
    ) -> None:
        super().__init__(input_size, hidden_size, output_size, **kwargs)
        _check_size("VecToSeq", steps=steps)
        if feed not in ("every", "first"):
            raise ConfigError(f"VecToSeq: feed must be 'every' or 'first', got {feed!r}")
        self.steps, self.feed = steps, feed

    def forward(self, x: Any, h0: Any = None, steps: int | None = None) -> list[Tensor]:
        S = self.steps if steps is None else steps
        _check_size("VecToSeq", steps=S)
        data = x.data if isinstance(x, Tensor) else np.asarray(x)
        if data.ndim != 2 or data.shape[1] != self.input_size:
            raise ShapeError(
                f"VecToSeq: expected one input vector per example, shape (batch, {self.input_size}), got {data.shape}."
            )
        x = x if isinstance(x, Tensor) else Tensor(data.astype(self.dtype, copy=False), name="x")
        zeros = Tensor(np.zeros(x.shape, dtype=self.dtype), name="x")
        h = self._state(x.shape[0], h0, "VecToSeq")
        outputs = []
        for t in range(S):
            with step(t):
                h = self.cell(x if (t == 0 or self.feed == "every") else zeros, h)
                outputs.append(self.output(h))
        return outputs


def _check_targets(who: str, targets: Any, batch: int, size: int, dtype: np.dtype) -> list[Tensor]:
    data = targets.data if isinstance(targets, Tensor) else np.asarray(targets)
    if data.ndim != 3 or data.shape[1:] != (batch, size) or data.shape[0] == 0:
        raise ShapeError(
            f"{who}: targets must have shape (time, batch, output) = (S, {batch}, {size}), got {data.shape}."
        )
    data = data.astype(dtype, copy=False)
    return [Tensor(data[s], name="y") for s in range(data.shape[0])]


class OutputRecurrentCell(_WithOutput):
    """One step of recurrence from the output (Goodfellow fig. 10.4): ``cell(x, o_prev)`` gives

        o(t) = c + h(t) V,   h(t) = tanh(b + o(t-1) W + x(t) U),   W of shape (output, hidden).

    Feed it the model's own o(t-1) (closed loop) or the true y(t-1) (teacher forcing).
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int, **kwargs: Any) -> None:
        super().__init__(input_size, hidden_size, output_size, recurrent_size=output_size, **kwargs)

    def forward(self, x: Any, o_prev: Any) -> Tensor:  # type: ignore[override]
        return self.output(self.cell(*self._step_inputs(x, o_prev, "o_prev")))


class OutputRecurrentRNN(OutputRecurrentCell):
    """``OutputRecurrentCell`` unrolled over a (T, B, I) input; returns the T outputs o(t).

    With ``teacher_forcing=True`` the true y(t-1) is fed instead of o(t-1) (so, given the
    targets, the steps decouple and can be trained in parallel); closed loop feeds the model's
    own previous output. The recurrent input before the first step is zeros.
    """

    def forward(self, xs: Any, targets: Any = None, teacher_forcing: bool = False) -> list[Tensor]:
        inputs = self._inputs(xs, "OutputRecurrentRNN")
        B = inputs[0].shape[0]
        ys = None
        if teacher_forcing:
            if targets is None:
                raise ConfigError("OutputRecurrentRNN: teacher_forcing=True needs targets= the true outputs y(t)")
            ys = _check_targets("OutputRecurrentRNN", targets, B, self.output_size, self.dtype)
            if len(ys) != len(inputs):
                raise ShapeError(f"OutputRecurrentRNN: {len(inputs)} input steps but {len(ys)} target steps.")
        prev = Tensor(np.zeros((B, self.output_size), dtype=self.dtype), name="o0")
        outputs = []
        for t, x in enumerate(inputs):
            with step(t):
                o = self.output(self.cell(x, prev))
            outputs.append(o)
            prev = ys[t] if ys is not None else o
        return outputs


class EncoderDecoder(Module):
    """Sequence to sequence of another length: an encoder RNN (U, W, b) reads x; its last
    state starts a decoder RNN (U, W, b, V, c) whose input at each step is the previous output.

    ``m(x, targets=y)`` teacher-forces the decoder with y(s-1) and returns one output per target
    step; ``m(x, steps=S)`` generates S steps closed-loop from the decoder's own outputs (passed
    through ``feedback`` first if given, e.g. a softmax). The first decoder input is zeros.
    Decoder steps are tagged after the encoder's: T, T+1, ...
    """

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
        _check_size("EncoderDecoder", input_size=input_size, hidden_size=hidden_size, output_size=output_size)
        rng = make_rng(seed, "EncoderDecoder")
        common = {"nonlinearity": nonlinearity, "dtype": dtype, "seed": rng, "init": init}
        self.encoder = RNN(input_size, hidden_size, **common)
        self.decoder = _WithOutput(output_size, hidden_size, output_size, **common)
        for name, p in self.named_parameters():
            p.name = name

    def forward(
        self, xs: Any, targets: Any = None, steps: int | None = None, feedback: Callable[[Tensor], Tensor] | None = None
    ) -> list[Tensor]:
        if (targets is None) == (steps is None):
            raise ConfigError("EncoderDecoder: pass exactly one of targets= (teacher forcing) or steps= (generation)")
        hs, h = self.encoder(xs)
        T, B, dec = len(hs), hs[0].shape[0], self.decoder
        ys = None
        if targets is not None:
            ys = _check_targets("EncoderDecoder", targets, B, dec.output_size, dec.dtype)
            steps = len(ys)
        _check_size("EncoderDecoder", steps=steps)
        prev = Tensor(np.zeros((B, dec.output_size), dtype=dec.dtype), name="go")
        outputs = []
        for s in range(steps):
            with step(T + s):
                h = dec.cell(prev, h)
                o = dec.output(h)
                outputs.append(o)
                prev = ys[s] if ys is not None else (o if feedback is None else feedback(o))
        return outputs


__all__ = [
    "EncoderDecoder",
    "Linear",
    "Module",
    "OutputRecurrentCell",
    "OutputRecurrentRNN",
    "Parameter",
    "RNN",
    "RNNCell",
    "SeqToSeq",
    "SeqToVec",
    "VecToSeq",
    "glorot_uniform",
    "orthogonal",
]
