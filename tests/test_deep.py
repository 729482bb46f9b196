"""Deep and bidirectional networks (issue 13 item 3): num_layers and bidirectional on RNN, LSTM
and GRU, with PyTorch's output and state layout. Checked against the same network composed by
hand from single-layer loops, central differences, lengths, and PyTorch where it is installed
(test_interop.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_rnn import ShapeError, Tensor, nn
from tinygrad_rnn.gradcheck import gradcheck

LOOPS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def _randomized(module, seed):
    rng = np.random.default_rng(seed)
    for p in module.parameters():
        p.data[...] = rng.normal(scale=0.6, size=p.shape)
    return module


def _by_hand(net, xs):
    """The stacked network composed from single-layer loops over its own cells: each layer's
    forward loop, and its backward loop on the reversed sequence, outputs side by side."""
    inputs, finals = [Tensor(x) for x in xs], []
    for layer in range(net.num_layers):
        fwd, state = nn.RNN(getattr(net, nn.recurrent.cell_attribute(layer, False)))(inputs)
        finals.append(state)
        outs = fwd
        if net.bidirectional:
            bwd, state_b = nn.RNN(getattr(net, nn.recurrent.cell_attribute(layer, True)))(inputs[::-1])
            finals.append(state_b)
            outs = [Tensor.concat([f, b], axis=-1) for f, b in zip(fwd, bwd[::-1], strict=True)]
        inputs = outs
    return inputs, finals


@pytest.mark.parametrize("kind", LOOPS)
@given(layers=st.integers(1, 3), bidirectional=st.booleans(), seed=st.integers(0, 2**16))
def test_a_stacked_network_is_its_layers_composed(kind, layers, bidirectional, seed):
    rng = np.random.default_rng(seed)
    net = _randomized(LOOPS[kind](2, 3, num_layers=layers, bidirectional=bidirectional, seed=seed), seed)
    xs = rng.normal(size=(4, 2, 2))
    outs, state = net(xs)
    want, finals = _by_hand(net, xs)
    D = 2 if bidirectional else 1
    assert outs[0].shape == (2, 3 * D)
    for a, b in zip(outs, want, strict=True):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-13, atol=1e-15)
    h = state[0] if isinstance(state, tuple) else state
    if layers == 1 and not bidirectional:
        assert h.shape == (2, 3)  # a single forward layer keeps the plain state
        return
    assert h.shape == (layers * D, 2, 3)  # PyTorch's stack: layer 0 forward, layer 0 backward, layer 1 ...
    for k, f in enumerate(finals):
        np.testing.assert_allclose(h.data[k], (f[0] if isinstance(f, tuple) else f).data, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("kind", LOOPS)
@settings(max_examples=8)
@given(seed=st.integers(0, 2**16), lengths=st.booleans())
def test_gradients_match_central_differences(kind, seed, lengths):
    rng = np.random.default_rng(seed)
    net = _randomized(LOOPS[kind](2, 2, num_layers=2, bidirectional=True), seed)
    xs = Tensor(rng.normal(size=(3, 2, 2)), requires_grad=True)
    h0 = Tensor(rng.normal(size=(4, 2, 2)), requires_grad=True)
    c0 = Tensor(rng.normal(size=(4, 2, 2)), requires_grad=True)
    weights = rng.normal(size=(3, 2, 4))
    ends = rng.integers(1, 4, size=2) if lengths else None

    def loss(xs, h0, c0, *params):
        outs, state = net(xs, (h0, c0) if kind == "lstm" else h0, lengths=ends)
        h = state[0] if isinstance(state, tuple) else state
        total = (h * h).sum()
        for t, o in enumerate(outs):
            total = total + (o * weights[t]).sum()
        return total

    assert gradcheck(loss, [xs, h0, c0, *net.parameters()], seed=seed)


def test_a_bidirectional_pass_over_padded_sequences_starts_each_backward_run_at_its_own_end():
    net = _randomized(nn.GRU(2, 3, bidirectional=True, seed=0), 0)
    xs = np.random.default_rng(1).normal(size=(5, 2, 2))
    outs, h = net(xs, lengths=[5, 3])
    alone, h_alone = net(xs[:3, 1:2])  # the second sequence alone, cut at its length
    for t in range(3):
        np.testing.assert_allclose(outs[t].data[1], alone[t].data[0], rtol=1e-13)
    assert not any(o.data[1].any() for o in outs[3:])
    np.testing.assert_allclose(h.data[:, 1], h_alone.data[:, 0], rtol=1e-13)


def test_names_tags_and_bad_initial_states():
    net = nn.LSTM(2, 3, num_layers=2, bidirectional=True, seed=0)
    names = [n for n, _ in net.named_parameters()]
    assert names[:3] == ["U_i", "W_i", "b_i"] and "cell_reverse.U_i" in names and "cell_l1_reverse.b_o" in names
    outs, _ = net(np.zeros((3, 1, 2)))
    from tinygrad_rnn.autograd import walk

    made = [n for n in walk(*outs) if n.op is not None]
    assert all(n.step in range(3) for n in made)
    assert {"h", "h_reverse", "h_l1", "h_l1_reverse", "s_l1_reverse"} <= {n.name for n in made}
    initial = {n.name for n in walk(*outs) if n.op is None and n.name and n.name[1:2] == "0"}
    assert initial == {"h0", "s0", "h0_reverse", "s0_reverse", "h0_l1", "s0_l1", "h0_l1_reverse", "s0_l1_reverse"}
    given = Tensor(np.zeros((4, 1, 3)), name="mine")  # a Tensor the user passes keeps its name
    assert given.name == "mine" and net(np.zeros((3, 1, 2)), (given, np.zeros((4, 1, 3))))[1][0].shape == (4, 1, 3)
    with pytest.raises(ShapeError, match=r"h0 is a stack \(layers x directions, batch, hidden\) = \(4, 1, 3\)"):
        net(np.zeros((3, 1, 2)), (np.zeros((2, 1, 3)), np.zeros((2, 1, 3))))
    for loop, shape in ((nn.GRU(2, 3, num_layers=2, seed=0), r"\(2, 1, 3\)"), (nn.RNN(2, 3, seed=0), r"\(1, 3\)")):
        pair = (np.zeros((2, 1, 3)),) * 2 if loop.stacked else (np.zeros((1, 3)),) * 2
        with pytest.raises(ShapeError, match=rf"h0 is a tuple of 2, but a \w+Cell's state is one tensor h .* {shape}"):
            loop(np.zeros((3, 1, 2)), pair)  # an LSTM's (h0, c0): it said "got shape (2, 2, 1, 3)"
    with pytest.raises(ValueError, match="num_layers must be a positive integer"):
        nn.GRU(2, 3, num_layers=0)
    with pytest.raises(ValueError, match="bidirectional must be True or False"):
        nn.GRU(2, 3, bidirectional="yes")


def test_a_stacked_networks_parameters_end_with_their_layer_and_direction_in_every_diagram():
    """The parameters of the cells of a stacked or bidirectional network carry the suffix their
    tensors carry (PyTorch's weight_hh_l1_reverse): a diagram's labels said W_f[1] ... W_f[4],
    numbers in the order of first use that no key explained."""
    net = nn.LSTM(2, 3, num_layers=2, bidirectional=True, seed=0)
    names = {key: p.name for key, p in net.named_parameters()}
    assert names["W_f"] == "W_f" and names["cell_reverse.U"] == "U_reverse"
    assert names["cell_l1.b_o"] == "b_o_l1" and names["cell_l1_reverse.W_i"] == "W_i_l1_reverse"
    assert nn.RNN(2, 3).W.name == "W" and nn.GRU(2, 3, num_layers=2).cell_l1.U_z.name == "U_z_l1"


    class Unnamed(nn.RNNCell):  # a cell whose W has no name keeps none (no "_reverse" of nothing)
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.W.name = None

    unnamed = type("Unnamed", (nn.RNN,), {"cell_type": Unnamed})(2, 3, bidirectional=True)
    assert unnamed.cell_reverse.W.name is None and unnamed.cell_reverse.U.name == "U_reverse"
    outs, _ = net(np.random.default_rng(0).normal(size=(2, 1, 2)))
    loss = sum((o * o).sum() for o in outs)
    loss.backward()
    import viz

    for view in ("backward", "rolled"):
        labels = [it.lines[0] for it in viz.draw(loss, view).layout.items.values() if it.kind == "label"]
        assert not any("[" in text for text in labels), view
        heads = {text.split(" ")[0] for text in labels}
        backward = {"‖∂L/∂W_f_l1_reverse(1)‖", "‖∂L/∂U_reverse(0)‖"}
        wanted = backward if view == "backward" else {"W_f_l1_reverse", "b_o_l1"}
        assert wanted <= heads, (view, sorted(heads))


def test_what_cannot_be_stacked_says_so_and_a_list_is_a_pair():
    """Found by a review: the mappings read one forward layer, truncated BPTT carries one state."""
    from tinygrad_rnn import ConfigError, DTypeError
    from tinygrad_rnn.bptt import truncated_bptt

    makers = (
        lambda: nn.SeqToVec(2, 3, 2, num_layers=2),
        lambda: nn.SeqToSeq(2, 3, 2, bidirectional=True),
        lambda: nn.EncoderDecoder(2, 3, 2, num_layers=2),
        lambda: nn.VecToSeq(2, 3, 2, steps=2, num_layers=2),
    )
    for make in makers:
        with pytest.raises(ConfigError, match="the mappings read one forward layer"):
            make()
    with pytest.raises(ConfigError, match="truncated_bptt: carries one cell's state"):
        truncated_bptt(nn.LSTM(2, 3, num_layers=2), np.zeros((4, 1, 2)), 2)
    net = nn.LSTM(2, 3, num_layers=2, seed=0)
    h0, c0 = np.ones((2, 1, 3)), np.zeros((2, 1, 3))
    np.testing.assert_array_equal(net(np.zeros((3, 1, 2)), [h0, c0])[0][-1].data,
                                  net(np.zeros((3, 1, 2)), (h0, c0))[0][-1].data)  # fmt: skip
    steps = nn.sequence([np.ones((1, 2)), np.ones((1, 2))], 2, np.dtype(np.float64), "RNN")
    assert [t.step for t in steps] == [0, 1]
    for bad in ([np.ones((1, 2), dtype=complex)], [np.array([["a", "b"]])], [np.ones((1, 2), dtype=bool)]):
        with pytest.raises(DTypeError, match="RNN: step 0 of the input must be numeric"):
            nn.RNN(2, 3)(bad)
