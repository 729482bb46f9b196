"""tinygrad_rnn.Function: users' own ops, recorded, checked and drawn like the built-in ones."""

from __future__ import annotations

import re

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given
from user_ops import Cube, WrongCube

import tinygrad_rnn
import viz
from tinygrad_rnn import AnomalyError, BackwardError, DTypeError, Function, GradcheckError, ShapeError, Tensor, testing
from tinygrad_rnn.gradcheck import gradcheck


class ScaledProduct(Function):
    """y = k a b, a non-tensor argument between two tensors; gradients in the output's
    (broadcast) shape, left for the engine to reduce."""

    @staticmethod
    def forward(ctx, a, k, b):
        ctx.save_for_backward(a, b)
        ctx.k = k
        return k * a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ga = ctx.k * g * b if ctx.needs_input_grad[0] else None
        gb = ctx.k * g * a if ctx.needs_input_grad[2] else None  # one entry per argument, as in PyTorch
        return ga, gb


def leaf(x, name=None):
    return Tensor(np.asarray(x, dtype=np.float64), requires_grad=True, name=name)


def test_a_function_is_recorded_with_its_name_and_step_and_backpropagates():
    t = leaf([1.0, -2.0, 0.5])
    with tinygrad_rnn.step(3):
        y = Cube.apply(t)
    assert y.op == "Cube" and y.step == 3 and y.requires_grad and y.parents == (t,)
    np.testing.assert_array_equal(y.data, [1.0, -8.0, 0.125])
    (y * 2).sum().backward()
    np.testing.assert_allclose(t.grad, 6 * np.array([1.0, 4.0, 0.25]))


def test_inside_no_grad_or_on_constants_nothing_is_recorded():
    with tinygrad_rnn.no_grad():
        y = Cube.apply(leaf([2.0]))
    assert not y.requires_grad and y.parents == () and y.data.tolist() == [8.0]
    assert not Cube.apply(Tensor([2.0])).requires_grad


@given(testing.tensors(testing.shapes(), min_value=-2, max_value=2))
def test_a_right_rule_passes_gradcheck(x):
    assert gradcheck(lambda a: Cube.apply(a), [x], seed=0)


@given(testing.broadcastable_shapes(2).flatmap(lambda s: st.tuples(testing.tensors(s[0]), testing.tensors(s[1]))))
def test_non_tensor_arguments_and_broadcast_gradients(ab):
    a, b = ab
    assert gradcheck(lambda a, b: ScaledProduct.apply(a, 2.5, b), [a, b], seed=0)


def test_only_the_inputs_that_need_a_gradient_are_asked_for():
    seen = []

    class Spy(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, g):
            seen.append(ctx.needs_input_grad)
            return g, g

    a, b = leaf(np.ones((2, 3))), Tensor(np.ones((1, 3)))
    Spy.apply(a, b).sum().backward()
    assert seen == [(True, False)] and a.grad.shape == (2, 3)


def test_one_gradient_per_argument_with_none_for_the_non_tensors_works_too():
    class TorchStyle(Function):
        @staticmethod
        def forward(ctx, a, k):
            ctx.k = k
            return a * k

        @staticmethod
        def backward(ctx, g):
            return g * ctx.k, None

    a = leaf([1.0, 2.0])
    TorchStyle.apply(a, 3.0).sum().backward()
    assert a.grad.tolist() == [3.0, 3.0]


def _bad(backward, forward=lambda ctx, x: x * 2):
    return type("Bad", (Function,), {"forward": staticmethod(forward), "backward": staticmethod(backward)})


@pytest.mark.parametrize(
    ("backward", "error", "message"),
    [  # fmt: skip
        (lambda ctx, g: (g, g), BackwardError, r"Bad\.backward returned 2 gradients for 1 Tensor input"),
        (
            lambda ctx, g: g[:1],
            ShapeError,
            r"Bad\.backward: the gradient of input 0 has shape \(1,\), but it must "
            r"have the input's shape \(3,\)",
        ),
        (lambda ctx, g: np.broadcast_to(g, (5, 3)), ShapeError, r"has shape \(5, 3\), but it must have the input's"),
        (lambda ctx, g: g > 0, DTypeError, r"the gradient of input 0 has dtype bool"),
        (lambda ctx, g: np.array(["a"] * 3), DTypeError, r"Bad\.backward: the gradient of input 0 has dtype <U1"),
        (lambda ctx, g: g.astype(complex), DTypeError, r"dtype complex128"),
    ],
)
def test_a_wrong_gradient_is_named_with_the_function_and_the_input(backward, error, message):
    x = leaf([1.0, 2.0, 3.0])
    with pytest.raises(error, match=message):
        _bad(backward).apply(x).sum().backward()


@pytest.mark.parametrize(
    ("forward", "error", "message"),
    [
        (lambda ctx, x: Tensor(x), DTypeError, r"Bad\.forward returned a Tensor; forward works on numpy arrays"),
        (lambda ctx, x: (x, x), DTypeError, r"Bad\.forward returned 2 values; a Function has one output"),
        (lambda ctx, x: np.array(["x"]), DTypeError, r"Bad\.forward returned data of dtype <U1"),
    ],
)
def test_a_wrong_forward_is_named(forward, error, message):
    with pytest.raises(error, match=message):
        _bad(lambda ctx, g: g, forward).apply(leaf([1.0]))


def test_calls_that_cannot_work_say_how_to_call():
    with pytest.raises(DTypeError, match=r"Cube\.apply: no Tensor among the 1 arguments"):
        Cube.apply(np.ones(2))
    with pytest.raises(TypeError, match=r"Cube\.apply: pass every argument by position \(got x by name\)"):
        Cube.apply(x=leaf([1.0]))
    with pytest.raises(TypeError, match="subclass Function"):
        Function.apply(leaf([1.0]))


def test_an_error_inside_the_users_forward_reaches_them_unchanged_with_its_line():
    class Mismatch(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a @ b

        @staticmethod
        def backward(ctx, g):
            return g, g

    with pytest.raises(ValueError, match="matmul") as info:
        Mismatch.apply(leaf(np.ones((2, 3))), leaf(np.ones((2, 3))))
    assert any(entry.name == "forward" for entry in info.traceback)


def test_needs_input_grad_has_one_entry_per_argument_from_forward_on():
    seen = []

    class Spy(Function):
        @staticmethod
        def forward(ctx, a, k, b):
            seen.append(ctx.needs_input_grad)
            return a * k * b

        @staticmethod
        def backward(ctx, g):
            seen.append(ctx.needs_input_grad)
            return g, None, g

    Spy.apply(leaf([1.0]), 2.0, Tensor([3.0])).sum().backward()
    assert seen == [(True, False, False), (True, False, False)]
    with tinygrad_rnn.no_grad():
        Spy.apply(leaf([1.0]), 2.0, leaf([3.0]))
    assert seen[-1] == (False, False, False)


def test_a_gradient_in_the_outputs_shape_is_summed_back_only_where_the_input_was_broadcast():
    class Outer(Function):
        @staticmethod
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            return a * b  # (3, 1) * (1, 4) -> (3, 4)

        @staticmethod
        def backward(ctx, g):
            a, b = ctx.saved_tensors
            return g * b, g * a  # both in the output's shape

    a, b = leaf(np.arange(3.0).reshape(3, 1)), leaf(np.ones((1, 4)))
    Outer.apply(a, b).sum().backward()
    assert a.grad.tolist() == [[4.0], [4.0], [4.0]] and b.grad.tolist() == [[3.0] * 4]


def test_the_output_takes_the_inputs_precision_and_must_be_floating_to_have_a_gradient():
    class Mean(Function):
        @staticmethod
        def forward(ctx, x):
            return float(x.mean())  # a Python float

        @staticmethod
        def backward(ctx, g):
            return np.full(ctx.saved_tensors or (3,), g / 3)

    x32 = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    assert Mean.apply(x32).dtype == np.float32
    with pytest.raises(DTypeError, match=r"Bad\.forward returned int64 data from inputs that require grad"):
        _bad(lambda ctx, g: g, lambda ctx, x: np.round(x).astype(np.int64)).apply(leaf([1.0]))
    assert _bad(lambda ctx, g: g, lambda ctx, x: np.round(x).astype(np.int64)).apply(Tensor([1.0])).dtype == np.int64


def test_detect_anomaly_covers_a_function_and_names_it_with_its_step():
    class Rsqrt(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return 1 / np.sqrt(x)

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return -0.5 * g * x**-1.5

    x = leaf([0.0, 1.0])
    with tinygrad_rnn.detect_anomaly(), pytest.raises(AnomalyError, match=r"^Rsqrt at step 2 produced inf"):
        with tinygrad_rnn.step(2), np.errstate(divide="ignore"):
            Rsqrt.apply(x)


def _rnn_with(cell_op, steps=4, seed=0):
    """h(t) = Cube-ish(h(t-1) @ W + x(t) @ U), summed: a recurrent graph with the op at every step."""
    rng = np.random.default_rng(seed)
    W = leaf(0.3 * rng.normal(size=(3, 3)), "W")
    U = leaf(0.3 * rng.normal(size=(2, 3)), "U")
    xs = rng.normal(size=(steps, 1, 2))

    def loss(*_):
        h = Tensor(np.zeros((1, 3)), name="h0")
        for t in range(steps):
            with tinygrad_rnn.step(t):
                h = cell_op.apply((h @ W + Tensor(xs[t], name="x") @ U).tanh())
        return (h * h).sum()

    return loss, [W, U]


def test_a_rule_one_part_in_a_million_off_fails_and_is_localised_to_the_op_and_its_step():
    loss, params = _rnn_with(Cube)
    assert gradcheck(loss, params)
    loss, params = _rnn_with(WrongCube)
    with pytest.raises(GradcheckError) as info:
        gradcheck(loss, params)
    msg = str(info.value)
    assert "gradient of input 1 ('U', shape (2, 3)) is wrong" in msg  # W's elements are small: within atol
    # the last step's Cube is the first op in backward order whose rule is off
    assert re.search(r"The first wrong rule in backward order is WrongCube at step 3, input 0", msg)
    assert info.value.node.op == "WrongCube" and info.value.node.step == 3
    assert info.value.loss.size == 1


def test_the_localised_op_is_marked_in_the_diagram():
    loss, params = _rnn_with(WrongCube)
    with pytest.raises(GradcheckError) as info:
        gradcheck(loss, params)
    diagram = viz.draw(info.value.loss, "backward", mark=info.value.node)
    marked = [it for it in diagram.layout.items.values() if it.kind == "tensor" and it.key in diagram.marked]
    assert [diagram.description.node(it.key).step for it in marked] == [3]
    assert "WrongCube" in marked[0].lines[0]
    assert "magenta outline: 1 marked" in " ".join(it.lines[0] for it in diagram.layout.items.values()
                                                    if it.kind == "caption")  # fmt: skip


def test_five_lines_of_hypothesis_catch_a_wrong_rule():
    """The issue's "done when": a user's property test with our strategies and gradcheck fails
    on a deliberately wrong backward, naming the op and the step."""

    @given(testing.tensors(testing.shapes(min_dims=1), min_value=0.5, max_value=2))
    def test_my_op(x):
        with tinygrad_rnn.step(7):
            assert gradcheck(lambda a: WrongCube.apply(a).sum(), [x])

    with pytest.raises(GradcheckError, match=r"WrongCube at step 7"):
        test_my_op()
