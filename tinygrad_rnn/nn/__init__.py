"""Recurrent networks as ordinary code on the engine.

Parameters are named as in Goodfellow et al., Deep Learning, ch. 10: U input-to-hidden,
W hidden-to-hidden, b hidden bias, V hidden-to-output, c output bias; a gate's carry its letter
(U_f, W_f, b_f for the forget gate). Inputs are batch-major within a step (rows are examples),
so the update is written with row vectors,

    a(t) = b + h(t-1) W + x(t) U,    h(t) = tanh(a(t)),    o(t) = c + h(t) V,

the transpose of the book's column form. Each parameter is one tensor used at every step, so
the recorded graph has one node per parameter with an edge into every step, and ``backward``
sums over the steps. Every tensor created while processing step t is tagged ``step == t``.

The package is built by composition, in reading order:

- ``module``: ``Module``, ``Parameter``, the initialisers, ``Linear``, ``Embedding``;
- ``cells``: one step each (``RNNCell``, ``OutputRecurrentCell``, ``LSTMCell``, ``GRUCell``)
  behind one interface, ``step(x, state) -> (output, state)``;
- ``recurrent``: the loops that tag the steps (``RNN``, ``LSTM``, ``GRU``, or ``RNN(cell)``);
- ``mappings``: a loop plus an output layer (``SeqToSeq``, ``SeqToVec``, ``VecToSeq``,
  ``OutputRecurrentRNN``, ``EncoderDecoder``).
"""

from .cells import Cell, GRUCell, LSTMCell, OutputRecurrentCell, RNNCell
from .mappings import Decoder, EncoderDecoder, OutputRecurrentRNN, SeqToSeq, SeqToVec, VecToSeq
from .module import Embedding, Linear, Module, Parameter, glorot_uniform, orthogonal
from .recurrent import GRU, LSTM, RNN, sequence

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "Cell",
    "Decoder",
    "Embedding",
    "EncoderDecoder",
    "GRUCell",
    "LSTMCell",
    "Linear",
    "Module",
    "OutputRecurrentCell",
    "OutputRecurrentRNN",
    "Parameter",
    "RNNCell",
    "SeqToSeq",
    "SeqToVec",
    "VecToSeq",
    "glorot_uniform",
    "orthogonal",
    "sequence",
]
