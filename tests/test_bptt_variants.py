"""Truncated BPTT (tinygrad_rnn.bptt.truncated_bptt) against full BPTT on an untied unroll.

A window (first, start, stop) backpropagates the loss on h(start..stop-1) through steps
first..stop-1 only. Unrolling the network with a separate copy of U, W, b at every step makes
each step's contribution visible: the window's gradient must be the sum of the copies'
gradients over steps first..stop-1, the contributions of the earlier steps being cut off.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_nn import Problem, make_problem, randomize, sum_of_copies, untied_unroll

from tinygrad_rnn import ConfigError, ShapeError, Tensor, nn
from tinygrad_rnn import functional as F
from tinygrad_rnn.autograd import walk
from tinygrad_rnn.bptt import truncated_bptt
from tinygrad_rnn.optim import SGD


@st.composite
def truncations(draw, max_T: int = 8) -> tuple[Problem, int, int]:
    """A problem and (k1, k2) with 1 <= k1 <= k2, either possibly longer than the sequence."""
    T = draw(st.integers(1, max_T))
    k1 = draw(st.integers(1, T + 1))
    k2 = draw(st.integers(k1, T + 2))
    sizes = st.integers(1, 3)
    problem = make_problem(
        T=T, B=draw(sizes), I=draw(sizes), H=draw(sizes), O=draw(st.integers(2, 3)), seed=draw(st.integers(0, 2**32))
    )
    return problem, k1, k2


def rnn(problem: Problem, cls: type[nn.RNN] = nn.RNN) -> nn.RNN:
    args = (problem.I, problem.H) if cls is nn.RNN else (problem.I, problem.H, problem.O)
    return randomize(cls(*args, seed=problem.seed), problem.seed)


def spans(windows) -> list[tuple[int, int, int]]:
    return [(w.first, w.start, w.stop) for w in windows]


# --- (a) one window over the whole sequence is full BPTT -------------------------------------------


@given(case=truncations(), data=st.data())
def test_a_window_as_long_as_the_sequence_is_full_bptt(case, data):
    problem, _, _ = case
    k1 = data.draw(st.integers(problem.T, problem.T + 2), label="k1")
    k2 = data.draw(st.one_of(st.none(), st.integers(k1, k1 + 2)), label="k2")
    model = rnn(problem, nn.SeqToSeq)
    labels = np.random.default_rng([problem.seed, 4]).integers(0, problem.O, (problem.T, problem.B))
    windows = list(truncated_bptt(model, problem.xs, k1, k2))
    assert spans(windows) == [(0, 0, problem.T)]
    F.sequence_loss([model.head(h) for h in windows[0].hidden], labels).backward()
    truncated = {name: p.grad.copy() for name, p in model.named_parameters()}
    model.zero_grad()
    F.sequence_loss(model(problem.xs), labels).backward()
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(truncated[name], p.grad, err_msg=name)


# --- (b) each window's gradient is full BPTT restricted to the window's steps --------------------------


@given(case=truncations(), input_grad=st.booleans())
def test_each_window_gradient_is_full_bptt_restricted_to_its_steps(case, input_grad):
    problem, k1, k2 = case
    T = problem.T
    model = rnn(problem)
    x = Tensor(problem.xs.copy(), requires_grad=True) if input_grad else problem.xs
    targets = problem.normal([(problem.B, problem.H)] * T, salt=5)

    def window_loss(hs, w):
        return F.sequence_loss(hs, targets[w.start : w.stop], loss=F.mse)

    for w in truncated_bptt(model, x, k1, k2):  # no optimizer step: every window sees the same parameters
        model.zero_grad()
        window_loss(w.hidden, w).backward()
        truncated = {k: getattr(model, k).grad.copy() for k in "UWb"}
        x_grad = x.grad.copy() if input_grad else None

        hs, copies = untied_unroll(model, x)
        if input_grad:
            x.grad = None
        window_loss(hs[w.start : w.stop], w).backward()
        for k in "UWb":
            expected = sum_of_copies(copies, k, range(w.first, w.stop))
            np.testing.assert_allclose(truncated[k], expected, rtol=1e-12, atol=1e-14, err_msg=f"{k}, {w}")
        # the full graph reaches every step before the window's end, the truncated one stops at `first`
        assert [c["W"].grad is None for c in copies] == [t >= w.stop for t in range(T)]
        if input_grad:
            inside = slice(w.first, w.stop)
            np.testing.assert_allclose(x_grad[inside], x.grad[inside], rtol=1e-12, atol=1e-14)
            np.testing.assert_array_equal(np.delete(x_grad, np.s_[inside], axis=0), 0.0)
            x.grad = None


# --- (c) the windows' steps and values ------------------------------------------------------------------

SPANS = {  # (T, k1, k2) -> (first, start, stop) of each window; first = max(0, start - (k2 - k1))
    # with k2 == k1 the windows do not overlap, the shorter last one included
    (7, 3, 3): [(0, 0, 3), (3, 3, 6), (6, 6, 7)],
    (7, 3, None): [(0, 0, 3), (3, 3, 6), (6, 6, 7)],
    (6, 3, 3): [(0, 0, 3), (3, 3, 6)],
    (7, 3, 5): [(0, 0, 3), (1, 3, 6), (4, 6, 7)],
    (5, 2, 4): [(0, 0, 2), (0, 2, 4), (2, 4, 5)],
    (6, 1, 2): [(0, 0, 1)] + [(t - 1, t, t + 1) for t in range(1, 6)],
    (4, 4, 4): [(0, 0, 4)],
    (3, 5, 9): [(0, 0, 3)],
    (1, 1, 1): [(0, 0, 1)],
}


@pytest.mark.parametrize(("T", "k1", "k2"), SPANS)
def test_window_spans(T, k1, k2):
    problem = make_problem(T=T, B=1, I=1, H=2)
    assert spans(truncated_bptt(rnn(problem), problem.xs, k1, k2)) == SPANS[T, k1, k2]


@given(case=truncations(), use_h0=st.booleans())
def test_windows_cover_every_step_once_with_the_full_forward_values(case, use_h0):
    problem, k1, k2 = case
    T = problem.T
    model = rnn(problem)
    h0 = problem.normal([(problem.B, problem.H)], salt=6)[0] if use_h0 else None
    windows = list(truncated_bptt(model, problem.xs, k1, k2, h0=h0))
    assert len(windows) == math.ceil(T / k1)
    assert [t for w in windows for t in range(w.start, w.stop)] == list(range(T))
    assert [w.stop - w.start for w in windows[:-1]] == [k1] * (len(windows) - 1)
    assert 1 <= windows[-1].stop - windows[-1].start <= k1  # the last window may be shorter
    assert [w.first for w in windows] == [max(0, w.start - ((k2 or k1) - k1)) for w in windows]
    full, _ = model(problem.xs, h0=h0)
    for w in windows:
        assert [h.step for h in w.hidden] == list(range(w.start, w.stop))
        for t, h in zip(range(w.start, w.stop), w.hidden, strict=True):
            np.testing.assert_array_equal(h.data, full[t].data, err_msg=f"h({t})")
        # the window's graph is recomputed from step `first` and reaches no further back
        graph_steps = {n.step for h in w.hidden for n in walk(h) if n.op is not None}
        assert graph_steps == set(range(w.first, w.stop))


# --- (d) invalid arguments ----------------------------------------------------------------------------

INVALID = {
    "k1 zero": ((0, None), r"k1 must be a positive integer, got 0"),
    "k1 negative": ((-1, None), r"k1 must be a positive integer, got -1"),
    "k1 float": ((2.5, None), r"k1 must be a positive integer, got 2\.5"),
    "k1 bool": ((True, None), r"k1 must be a positive integer, got True"),
    "k1 None": ((None, None), r"k1 must be a positive integer, got None"),
    "k1 string": (("2", None), r"k1 must be a positive integer, got '2'"),
    "k2 zero": ((1, 0), r"k2 must be a positive integer, got 0"),
    "k2 float": ((2, 3.0), r"k2 must be a positive integer, got 3\.0"),
    "k2 < k1": ((3, 2), r"k2 \(2\) must be at least k1 \(3\)"),
}


@pytest.mark.parametrize("case", INVALID)
def test_invalid_k1_k2_raise_value_error(case):
    (k1, k2), message = INVALID[case]
    problem = make_problem(T=4, B=1, I=1, H=2)
    with pytest.raises(ValueError, match=message):
        list(truncated_bptt(rnn(problem), problem.xs, k1, k2))  # a generator: it checks on first use


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"xs": np.ones((4, 2))}, r"truncated_bptt: expected input of shape \(time, batch, 1\), got \(4, 2\)"),
        ({"h0": np.zeros((1, 3))}, r"truncated_bptt: h0 has shape \(1, 3\), expected \(batch, hidden\) = \(1, 2\)"),
    ],
)
def test_bad_input_raises_shape_error(kwargs, message):
    problem = make_problem(T=4, B=1, I=1, H=2)
    with pytest.raises(ShapeError, match=message):
        list(truncated_bptt(rnn(problem), **{"xs": problem.xs, "k1": 2, **kwargs}))


def test_numpy_integer_window_sizes_are_accepted():
    problem = make_problem(T=5, B=1, I=1, H=2)
    windows = truncated_bptt(rnn(problem), problem.xs, np.int64(2), np.int64(3))
    assert spans(windows) == [(0, 0, 2), (1, 2, 4), (3, 4, 5)]


GATED = {  # any cell and any network built on one goes through the same cell interface
    "lstm": lambda p: nn.LSTM(p.I, p.H, seed=p.seed),
    "gru": lambda p: nn.GRU(p.I, p.H, seed=p.seed),
    "lstm-cell": lambda p: nn.LSTMCell(p.I, p.H, seed=p.seed),
    "output-recurrent": lambda p: nn.OutputRecurrentRNN(p.I, p.H, p.O, seed=p.seed),
}


def _full_outputs(model, xs):
    if isinstance(model, nn.Cell):
        return nn.RNN(model)(xs)[0]
    out = model(xs)
    return out[0] if isinstance(model, nn.RNN) else out


@pytest.mark.parametrize("kind", GATED)
@given(case=truncations(max_T=6))
def test_every_cell_truncates_through_the_cell_interface(kind, case):
    """Windows of an LSTM, a GRU, a bare cell or an output-recurrent network: their outputs are
    the full forward's, and one window as long as the sequence gives full BPTT's gradient."""
    problem, k1, k2 = case
    model = randomize(GATED[kind](problem), problem.seed)
    full = _full_outputs(model, problem.xs)
    windows = list(truncated_bptt(model, problem.xs, k1, k2))
    assert [w.start for w in windows] == list(range(0, problem.T, k1))
    for w in windows:
        for h, want in zip(w.hidden, full[w.start : w.stop], strict=True):
            np.testing.assert_allclose(h.data, want.data, rtol=1e-13, atol=1e-15)
    (whole,) = truncated_bptt(model, problem.xs, problem.T)
    sum(((h * h).sum() for h in whole.hidden), Tensor(0.0)).backward()
    truncated = {name: p.grad.copy() for name, p in model.named_parameters()}
    model.zero_grad()
    sum(((h * h).sum() for h in _full_outputs(model, problem.xs)), Tensor(0.0)).backward()
    for name, p in model.named_parameters():
        np.testing.assert_allclose(truncated[name], p.grad, rtol=1e-12, atol=1e-14, err_msg=name)


def test_a_network_that_does_not_read_a_sequence_step_by_step_is_refused():
    with pytest.raises(ConfigError, match=r"truncated_bptt: needs a network that reads a sequence .* got VecToSeq"):
        truncated_bptt(nn.VecToSeq(2, 3, 2, steps=3), np.zeros((3, 1, 2)), 2)


# --- (e) an optimizer step between windows --------------------------------------------------------------


@pytest.mark.parametrize(("k1", "k2"), [(2, 2), (3, 3), (2, 3), (1, 3), (3, 5)])
def test_an_optimizer_step_between_windows_is_used_by_the_next_window(k1, k2):
    problem = make_problem(T=8, B=2, I=3, H=4, seed=3)
    model = rnn(problem)
    no_update, _ = rnn(problem)(problem.xs)  # the same initial parameters, never updated
    opt = SGD(model.parameters(), lr=0.5)
    # a window starts from the detached state h(first) computed by an earlier window, and runs
    # the parameters as they are now; state[t] is the state before step t, as first computed
    state = {0: np.zeros((problem.B, problem.H))}
    for i, w in enumerate(truncated_bptt(model, problem.xs, k1, k2)):
        U, W, b = (getattr(model, k).data for k in "UWb")
        h, expected = state[w.first], []
        for t in range(w.first, w.stop):
            h = np.tanh(b + h @ W + problem.xs[t] @ U)
            state.setdefault(t + 1, h)
            expected.append(h)
        got = np.stack([h.data for h in w.hidden])
        np.testing.assert_allclose(got, np.stack(expected[w.start - w.first :]), rtol=1e-12, atol=1e-14)
        distance = np.abs(got - np.stack([h.data for h in no_update[w.start : w.stop]])).max()
        assert (distance > 1e-3) == (i > 0), distance  # the first window has seen no update yet
        opt.zero_grad()
        sum((h * h).sum() for h in w.hidden).backward()
        opt.step()
