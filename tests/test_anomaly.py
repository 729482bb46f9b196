"""Anomaly mode: the first NaN/inf of a pass is reported at the op and step that made it."""

from __future__ import annotations

import numpy as np
import pytest

from tinygrad_rnn import AnomalyError, Tensor, detect_anomaly, is_anomaly_enabled, nn, step
from tinygrad_rnn import functional as F


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda x: x.log(), r"log at step 2 produced -inf from input containing 0, in \[0, 2\] \(shape \(3,\)\)"),
        (
            lambda x: 1.0 / x,
            r"div at step 2 produced inf from input in \[1, 1\] \(shape \(\)\), input containing 0, in \[0, 2\]",
        ),
        (lambda x: (x * 800.0).exp(), r"exp at step 2 produced inf from input containing 0, in \[0, 1\.6e\+03\]"),
        (lambda x: (x - 1.0).log(), r"log at step 2 produced nan and -inf from input containing 0"),
    ],
)
def test_forward_anomaly_names_op_step_and_cause(make, message):
    x = Tensor(np.array([1.0, 0.0, 2.0]), requires_grad=True)
    with detect_anomaly(), step(2), pytest.raises(AnomalyError, match=message):
        make(x)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_backward_anomaly_names_the_op_and_input():
    z = Tensor(np.array([0.0, 1.0]), requires_grad=True)
    y = (z**0.5).sum()  # finite forward: sqrt(0) = 0
    with detect_anomaly(), pytest.raises(AnomalyError) as info:
        y.backward()
    assert "backward of pow produced inf in the gradient of its input 0 (shape (2,))" in str(info.value)
    assert "input containing 0" in str(info.value)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_node_whose_second_gradient_is_bad_adds_neither():
    """Every gradient of a node is checked before any is added: the error leaves .grad as it was."""
    a = Tensor(np.array([1e-10]), requires_grad=True)
    b = Tensor(np.array([1e-160]), requires_grad=True)
    y = a / b  # 1e150; dL/da = 1e160 is finite, dL/db = -y / b overflows to -inf
    with detect_anomaly(), pytest.raises(AnomalyError, match="backward of div produced -inf in the gradient of its input 1"):  # noqa: E501
        y.sum().backward()
    assert a.grad is None and b.grad is None


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_anomaly_inside_an_rnn_reports_the_time_step():
    rnn = nn.RNN(2, 3, seed=0)
    xs = np.ones((4, 1, 2))
    xs[2, 0, 0] = np.nan  # (an inf would be squashed to 1 by tanh: not an anomaly of the output)
    with (
        detect_anomaly(),
        pytest.raises(
            AnomalyError,
            match=r"tanh\(affine\) at step 2 produced nan from .*"
            r"input already containing nan",
        ),
    ):
        rnn(xs)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_off_by_default_and_restored_after_an_error():
    x = Tensor(np.array([0.0]), requires_grad=True)
    assert np.isneginf(x.log().data).all()  # no check outside the block
    with pytest.raises(AnomalyError), detect_anomaly():
        x.log()
    assert not is_anomaly_enabled()
    assert np.isneginf(x.log().data).all()


def test_finite_passes_are_untouched():
    m = nn.SeqToVec(2, 3, 2, seed=0)
    xs = np.random.default_rng(0).standard_normal((3, 2, 2))
    with detect_anomaly():
        loss = F.cross_entropy(m(xs), [0, 1])
        loss.backward()
    assert np.isfinite(loss.item()) and all(np.isfinite(p.grad).all() for p in m.parameters())


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_forward_recorded_outside_is_traced_to_its_first_bad_value_in_forward_order():
    """The common pattern: forward as usual, ``backward`` under detect_anomaly. The NaN made at
    step 2 (log of a negative number) flows into every later step; the report names step 2's
    op, not the first bad gradient that backward would meet (at the last step)."""
    W = Tensor(np.array([[0.5]]), requires_grad=True)
    h = Tensor(np.array([[1.0]]))
    xs = [1.0, 2.0, -3.0, 4.0, 5.0]
    for t, x in enumerate(xs):
        with step(t):
            h = (h @ W + Tensor([[x]], requires_grad=True).log()).tanh()
    loss = (h * h).sum()
    assert np.isnan(loss.item())
    with detect_anomaly(), pytest.raises(AnomalyError) as info:
        loss.backward()
    message = str(info.value)
    assert message.startswith("log at step 2 produced nan from input in [-3, -3] (shape (1, 1))")
    assert "found when backward began: the forward ran outside detect_anomaly" in message
    assert W.grad is None  # stopped before any gradient was computed


def test_anomaly_mode_nests_and_belongs_to_its_thread():
    """One mode per thread or task (a context variable), as no_grad's: a worker thread started
    inside the block neither checks nor sees the block."""
    import threading

    seen = []
    with detect_anomaly():
        with detect_anomaly():
            assert is_anomaly_enabled()
        assert is_anomaly_enabled()
        worker = threading.Thread(target=lambda: seen.append(is_anomaly_enabled()))
        worker.start()
        worker.join()
    assert seen == [False]
    assert not is_anomaly_enabled()
