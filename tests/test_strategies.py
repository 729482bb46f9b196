"""The strategies users test their own ops and networks with: operands, check_op, rnn_configs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import find, given, settings
from user_ops import Cube, Hypot, SlightlyWrongHypot

from tinygrad_rnn import GradcheckError, Tensor, testing
from tinygrad_rnn.errors import ConfigError
from tinygrad_rnn.gradcheck import gradcheck

# check_op: one line per op, collected by pytest as a test
test_cube = testing.check_op(Cube.apply, lambda x: x**3)
test_hypot = testing.check_op(Hypot.apply, np.hypot, n_inputs=2, min_magnitude=0.1)
test_built_in_tanh = testing.check_op(lambda x: x.tanh(), np.tanh, max_examples=20)
test_float32_cube = testing.check_op(Cube.apply, lambda x: x**3, dtype=np.float32, rtol=1e-6, atol=1e-6)


def test_check_op_fails_on_a_wrong_rule_and_on_a_wrong_forward():
    with pytest.raises(GradcheckError, match="SlightlyWrongHypot"):
        testing.check_op(SlightlyWrongHypot.apply, np.hypot, n_inputs=2, min_magnitude=0.1)()
    with pytest.raises(AssertionError, match="Cube: forward disagrees with the reference"):
        testing.check_op(Cube.apply, lambda x: x**3 + 1e-9)()
    assert test_cube.__name__ == "test_Cube"


@given(testing.operands(3))
def test_operands_broadcast_together_and_require_grad(xs):
    assert len(xs) == 3 and all(isinstance(x, Tensor) and x.requires_grad and x.dtype == np.float64 for x in xs)
    np.broadcast_shapes(*(x.shape for x in xs))


@given(testing.operands(2, broadcast=False, dtype=np.float32, min_value=1, max_value=2))
def test_operands_of_one_shape_and_options(xs):
    a, b = xs
    assert a.shape == b.shape and a.dtype == np.float32 and (a.data >= 1).all() and (b.data <= 2).all()


def test_operands_needs_at_least_one_input():
    with pytest.raises(ConfigError, match="at least 1"):
        testing.operands(0)


def test_operands_draw_broadcasting_shapes():
    a, b = find(testing.operands(2), lambda xs: xs[0].shape != xs[1].shape and xs[0].ndim and xs[1].ndim)
    assert a.shape != b.shape and len(np.broadcast_shapes(a.shape, b.shape)) == max(a.ndim, b.ndim)


@settings(max_examples=40)
@given(testing.rnn_configs())
def test_every_drawn_network_passes_gradcheck(cfg):
    model = cfg.model()
    assert gradcheck(lambda *p: cfg.loss(model), list(model.parameters()))
    assert eval(repr(cfg), {"RNNConfig": testing.RNNConfig}) == cfg


def test_rnn_configs_draw_every_mapping_cost_subsets_and_dtypes():
    seen = set()
    strategy = testing.rnn_configs(dtypes=("float32", "float64"))
    find(strategy, lambda c: seen.add((c.mapping, c.cost_steps is None, c.dtype)) or len(seen) >= 20,
         settings=settings(max_examples=1000, database=None, derandomize=True))  # fmt: skip
    assert {m for m, _, _ in seen} == set(testing.MAPPINGS)
    assert {d for _, _, d in seen} == {"float32", "float64"}
    cfg = testing.RNNConfig("seq2seq", 3, 2, 2, 3, 2, (1, 2), "float32", 5)
    loss = cfg.loss(cfg.model())
    assert loss.dtype == np.float32 and loss.shape == ()


def test_rnn_configs_refuse_an_unknown_mapping():
    with pytest.raises(ConfigError, match="unknown mappings"):
        find(testing.rnn_configs(mappings=["seq2tree"]), lambda c: True)
