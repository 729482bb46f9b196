"""gradcheck as a library feature (it must catch wrong rules), and the hypothesis strategies."""

import re
from collections import Counter

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import find, given, settings

from tinygrad_rnn import DTypeError, GradcheckError, Tensor, ops, testing
from tinygrad_rnn.autograd import walk
from tinygrad_rnn.gradcheck import analytic_gradients, gradcheck, numerical_gradients

RNG = np.random.default_rng(0)
A = RNG.standard_normal((2, 4))
B = RNG.standard_normal((4, 3))
C = RNG.standard_normal(3)

# --- wrong rules, swapped in with monkeypatch -------------------------------------------


def _tanh_sign_flipped(h, g, needs):
    """Wrong: d tanh(a)/da taken as 1 + h^2 instead of 1 - h^2."""
    return (g * (1 + h * h),)


def _tanh_wrong_at_last_element(h, g, needs):
    """Right except that the last output element's gradient is doubled."""
    d = g * (1 - h * h)
    d.reshape(-1)[-1] *= 2.0
    return (d,)


def _tanh_nan(h, g, needs):
    return (g * np.nan,)


@pytest.fixture
def wrong_tanh(monkeypatch):
    """Install a wrong backward rule for tanh: ``wrong_tanh(rule)``."""

    def install(rule):
        monkeypatch.setattr(ops.Tanh, "backward", staticmethod(rule))

    return install


# --- passing -----------------------------------------------------------------------------

CORRECT = [
    pytest.param(lambda a, b: (a @ b).tanh().sum(), [A, B], id="matmul-tanh"),
    pytest.param(lambda a, c: ((a[:, :3] * c).sigmoid() + c.exp()).mean(), [A, C], id="broadcast-sigmoid-exp"),
    pytest.param(lambda a, b, c: (a @ b + c).tanh(), [A, B, C], id="non-scalar-output"),
    pytest.param(lambda c: (c * c).log(), [C], id="log-of-square"),
    pytest.param(lambda a: Tensor.stack([a, a * 2.0]).sum(axis=0).max(), [A], id="stack-max"),
]


@pytest.mark.parametrize(("fn", "inputs"), CORRECT)
def test_gradcheck_passes_on_correct_functions(fn, inputs):
    assert gradcheck(fn, inputs, seed=0) is True


def test_gradcheck_accepts_float32_arrays_by_converting_them():
    assert gradcheck(lambda a: (a * a).sum(), [A.astype(np.float32)])


def test_numerical_gradients_of_a_cube():
    x = np.array([0.5, -1.0, 2.0])
    grad, none = numerical_gradients(lambda a, k: (a * a * a * k).sum(), [x, Tensor(2.0)])
    np.testing.assert_allclose(grad, [1.5, 6.0, 24.0], rtol=1e-8)
    assert none is None


# --- failing -----------------------------------------------------------------------------


def test_gradcheck_catches_a_wrong_rule(wrong_tanh):
    wrong_tanh(_tanh_sign_flipped)
    with pytest.raises(GradcheckError):
        gradcheck(lambda a, b: (a @ b).tanh().sum(), [A, B])
    assert gradcheck(lambda a, b: (a @ b).tanh().sum(), [A, B], raise_exception=False) is False
    assert gradcheck(lambda a, b: (a @ b).sigmoid().sum(), [A, B], raise_exception=False) is True
    assert issubclass(GradcheckError, AssertionError)


def test_gradcheck_error_names_input_element_and_values(wrong_tanh):
    wrong_tanh(_tanh_sign_flipped)
    b = np.array([1.0, 2.0])
    W = Tensor(np.array([[0.1, -0.2, 0.3], [0.4, -0.5, 1.5]]), requires_grad=True, name="W")
    # L = sum(b) + sum(tanh(W)): b's gradient is right, W's is 1 + tanh^2 instead of 1 - tanh^2,
    # and the difference 2 tanh(w)^2 is largest at w = 1.5
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda b, W: b.sum() + W.tanh().sum(), [b, W])
    msg = str(info.value)
    assert "input 1 ('W', shape (2, 3))" in msg
    assert "at element (1, 2)" in msg
    assert "6 of 6 elements disagree" in msg
    analytic, numeric = (float(v) for v in re.search(r"analytic (\S+), numeric (\S+) ", msg).groups())
    t = np.tanh(1.5)
    assert analytic == pytest.approx(1 + t * t, rel=1e-7)
    assert numeric == pytest.approx(1 - t * t, rel=1e-7)


def test_gradcheck_error_for_an_unnamed_scalar_input(wrong_tanh):
    wrong_tanh(_tanh_sign_flipped)
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda x: x.tanh(), [np.array(0.7)])
    # tanh(0.7)^2 = 0.36526: analytic 1 + 0.36526, numeric 1 - 0.36526
    found = re.search(r"input 0 \(shape \(\)\) is wrong: analytic (\S+), numeric (\S+) ", str(info.value))
    assert float(found.group(1)) == pytest.approx(1.3652604, abs=1e-7)
    assert float(found.group(2)) == pytest.approx(0.6347395, abs=1e-7)
    assert "at element" not in str(info.value)


def test_gradcheck_fails_on_a_nan_gradient(wrong_tanh):
    wrong_tanh(_tanh_nan)
    assert gradcheck(lambda a: a.tanh().sum(), [C], raise_exception=False) is False


def test_float32_tensor_inputs_are_rejected():
    W = Tensor(np.ones(2, dtype=np.float32), requires_grad=True, name="W")
    with pytest.raises(DTypeError) as info:
        gradcheck(lambda x, W: (x * W).sum(), [C[:2], W])
    msg = str(info.value)
    assert "input 1 ('W', shape (2,)) is float32" in msg
    assert "dtype=np.float64" in msg


def test_float32_constant_inputs_are_allowed():
    k = Tensor(np.full(3, 0.5, dtype=np.float32))
    assert gradcheck(lambda c, k: (c * k).tanh().sum(), [C, k])


# --- non-scalar outputs ------------------------------------------------------------------


def test_non_scalar_output_is_projected_on_a_fixed_random_direction():
    x = np.zeros((3, 4))
    # out = x + 1: dL/dx is the projection direction itself, one weight per output element
    first, again, other = (analytic_gradients(lambda x: x + 1.0, [x], seed=s)[0] for s in (0, 0, 1))
    assert first.shape == (3, 4)
    assert np.all(first != 0)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    np.testing.assert_allclose(numerical_gradients(lambda x: x + 1.0, [x], seed=0)[0], first, atol=1e-8)


def test_projection_catches_a_rule_wrong_at_one_output_element(wrong_tanh):
    wrong_tanh(_tanh_wrong_at_last_element)
    with pytest.raises(GradcheckError, match=r"input 0 \(shape \(2, 4\)\) is wrong at element \(1, "):
        gradcheck(lambda a, b: (a @ b).tanh(), [A, B], seed=0)
    # the same wrong rule is invisible when the wrong element's output is not used
    assert gradcheck(lambda a, b: (a @ b).tanh()[0], [A, B], seed=0)


# --- inputs ------------------------------------------------------------------------------


def test_input_not_reached_gets_zero_gradient_and_passes():
    unused = np.array([[1.0, 2.0], [3.0, 4.0]])
    grads = analytic_gradients(lambda c, u: (c * c).sum(), [C, unused])
    np.testing.assert_array_equal(grads[0], 2 * C)
    np.testing.assert_array_equal(grads[1], np.zeros((2, 2)))
    assert gradcheck(lambda c, u: (c * c).sum(), [C, unused])


def test_constant_inputs_are_held_fixed():
    k = Tensor(C.copy())
    grads = analytic_gradients(lambda c, k: (c * k).sum(), [C, k])
    np.testing.assert_array_equal(grads[0], C)
    assert grads[1] is None
    np.testing.assert_array_equal(k.data, C)


def test_existing_grad_and_data_are_preserved():
    W = Tensor(B.copy(), requires_grad=True, name="W")
    data = W.data
    marker = np.full(B.shape, 7.0)
    W.grad = marker
    assert gradcheck(lambda W: (Tensor(A) @ W).tanh().sum(), [W])
    assert W.grad is marker
    np.testing.assert_array_equal(marker, np.full(B.shape, 7.0))
    assert W.data is data  # perturbed in place, then restored exactly
    np.testing.assert_array_equal(W.data, B)


def test_closure_over_the_inputs(wrong_tanh):
    W = Tensor(B.copy(), requires_grad=True, name="W")
    x = Tensor(A)
    assert gradcheck(lambda *a: (x @ W).sum(), [W])
    assert gradcheck(lambda *a: (x @ W).tanh().sum(), [W])
    wrong_tanh(_tanh_sign_flipped)
    with pytest.raises(GradcheckError, match="'W'"):
        gradcheck(lambda *a: (x @ W).tanh().sum(), [W])


# --- strategies: shapes and values -------------------------------------------------------


@given(st.integers(1, 4).flatmap(lambda n: st.tuples(st.just(n), testing.broadcastable_shapes(n))))
def test_broadcastable_shapes_broadcast(n_and_shapes):
    n, shapes = n_and_shapes
    assert len(shapes) == n
    np.broadcast_shapes(*shapes)
    for shape in shapes:
        assert len(shape) <= 3
        assert all(1 <= side <= 4 for side in shape)


@given(testing.tensors(distinct=True))
def test_distinct_tensors_are_unique_and_on_the_grid(t):
    assert t.dtype == np.float64
    assert t.requires_grad
    assert np.unique(t.data).size == t.size
    steps = t.data / testing.GRID
    np.testing.assert_array_equal(steps, np.round(steps))
    assert np.all(np.abs(t.data) <= 3.0)


@pytest.mark.parametrize("distinct", [False, True])
@given(data=st.data())
def test_min_magnitude_is_respected(distinct, data):
    t = data.draw(testing.tensors(min_value=-2.0, max_value=1.0, min_magnitude=0.5, distinct=distinct))
    assert np.all(np.abs(t.data) >= 0.5)
    assert np.all((t.data >= -2.0) & (t.data <= 1.0))


@given(testing.tensors((2, 3), np.float32, name="W", requires_grad=False))
def test_tensors_options(t):
    assert t.shape == (2, 3)
    assert t.dtype == np.float32
    assert t.name == "W"
    assert not t.requires_grad


@given(testing.tensors((3,), np.float32, min_magnitude=0.1))
def test_float32_tensors_with_min_magnitude(t):
    assert np.all(np.abs(t.data) >= np.float32(0.1))


# --- strategies: expression graphs -------------------------------------------------------


@given(testing.expression_graphs())
def test_expression_graphs_pass_gradcheck(graph):
    assert gradcheck(graph, graph.tensors(), seed=0)


@given(testing.expression_graphs())
def test_every_input_of_an_expression_graph_reaches_the_output(graph):
    xs = graph.tensors()
    out = graph(*xs)
    assert out.shape == ()
    reached = {id(n) for n in walk(out)}
    assert all(id(x) in reached for x in xs)


def _feeds_two_ops(graph) -> bool:
    return any(n >= 2 for n in Counter(i for _, args, _ in graph.program for i in set(args)).values())


def _one_op_uses_twice(graph) -> bool:
    return any(len(args) == 2 and args[0] == args[1] for _, args, _ in graph.program)


@pytest.mark.parametrize("reuse", [_feeds_two_ops, _one_op_uses_twice])
def test_expression_graphs_reuse_values(reuse):
    graph = find(testing.expression_graphs(), reuse, settings=settings(max_examples=500, database=None))
    xs = graph.tensors()
    out = graph(*xs)
    edges = Counter(id(p) for node in walk(out) for p in node.parents)
    assert max(edges.values()) >= 2  # the recorded graph has a node with two outgoing edges
    assert gradcheck(graph, graph.tensors(), seed=0)


def test_expression_graphs_reject_unknown_ops():
    with pytest.raises(ValueError, match="unknown ops"):
        find(testing.expression_graphs(ops=["add", "tensordot"]), lambda g: True)


def test_gradcheck_when_no_input_reaches_the_output():
    assert gradcheck(lambda a: Tensor(1.0), [np.ones(2)])
    assert analytic_gradients(lambda a: Tensor(1.0), [np.ones(2)])[0].tolist() == [0.0, 0.0]


def test_gradcheck_perturbs_a_strided_view_in_place_and_keeps_it_a_view():
    base = np.arange(1.0, 7.0).reshape(2, 3)
    W = Tensor(base[:, ::2], requires_grad=True)
    assert gradcheck(lambda W: (W * W).sum(), [W])
    assert np.shares_memory(W.data, base)
    np.testing.assert_array_equal(base, np.arange(1.0, 7.0).reshape(2, 3))


# --- a check that cannot pass by accident ---------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: gradcheck(lambda: Tensor(1.0), []), "ConfigError", r"inputs is empty, so there is nothing to check"),
        (lambda: gradcheck(lambda a: a.sum(), [Tensor(np.ones(2))]), "ConfigError",
         r"none of the 1 inputs requires grad"),
        (lambda: gradcheck(lambda a: a.sum(), [C], eps=0), "ConfigError", r"eps is the finite-difference step and "
         r"must be > 0, got 0"),
        (lambda: gradcheck(lambda a: a.sum(), [C], eps=-1e-3), "ConfigError", r"must be > 0, got -0\.001"),
        (lambda: gradcheck(lambda a: a.sum(), [C], eps=float("nan")), "ConfigError", r"eps must be a finite number"),
        (lambda: gradcheck(lambda a: a.sum(), [C], atol=-1), "ConfigError", r"atol is a tolerance and cannot be "
         r"negative, got -1"),
        (lambda: gradcheck(lambda a: a.sum(), [C], rtol=-0.1), "ConfigError", r"rtol is a tolerance"),
        (lambda: gradcheck(lambda a: a * 2, [C]), "ConfigError", r"fn returns shape \(3,\), not a single value; pass "
         r"seed=0"),
        (lambda: gradcheck(lambda a: a.sum(), "abc"), "DTypeError", r"inputs must be a Tensor, an array, or a list"),
    ],
)  # fmt: skip
def test_a_check_that_could_pass_by_accident_is_refused_with_the_fix(call, error, message):
    import tinygrad_rnn

    with pytest.raises(getattr(tinygrad_rnn.errors, error), match=message):
        call()


def test_one_tensor_or_one_array_is_accepted_as_the_inputs():
    x = Tensor(C.copy(), requires_grad=True)
    assert gradcheck(lambda a: (a * a).sum(), x)
    assert gradcheck(lambda a: (a * a).sum(), C.copy())


@pytest.mark.parametrize("scale", [1 + 1e-6, 1 - 1e-6])
def test_the_default_tolerances_catch_a_rule_one_part_in_a_million_off(monkeypatch, scale):
    right = ops.Tanh.backward
    monkeypatch.setattr(ops.Tanh, "backward", staticmethod(lambda h, g, needs: (right(h, g, needs)[0] * scale,)))
    with pytest.raises(GradcheckError, match=r"The first wrong rule in backward order is tanh, input 0"):
        gradcheck(lambda a, b: (a @ b).tanh().sum(), [A, B])


def test_a_loss_in_the_thousands_still_passes_the_defaults():
    assert gradcheck(lambda a, b: ((a @ b) * 300.0).exp().sum() * 0 + ((a @ b) ** 2).sum() * 1e3, [A, B])


def test_every_wrong_input_is_reported_with_its_worst_element(wrong_tanh):
    wrong_tanh(_tanh_sign_flipped)
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda a, b: (a @ b).tanh().sum(), [A, B])
    msg = str(info.value)
    assert "gradient of input 0 (shape (2, 4)) is wrong at element" in msg
    assert "gradient of input 1 (shape (4, 3)) is wrong at element" in msg
    assert info.value.node.op == "tanh"


@pytest.mark.parametrize("fast", [False, True])
def test_fast_mode_checks_one_direction_per_input(wrong_tanh, fast):
    W = Tensor(0.1 * RNG.standard_normal((30, 20)), requires_grad=True)  # tanh away from saturation
    x = Tensor(RNG.standard_normal((5, 30)))
    assert gradcheck(lambda W: (x @ W).tanh().sum(), [W], fast=fast)
    wrong_tanh(_tanh_wrong_at_last_element)
    with pytest.raises(GradcheckError, match="along a random direction" if fast else "at element"):
        gradcheck(lambda W: (x @ W).tanh().sum(), [W], fast=fast)


def test_fast_mode_runs_the_function_a_few_times_only():
    calls = []
    W = Tensor(RNG.standard_normal((30, 20)), requires_grad=True)

    def fn(W):
        calls.append(1)
        return (W * W).sum()

    assert gradcheck(fn, [W], fast=True)
    assert len(calls) <= 8  # one backward pass, the projection, four stencil points
    calls.clear()
    assert gradcheck(fn, [W])
    assert len(calls) > 4 * W.size


def test_a_graph_changed_after_recording_is_blamed_on_the_recording_not_an_op():
    state = {"k": 0}
    W = Tensor(C.copy(), requires_grad=True)

    def fn(W):  # reads a value outside the graph that changes between calls
        state["k"] += 1
        return (W * float(state["k"] % 2)).sum()

    with pytest.raises(GradcheckError, match=r"the graph was recorded in a way finite differences cannot follow"):
        gradcheck(fn, [W])


@settings(max_examples=60)
@given(testing.expression_graphs())
def test_an_expression_graph_prints_as_code_that_makes_it_again(graph):
    """A failing example's graph pastes back: its repr rebuilds it, its source() runs it."""
    x = graph.tensors()
    value = graph(*x).item()
    again = eval(repr(graph), {"ExpressionGraph": testing.ExpressionGraph})
    assert again(*again.tensors()).item() == value
    namespace: dict = {}
    exec(graph.source(), namespace)
    assert namespace["graph"](*graph.tensors()).item() == value


def test_expression_graphs_draw_every_public_op_in_a_ci_run():
    seen = set()
    find(testing.expression_graphs(), lambda g: seen.update(g.ops) or seen >= set(testing.OPS),
         settings=settings(max_examples=2000, database=None, derandomize=True))  # fmt: skip
    assert seen >= set(testing.OPS)


# --- from a review: what a demanding user tried -----------------------------------------------


def test_a_value_computed_before_fn_ran_does_not_crash_the_localisation():
    W = Tensor(RNG.standard_normal((3, 2)), requires_grad=True)
    column = W.sum(axis=0)  # recorded outside fn: its op cannot be run again
    with pytest.raises(GradcheckError, match=r"1 op recorded before fn ran could not be checked"):
        gradcheck(lambda W: (W * column).sum(), W)


def test_a_large_loss_does_not_fail_a_right_rule_nor_hide_a_wrong_one(monkeypatch):
    W = Tensor(RNG.standard_normal((3, 4)), requires_grad=True)
    assert gradcheck(lambda W: W.tanh().sum() + 1e4, W)
    assert gradcheck(lambda W: (W * 100.0).exp().sum() * 0 + (W * W).sum() * 1e4, W)
    right = ops.Tanh.backward
    monkeypatch.setattr(ops.Tanh, "backward", staticmethod(lambda h, g, needs: (right(h, g, needs)[0] * 1.001,)))
    with pytest.raises(GradcheckError, match=r"The first wrong rule in backward order is tanh"):
        gradcheck(lambda W: W.tanh().sum() + 1e5, W)


def test_a_rule_that_forgets_a_gradient_is_localised():
    from user_ops import Cube

    class Forgetful(Cube):
        @staticmethod
        def backward(ctx, g):
            return None  # a missing return: no gradient although one is needed

    with pytest.raises(GradcheckError, match=r"The first wrong rule in backward order is Forgetful, input 0"):
        gradcheck(lambda x: Forgetful.apply(x).sum(), C.copy())


def test_gradcheck_leaves_every_grad_as_it_was_pass_or_fail(wrong_tanh):
    W = Tensor(RNG.standard_normal((2, 3)), requires_grad=True)
    W.grad = np.full((2, 3), 7.0)
    closed_over = Tensor(RNG.standard_normal(3), requires_grad=True)

    def fn(W):
        return (W * closed_over).tanh().sum()

    assert gradcheck(fn, W)
    wrong_tanh(_tanh_sign_flipped)
    with pytest.raises(GradcheckError):
        gradcheck(fn, W)
    assert (W.grad == 7.0).all() and closed_over.grad is None


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: numerical_gradients(lambda a: a.sum(), [C], eps=0), r"eps is the finite-difference step"),
        (lambda: gradcheck(lambda a: a.sum(), [C], seed="a"), r"seed is an int"),
        (lambda: gradcheck(lambda a: a.sum(), [C], fast="yes"), r"fast is True or False"),
        (lambda: gradcheck(lambda a: a.sum(), [np.zeros(0)]), r"every input that requires grad is empty"),
    ],
)
def test_more_options_that_cannot_work_are_refused(call, message):
    from tinygrad_rnn.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        call()


def test_recording_attrs_is_per_thread():
    import threading

    errors = []

    def check():
        try:
            for _ in range(5):
                with pytest.raises(GradcheckError, match="tanh"):
                    gradcheck(lambda a: a.reshape(-1).tanh().sum(), A.copy())
        except BaseException as e:  # noqa: BLE001 - report any failure from the thread
            errors.append(e)

    right = ops.Tanh.backward
    ops.Tanh.backward = staticmethod(lambda h, g, needs: (right(h, g, needs)[0] * 1.01,))
    try:
        threads = [threading.Thread(target=check) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        ops.Tanh.backward = right
    assert errors == []
