"""LSTM and GRU (issue 13): the cells against the equations in numpy, their gradients against
float64 central differences, the loops' step tags. PyTorch parity (outputs and every gradient,
weights exchanged by tinygrad_rnn.interop) is in test_interop.py."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_rnn import ShapeError, Tensor, nn
from tinygrad_rnn import functional as F
from tinygrad_rnn.autograd import walk
from tinygrad_rnn.gradcheck import gradcheck


def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def np_lstm(cell: nn.LSTMCell, xs: np.ndarray, h: np.ndarray, c: np.ndarray):
    """PyTorch's LSTM equations in numpy, row vectors: returns the outputs and (h, c)."""
    p = {name: t.data for name, t in cell.named_parameters()}
    outputs = []
    for x in xs:
        i = _sigmoid(p["b_i"] + h @ p["W_i"] + x @ p["U_i"])
        f = _sigmoid(p["b_f"] + h @ p["W_f"] + x @ p["U_f"])
        g = np.tanh(p["b"] + h @ p["W"] + x @ p["U"])
        o = _sigmoid(p["b_o"] + h @ p["W_o"] + x @ p["U_o"])
        c = f * c + i * g
        h = o * np.tanh(c)
        outputs.append(h)
    return outputs, (h, c)


def np_gru(cell: nn.GRUCell, xs: np.ndarray, h: np.ndarray):
    p = {name: t.data for name, t in cell.named_parameters()}
    outputs = []
    for x in xs:
        r = _sigmoid(p["b_r"] + h @ p["W_r"] + x @ p["U_r"])
        z = _sigmoid(p["b_z"] + h @ p["W_z"] + x @ p["U_z"])
        n = np.tanh(p["b"] + x @ p["U"] + r * (h @ p["W"] + p["b_h"]))
        h = (1 - z) * n + z * h
        outputs.append(h)
    return outputs, h


def _randomized(module, seed, scale=0.7):
    rng = np.random.default_rng(seed)
    for p in module.parameters():
        p.data[...] = rng.normal(scale=scale, size=p.shape)
    return module


sizes = st.tuples(st.integers(1, 5), st.integers(1, 3), st.integers(1, 3), st.integers(1, 4), st.integers(0, 2**16))


@given(sizes)
def test_lstm_and_gru_follow_the_equations(size):
    T, B, I, H, seed = size
    rng = np.random.default_rng(seed)
    xs, h0, c0 = rng.normal(size=(T, B, I)), rng.normal(size=(B, H)), rng.normal(size=(B, H))
    lstm = _randomized(nn.LSTM(I, H, seed=seed), seed)
    outs, (h, c) = lstm(xs, (h0, c0))
    want, (wh, wc) = np_lstm(lstm.cell, xs, h0, c0)
    for a, b in zip([*outs, h, c], [*want, wh, wc], strict=True):
        np.testing.assert_allclose(a.data, b, rtol=1e-13, atol=1e-15)
    gru = _randomized(nn.GRU(I, H, seed=seed), seed)
    outs, h = gru(xs, h0)
    want, wh = np_gru(gru.cell, xs, h0)
    for a, b in zip([*outs, h], [*want, wh], strict=True):
        np.testing.assert_allclose(a.data, b, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@settings(max_examples=15)  # each example checks a few hundred numbers at four points each
@given(size=sizes)
def test_gradients_match_central_differences(kind, size):
    T, B, I, H, seed = size
    rng = np.random.default_rng(seed)
    net = _randomized(nn.LSTM(I, H) if kind == "lstm" else nn.GRU(I, H), seed)
    xs = Tensor(rng.normal(size=(T, B, I)), requires_grad=True)
    h0 = Tensor(rng.normal(size=(B, H)), requires_grad=True)
    c0 = Tensor(rng.normal(size=(B, H)), requires_grad=True)
    weights = rng.normal(size=(T, B, H))

    def loss(xs, h0, c0, *params):
        outs, state = net(xs, (h0, c0) if kind == "lstm" else h0)
        last = state[1] if kind == "lstm" else state  # the cell state enters too
        total = (last * last).sum()
        for t, o in enumerate(outs):
            total = total + (o * weights[t]).sum()
        return total

    assert gradcheck(loss, [xs, h0, c0, *net.parameters()], seed=seed)


def test_every_tensor_is_tagged_and_every_parameter_is_one_node_used_at_every_step():
    for net in (nn.LSTM(2, 3, seed=0), nn.GRU(2, 3, seed=0)):
        outs, _ = net(np.random.default_rng(0).normal(size=(4, 1, 2)))
        nodes = walk(*outs)
        for p in net.parameters():
            readers = [n for n in nodes if any(q is p for q in n.parents)]
            assert sorted(n.step for n in readers) == [0, 1, 2, 3], p.name
        assert all(n.step in range(4) for n in nodes if n.op is not None)
        names = {"i", "f", "g", "o_gate", "s", "h"} if isinstance(net, nn.LSTM) else {"r", "z", "n", "h"}
        assert {n.name for n in nodes if n.op is not None} >= names


def test_names_defaults_and_options():
    lstm = nn.LSTMCell(2, 3, seed=0)
    assert [n for n, _ in lstm.named_parameters()] == [
        "U_i", "W_i", "b_i", "U_f", "W_f", "b_f", "U", "W", "b", "U_o", "W_o", "b_o"]  # fmt: skip
    assert (lstm.b_f.data == 1.0).all() and not lstm.b_i.data.any()  # remember by default
    assert (nn.LSTM(2, 3, forget_bias=0.0).b_f.data == 0.0).all()  # PyTorch's start
    assert [n for n, _ in nn.GRUCell(2, 3).named_parameters()] == [
        "U_r", "W_r", "b_r", "U_z", "W_z", "b_z", "U", "W", "b", "b_h"]  # fmt: skip
    assert nn.RNN(nn.LSTMCell(2, 3)).cell.hidden_size == 3
    h, c = nn.LSTMCell(2, 3, seed=0)(np.ones((1, 2)), (np.zeros((1, 3)), np.zeros((1, 3))))
    assert h.shape == c.shape == (1, 3)
    assert nn.SeqToSeq(2, 3, 4, cell="gru").rnn.cell.__class__ is nn.GRUCell


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: nn.LSTM(2, 3)(np.zeros((2, 1, 2)), np.zeros((1, 3))),
         r"LSTM: an LSTM's state is the pair \(h, c\); pass h0=\(h0, c0\)"),
        (lambda: nn.LSTM(2, 3)(np.zeros((2, 1, 2)), (np.zeros((1, 3)), np.zeros((2, 3)))),
         r"LSTM: c0 has shape \(2, 3\), expected \(batch, hidden\) = \(1, 3\)"),
        (lambda: nn.LSTMCell(2, 3)(np.zeros((1, 2)), np.zeros((1, 3))), r"pass cell\(x, \(h, c\)\)"),
        (lambda: nn.GRU(2, 3)(np.zeros((2, 1, 4))), r"GRU: expected input of shape \(time, batch, 2\)"),
    ],
)
def test_bad_states_and_inputs_name_the_module_and_the_fix(make, message):
    with pytest.raises(ShapeError, match=message):
        make()


def test_an_lstm_carries_a_gradient_further_than_a_tanh_rnn():
    """The reason LSTMs exist, measured: at initialisation on 60 steps, the gradient reaching the
    first input from the last state is orders of magnitude larger through the LSTM."""
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(60, 1, 2))
    reach = {}
    for name, net in (("rnn", nn.RNN(2, 16, seed=0)), ("lstm", nn.LSTM(2, 16, seed=0))):
        x = Tensor(xs, requires_grad=True)
        _, state = net(x)
        h = state[0] if isinstance(state, tuple) else state
        (h * h).sum().backward()
        reach[name] = float(np.linalg.norm(x.grad[0]) / np.linalg.norm(x.grad[-1]))
    assert reach["lstm"] > 100 * reach["rnn"]


def test_a_sequence_loss_over_an_lstm_mapping_trains():
    """SeqToSeq with cell='lstm' is an LSTM plus a head: a few Adam steps lower its loss."""
    from tinygrad_rnn import optim

    rng = np.random.default_rng(0)
    xs, ys = rng.normal(size=(6, 8, 2)), rng.integers(0, 3, size=(6, 8))
    model = nn.SeqToSeq(2, 8, 3, cell="lstm", seed=0)
    opt = optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(30):
        loss = F.sequence_loss(model(xs), ys)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
