"""Numerics: sigmoid, softplus and logsigmoid to a few ulp on both tails, their gradients too; the
gradients of sqrt, abs, softplus, logsigmoid and where against finite differences, with
broadcasting; the conventions at 0 ** 0.

The references are computed with ``decimal`` at 40 significant digits (its exp and ln are
correctly rounded), so they are exact to far below a float64 ulp; a float32 result is compared
with the float32 nearest to the reference, in units of float32 spacing there (a subnormal's
included), so "within a few ulp" also means "0 only where the true value rounds to 0".
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable
from decimal import Decimal, localcontext

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given
from hypothesis.extra import numpy as hnp

from tinygrad_rnn import Tensor, testing
from tinygrad_rnn.gradcheck import gradcheck

# --- high-precision references -----------------------------------------------------------


def _sigmoid(x: float) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 40
        return 1 / (1 + (-Decimal(x)).exp())


def _softplus(x: float) -> Decimal:
    """log(1 + e^x); below e^x = 1e-10 by its series, since 1 + e^x would round to 1 at 40 digits
    long before e^x reaches e^-700 (and the three terms leave an error below 1e-40 relative)."""
    with localcontext() as ctx:
        ctx.prec = 40
        e = Decimal(x).exp()
        if e < Decimal("1e-10"):
            return e - e * e / 2 + e * e * e / 3
        return (1 + e).ln()


#: name -> (value, derivative), each as a function of a Python float to a Decimal
REFERENCES: dict[str, tuple[Callable[[float], Decimal], Callable[[float], Decimal]]] = {
    "sigmoid": (_sigmoid, lambda x: _sigmoid(x) * _sigmoid(-x)),
    "softplus": (_softplus, _sigmoid),
    "logsigmoid": (lambda x: -_softplus(-x), lambda x: _sigmoid(-x)),
}
NAMES = list(REFERENCES)


def relative_errors(values: np.ndarray, reference: list[Decimal]) -> np.ndarray:
    """|value - reference| / |reference| per element, the difference taken exactly."""
    return np.array([float(abs((Decimal(float(v)) - r) / r)) for v, r in zip(values.flat, reference, strict=True)])


def ulps32(values: np.ndarray, reference: list[Decimal]) -> np.ndarray:
    """|value - nearest float32 to the reference| in float32 spacings at that nearest value."""
    nearest = np.array([np.float32(float(r)) for r in reference], dtype=np.float32)
    return np.abs(values.astype(np.float64) - nearest) / np.spacing(np.abs(nearest)).astype(np.float64)


def value_and_gradient(name: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = Tensor(x.copy(), requires_grad=True)
    y = getattr(t, name)()
    y.backward(np.ones_like(x))
    return y.data, t.grad


#: every 0.05 over [-700, 700], every 0.01 over [-40, 40] (where the tails turn), signed zeros,
#: and the corners of 1 + e^-x: where e^-x stops mattering in float64 (|x| ~ 37) and overflows
GRID64 = np.unique(
    np.concatenate([np.linspace(-700, 700, 28001), np.linspace(-40, 40, 8001), [-0.0, 1e-300, -1e-300, 36.7, -36.7]])
)
#: float32's range for these functions: sigmoid(x) is a float32 subnormal down to x = -103.3
GRID32 = np.concatenate([np.linspace(-110, 100, 21001), [-17, -16.6, -88.7, -100, -103.3, -103.9, 88.7]]).astype(
    np.float32
)


# --- precision ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_float64_within_1e_14_relative_over_plus_minus_700(name: str) -> None:
    """Value and gradient, on a dense grid; the measured worst is about 3e-16 (1.3 ulp)."""
    value, grad = value_and_gradient(name, GRID64)
    f, df = REFERENCES[name]
    assert value.dtype == grad.dtype == np.float64
    assert relative_errors(value, [f(x) for x in GRID64]).max() <= 1e-14
    assert relative_errors(grad, [df(x) for x in GRID64]).max() <= 1e-14


@pytest.mark.parametrize("name", NAMES)
@given(x=hnp.arrays(np.float64, st.integers(1, 20), elements=st.floats(-700, 700)))
def test_float64_within_1e_14_relative_anywhere(name: str, x: np.ndarray) -> None:
    value, grad = value_and_gradient(name, x)
    f, df = REFERENCES[name]
    assert relative_errors(value, [f(v) for v in x]).max() <= 1e-14
    assert relative_errors(grad, [df(v) for v in x]).max() <= 1e-14


@pytest.mark.parametrize("name", NAMES)
def test_float32_within_a_few_ulp_on_both_tails(name: str) -> None:
    """float32 in, float32 out, within a few ulp of the true value (measured: at most 3), the
    subnormal tail included; gradients alike (measured: at most 4; sigmoid's is a product of two
    values that each carry their own rounding, so it is allowed 6)."""
    value, grad = value_and_gradient(name, GRID32)
    f, df = REFERENCES[name]
    xs = [float(x) for x in GRID32]
    assert value.dtype == grad.dtype == np.float32
    assert ulps32(value, [f(x) for x in xs]).max() <= 4
    assert ulps32(grad, [df(x) for x in xs]).max() <= 6


def test_float32_sigmoid_tail_values() -> None:
    """(1 + tanh(x/2)) / 2 gave 5.96e-8 at -17 (true 4.14e-8) and 0 at -100 (true 3.72e-44)."""
    s = Tensor(np.array([-17, -100, -104], dtype=np.float32)).sigmoid().data
    assert s.dtype == np.float32
    assert abs(s[0] - np.float32(4.1399378e-8)) <= 2 * np.spacing(np.float32(4.14e-8))
    assert s[1] > 0 and abs(s[1] - 3.72e-44) <= 1.5e-45  # a subnormal (spacing 1.4e-45) that rounds right
    assert s[2] == 0  # the true 6.8e-46 is under half the smallest subnormal


def test_sigmoid_log_at_minus_40_is_finite() -> None:
    """sigmoid(-40) = 4.25e-18, not 0, so its log is -40 and the gradient 1 - sigmoid(-40) = 1."""
    x = Tensor([-40.0], requires_grad=True)
    y = x.sigmoid().log()
    y.backward(np.ones(1))
    np.testing.assert_allclose(y.data, [-40 - 4.248354255291589e-18], rtol=1e-15)
    np.testing.assert_allclose(x.grad, [1.0], rtol=1e-15)
    z = Tensor([-40.0], requires_grad=True)
    w = z.logsigmoid()
    w.backward(np.ones(1))
    np.testing.assert_allclose(w.data, y.data, rtol=1e-15)
    np.testing.assert_allclose(z.grad, x.grad, rtol=1e-15)


EXTREMES = np.array([-np.inf, -1e4, -800, -710, -100, -40, 0.0, 40, 100, 710, 800, 1e4, np.inf])
#: name -> (value at -inf, value at inf, gradient at -inf, gradient at inf)
LIMITS = {"sigmoid": (0, 1, 0, 0), "softplus": (0, np.inf, 0, 1), "logsigmoid": (-np.inf, 0, 1, 0)}


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_no_warnings_no_nan_and_the_limits_at_infinity(name: str, dtype: type) -> None:
    x = EXTREMES.astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow in exp would be a RuntimeWarning
        value, grad = value_and_gradient(name, x)
        nan_value, nan_grad = value_and_gradient(name, np.array([np.nan], dtype))
    assert value.dtype == grad.dtype == dtype
    assert not np.isnan(value).any() and not np.isnan(grad).any()
    assert (value[0], value[-1], grad[0], grad[-1]) == LIMITS[name]
    assert np.isnan(nan_value).all() and np.isnan(nan_grad).all()


# --- gradients against finite differences ------------------------------------------------

#: name -> (fn, options of testing.arrays): inputs at least 1e-3 from a kink (gradcheck steps
#: 2e-4 either side), sqrt above 0.1
UNARY = {
    "sqrt": (lambda x: x.sqrt(), {"min_value": 0.1, "max_value": 4.0}),
    "abs": (lambda x: x.abs(), {"min_magnitude": 1e-3}),
    "softplus": (lambda x: x.softplus(), {"min_value": -30.0, "max_value": 30.0}),
    "logsigmoid": (lambda x: x.logsigmoid(), {"min_value": -30.0, "max_value": 30.0}),
    "sigmoid": (lambda x: x.sigmoid(), {"min_value": -30.0, "max_value": 30.0}),
}


@pytest.mark.parametrize("name", UNARY)
@given(data=st.data())
def test_unary_gradients_with_broadcasting(name: str, data: st.DataObject) -> None:
    """op(x * w): x and w of shapes that broadcast, so the op's gradient is reduced back to both."""
    fn, options = UNARY[name]
    shapes = data.draw(testing.broadcastable_shapes(2, max_dims=3, max_side=3), label="shapes")
    x = Tensor(data.draw(testing.arrays(shapes[0], **options), label="x"), requires_grad=True)
    w = Tensor(data.draw(testing.arrays(shapes[1], min_value=0.5, max_value=1.0), label="w"), requires_grad=True)
    assert gradcheck(lambda x: fn(x), [x], seed=0)
    # the product stays in the op's domain: w > 0 keeps signs, and |x w| >= |x| / 2 stays off 0
    assert gradcheck(lambda x, w: fn(x * w), [x, w], seed=0, atol=1e-8)


@given(data=st.data())
def test_where_gradients_with_broadcasting(data: st.DataObject) -> None:
    shapes = data.draw(testing.broadcastable_shapes(3, max_dims=3, max_side=3), label="shapes")
    cond = data.draw(hnp.arrays(bool, shapes[0]), label="cond")
    a, b = (
        Tensor(data.draw(testing.arrays(s), label=n), requires_grad=True) for s, n in zip(shapes[1:], "ab", strict=True)
    )
    assert gradcheck(lambda a, b: Tensor.where(cond, a, b), [a, b], seed=0)
    assert gradcheck(lambda a, b: Tensor.where(cond, a.tanh() * b, b * b), [a, b], seed=0)


# --- pow at 0 ------------------------------------------------------------------------------


def test_zero_to_the_zero_exponent_gradient_is_zero() -> None:
    x = Tensor(np.array([0.0, 0.0, 0.0]), requires_grad=True)
    p = Tensor(np.array([0.0, 1.0, 2.5]), requires_grad=True)
    y = x**p
    np.testing.assert_array_equal(y.data, [1, 0, 0])
    y.sum().backward()
    np.testing.assert_array_equal(p.grad, [0, 0, 0])
    np.testing.assert_array_equal(x.grad, [0, 1, 0])


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
def test_pow_at_zero_matches_torch() -> None:
    import torch

    bases, exponents = [0.0, 0.0, 0.0, 0.0, 2.0, 0.5], [0.0, 1.0, 2.5, 0.5, 0.0, 3.0]
    tx = torch.tensor(bases, dtype=torch.float64, requires_grad=True)
    tp = torch.tensor(exponents, dtype=torch.float64, requires_grad=True)
    (tx**tp).sum().backward()
    x, p = Tensor(np.array(bases), requires_grad=True), Tensor(np.array(exponents), requires_grad=True)
    (x**p).sum().backward()
    np.testing.assert_array_equal(x.grad, tx.grad.numpy())
    np.testing.assert_array_equal(p.grad, tp.grad.numpy())
