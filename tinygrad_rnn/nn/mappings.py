"""The sequence mappings of Goodfellow ch. 10, each a recurrent loop plus an output layer.

- ``SeqToSeq``: o(t) = c + h(t) V at every step (synced sequence to sequence);
- ``SeqToVec``: one output from the last state h(T);
- ``VecToSeq``: one input vector drives S steps of output;
- ``OutputRecurrentRNN``: the recurrence runs through the output o(t-1) (fig. 10.4);
- ``EncoderDecoder``: an encoder's last state starts a decoder fed its previous output.

Each holds its loop as ``rnn`` (an ``RNN``, ``LSTM`` or ``GRU``: ``cell="rnn" | "lstm" |
"gru"``) and its output layer as ``head`` (a ``Linear``); their parameters are reached through
the mapping too (``model.W`` is ``model.rnn.cell.W``, ``model.V`` is ``model.head.V``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ConfigError, DTypeError, ShapeError
from ..functional import sequence_lengths
from ..modes import step
from ..seeding import Seed, make_rng
from ..tensor import Tensor
from .cells import OutputRecurrentCell
from .module import Linear, Module, _check_size, built_by, in_dtype, told_by
from .recurrent import GRU, LSTM, RNN, masked_step, sequence

LOOPS: dict[str, type[RNN]] = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


def _loop(who: str, cell: str, input_size: int, hidden_size: int, options: dict[str, Any]) -> RNN:
    if cell not in LOOPS:
        raise ConfigError(f"{who}: cell must be one of {list(LOOPS)}, got {cell!r}")
    for option, single in (("num_layers", 1), ("bidirectional", False)):
        if options.get(option, single) != single:
            raise ConfigError(
                f"{who}: the mappings read one forward layer; {option}={options[option]!r} is for the loops: build "
                f"nn.{LOOPS[cell].__name__}(..., {option}=...) and a Linear head yourself"
            )
    return built_by(who, lambda: LOOPS[cell](input_size, hidden_size, **options))


class _Mapping(Module):
    """A loop (``rnn``) and an output layer (``head``) made from one seed, in that order."""

    _delegates = ("rnn", "head")

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        *,
        cell: str = "rnn",
        dtype: Any = np.float64,
        seed: Seed = None,
        **options: Any,
    ) -> None:
        who = type(self).__name__
        _check_size(who, input_size=input_size, hidden_size=hidden_size, output_size=output_size)
        rng = make_rng(seed, who)
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, output_size
        self.rnn = _loop(who, cell, input_size, hidden_size, {"dtype": dtype, "seed": rng, **options})
        self.head = Linear(hidden_size, output_size, dtype=dtype, seed=rng)


class SeqToSeq(_Mapping):
    """Synced sequence to sequence: o(t) at every step; returns the list of T outputs (B, O).
    With ``lengths`` (or ``mask``), the outputs past a sequence's end are zeros (pass the same
    ``lengths`` to ``sequence_loss`` to leave them out of the cost)."""

    def forward(self, xs: Any, h0: Any = None, lengths: Any = None, mask: Any = None) -> list[Tensor]:
        hs, _ = told_by(type(self).__name__, lambda: self.rnn(xs, h0, lengths, mask))
        ends = sequence_lengths(type(self).__name__, lengths, mask, len(hs), hs[0].shape[0])
        return _heads(self.head, hs, ends)


def _heads(head: Linear, hs: list[Tensor], ends: np.ndarray | None) -> list[Tensor]:
    """o(t) = head(h(t)) at every step, zeros past each sequence's end (with ``ends``)."""
    outputs = []
    for t, h in enumerate(hs):
        with step(t):
            o = head(h)
            if ends is not None:  # at every step, as the loops' blends: one node per role when rolled
                o = Tensor.where((ends > t)[:, None], o, 0.0)
                o.name = "o"
            outputs.append(o)
    return outputs


class SeqToVec(_Mapping):
    """Sequence to vector: reads the whole sequence, one output o = c + h(T) V of shape (B, O);
    with ``lengths`` (or ``mask``), from each sequence's own last state."""

    def forward(self, xs: Any, h0: Any = None, lengths: Any = None, mask: Any = None) -> Tensor:
        hs, state = told_by(type(self).__name__, lambda: self.rnn(xs, h0, lengths, mask))
        h_T = state[0] if isinstance(state, tuple) else state
        with step(len(hs) - 1):
            return self.head(h_T)


class VecToSeq(_Mapping):
    """Vector to sequence: one input x (B, I) drives S steps of output (e.g. image captioning).

    ``feed="every"`` gives x as the input at every step (Goodfellow fig. 10.9); ``"first"``
    gives it at step 0 and zeros after. With ``lengths`` (one per example, 1..S; or ``mask``
    (S, B)), example b's sequence ends after lengths[b] steps: its outputs after that are zeros
    that no gradient flows into (pass the same ``lengths`` to ``sequence_loss``).
    """

    def __init__(
        self, input_size: int, hidden_size: int, output_size: int, *, steps: int, feed: str = "every", **options: Any
    ) -> None:
        super().__init__(input_size, hidden_size, output_size, **options)
        _check_size("VecToSeq", steps=steps)
        if feed not in ("every", "first"):
            raise ConfigError(f"VecToSeq: feed must be 'every' or 'first', got {feed!r}")
        self.steps, self.feed = steps, feed

    def forward(
        self, x: Any, h0: Any = None, steps: int | None = None, lengths: Any = None, mask: Any = None
    ) -> list[Tensor]:
        S = self.steps if steps is None else steps
        _check_size("VecToSeq", steps=S)
        cell = self.rnn.cell
        data = x.data if isinstance(x, Tensor) else np.asarray(x)
        if data.ndim != 2 or data.shape[1] != self.input_size:
            raise ShapeError(
                f"VecToSeq: expected one input vector per example, shape (batch, {self.input_size}), got {data.shape}."
            )
        if isinstance(x, Tensor):
            x = in_dtype("VecToSeq", x, cell.dtype, "x")
        else:
            x = Tensor(data.astype(cell.dtype), name="x")
        zeros = Tensor(np.zeros(x.shape, dtype=cell.dtype), name="x")
        ends = sequence_lengths("VecToSeq", lengths, mask, S, x.shape[0], steps_of="it makes")
        state = cell.initial_state(x.shape[0], h0, "VecToSeq")
        hs = []
        for t in range(S):
            with step(t):
                h, state = masked_step(cell, x if (t == 0 or self.feed == "every") else zeros, state, t, ends)
                hs.append(h)
        return _heads(self.head, hs, ends)


def _check_targets(
    who: str, targets: Any, batch: int, size: int, dtype: np.dtype, classes: bool = False, first: int = 0
) -> list[Tensor]:
    """The teacher-forcing inputs y(s): for real outputs, (S, batch, output) values as given, or a
    list of S (batch, output) steps (a Tensor in the module's dtype, ``in_dtype``'s rule; Tensors
    that require grad stay in the graph, so y gets the gradient of what it was fed into: a slice
    y(s) of one is made in the step that reads it, ``first + s``); for class outputs
    (``classes=True``), (S, batch) integer labels, fed back one-hot."""
    if isinstance(targets, (list, tuple)) and not classes and any(isinstance(y, Tensor) for y in targets):
        ys = [in_dtype(who, y, dtype, "targets") if isinstance(y, Tensor) else Tensor(np.asarray(y), name="y")
              for y in targets]  # fmt: skip
        ys = [y if y.dtype == dtype else Tensor(y.data.astype(dtype), name=y.name) for y in ys]
        if not ys or any(y.shape != (batch, size) for y in ys):
            raise ShapeError(
                f"{who}: targets given as a list need one (batch, output) = ({batch}, {size}) step each, got shapes "
                f"{[y.shape for y in ys][:5]}."
            )
        return ys
    data = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
    if classes:
        if data.ndim != 2 or data.shape[1] != batch or data.shape[0] == 0 or data.dtype.kind not in "iu":
            raise ShapeError(
                f"{who}: with classes=True, targets are integer labels of shape (time, batch) = (S, {batch}), got "
                f"{data.dtype} of shape {data.shape}."
            )
        if ((data < 0) | (data >= size)).any():
            bad = data[(data < 0) | (data >= size)][0]
            raise ConfigError(f"{who}: target label {int(bad)} is out of range for {size} classes (0 to {size - 1}).")
        data = np.eye(size, dtype=dtype)[data]
    elif data.dtype.kind in "iu" and data.ndim == 2:
        raise ShapeError(
            f"{who}: targets of shape {data.shape} look like class labels; build the network with classes=True "
            "(its outputs are then class scores, and labels are fed back one-hot), or pass (time, batch, output) "
            "values."
        )
    if data.ndim != 3 or data.shape[1:] != (batch, size) or data.shape[0] == 0:
        raise ShapeError(
            f"{who}: targets must have shape (time, batch, output) = (S, {batch}, {size}), got {data.shape}."
        )
    if isinstance(targets, Tensor) and not classes:
        targets = in_dtype(who, targets, dtype, "targets")
        if targets.requires_grad:
            ys = []
            for s in range(data.shape[0]):
                with step(first + s):
                    y = targets[s]
                y.name = "y"
                ys.append(y)
            return ys
    data = data.astype(dtype, copy=False)
    return [Tensor(data[s], name="y") for s in range(data.shape[0])]


def _fed_back(o: Tensor, classes: bool, feedback: Callable[[Tensor], Tensor] | None, who: str, t: int) -> Tensor:
    """What a closed loop feeds back of its output ``o`` at step ``t``: ``feedback(o)`` if given (o's
    shape: it is the next step's input; data, such as a sampled one-hot, is converted to o's dtype
    and a Tensor of another float dtype refused, the modules' dtype rule); else, for class scores,
    the one-hot of the best class (greedy decoding, no gradient through the choice), for real
    values, o itself."""
    if feedback is not None:
        fed = feedback(o)
        if not isinstance(fed, Tensor) or fed.dtype.kind != "f":  # data (an argmax's one-hot): converted
            data = np.asarray(fed.data if isinstance(fed, Tensor) else fed)
            if data.dtype.kind not in "biuf":
                raise DTypeError(
                    f"{who}: feedback(o) at step {t} gave {type(fed).__name__} of dtype {data.dtype}; it is the next "
                    "step's input: give numbers, a Tensor built from o (e.g. F.softmax(o)) or an array."
                )
            fed = Tensor(data.astype(o.dtype), name="y_hat")
        elif fed.dtype != o.dtype:  # the modules' dtype rule: a Tensor of another float dtype is refused
            raise DTypeError(
                f"{who}: feedback(o) at step {t} gave a Tensor of dtype {fed.dtype}, but the module computes in "
                f"{o.dtype}; it is the next step's input: build it from o with Tensor ops (e.g. F.softmax(o)), "
                "or give data."
            )
        if fed.shape != o.shape:
            raise ShapeError(
                f"{who}: feedback(o) at step {t} gave shape {fed.shape}; it is the next step's input, so it must have "
                f"o's shape {o.shape} (batch, output)."
            )
        return fed
    if classes:
        return Tensor(np.eye(o.shape[-1], dtype=o.dtype)[o.data.argmax(axis=-1)], name="y_hat")
    return o


class OutputRecurrentRNN(Module):
    """``OutputRecurrentCell`` unrolled over a (T, B, I) input; returns the T outputs o(t).

    ``m(xs, targets=y)`` teacher-forces it: the true y(t-1) is fed instead of o(t-1) (so, given
    the targets, the steps decouple and can be trained in parallel); ``m(xs)`` runs closed loop,
    feeding the model's own previous output, as ``EncoderDecoder`` does: ``targets=`` means
    teacher forcing wherever it is taken. ``h0`` is the recurrent input before the first step,
    o(0) (zeros by default). ``classes=True`` makes the outputs class scores: targets are then
    integer labels (time, batch), fed back one-hot, and the closed loop feeds back the one-hot of
    its best class (``feedback=`` replaces that, e.g. with a softmax).
    """

    _delegates = ("cell",)

    def __init__(
        self, input_size: int, hidden_size: int, output_size: int, *, classes: bool = False, **options: Any
    ) -> None:
        self.cell = built_by(
            "OutputRecurrentRNN", lambda: OutputRecurrentCell(input_size, hidden_size, output_size, **options)
        )  # (a cell takes no num_layers: an unexpected option is refused by name)
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, output_size
        self.classes = bool(classes)

    def forward(
        self, xs: Any, targets: Any = None, h0: Any = None, feedback: Callable[[Tensor], Tensor] | None = None
    ) -> list[Tensor]:
        cell = self.cell
        inputs = sequence(xs, cell.input_size, cell.dtype, "OutputRecurrentRNN")
        B = inputs[0].shape[0]
        ys = None
        if targets is not None:
            ys = _check_targets("OutputRecurrentRNN", targets, B, self.output_size, cell.dtype, self.classes, first=1)
            if len(ys) != len(inputs):
                raise ShapeError(f"OutputRecurrentRNN: {len(inputs)} input steps but {len(ys)} target steps.")
        prev = cell.initial_state(B, h0, "OutputRecurrentRNN")
        outputs = []
        for t, x in enumerate(inputs):
            with step(t):
                o, _ = cell.step(x, prev)
            outputs.append(o)
            prev = ys[t] if ys is not None else _fed_back(o, self.classes, feedback, "OutputRecurrentRNN", t)
        return outputs


class Decoder(_Mapping):
    """The decoder of an ``EncoderDecoder``: a loop over its own outputs and a head. From a state
    (the encoder's last), ``decoder(state, targets=y)`` feeds y(s-1) (teacher forcing) and
    ``decoder(state, steps=S)`` its own previous output o(s-1) (through ``feedback`` if given);
    the first input is zeros. Steps are tagged ``first_step``, ``first_step + 1``, ..."""

    classes = False  # set by EncoderDecoder: whether the outputs are class scores

    def forward(
        self,
        state: Any,
        targets: Any = None,
        steps: int | None = None,
        feedback: Callable[[Tensor], Tensor] | None = None,
        first_step: int = 0,
    ) -> list[Tensor]:
        who = "EncoderDecoder"
        if (targets is None) == (steps is None):
            raise ConfigError(f"{who}: pass exactly one of targets= (teacher forcing) or steps= (generation)")
        cell = self.rnn.cell
        B = (state[0] if isinstance(state, tuple) else state).shape[0]
        ys = None
        if targets is not None:
            ys = _check_targets(who, targets, B, self.output_size, cell.dtype, self.classes, first=first_step + 1)
            steps = len(ys)
        _check_size(who, steps=steps)
        prev = Tensor(np.zeros((B, self.output_size), dtype=cell.dtype), name="go")
        outputs = []
        for s in range(steps):
            with step(first_step + s):
                h, state = cell.step(prev, state)
                o = self.head(h)
                outputs.append(o)
                prev = ys[s] if ys is not None else _fed_back(o, self.classes, feedback, who, first_step + s)
        return outputs


class EncoderDecoder(Module):
    """Sequence to sequence of another length: an encoder loop reads x; its last state starts a
    ``Decoder`` (a loop over its own previous outputs, and a head o = c + h V).

    ``m(x, targets=y)`` teacher-forces the decoder with y(s-1) and returns one output per target
    step; ``m(x, steps=S)`` generates S steps closed-loop from the decoder's own outputs (passed
    through ``feedback`` first if given, e.g. a softmax). The first decoder input is zeros;
    ``h0`` is the encoder's initial state; with ``lengths`` or ``mask`` (padded inputs), each
    sequence's decoder starts from its own last encoder state. Decoder steps are tagged after
    the encoder's: T, T+1, ...
    ``classes=True`` makes the outputs class scores: targets are integer labels (S, batch), fed
    back one-hot, and generation feeds back the one-hot of the best class unless ``feedback=``
    says otherwise.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        *,
        cell: str = "rnn",
        classes: bool = False,
        dtype: Any = np.float64,
        seed: Seed = None,
        **options: Any,
    ) -> None:
        _check_size("EncoderDecoder", input_size=input_size, hidden_size=hidden_size, output_size=output_size)
        rng = make_rng(seed, "EncoderDecoder")
        common = {"cell": cell, "dtype": dtype, "seed": rng, **options}
        self.encoder = _loop("EncoderDecoder", cell, input_size, hidden_size, {"dtype": dtype, "seed": rng, **options})
        self.decoder = built_by("EncoderDecoder", lambda: Decoder(output_size, hidden_size, output_size, **common))
        self.decoder.classes = bool(classes)
        for name, p in self.named_parameters():
            p.name = name  # encoder.W, decoder.W: diagrams tell the two apart

    def forward(
        self,
        xs: Any,
        targets: Any = None,
        steps: int | None = None,
        feedback: Callable[[Tensor], Tensor] | None = None,
        h0: Any = None,
        lengths: Any = None,
        mask: Any = None,
    ) -> list[Tensor]:
        hs, state = told_by("EncoderDecoder", lambda: self.encoder(xs, h0, lengths, mask))
        return self.decoder(state, targets=targets, steps=steps, feedback=feedback, first_step=len(hs))
