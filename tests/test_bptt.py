"""An Elman RNN unrolled by hand on the engine, against closed-form BPTT (Goodfellow eqs. 10.18-10.28).

    a(t) = b + W h(t-1) + U x(t),  h(t) = tanh(a(t)),  o(t) = c + V h(t),  y_hat(t) = softmax(o(t))
    L = sum over t in S of -log y_hat(t)[y(t)]          (S: the steps that enter the cost)

Closed form, with g_o(t) = dL/do(t) = y_hat(t) - onehot(y(t)) for t in S and 0 otherwise:

    dL/dh(T) = V^T g_o(T)
    dL/dh(t) = W^T diag(1 - h(t+1)^2) dL/dh(t+1) + V^T g_o(t)
    dL/dc = sum_t g_o(t)                      dL/db = sum_t diag(1 - h(t)^2) dL/dh(t)
    dL/dV = sum_t g_o(t) h(t)^T               dL/dW = sum_t diag(1 - h(t)^2) dL/dh(t) h(t-1)^T
    dL/dU = sum_t diag(1 - h(t)^2) dL/dh(t) x(t)^T
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_rnn
from tinygrad_rnn import Tensor


def _params(rng: np.random.Generator, n_in: int, n_hidden: int, n_out: int, scale: float = 0.5) -> dict:
    shapes = {"U": (n_hidden, n_in), "W": (n_hidden, n_hidden), "b": (n_hidden,), "V": (n_out, n_hidden), "c": (n_out,)}
    return {k: scale * rng.standard_normal(s) for k, s in shapes.items()}


def engine_rnn(p: dict, xs: np.ndarray, ys: np.ndarray, cost_steps: set[int]):
    """The unrolled graph: returns (loss, params as tensors, hidden states, outputs)."""
    P = {k: Tensor(v.copy(), requires_grad=True, name=k) for k, v in p.items()}
    h = Tensor(np.zeros(p["W"].shape[0]))
    hs, os_, loss = [], [], None
    for t, x in enumerate(xs):
        with tinygrad_rnn.step(t):
            h = (P["b"] + P["W"] @ h + P["U"] @ Tensor(x)).tanh()
            o = P["c"] + P["V"] @ h
            hs.append(h)
            os_.append(o)
            if t in cost_steps:
                shifted = o - o.data.max()
                nll = shifted.exp().sum().log() - shifted[int(ys[t])]
                loss = nll if loss is None else loss + nll
    return loss, P, hs, os_


def closed_form_bptt(p: dict, xs: np.ndarray, ys: np.ndarray, cost_steps: set[int]) -> dict:
    """Goodfellow's equations 10.18-10.28 in plain numpy, for one sequence."""
    U, W, b, V, c = (p[k] for k in "UWbVc")
    T, H = len(xs), W.shape[0]
    hs = [np.zeros(H)]
    g_o = np.zeros((T, V.shape[0]))
    for t in range(T):
        hs.append(np.tanh(b + W @ hs[-1] + U @ xs[t]))
        if t in cost_steps:
            o = c + V @ hs[-1]
            y_hat = np.exp(o - o.max()) / np.exp(o - o.max()).sum()
            g_o[t] = y_hat - np.eye(len(c))[ys[t]]
    grads = {k: np.zeros_like(v) for k, v in p.items()}
    g_h_next = np.zeros(H)  # dL/dh(t+1) pushed back through W: W^T diag(1 - h(t+1)^2) dL/dh(t+1)
    g_hs = np.zeros((T, H))
    for t in reversed(range(T)):
        g_h = g_h_next + V.T @ g_o[t]
        g_hs[t] = g_h
        g_a = (1 - hs[t + 1] ** 2) * g_h
        grads["c"] += g_o[t]
        grads["b"] += g_a
        grads["V"] += np.outer(g_o[t], hs[t + 1])
        grads["W"] += np.outer(g_a, hs[t])
        grads["U"] += np.outer(g_a, xs[t])
        g_h_next = W.T @ g_a
    grads["h"] = g_hs
    return grads


@st.composite
def rnn_problems(draw):
    T = draw(st.integers(1, 8))
    n_in, n_hidden, n_out = draw(st.integers(1, 4)), draw(st.integers(1, 5)), draw(st.integers(2, 4))
    cost_steps = draw(st.sets(st.integers(0, T - 1), min_size=1))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    return _params(rng, n_in, n_hidden, n_out), rng.standard_normal((T, n_in)), rng.integers(0, n_out, T), cost_steps


def _check_against_closed_form(p, xs, ys, cost_steps) -> None:
    loss, P, hs, os_ = engine_rnn(p, xs, ys, cost_steps)
    loss.backward(retain_grads=True)  # keep dL/dh(t) to compare
    expected = closed_form_bptt(p, xs, ys, cost_steps)
    for k in "UWbVc":
        np.testing.assert_allclose(P[k].grad, expected[k], rtol=1e-10, atol=1e-12, err_msg=f"dL/d{k}")
    # h(t) after the last step in the cost does not reach the loss either: its gradient is None.
    g_hs = np.stack([np.zeros(h.shape) if h.grad is None else h.grad for h in hs])
    np.testing.assert_allclose(g_hs, expected["h"], rtol=1e-10, atol=1e-12)
    assert [h.grad is None for h in hs] == [t > max(cost_steps) for t in range(len(hs))]
    for t, o in enumerate(os_):
        # An output outside the cost is not an ancestor of the loss: no gradient reaches it.
        assert (o.grad is None) == (t not in cost_steps), t


def test_geron_figure_cost_on_last_three_outputs():
    rng = np.random.default_rng(7)
    p = _params(rng, n_in=3, n_hidden=4, n_out=3)
    xs, ys = rng.standard_normal((5, 3)), rng.integers(0, 3, 5)
    _check_against_closed_form(p, xs, ys, {2, 3, 4})


@given(rnn_problems())
def test_engine_bptt_equals_closed_form(problem):
    _check_against_closed_form(*problem)


def test_shared_parameter_is_one_node_with_an_edge_into_every_step():
    rng = np.random.default_rng(0)
    p = _params(rng, 2, 3, 2)
    T = 6
    loss, P, hs, _ = engine_rnn(p, rng.standard_normal((T, 2)), rng.integers(0, 2, T), {T - 1})
    users = {}
    for node in tinygrad_rnn.autograd.walk(loss):
        for parent in node.parents:
            if parent is P["W"]:
                users.setdefault(node.step, []).append(node.op)
    assert sorted(users) == list(range(T))
    assert all(ops == ["matmul"] for ops in users.values())
    assert [h.step for h in hs] == list(range(T))


def test_100000_step_unroll():
    """B=1, H=8, T=100,000: forward and backward with no recursion, against closed form."""
    rng = np.random.default_rng(1)
    T, H = 100_000, 8
    p = _params(rng, 1, H, 2, scale=0.3)
    xs = rng.standard_normal((T, 1))
    ys = rng.integers(0, 2, T)
    cost_steps = {0, T // 2, T - 1}
    loss, P, hs, _ = engine_rnn(p, xs, ys, cost_steps)
    loss.backward()
    expected = closed_form_bptt(p, xs, ys, cost_steps)
    for k in "UWbVc":
        np.testing.assert_allclose(P[k].grad, expected[k], rtol=1e-8, atol=1e-12, err_msg=f"dL/d{k}")
