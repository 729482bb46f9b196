"""Losses and normalisations (tinygrad_rnn.functional) against numpy references and finite differences.

softmax(x)_i = exp(x_i) / sum_j exp(x_j)       log_softmax(x) = x - log sum_j exp(x_j)
cross_entropy(z, y) = -mean_b log_softmax(z_b)[y_b]      d/dz = (softmax(z) - onehot(y)) / B
mse(p, t) = mean((p - t)^2)                               d/dp = 2 (p - t) / N
sequence_loss(outputs, targets, steps) = sum over t in steps of loss(outputs[t], targets[t])
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_rnn import ConfigError, DTypeError, ShapeError, Tensor
from tinygrad_rnn import functional as F
from tinygrad_rnn.autograd import walk
from tinygrad_rnn.gradcheck import gradcheck
from tinygrad_rnn.testing import arrays

# --- numpy references ---------------------------------------------------------------------------


def np_log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def np_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def onehot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    return np.eye(n_classes)[labels]


def leaf(data, dtype=np.float64) -> Tensor:
    return Tensor(np.array(data, dtype=dtype), requires_grad=True)


@st.composite
def classification(draw, min_batch: int = 1, max_batch: int = 4, min_classes: int = 2, max_classes: int = 5):
    """(logits array (B, C), integer labels (B,))."""
    B = draw(st.integers(min_batch, max_batch))
    C = draw(st.integers(min_classes, max_classes))
    logits = draw(arrays((B, C), min_value=-5.0, max_value=5.0))
    labels = np.array(draw(st.lists(st.integers(0, C - 1), min_size=B, max_size=B)), dtype=np.int64)
    return logits, labels


AXES = pytest.mark.parametrize("axis", [0, 1, -1])
REDUCTIONS = pytest.mark.parametrize("reduction", ["mean", "sum"])

# --- values -------------------------------------------------------------------------------------


@AXES
@given(problem=classification())
def test_softmax_and_log_softmax_match_numpy(axis, problem):
    x = problem[0]
    np.testing.assert_allclose(F.softmax(Tensor(x), axis=axis).data, np_softmax(x, axis), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(F.log_softmax(Tensor(x), axis=axis).data, np_log_softmax(x, axis), rtol=1e-12)
    np.testing.assert_allclose(F.softmax(Tensor(x), axis=axis).data.sum(axis=axis), 1.0, rtol=1e-12)


def test_softmax_takes_arrays_and_keeps_the_shift_out_of_the_graph():
    x = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(F.softmax(x).data, np.exp(x) / np.exp(x).sum(axis=1, keepdims=True), rtol=1e-15)
    t = Tensor(x, requires_grad=True)
    out = F.log_softmax(t, axis=0)
    assert all(n.op != "max" for n in walk(out))  # the max is a constant, not a node


def test_huge_logits_do_not_overflow():
    z = np.array([[1000.0, 0.0, -1000.0], [1000.0, 1000.0, 999.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        sm = F.softmax(Tensor(z)).data
        lsm = F.log_softmax(Tensor(z)).data
        ce = F.cross_entropy(Tensor(z), [1, 2]).item()
    d = 2 + math.exp(-1)  # row 2: exp(x - 1000) sums to 1 + 1 + e^-1
    np.testing.assert_allclose(sm, [[1.0, 0.0, 0.0], [1 / d, 1 / d, math.exp(-1) / d]], rtol=1e-14, atol=0)
    np.testing.assert_allclose(lsm, [[0.0, -1000.0, -2000.0], [-math.log(d)] * 2 + [-1 - math.log(d)]], rtol=1e-14)
    # row 1 label 1: -log_softmax = 1000; row 2 label 2: 1 + log(d)
    assert ce == pytest.approx((1000.0 + 1 + math.log(d)) / 2, rel=1e-14)


FNS = {
    "softmax": lambda z: F.softmax(z),
    "log_softmax": lambda z: F.log_softmax(z),
    "cross_entropy": lambda z: F.cross_entropy(z, [0, 2]),
    "mse": lambda z: F.mse(z, np.ones((2, 3), dtype=np.float32)),
}


@pytest.mark.parametrize("fn", FNS)
def test_float32_stays_float32(fn):
    z = leaf([[1000.0, 0.5, -2.0], [0.0, 3.0, 1.0]], dtype=np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = FNS[fn](z)
        (out * out).sum().backward()
    assert out.dtype == np.float32
    assert z.grad.dtype == np.float32
    assert np.isfinite(z.grad).all()
    ref = FNS[fn](Tensor(z.data.astype(np.float64)))
    np.testing.assert_allclose(out.data, ref.data, rtol=1e-6, atol=1e-6)


@REDUCTIONS
@given(problem=classification())
def test_cross_entropy_is_mean_nll_of_log_softmax_and_gradient_is_softmax_minus_onehot(reduction, problem):
    logits, labels = problem
    B, C = logits.shape
    z = leaf(logits)
    loss = F.cross_entropy(z, labels, reduction=reduction)
    loss.backward()
    scale = 1 / B if reduction == "mean" else 1.0
    nll = -np_log_softmax(logits)[np.arange(B), labels]
    assert loss.item() == pytest.approx(nll.sum() * scale, rel=1e-12, abs=1e-15)
    via_engine = -F.log_softmax(Tensor(logits)).data[np.arange(B), labels].sum() * scale
    assert loss.item() == pytest.approx(via_engine, rel=1e-12, abs=1e-15)
    np.testing.assert_allclose(z.grad, (np_softmax(logits) - onehot(labels, C)) * scale, rtol=1e-12, atol=1e-12)


LABEL_FORMS = {
    "list": lambda y: [int(v) for v in y],
    "int32 array": lambda y: y.astype(np.int32),
    "int64 array": lambda y: y.astype(np.int64),
    "uint8 array": lambda y: y.astype(np.uint8),
    "integer Tensor": lambda y: Tensor(y),
}


@pytest.mark.parametrize("form", LABEL_FORMS)
def test_labels_as_list_array_or_tensor_give_the_same_loss_and_gradient(form):
    logits = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]])
    labels = np.array([2, 0])
    z = leaf(logits)
    loss = F.cross_entropy(z, LABEL_FORMS[form](labels))
    loss.backward()
    expected = -(np_log_softmax(logits)[[0, 1], [2, 0]]).mean()
    assert loss.item() == pytest.approx(expected, rel=1e-14)
    np.testing.assert_allclose(z.grad, (np_softmax(logits) - onehot(labels, 3)) / 2, rtol=1e-12, atol=1e-15)


CE_ERRORS = {
    "label too large": ((2, 3), [0, 3], ShapeError, r"label 3 is out of range for 3 classes.*\[0, 3\)"),
    "negative label": ((2, 3), [-1, 0], ShapeError, r"label -1 is out of range"),
    "batch too small": ((2, 3), [0], ShapeError, r"labels need shape \(2,\), got \(1,\)"),
    "batch too large": ((2, 3), [0, 1, 2], ShapeError, r"labels need shape \(2,\), got \(3,\)"),
    "2-d labels": ((2, 3), [[0], [1]], ShapeError, r"got \(2, 1\)"),
    "float labels": ((2, 3), [0.0, 1.0], DTypeError, r"integer class indices, got dtype float64"),
    "bool labels": ((2, 3), [True, False], DTypeError, r"got dtype bool"),
    "1-d logits": ((3,), [0], ShapeError, r"shape \(batch, classes\), got \(3,\).*reshape\(1, -1\)"),
    "3-d logits": ((1, 2, 3), [0], ShapeError, r"got \(1, 2, 3\)"),
}


@pytest.mark.parametrize("case", CE_ERRORS)
def test_cross_entropy_errors(case):
    shape, labels, exc, match = CE_ERRORS[case]
    with pytest.raises(exc, match=match):
        F.cross_entropy(leaf(np.zeros(shape)), labels)


@pytest.mark.parametrize("fn", [F.cross_entropy, F.mse])
def test_bad_reduction(fn):
    target = [0, 1] if fn is F.cross_entropy else np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"reduction must be 'mean' or 'sum', got 'none'"):
        fn(leaf(np.zeros((2, 3))), target, reduction="none")


def test_errors_are_the_matching_builtin_exceptions():
    assert issubclass(ShapeError, ValueError) and issubclass(DTypeError, TypeError)


# --- mse ----------------------------------------------------------------------------------------


@REDUCTIONS
@given(data=st.data())
def test_mse_value_and_gradient(reduction, data):
    shape = data.draw(st.tuples(st.integers(1, 4), st.integers(1, 5)))
    p, t = data.draw(arrays(shape)), data.draw(arrays(shape))
    x = leaf(p)
    loss = F.mse(x, t, reduction=reduction)
    loss.backward()
    n = p.size if reduction == "mean" else 1
    assert loss.item() == pytest.approx(((p - t) ** 2).sum() / n, rel=1e-12, abs=1e-15)
    np.testing.assert_allclose(x.grad, 2 * (p - t) / n, rtol=1e-12, atol=1e-15)


def test_mse_exact_numbers():
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    assert F.mse(x, np.zeros((2, 2))).item() == 7.5  # (1 + 4 + 9 + 16) / 4
    assert F.mse(x, [[1.0, 1.0], [1.0, 1.0]], reduction="sum").item() == 14.0  # 0 + 1 + 4 + 9


@pytest.mark.parametrize("target_shape", [(3, 2), (2,), (2, 3, 1), (1, 3)])
def test_mse_shape_mismatch(target_shape):
    message = f"prediction has shape (2, 3) but target has shape {target_shape}"
    with pytest.raises(ShapeError, match=re.escape(message)):
        F.mse(leaf(np.zeros((2, 3))), np.zeros(target_shape))


# --- gradients against finite differences --------------------------------------------------------


@AXES
@given(problem=classification())
def test_softmax_gradients(axis, problem):
    z = leaf(problem[0])
    assert gradcheck(lambda x: F.softmax(x, axis=axis), [z], seed=0)
    assert gradcheck(lambda x: F.log_softmax(x, axis=axis), [z], seed=0)


@REDUCTIONS
@given(problem=classification())
def test_cross_entropy_gradients(reduction, problem):
    logits, labels = problem
    assert gradcheck(lambda z: F.cross_entropy(z, labels, reduction=reduction), [leaf(logits)])


@REDUCTIONS
@given(problem=classification(), data=st.data())
def test_mse_gradients_with_respect_to_both_arguments(reduction, problem, data):
    prediction = problem[0]
    target = data.draw(arrays(prediction.shape))
    assert gradcheck(lambda p, t: F.mse(p, t, reduction=reduction), [leaf(prediction), leaf(target)])


# --- sequence_loss ------------------------------------------------------------------------------

# mse of each step's output against zeros: 2.5, 12.5, 0.0, 30.5
STEP_OUTPUTS = [[[1.0, 2.0]], [[3.0, 4.0]], [[0.0, 0.0]], [[5.0, 6.0]]]
STEP_MSE = [2.5, 12.5, 0.0, 30.5]
ZEROS = [np.zeros((1, 2))] * 4


def step_outputs() -> list[Tensor]:
    return [leaf(o) for o in STEP_OUTPUTS]


@pytest.mark.parametrize(
    ("steps", "chosen"),
    [(None, [0, 1, 2, 3]), ([1], [1]), ([0, 3], [0, 3]), ([-1], [3]), ([-3, -2, -1], [1, 2, 3]), (range(2), [0, 1])],
)
def test_sequence_loss_only_listed_steps_enter_the_cost(steps, chosen):
    outputs = step_outputs()
    total = F.sequence_loss(outputs, ZEROS, steps=steps, loss=F.mse)
    assert total.item() == sum(STEP_MSE[t] for t in chosen)
    total.backward()
    for t, o in enumerate(outputs):
        if t in chosen:
            np.testing.assert_array_equal(o.grad, 2 * np.array(STEP_OUTPUTS[t]) / 2)  # d mean(o^2) = 2 o / 2
        else:
            assert o.grad is None, t


def test_sequence_loss_is_sum_of_per_step_cross_entropies():
    logits = [[[0.0, 0.0]], [[math.log(3.0), 0.0]], [[2.0, -1.0]]]
    labels = [[0], [1], [0]]
    total = F.sequence_loss([leaf(z) for z in logits], labels, steps=[0, 1])
    # step 0: log 2; step 1: -log(1 / (3 + 1)) = log 4
    assert total.item() == pytest.approx(math.log(2) + math.log(4), rel=1e-14)
    per_step = [F.cross_entropy(leaf(z), y).item() for z, y in zip(logits, labels, strict=True)]
    assert F.sequence_loss([leaf(z) for z in logits], labels).item() == pytest.approx(sum(per_step), rel=1e-14)


def test_sequence_loss_tags_each_step_loss_with_its_step():
    outputs = [leaf(np.full((2, 3), float(t))) for t in range(5)]
    labels = [np.array([t % 3, 0]) for t in range(5)]
    total = F.sequence_loss(outputs, labels, steps=[4, 1, -2])
    losses = [n for n in walk(total) if n.op == "cross_entropy"]
    assert sorted(n.step for n in losses) == [1, 3, 4]
    assert all(n.step is not None for n in walk(total) if n.op is not None)
    for n in losses:  # each loss node is computed from the output of its own step
        assert n.parents[0] is outputs[n.step]


# a list of steps that cannot be meant is a ConfigError; outputs and targets that do not pair, a ShapeError
SEQUENCE_LOSS_ERRORS = {
    "step too large": ({"steps": [4]}, ConfigError, r"step 4 is out of range for 4 outputs \(valid: -4 to 3\)"),
    "step too negative": ({"steps": [-5]}, ConfigError, r"step -5 is out of range"),
    "duplicate": ({"steps": [1, 1]}, ConfigError, r"step listed twice in \[1, 1\]"),
    "duplicate via negative": ({"steps": [3, -1]}, ConfigError, r"step listed twice in \[3, -1\]"),
    "empty steps": ({"steps": []}, ConfigError, r"steps is empty"),
    "too few targets": ({"targets": ZEROS[:3]}, ShapeError, r"4 outputs but 3 targets"),
    "too many targets": ({"targets": ZEROS * 2}, ShapeError, r"4 outputs but 8 targets"),
    "no outputs": ({"outputs": [], "targets": []}, ShapeError, r"outputs is empty"),
}


@pytest.mark.parametrize("case", SEQUENCE_LOSS_ERRORS)
def test_sequence_loss_errors(case):
    overrides, error, match = SEQUENCE_LOSS_ERRORS[case]
    kwargs = {"outputs": step_outputs(), "targets": ZEROS, "loss": F.mse, **overrides}
    with pytest.raises(error, match=match):
        F.sequence_loss(**kwargs)


def test_sequence_loss_rejects_non_integer_steps():
    with pytest.raises(DTypeError, match=r"steps must be a list of integer time steps, got \[1\.7\]"):
        F.sequence_loss(step_outputs(), ZEROS, steps=[1.7], loss=F.mse)


def test_sequence_loss_names_the_terms_it_gets_made_and_never_the_models_outputs():
    """Each per-step term the loss function makes is named L; a loss that hands back one of its
    inputs (the output itself) leaves the model's tensor its own name."""
    from tinygrad_rnn import nn

    outs = nn.SeqToSeq(1, 3, 1, seed=0)(np.random.default_rng(0).normal(size=(3, 2, 1)))
    total = F.sequence_loss(outs, np.zeros((3, 2, 1)), loss=lambda o, y: o)
    assert [o.name for o in outs] == ["o", "o", "o"] and total.shape == (2, 1)
    assert F.sequence_loss(outs, np.zeros((3, 2, 1)), loss=F.mse).parents[1].name == "L"  # (L(0) + L(1)) + L(2)
    p = {id(o): o.tanh() for o in outs}
    for q in p.values():
        q.name = "p"
    F.sequence_loss(outs, np.zeros((3, 2, 1)), loss=lambda o, y: p[id(o)])  # a named tensor of the model's
    assert [q.name for q in p.values()] == ["p", "p", "p"]
    with pytest.raises(DTypeError, match="sequence_loss: the loss function returned float at step 0; it must"):
        F.sequence_loss(outs, np.zeros((3, 2, 1)), loss=lambda o, y: 1.0)
