"""tinygrad_rnn.analysis (issue 16): the gradient ledger, Jacobians through time, what truncation
drops, each against an independent reference: the engine's own backward, untied per-step copies
of the parameters, numpy finite differences, and truncated BPTT run window by window."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_rnn import ConfigError, DTypeError, Tensor, analysis, nn, step
from tinygrad_rnn import functional as F
from tinygrad_rnn.bptt import truncated_bptt


class _Mapped:
    """A mapping whose call is not ``model(xs)``, called as if it were (for the tests below)."""

    def __init__(self, module, call):
        self.module, self.call = module, call

    def __call__(self, xs):
        return self.call(self.module, xs)

    def named_parameters(self):
        return self.module.named_parameters()

    def parameters(self):
        return self.module.parameters()


@st.composite
def unrolls(draw):
    """(model, inputs, labels, cost steps) of a small network with an output at every step."""
    T, B, I, H, O = (draw(st.integers(lo, hi)) for lo, hi in ((1, 6), (1, 3), (1, 3), (1, 4), (2, 4)))
    kind = draw(st.sampled_from(["tanh", "relu", "lstm", "gru", "output-recurrent", "vec2seq", "encdec"]))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    if kind == "output-recurrent":
        model = nn.OutputRecurrentRNN(I, H, O, seed=seed)
    elif kind == "vec2seq":
        model = _Mapped(nn.VecToSeq(I, H, O, steps=T, seed=seed), lambda m, xs: m(xs[0]))
    elif kind == "encdec":  # teacher-forced with one-hot targets; decoder steps are tagged after the encoder's
        targets = np.eye(O)[rng.integers(0, O, size=(T, B))]
        model = _Mapped(nn.EncoderDecoder(I, H, O, seed=seed), lambda m, xs: m(xs, targets=targets))
    elif kind in ("lstm", "gru"):
        model = nn.SeqToSeq(I, H, O, cell=kind, seed=seed)
    else:
        model = nn.SeqToSeq(I, H, O, nonlinearity=kind, seed=seed)
    for p in model.parameters():  # biases away from zero, so that no use has an exactly zero term
        p.data[...] = rng.normal(scale=0.6, size=p.shape)
    steps = draw(st.lists(st.integers(0, T - 1), min_size=1, max_size=T, unique=True))
    return model, rng.normal(size=(T, B, I)), rng.integers(0, O, size=(T, B)), sorted(steps)


@given(unrolls(), st.booleans())
def test_ledger_terms_sum_to_the_gradient_of_every_parameter(unroll, as_list):
    model, xs, ys, steps = unroll
    outputs = model(xs)
    if as_list:
        losses = [F.cross_entropy(outputs[t], ys[t]) for t in steps]
        for t, term in zip(steps, losses, strict=True):
            term.step = outputs[t].step  # as sequence_loss tags them (a decoder's steps follow the encoder's)
        total = sum(losses[1:], losses[0])
    else:
        total = losses = F.sequence_loss(outputs, ys, steps=steps)
    ledgers = {name: analysis.ledger(losses, p) for name, p in model.named_parameters()}
    assert all(p.grad is None for p in model.parameters())  # the ledger changes no .grad
    total.backward()
    for name, p in model.named_parameters():
        led = ledgers[name]
        assert led.loss_steps == [outputs[t].step for t in steps]
        assert led.terms.shape == (len(steps), len(led.steps), *p.shape)
        np.testing.assert_allclose(led.total, p.grad, rtol=1e-12, atol=1e-14)
        lags, sums = led.by_lag()
        assert (lags >= 0).all()  # a loss cannot depend on a later step's use
        np.testing.assert_allclose(sums.sum(axis=0), p.grad, rtol=1e-12, atol=1e-14)
        later = np.array(led.steps)[None, :] > np.array(led.loss_steps)[:, None]
        assert not led.reached[later].any() and not led.terms[later].any()


@given(unrolls())
def test_ledger_entries_are_the_gradients_of_untied_per_step_copies(unroll):
    """terms[i, k] = dL_i/dW(k) where W(k) is a separate copy of W used only at step k."""
    model, xs, ys, steps = unroll
    if not isinstance(model, nn.SeqToSeq) or not isinstance(model.rnn.cell, nn.RNNCell):
        return  # the copies below are of the Elman step of a SeqToSeq
    ledgers = {k: analysis.ledger(F.sequence_loss(model(xs), ys, steps=steps), getattr(model, k)) for k in "UWb"}
    act = Tensor.tanh if model.nonlinearity == "tanh" else Tensor.relu
    for i, t_loss in enumerate(steps):
        h = Tensor(np.zeros((xs.shape[1], model.hidden_size)))
        copies = []
        for t in range(t_loss + 1):
            p = {k: Tensor(getattr(model, k).data.copy(), requires_grad=True) for k in "UWb"}
            h = act(p["b"] + h @ p["W"] + Tensor(xs[t]) @ p["U"])
            copies.append(p)
        F.cross_entropy(h @ model.V + model.c, ys[t_loss]).backward()
        for k, led in ledgers.items():
            for t, p in enumerate(copies):
                column = led.steps.index(t)
                want = p[k].grad if p[k].grad is not None else np.zeros_like(p[k].data)
                np.testing.assert_allclose(led.terms[i, column], want, rtol=1e-10, atol=1e-13)


def test_ledger_of_a_plain_scalar_loss_is_one_term():
    model = nn.RNN(2, 3, seed=0)
    hs, h_T = model(np.random.default_rng(0).normal(size=(4, 1, 2)))
    loss = (h_T * h_T).sum()
    led = analysis.ledger(loss, model.W)
    loss.backward()
    assert led.terms.shape == (1, 4, 3, 3) and led.steps == [0, 1, 2, 3]
    assert led.loss_steps == [3]  # made after the loop: the last step it reads
    assert list(led.by_lag()[0]) == [0, 1, 2, 3]
    np.testing.assert_allclose(led.total, model.W.grad, rtol=1e-13)


# --- Jacobians through time ---------------------------------------------------------------------


def _np_step(model: nn.RNN, x: np.ndarray, h: np.ndarray) -> np.ndarray:
    return np.tanh(model.b.data + h @ model.W.data + x @ model.U.data)


def _fd_jacobian(f, h: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences: J[j, i] = d f(h)_j / d h_i (flattened)."""
    rows = []
    for i in range(h.size):
        e = np.zeros(h.size)
        e[i] = eps
        rows.append((f((h.ravel() + e).reshape(h.shape)) - f((h.ravel() - e).reshape(h.shape))).ravel() / (2 * eps))
    return np.array(rows).T


@pytest.mark.parametrize(("T", "B", "H", "scale"), [(5, 1, 3, 0.5), (6, 2, 4, 1.5), (3, 1, 1, 0.9)])
def test_jacobian_norms_match_finite_differences(T, B, H, scale):
    rng = np.random.default_rng(T * 10 + H)
    model = nn.RNN(2, H, seed=1)
    model.W.data[...] = scale * rng.normal(size=(H, H))
    model.b.data[...] = rng.normal(size=H) * 0.3
    xs = rng.normal(size=(T, B, 2))
    h0 = Tensor(rng.normal(size=(B, H)), requires_grad=True)
    hs, _ = model(xs, h0)
    result = analysis.jacobian_norms([h0, *hs])
    states = [h0.data, *[h.data for h in hs]]
    for t in range(1, T + 1):
        J = _fd_jacobian(lambda h, t=t: _np_step(model, xs[t - 1], h), states[t - 1])
        np.testing.assert_allclose(result.jacobians[t - 1], J, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(result.one_step[t - 1], np.linalg.norm(J, 2), rtol=1e-6)

    def to_last(h, t):
        for s in range(t, T):
            h = _np_step(model, xs[s], h)
        return h

    for t in range(T + 1):
        J = _fd_jacobian(lambda h, t=t: to_last(h, t), states[t])
        np.testing.assert_allclose(result.to_last[t], np.linalg.norm(J, 2), rtol=1e-6)
    assert result.to_last[T] == 1.0 and result.steps == [None, *range(T)]  # h0 is made before step 0


def test_jacobian_norms_show_the_gradient_vanishing_with_a_small_w():
    model = nn.RNN(1, 4, seed=0)
    model.W.data *= 0.3  # contracting: every one-step norm below 0.3
    hs, _ = model(np.random.default_rng(0).normal(size=(12, 1, 1)))
    result = analysis.jacobian_norms(hs)
    assert (result.one_step < 0.3 + 1e-12).all()
    assert (np.diff(result.to_last) > 0).all() and result.to_last[0] < 0.3**11


# --- what truncation drops ----------------------------------------------------------------------------


@pytest.mark.parametrize(("T", "k1", "k2"), [(7, 2, 3), (6, 3, None), (5, 1, 4), (4, 4, 4)])
def test_truncation_diff_is_full_minus_truncated_as_the_engine_computes_them(T, k1, k2):
    rng = np.random.default_rng(T + k1)
    model = nn.SeqToSeq(2, 3, 4, seed=2)
    xs, ys = rng.normal(size=(T, 2, 2)), rng.integers(0, 4, size=(T, 2))
    diffs = analysis.truncation_diff(model, xs, ys, k1, k2)
    assert all(p.grad is None for p in model.parameters())
    F.sequence_loss(model(xs), ys).backward()  # full BPTT, by the engine
    full = {name: p.grad.copy() for name, p in model.named_parameters()}
    model.zero_grad()
    for w in truncated_bptt(model, xs, k1, k2):  # truncated BPTT, as its docstring runs it
        outs = []
        for t, h in zip(range(w.start, w.stop), w.hidden, strict=True):
            with step(t):
                outs.append(model.head(h))
        F.sequence_loss(outs, ys[w.start : w.stop]).backward()
    for d, (name, p) in zip(diffs, model.named_parameters(), strict=True):
        assert d.name == name
        np.testing.assert_array_equal(d.full, full[name])
        np.testing.assert_allclose(d.truncated, p.grad, rtol=1e-13, atol=1e-15)
        np.testing.assert_array_equal(d.dropped, d.full - d.truncated)
        np.testing.assert_allclose(d.truncated_ledger.total, d.truncated, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(d.full_ledger.total, d.full, rtol=1e-12, atol=1e-14)
        # the truncated ledger is the full one with some reached terms gone, the rest equal
        kept = d.truncated_ledger.reached
        assert not (kept & ~d.full_ledger.reached).any()
        np.testing.assert_allclose(d.truncated_ledger.terms[kept], d.full_ledger.terms[kept], rtol=1e-10, atol=1e-14)
    by_name = {d.name: d for d in diffs}
    if k1 == T:
        assert all(np.abs(d.dropped).max() < 1e-14 for d in diffs)  # one window: nothing dropped
    else:
        assert np.abs(by_name["U"].dropped).max() > 1e-6 and np.abs(by_name["V"].dropped).max() < 1e-14


# --- bad input ----------------------------------------------------------------------------------------


def _small():
    model = nn.SeqToSeq(2, 3, 4, seed=0)
    xs = np.random.default_rng(0).normal(size=(3, 1, 2))
    return model, F.sequence_loss(model(xs), np.zeros((3, 1), dtype=int))


def test_a_parameter_not_in_the_graph_is_named():
    _, loss = _small()
    other = nn.RNN(2, 3)
    with pytest.raises(ConfigError, match=r"ledger: the parameter tensor 'W' of shape \(3, 3\) is not used"):
        analysis.ledger(loss, other.W)
    with pytest.raises(ConfigError, match="param must be a Tensor that requires grad"):
        analysis.ledger(loss, np.zeros((3, 3)))


@pytest.mark.parametrize(
    ("losses", "message"),
    [
        (lambda m, L: [L, 3.0], r"losses\[1\] is a float"),
        (lambda m, L: [m.W * 2], r"losses\[0\] is a tensor of shape \(3, 3\)"),
        (lambda m, L: [], "non-empty list"),
        (lambda m, L: m.W * 2, r"the loss has shape \(3, 3\)"),
        (lambda m, L: Tensor(1.0), "does not require grad"),
    ],
)
def test_losses_that_are_not_per_step_terms_are_refused(losses, message):
    model, loss = _small()
    with pytest.raises(ConfigError, match=message):
        analysis.ledger(losses(model, loss), model.W)


def test_states_that_are_not_a_chain_are_refused():
    model = nn.RNN(2, 3, seed=0)
    hs, _ = model(np.random.default_rng(0).normal(size=(4, 1, 2)))
    with pytest.raises(ConfigError, match=r"states\[1\] .* was not computed from states\[0\]"):
        analysis.jacobian_norms([hs[2], hs[0]])
    with pytest.raises(ConfigError, match=r"states\[0\] .* does not require grad.*requires_grad=True"):
        h0 = Tensor(np.zeros((1, 3)))
        hs0, _ = model(np.zeros((2, 1, 2)), h0)
        analysis.jacobian_norms([h0, *hs0])
    with pytest.raises(ConfigError, match="at least two"):
        analysis.jacobian_norms(hs[:1])
    with pytest.raises(DTypeError, match=r"states\[1\] is a ndarray"):
        analysis.jacobian_norms([hs[0], np.zeros((1, 3))])
    with pytest.raises(ConfigError, match=r"states\[1\] has shape \(3,\)"):
        analysis.jacobian_norms([hs[0], hs[1][0]])


def test_hidden_states_are_found_in_the_graph_in_step_order():
    model = nn.SeqToVec(2, 3, 4, seed=0)
    xs = np.random.default_rng(0).normal(size=(5, 1, 2))
    loss = F.cross_entropy(model(xs), np.array([1]))
    states = analysis.hidden_states(loss)
    want, _ = nn.RNN.forward(model, xs)  # the same network's states, recomputed
    assert [h.step for h in states] == [0, 1, 2, 3, 4]
    for h, w in zip(states, want, strict=True):
        np.testing.assert_array_equal(h.data, w.data)
    assert len(analysis.jacobian_norms(states).one_step) == 4
    with pytest.raises(ConfigError, match="no tensor named 'state' with a time step"):
        analysis.hidden_states(loss, name="state")


def test_the_rest_of_a_loss_outside_its_per_step_terms_is_a_row_of_its_own():
    """Found by a review: a weight penalty added to a sequence_loss reached W.grad but not the ledger."""
    model = nn.SeqToSeq(2, 3, 4, seed=0)
    xs = np.random.default_rng(0).normal(size=(3, 1, 2))
    loss = F.sequence_loss(model(xs), np.zeros((3, 1), dtype=int)) + 0.1 * (model.W * model.W).sum()
    led = analysis.ledger(loss, model.W)
    loss.backward()
    assert led.loss_steps == [0, 1, 2, None]
    np.testing.assert_allclose(led.total, model.W.grad, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(led.terms[3].sum(axis=0), 0.2 * model.W.data, rtol=1e-12)  # d(0.1 W^2)/dW


def test_hidden_states_of_a_bidirectional_network_are_the_forward_direction_s():
    """A bidirectional layer's output, both directions joined (B, 2H), was named h like the
    forward state and, made last in each step, was what hidden_states(loss) found: a chain of
    concatenations, not of states. It is named [h, h_reverse] now; h(t) is the forward state."""
    m = nn.RNN(2, 3, bidirectional=True, seed=0)
    outs, h = m(np.random.default_rng(0).normal(size=(4, 1, 2)))
    loss = sum((o * o).sum() for o in outs)
    loss.backward()
    states = analysis.hidden_states(loss)
    assert [s.shape for s in states] == [(1, 3)] * 4 and [s.step for s in states] == [0, 1, 2, 3]
    np.testing.assert_array_equal(states[-1].data, h[0].data)  # the forward direction's final state
    assert [s.step for s in analysis.hidden_states(loss, "h_reverse")] == [0, 1, 2, 3]
