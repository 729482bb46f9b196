"""Sequences of different lengths (issue 13 item 4): a padded batch with ``lengths=`` computes
exactly what each sequence computes alone, cut to its own length: the same final states, the
same cost, the same gradients; padding gets no gradient and never enters the cost."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_rnn import ConfigError, DTypeError, ShapeError, Tensor, nn
from tinygrad_rnn import functional as F
from tinygrad_rnn.analysis import hidden_states
from tinygrad_rnn.gradcheck import gradcheck


def _summed(o, y):
    return F.cross_entropy(o, y, reduction="sum")  # per-example terms add up across the batch


@st.composite
def padded(draw):
    T, B, I, H, O = draw(st.integers(1, 6)), draw(st.integers(1, 4)), 2, draw(st.integers(1, 4)), 3
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    lengths = np.array(draw(st.lists(st.integers(1, T), min_size=B, max_size=B)))
    cell = draw(st.sampled_from(["rnn", "lstm", "gru"]))
    model = nn.SeqToSeq(I, H, O, cell=cell, seed=seed)
    for p in model.parameters():
        p.data[...] = rng.normal(scale=0.7, size=p.shape)
    return model, rng.normal(size=(T, B, I)), rng.integers(0, O, size=(T, B)), lengths


@given(padded())
def test_a_padded_batch_is_each_sequence_alone(case):
    model, xs, ys, lengths = case
    T, B, _ = xs.shape
    x = Tensor(xs, requires_grad=True)
    _, state = model.rnn(x, lengths=lengths)
    loss = F.sequence_loss(model(x, lengths=lengths), ys, loss=_summed, lengths=lengths)
    loss.backward(retain_grads=True)
    grads = {name: p.grad.copy() for name, p in model.named_parameters()}
    x_grad = x.grad.copy()
    # the state h(t) the plots and the Jacobians read (analysis.hidden_states, viz.gradient_norms)
    h_grad = {h.step: h.grad.copy() for h in hidden_states(loss)}  # steps no loss reaches are left out
    final = [s.data for s in state] if isinstance(state, tuple) else [state.data]
    model.zero_grad()
    total, want_x = 0.0, np.zeros_like(xs)
    for b in range(B):  # each sequence alone, cut at its length
        n = lengths[b]
        xb = Tensor(xs[:n, b : b + 1], requires_grad=True)
        _, sb = model.rnn(xb)
        for got, alone in zip(final, sb if isinstance(sb, tuple) else (sb,), strict=True):
            np.testing.assert_allclose(got[b], alone.data[0], rtol=1e-12, atol=1e-14)
        lb = F.sequence_loss(model(xb), ys[:n, b : b + 1], loss=_summed)
        lb.backward(retain_grads=True)
        total += lb.item()
        want_x[:n, b] = xb.grad[:, 0]
        for t, h in enumerate(hidden_states(lb)):  # ∂L/∂h(t) whole: from o(t) and from the steps after
            np.testing.assert_allclose(h_grad[t][b], h.grad[0], rtol=1e-10, atol=1e-12, err_msg=f"h({t})")
        assert not any(h_grad[t][b].any() for t in range(n, T) if t in h_grad)  # after its end nothing reads it
    np.testing.assert_allclose(loss.item(), total, rtol=1e-12)
    for name, p in model.named_parameters():
        np.testing.assert_allclose(grads[name], p.grad, rtol=1e-10, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(x_grad, want_x, rtol=1e-10, atol=1e-12)
    padding = np.arange(T)[:, None] >= lengths[None, :]
    assert not x_grad[padding].any()  # the padded inputs get exactly no gradient


def test_outputs_past_the_end_are_zeros_and_the_cost_skips_them():
    model = nn.SeqToSeq(2, 3, 4, seed=0)
    xs = np.random.default_rng(0).normal(size=(4, 2, 2))
    outs = model(xs, lengths=[4, 2])
    assert [bool(o.data[1].any()) for o in outs] == [True, True, False, False]
    assert all(o.data[0].any() for o in outs)
    ys = np.zeros((4, 2), dtype=int)
    only_first = F.sequence_loss(outs, ys, steps=[2, 3], lengths=[4, 2])  # at steps 2, 3 only sequence 0 runs
    alone = F.sequence_loss([o[0:1] for o in outs], ys[:, :1], steps=[2, 3])
    np.testing.assert_allclose(only_first.item(), alone.item(), rtol=1e-14)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@settings(max_examples=10)
@given(seed=st.integers(0, 2**16))
def test_gradients_with_lengths_match_central_differences(cell, seed):
    rng = np.random.default_rng(seed)
    model = nn.SeqToVec(2, 3, 3, cell=cell, seed=seed)
    xs = Tensor(rng.normal(size=(4, 3, 2)), requires_grad=True)
    lengths = rng.integers(1, 5, size=3)
    labels = rng.integers(0, 3, size=3)

    def loss(xs, *params):
        return F.cross_entropy(model(xs, lengths=lengths), labels)

    assert gradcheck(loss, [xs, *model.parameters()], seed=seed)


@pytest.mark.parametrize(
    ("lengths", "error", "message"),
    [
        ([3, 1], ShapeError, r"RNN: lengths must be one integer per sequence, shape \(3,\), got shape \(2,\)"),
        ([3, 1, 5], ConfigError, r"RNN: lengths\[2\] is 5, but the input has 4 steps; each length must be between 1"),
        ([3, 0, 1], ConfigError, r"lengths\[1\] is 0"),
        ([3.0, 1.0, 2.0], DTypeError, r"one integer per sequence, shape \(3,\), got dtype float64"),
    ],
)
def test_bad_lengths_name_the_module_and_the_fix(lengths, error, message):
    with pytest.raises(error, match=message):
        nn.RNN(2, 3)(np.zeros((4, 3, 2)), lengths=lengths)


def test_sequence_loss_checks_its_lengths_too():
    outs = nn.SeqToSeq(2, 3, 4)(np.zeros((3, 2, 2)))
    with pytest.raises(ConfigError, match=r"sequence_loss: lengths\[0\] is 4, but the input has 3 steps"):
        F.sequence_loss(outs, np.zeros((3, 2), dtype=int), lengths=[4, 1])


# --- Embedding ------------------------------------------------------------------------------------


def test_embedding_looks_up_rows_and_adds_the_gradient_of_repeated_ids():
    emb = nn.Embedding(5, 3, seed=0)
    ids = np.array([[1, 4], [1, 0]])
    e = emb(ids)
    assert e.shape == (2, 2, 3)
    np.testing.assert_array_equal(e.data, emb.E.data[ids])
    (e * np.arange(12.0).reshape(2, 2, 3)).sum().backward()
    want = np.zeros((5, 3))
    for (t, b), i in np.ndenumerate(ids):
        want[i] += np.arange(12.0).reshape(2, 2, 3)[t, b]
    np.testing.assert_array_equal(emb.E.grad, want)  # id 1 twice: both places add up
    assert gradcheck(lambda E: (emb(ids) ** 2).sum(), [emb.E])


def test_an_embedding_feeds_an_rnn_and_bad_ids_are_named():
    emb, rnn = nn.Embedding(7, 4, seed=0), nn.LSTM(4, 3, seed=0)
    outs, _ = rnn(emb(np.random.default_rng(0).integers(0, 7, size=(5, 2))))
    assert len(outs) == 5 and outs[0].shape == (2, 3)
    with pytest.raises(IndexError, match=r"Embedding\(7, 4\): id 7 at position \(1, 0\) is out of range; ids must be"):
        emb(np.array([[0, 1], [7, 2]]))
    with pytest.raises(TypeError, match=r"ids must be integers \(symbol indices\), got dtype float64"):
        emb(np.array([0.0, 1.0]))


def test_an_encoder_decoder_over_padded_inputs_decodes_each_from_its_own_last_state():
    model = nn.EncoderDecoder(2, 3, 4, cell="gru", seed=0)
    xs = np.random.default_rng(0).normal(size=(5, 2, 2))
    together = model(xs, steps=3, lengths=[5, 2])
    alone = model(xs[:2, 1:2], steps=3)
    for a, b in zip(together, alone, strict=True):
        np.testing.assert_allclose(a.data[1], b.data[0], rtol=1e-13)


def test_tensor_targets_keep_their_gradient_at_steps_where_some_sequence_has_ended():
    outs = [Tensor(np.ones((2, 1))) for _ in range(3)]
    targets = Tensor(np.zeros((3, 2, 1)), requires_grad=True)
    F.sequence_loss(outs, targets, loss=F.mse, lengths=[3, 1]).backward()
    assert targets.grad[1:, 0].all() and not targets.grad[1:, 1].any()  # sequence 0 runs on, 1 has ended


# --- a mask instead of lengths (item 4), VecToSeq and truncated BPTT ----------------------------------


def _mask(lengths, T):
    return np.arange(T)[:, None] < np.asarray(lengths)[None, :]


@given(padded())
@settings(max_examples=15)
def test_a_mask_is_the_same_as_its_lengths(case):
    """Every module that takes lengths= takes mask= (T, B) and computes the same, bit for bit."""
    model, xs, ys, lengths = case
    mask = _mask(lengths, xs.shape[0])
    results = []
    for how in ({"lengths": lengths}, {"mask": mask}):
        model.zero_grad()
        outs = model(xs, **how)
        loss = F.sequence_loss(outs, ys, **how)
        loss.backward()
        results.append(([o.data for o in outs], loss.item(), [p.grad.copy() for p in model.parameters()]))
    (o1, l1, g1), (o2, l2, g2) = results
    assert l1 == l2
    for a, b in zip(o1 + g1, o2 + g2, strict=True):
        np.testing.assert_array_equal(a, b)
    vec = nn.SeqToVec(2, 3, 2, cell="lstm", seed=1)
    np.testing.assert_array_equal(vec(xs, lengths=lengths).data, vec(xs, mask=mask.astype(int)).data)
    np.testing.assert_array_equal(vec(xs, lengths=lengths).data, vec(xs, mask=mask.astype(float)).data)
    _, h1 = model.rnn(xs, lengths=lengths)
    _, h2 = model.rnn(xs, mask=mask)
    for a, b in zip(h1 if isinstance(h1, tuple) else (h1,), h2 if isinstance(h2, tuple) else (h2,), strict=True):
        np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize(
    ("mask", "error", "message"),
    [
        (np.ones((3, 3), bool), ShapeError, r"GRU: mask must have one entry per step and sequence, shape \(time, "
                                            r"batch\) = \(4, 3\), got shape \(3, 3\)"),
        (np.full((4, 3), 0.5), DTypeError, r"GRU: mask must hold booleans \(or 0 / 1\).*values \[0.5\]"),
        (np.array([[1, 1, 1], [0, 1, 1], [1, 1, 0], [0, 0, 0]]), ConfigError,
         r"GRU: mask\[:, 0\] = \[1, 0, 1, 0\] has a real step after padding; padding goes at the end"),
        (np.array([[1, 0, 1]] + [[1, 0, 1]] * 3), ConfigError, r"GRU: mask\[:, 1\] has no real step"),
    ],
)  # fmt: skip
def test_bad_masks_name_the_module_and_the_fix(mask, error, message):
    with pytest.raises(error, match=message):
        nn.GRU(2, 3)(np.zeros((4, 3, 2)), mask=mask)


def test_lengths_and_mask_together_are_refused():
    with pytest.raises(ConfigError, match="SeqToSeq: pass lengths= or mask=, not both"):
        nn.SeqToSeq(2, 3, 2)(np.zeros((4, 2, 2)), lengths=[4, 2], mask=_mask([4, 2], 4))


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_vec2seq_with_lengths_gives_each_example_its_own_number_of_steps(cell):
    rng = np.random.default_rng(3)
    model = nn.VecToSeq(3, 4, 2, steps=5, cell=cell, seed=3)
    x, lengths = rng.normal(size=(3, 3)), np.array([5, 2, 3])
    outs = model(x, lengths=lengths)
    weights = rng.normal(size=(5, 3, 2))
    loss = sum(((o * Tensor(w)) * (o * Tensor(w))).sum() for o, w in zip(outs, weights, strict=True))
    loss.backward()
    got = {name: p.grad.copy() for name, p in model.named_parameters()}
    model.zero_grad()
    for b in range(3):  # each example alone, generating only its own steps
        alone = model(x[b : b + 1], steps=int(lengths[b]))
        for t in range(5):
            if t < lengths[b]:
                np.testing.assert_allclose(outs[t].data[b], alone[t].data[0], rtol=1e-12)
            else:
                assert (outs[t].data[b] == 0).all()  # past its end: zeros
        w = weights[: lengths[b], b : b + 1]
        sum(((o * Tensor(v)) * (o * Tensor(v))).sum() for o, v in zip(alone, w, strict=True)).backward()
    for name, p in model.named_parameters():  # the padding sends no gradient
        np.testing.assert_allclose(got[name], p.grad, rtol=1e-10, atol=1e-12, err_msg=name)
    np.testing.assert_array_equal(outs[4].data, model(x, mask=_mask(lengths, 5))[4].data)
    with pytest.raises(ConfigError, match=r"VecToSeq: lengths\[0\] is 6, but it makes 5 steps"):
        model(x, lengths=[6, 1, 1])


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_truncated_bptt_with_lengths_runs_each_sequence_to_its_own_end(cell):
    from tinygrad_rnn.bptt import truncated_bptt

    rng = np.random.default_rng(4)
    model = nn.SeqToSeq(2, 3, 3, cell=cell, seed=4)
    xs, ys, lengths = rng.normal(size=(7, 3, 2)), rng.integers(0, 3, size=(7, 3)), np.array([7, 2, 5])
    full, _ = model.rnn(xs, lengths=lengths)
    windows = list(truncated_bptt(model, xs, 3, lengths=lengths))
    hidden = [h for w in windows for h in w.hidden]
    for a, b in zip(hidden, full, strict=True):  # the same states and zeros as the whole unroll
        np.testing.assert_allclose(a.data, b.data, rtol=1e-12)
    assert [w.lengths(lengths).tolist() for w in windows] == [[3, 2, 3], [3, 0, 2], [1, 0, 0]]
    for w in windows:  # a sequence that ended before a window leaves it out of that window's loss
        loss = F.sequence_loss([model.head(h) for h in w.hidden], ys[w.start : w.stop], lengths=w.lengths(lengths))
        loss.backward()
    # the docstring's recipe, where a whole window is padding (steps 6-8 of lengths 4, 2, 5)
    short = [4, 2, 5]
    losses = 0
    for w in truncated_bptt(model, xs[:9], 3, 5, lengths=short):
        if w.lengths(short).any():
            F.sequence_loss([model.head(h) for h in w.hidden], ys[w.start : w.stop], lengths=w.lengths(short))
            losses += 1
    assert losses == 2
    # one window over everything is full BPTT with lengths
    model.zero_grad()
    (whole,) = truncated_bptt(model, xs, 7, mask=_mask(lengths, 7))
    F.sequence_loss([model.head(h) for h in whole.hidden], ys, lengths=lengths).backward()
    want = {name: p.grad.copy() for name, p in model.named_parameters()}
    model.zero_grad()
    F.sequence_loss(model(xs, lengths=lengths), ys, lengths=lengths).backward()
    for name, p in model.named_parameters():
        np.testing.assert_allclose(want[name], p.grad, rtol=1e-12, atol=1e-14, err_msg=name)


def test_after_a_sequence_ends_every_tensor_of_a_stacked_cell_keeps_its_layer_and_direction_in_its_name():
    """The README: a stacked network's names say their layer and direction. At a step where a
    sequence has ended, the carried state (where(running, new, old)) and the zeroed output say
    it, each once: the cell's own result, blended into the carried state, goes unnamed (drawn as
    its op), and the two directions joined are named after both ([h_out, h_out_reverse]), so
    that no step draws three nodes named h_l1(t). Only the first layer's forward cell has no
    suffix."""
    from collections import Counter

    from tinygrad_rnn.autograd import walk

    m = nn.LSTM(2, 3, num_layers=2, bidirectional=True, seed=0)
    outs, (h, c) = m(np.random.default_rng(0).normal(size=(3, 2, 2)), lengths=[3, 2])
    root = h.sum() + c.sum() + sum(o.sum() for o in outs)
    names = Counter(n.name for n in walk(root) if n.op is not None and n.step == 2 and (n.name or " ")[0] in "hs[")
    for suffix in ("", "_l1", "_reverse", "_l1_reverse"):  # the carried state and the output: one each (the
        assert names[f"h{suffix}"] == names[f"s{suffix}"] == names[f"h_out{suffix}"] == 1  # cell's own: its op)
    assert names["[h_out, h_out_reverse]"] == names["[h_out_l1, h_out_l1_reverse]"] == 1  # both directions joined
    assert len(names) == 14


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_lengths_that_pad_nothing_record_the_graph_of_no_lengths(cell):
    """lengths=[T, T] (or an all-True mask) masks nothing: the same ops as without it, so the
    same diagrams, gradient norms and speed (blending every step cost 15-45% for nothing)."""
    from tinygrad_rnn.autograd import walk

    xs = np.random.default_rng(0).normal(size=(4, 2, 2))
    recorded = []
    for kw in ({}, {"lengths": [4, 4]}, {"mask": np.ones((4, 2), dtype=bool)}):
        model = nn.SeqToSeq(2, 3, 2, cell=cell, seed=0)
        loss = F.sequence_loss(model(xs, **kw), np.zeros((4, 2), dtype=int), **kw)
        recorded.append([(n.op, n.name, n.step) for n in walk(loss)])
    assert recorded[0] == recorded[1] == recorded[2]


def test_a_state_the_cell_hands_back_unchanged_keeps_its_name():
    """A padded step names h(t) once: the cell's own new state goes unnamed once blended into the
    carried state. A cell that hands its state back unchanged hands back the user's h0 (or the
    last carried state): that tensor keeps its name."""

    class Keep(nn.RNNCell):
        def step(self, x, h):
            return h, h

    h0 = Tensor(np.zeros((2, 3)), name="context")
    m = nn.RNN(Keep(2, 3, seed=0))
    outs, h = m(np.random.default_rng(0).normal(size=(3, 2, 2)), h0, lengths=[3, 2])
    assert h0.name == "context"
    assert [o.name for o in outs] == ["context_out"] * 3  # the zeroed outputs, named after the state
