"""The benchmark's own correctness, run small: before timing anything, benchmarks/row_mnist_step.py
asserts that the engine and hand-written numpy BPTT compute the same gradients. These tests run
that same check on tiny sizes, check the numpy reference against finite differences (so the two
cannot agree on a shared mistake), and check that a wrong gradient is caught."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SMALL = {"B": 4, "T": 5, "I": 3, "H": 6}


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return _load("row_mnist_step")


def test_engine_and_numpy_bptt_agree_on_loss_and_every_gradient(bench):
    errors = bench.check_gradients(**SMALL, dtype=np.float64)
    assert sorted(errors) == sorted(["loss", "U", "W", "b", "V", "c"])
    assert max(errors.values()) < 1e-12


def test_numpy_bptt_matches_central_differences(bench):
    params, xs, labels = bench.make_problem(**SMALL, dtype=np.float64, seed=1)
    _, grads = bench.numpy_bptt.loss_and_grads(params, xs, labels)
    rng = np.random.default_rng(0)
    eps = 1e-6
    for name, p in params.items():
        assert np.abs(grads[name]).max() > 1e-4  # the check below must not pass on zeros
        for flat in rng.choice(p.size, size=min(3, p.size), replace=False):
            i = np.unravel_index(flat, p.shape)
            old = p[i]
            p[i] = old + eps
            up, _ = bench.numpy_bptt.loss_and_grads(params, xs, labels)
            p[i] = old - eps
            down, _ = bench.numpy_bptt.loss_and_grads(params, xs, labels)
            p[i] = old
            assert (up - down) / (2 * eps) == pytest.approx(grads[name][i], abs=1e-8), (name, i)


def test_check_gradients_catches_a_wrong_gradient(bench, monkeypatch):
    right = bench.numpy_bptt.loss_and_grads

    def wrong(params, xs, labels):
        loss, grads = right(params, xs, labels)
        grads["W"] = grads["W"] * 1.001
        return loss, grads

    monkeypatch.setattr(bench.numpy_bptt, "loss_and_grads", wrong)
    with pytest.raises(AssertionError, match="W: engine and numpy BPTT disagree"):
        bench.check_gradients(**SMALL, dtype=np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_timed_steps_make_the_same_sgd_update(bench, dtype):
    params, xs, labels = bench.make_problem(**SMALL, dtype=dtype)
    before = {k: v.copy() for k, v in params.items()}
    tensors = bench.engine_params(params)
    engine_loss = bench.engine_train_step(tensors, xs, labels, lr=0.5)
    numpy_loss = bench.numpy_bptt.train_step(params, xs, labels, lr=0.5)
    rtol, atol = bench.TOLERANCES[np.dtype(dtype)]
    assert engine_loss == pytest.approx(numpy_loss, rel=rtol)
    for name, p in params.items():
        assert tensors[name].grad is None
        assert tensors[name].data.dtype == p.dtype == dtype
        assert not np.allclose(p, before[name], rtol=0, atol=1e-3)  # the step moved every parameter
        np.testing.assert_allclose(tensors[name].data, p, rtol=rtol, atol=atol)
