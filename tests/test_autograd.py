"""The backward pass: accumulation, errors, grad mode, graph walking, memory, depth, unbroadcast."""

import gc
import weakref

import numpy as np
import pytest

import tinygrad_rnn
from tinygrad_rnn import BackwardError, Tensor, autograd, is_grad_enabled, no_grad, step
from tinygrad_rnn.autograd import unbroadcast, walk

# --- accumulation ------------------------------------------------------------------------

X = np.array([0.5, -3.0, 1.25])


def _linear_loss(W: Tensor) -> Tensor:
    """L = sum(W * X) on a fresh graph: dL/dW = X."""
    return (W * Tensor(X)).sum()


def test_leaf_gradients_accumulate_across_fresh_graphs():
    W = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    _linear_loss(W).backward()
    np.testing.assert_array_equal(W.grad, [0.5, -3.0, 1.25])
    _linear_loss(W).backward()
    np.testing.assert_array_equal(W.grad, [1.0, -6.0, 2.5])
    _linear_loss(W).backward()
    np.testing.assert_array_equal(W.grad, [1.5, -9.0, 3.75])


def _reset_by_assignment(ts):
    for t in ts:
        t.grad = None


def _reset_by_method(ts):
    for t in ts:
        t.zero_grad()


@pytest.mark.parametrize("reset", [_reset_by_assignment, _reset_by_method, tinygrad_rnn.zero_grad])
def test_accumulation_stops_at_a_reset(reset):
    W = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    b = Tensor(np.array(0.25), requires_grad=True)

    def loss():
        return _linear_loss(W) + b * 4.0

    loss().backward()
    loss().backward()
    assert b.grad == 8.0
    reset([W, b])
    assert W.grad is None
    assert b.grad is None
    loss().backward()
    np.testing.assert_array_equal(W.grad, X)
    assert b.grad == 4.0


def test_backward_twice_on_one_graph_doubles_leaves_but_recomputes_intermediates():
    x = Tensor(np.array([1.0, 2.0, -0.5]), requires_grad=True)
    m = x * x
    loss = (m * m).sum()  # L = sum(x^4): dL/dm = 2m = 2x^2, dL/dx = 4x^3
    loss.backward(retain_grads=True)
    np.testing.assert_array_equal(m.grad, [2.0, 8.0, 0.5])
    np.testing.assert_array_equal(x.grad, [4.0, 32.0, -0.5])
    assert loss.grad == 1.0
    loss.backward(retain_grads=True)
    np.testing.assert_array_equal(m.grad, [2.0, 8.0, 0.5])
    np.testing.assert_array_equal(x.grad, [8.0, 64.0, -1.0])
    assert loss.grad == 1.0
    loss.backward()  # by default the intermediate gradient is released once passed on
    assert m.grad is None and loss.grad == 1.0
    np.testing.assert_array_equal(x.grad, [12.0, 96.0, -1.5])


def test_intermediate_gradients_are_released_unless_kept():
    x = Tensor(np.array([1.0, 2.0, -0.5]), requires_grad=True)
    m = x * x
    n = m * 3.0
    loss = (n * m).sum()  # L = sum(3 x^4): dL/dm = 6m through both uses, dL/dn = m
    assert not m.retains_grad
    assert m.retain_grad() is m and m.retains_grad
    assert x.retain_grad() is x and not x.retains_grad  # a leaf keeps its gradient anyway
    loss.backward()
    np.testing.assert_array_equal(m.grad, [6.0, 24.0, 1.5])
    assert n.grad is None  # released
    assert loss.grad == 1.0  # the root keeps its seed
    grads = autograd.pass_gradients(loss)  # every gradient of the pass, computed again from the seed
    np.testing.assert_array_equal(grads[n], [1.0, 4.0, 0.25])
    np.testing.assert_array_equal(grads[m], m.grad)
    assert x not in grads  # leaves: their .grad may hold several passes
    released = autograd.edge_gradients(loss)
    loss.backward(retain_grads=True)
    assert n.grad is not None
    kept = autograd.edge_gradients(loss)
    assert released.keys() == kept.keys()
    for key in kept:
        np.testing.assert_array_equal(released[key], kept[key])
    with pytest.raises(BackwardError, match="retain_grads must be True or False"):
        loss.backward(retain_grads="yes")


def test_a_released_pass_holds_less_memory_at_its_peak():
    """The point of releasing: backward's peak holds the gradients on their way, not one per node."""
    import tracemalloc

    def peak(retain: bool) -> int:
        W = Tensor(np.eye(64) * 0.5, requires_grad=True)
        h = Tensor(np.ones((16, 64)))
        for _ in range(50):
            h = (h @ W).tanh()
        loss = h.sum()
        tracemalloc.start()
        loss.backward(retain_grads=retain)
        top = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return top

    kept, released = peak(True), peak(False)
    assert kept > 20 * 16 * 64 * 8 * 2  # about two arrays per node for 100 nodes
    assert released < kept / 10


def test_leaf_gradient_does_not_alias_the_seed():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    seed = np.array([3.0, -1.0])
    y = x * 1.0
    y.backward(grad=seed)
    y.backward(grad=seed)
    np.testing.assert_array_equal(x.grad, [6.0, -2.0])
    np.testing.assert_array_equal(seed, [3.0, -1.0])


def test_constants_get_no_gradient():
    W = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    c = Tensor(X)
    (W * c).sum().backward()
    assert c.grad is None


def test_float32_leaf_gets_a_float32_gradient():
    W = Tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    (W * np.array([0.5, 4.0])).sum().backward()  # the float64 operand promotes the product
    assert W.grad.dtype == np.float32
    np.testing.assert_array_equal(W.grad, np.array([0.5, 4.0], dtype=np.float32))


# --- diamonds and sharing ----------------------------------------------------------------


def test_diamond_x_times_x_plus_x():
    x = Tensor(np.array([0.5, -1.25, 3.0]), requires_grad=True)
    (x * x + x).sum().backward()  # d/dx (x^2 + x) = 2x + 1
    np.testing.assert_array_equal(x.grad, [2.0, -1.5, 7.0])


def test_stacked_diamonds_are_walked_once_each():
    # y = x + x, repeated 60 times: 2^60 paths from x to y, but 61 nodes; dy/dx = 2^60 exactly
    x = Tensor(np.array(1.0), requires_grad=True)
    y = x
    for _ in range(60):
        y = y + y
    assert len(walk(y)) == 61
    y.backward()
    assert x.grad == 2.0**60


def test_shared_parameter_gets_the_sum_of_its_uses():
    w = Tensor(np.array(0.5), requires_grad=True)
    loss = Tensor(0.0)
    for t in range(1, 11):
        with step(t):
            loss = loss + w * float(t)  # dL/dw = 1 + 2 + ... + 10
    loss.backward()
    assert w.grad == 55.0


def test_shared_bias_in_a_recurrence_gets_every_step():
    # h_t = h_{t-1} + b, h_0 = 0: h_T = T b, so d(sum h_T)/db = T per element and batch row
    b = Tensor(np.zeros(3), requires_grad=True, name="b")
    h = Tensor(np.zeros((2, 3)))
    for t in range(7):
        with step(t):
            h = h + b
    h.sum().backward()
    np.testing.assert_array_equal(b.grad, [14.0, 14.0, 14.0])


# --- backward's arguments and errors ----------------------------------------------------


def test_backward_on_a_non_scalar_says_to_reduce():
    y = Tensor(np.ones((2, 3)), requires_grad=True) * 2.0
    with pytest.raises(BackwardError) as info:
        y.backward()
    msg = str(info.value)
    assert "(2, 3)" in msg
    assert ".sum()" in msg
    assert "grad=" in msg
    assert isinstance(info.value, RuntimeError)


@pytest.mark.parametrize("as_tensor", [False, True])
def test_backward_with_an_explicit_gradient(as_tensor):
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x * 3.0
    g = np.array([1.0, -2.0])
    y.backward(grad=Tensor(g) if as_tensor else g)
    np.testing.assert_array_equal(x.grad, [3.0, -6.0])


@pytest.mark.parametrize("bad", [(3,), (1, 2), ()])
def test_backward_with_a_gradient_of_the_wrong_shape_raises(bad):
    y = Tensor(np.array([1.0, 2.0]), requires_grad=True) * 3.0
    with pytest.raises(BackwardError) as info:
        y.backward(grad=np.ones(bad))
    assert str(bad) in str(info.value)
    assert "(2,)" in str(info.value)


def test_backward_on_a_tensor_without_grad_raises():
    with pytest.raises(BackwardError, match=r"requires_grad=True") as info:
        (Tensor(np.ones(3)) * 2.0).sum().backward()
    assert "does not require grad" in str(info.value)


def test_backward_on_a_tensor_made_under_no_grad_raises():
    x = Tensor(np.ones(3), requires_grad=True)
    with no_grad():
        y = (x * 2.0).sum()
    with pytest.raises(BackwardError, match="no_grad"):
        y.backward()


@pytest.mark.parametrize("shape", [(1,), (1, 1), (1, 1, 1)])
def test_single_element_output_of_any_shape_needs_no_gradient(shape):
    x = Tensor(np.full(shape, 1.5), requires_grad=True)
    y = x * x
    y.backward()
    np.testing.assert_array_equal(x.grad, np.full(shape, 3.0))


def test_backward_on_a_leaf():
    x = Tensor(np.array(2.0), requires_grad=True)
    x.backward()
    assert x.grad == 1.0


# --- grad mode ---------------------------------------------------------------------------


def _assert_unrecorded(t: Tensor) -> None:
    assert not t.requires_grad
    assert t.parents == ()
    assert t.op is None
    assert t.is_leaf


def test_no_grad_context_manager():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    assert is_grad_enabled()
    with no_grad():
        assert not is_grad_enabled()
        y = (x * 2.0 + 1.0).tanh()
    assert is_grad_enabled()
    _assert_unrecorded(y)
    np.testing.assert_allclose(y.data, np.tanh([3.0, 5.0]), rtol=1e-15)
    assert (x * 2.0).requires_grad


@pytest.mark.parametrize("decorator", [no_grad(), no_grad], ids=["no_grad()", "no_grad"])
def test_no_grad_decorator(decorator):
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)

    @decorator
    def evaluate(t):
        """Doc."""
        assert not is_grad_enabled()
        return t * t

    y = evaluate(x)
    _assert_unrecorded(y)
    np.testing.assert_array_equal(y.data, [1.0, 4.0])
    assert is_grad_enabled()
    assert evaluate.__name__ == "evaluate"
    assert evaluate.__doc__ == "Doc."


def test_no_grad_nests_and_restores_each_level():
    ctx = no_grad()
    with ctx:
        with no_grad():
            assert not is_grad_enabled()
        assert not is_grad_enabled()
        with ctx:  # the same object, re-entered
            assert not is_grad_enabled()
        assert not is_grad_enabled()
    assert is_grad_enabled()


def test_no_grad_restores_grad_mode_after_an_exception():
    with pytest.raises(ZeroDivisionError), no_grad():
        raise ZeroDivisionError

    @no_grad()
    def fail():
        raise KeyError("x")

    with pytest.raises(KeyError):
        fail()
    assert is_grad_enabled()


def test_leaves_created_under_no_grad_keep_requires_grad():
    with no_grad():
        W = Tensor(np.ones(2), requires_grad=True)
    assert W.requires_grad
    (W * 2.0).sum().backward()
    np.testing.assert_array_equal(W.grad, [2.0, 2.0])


# --- walk --------------------------------------------------------------------------------


def _small_program():
    x = Tensor(np.ones((2, 3)), name="x")
    W = Tensor(np.ones((3, 3)), requires_grad=True, name="W")
    b = Tensor(np.zeros(3), requires_grad=True, name="b")
    return (x @ W + b).tanh().sum()


def test_walk_order_follows_argument_order():
    order = walk(_small_program())
    assert [n.op or n.name for n in order] == ["x", "W", "matmul", "b", "add", "tanh", "sum"]


def _rnn_program(T=4):
    """A small tanh RNN unrolled over T steps (parameters U, W, b shared across steps)."""
    rng = np.random.default_rng(0)
    U = Tensor(rng.standard_normal((2, 3)), requires_grad=True, name="U")
    W = Tensor(rng.standard_normal((3, 3)), requires_grad=True, name="W")
    b = Tensor(np.zeros(3), requires_grad=True, name="b")
    h = Tensor(np.zeros((1, 3)), name="h0")
    total = Tensor(0.0)
    for t in range(T):
        with step(t):
            x_t = Tensor(rng.standard_normal((1, 2)), name=f"x{t}")
            h = (x_t @ U + h @ W + b).tanh()
            total = total + (h * h).sum()
    return total


def test_walk_is_a_topological_order():
    root = _rnn_program()
    order = walk(root)
    position = {id(n): i for i, n in enumerate(order)}
    assert len(position) == len(order)  # each node once
    assert order[-1] is root
    for node in order:
        for parent in node.parents:
            assert position[id(parent)] < position[id(node)]
    names = [n.name for n in order if n.name in ("U", "W", "b")]
    assert names == ["U", "W", "b"]  # shared parameters appear once


def test_walk_is_the_same_for_the_same_program():
    def signature(root):
        return [(n.op, n.name, n.step, n.shape) for n in walk(root)]

    first, second = signature(_rnn_program()), signature(_rnn_program())
    assert first == second
    assert len(first) == 5 + 9 * 4  # U, W, b, h0, total0; 9 per step


# --- memory ------------------------------------------------------------------------------


@pytest.mark.parametrize("run_backward", [False, True])
def test_graph_is_freed_when_the_loss_is_dropped(run_backward):
    W = Tensor(np.full((3, 3), 0.1), requires_grad=True, name="W")
    gc.disable()
    try:
        h = Tensor(np.ones((1, 3)))
        for t in range(5):
            with step(t):
                h = (h @ W + 1.0).tanh()
        loss = (h * h).sum()
        if run_backward:
            loss.backward()
        refs = [weakref.ref(n) for n in walk(loss) if n is not W]
        assert len(refs) == 1 + 4 * 5 + 2  # h0; matmul, constant, add, tanh per step; mul, sum
        del loss, h
        alive = [r() for r in refs if r() is not None]
        assert alive == []
    finally:
        gc.enable()
    assert (W.grad is not None) == run_backward  # the parameter and its gradient live on


# --- depth -------------------------------------------------------------------------------


def test_chain_of_100k_multiplications():
    # y = x0 * w^N: dy/dw = N w^(N-1) x0, dy/dx0 = w^N
    n, w0, x0_value = 100_000, 1.0 - 1e-6, 2.0
    w = Tensor(np.array(w0), requires_grad=True, name="w")
    x0 = Tensor(np.array(x0_value), requires_grad=True, name="x0")
    y = x0
    for _ in range(n):
        y = y * w
    y.backward()
    np.testing.assert_allclose(y.item(), x0_value * w0**n, rtol=1e-10)
    np.testing.assert_allclose(w.grad, n * w0 ** (n - 1) * x0_value, rtol=1e-10)
    np.testing.assert_allclose(x0.grad, w0**n, rtol=1e-10)
    assert abs(float(w.grad) - 180967.6555) < 1e-3


def _numpy_scalar_rnn(w, u, xs):
    """h_t = tanh(w h_{t-1} + u x_t), h_0 = 0, in plain float64; returns h_T, dh_T/dw, dh_T/du."""
    hs = [0.0]
    for x in xs:
        hs.append(np.tanh(w * hs[-1] + u * x))
    dw = du = 0.0
    dh = 1.0
    for t in range(len(xs), 0, -1):
        da = dh * (1.0 - hs[t] ** 2)
        dw += da * hs[t - 1]
        du += da * xs[t - 1]
        dh = da * w
    return hs[-1], dw, du


def test_scalar_rnn_unrolled_over_25k_steps():
    # 4 recorded ops per step (mul, mul, add, tanh): a 100,000-op graph
    xs = np.random.default_rng(1).standard_normal(25_000)
    w = Tensor(np.array(0.5), requires_grad=True, name="w")
    u = Tensor(np.array(0.3), requires_grad=True, name="u")
    h = Tensor(np.array(0.0))
    for x_t in xs.tolist():
        h = (w * h + u * x_t).tanh()
    h.backward()
    h_ref, dw_ref, du_ref = _numpy_scalar_rnn(0.5, 0.3, xs.tolist())
    np.testing.assert_allclose(h.item(), h_ref, rtol=1e-12)
    np.testing.assert_allclose(w.grad, dw_ref, rtol=1e-10)
    np.testing.assert_allclose(u.grad, du_ref, rtol=1e-10)


# --- unbroadcast -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grad", "shape", "expected"),
    [
        pytest.param(np.ones((2, 3, 4)), (3, 1), np.full((3, 1), 8.0), id="ones-(2,3,4)-to-(3,1)"),
        pytest.param(np.ones((2, 3)), (), np.array(6.0), id="to-scalar"),
        pytest.param(np.ones((5,)), (1,), np.array([5.0]), id="(5,)-to-(1,)"),
        pytest.param(np.arange(6.0).reshape(2, 3), (3,), np.array([3.0, 5.0, 7.0]), id="drop-leading"),
        pytest.param(np.arange(6.0).reshape(2, 3), (1, 3), np.array([[3.0, 5.0, 7.0]]), id="stretched-rows"),
        pytest.param(np.arange(6.0).reshape(2, 3), (2, 1), np.array([[3.0], [12.0]]), id="stretched-cols"),
        pytest.param(np.arange(24.0).reshape(2, 3, 4), (1, 3, 1), np.array([[[60.0], [92.0], [124.0]]]), id="middle"),
        pytest.param(np.arange(24.0).reshape(2, 3, 4), (4,), np.array([60.0, 66.0, 72.0, 78.0]), id="last-axis"),
    ],
)
def test_unbroadcast(grad, shape, expected):
    out = unbroadcast(grad, shape)
    assert out.shape == shape
    np.testing.assert_array_equal(out, expected)


def test_unbroadcast_of_the_same_shape_returns_the_array():
    g = np.arange(6.0).reshape(2, 3)
    assert unbroadcast(g, (2, 3)) is g


def test_the_seed_is_copied_and_numpy_booleans_are_accepted():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x * 3.0
    seed = np.array([1.0, -1.0])
    y.backward(grad=seed, retain_grads=np.True_)
    seed[:] = 0  # the caller reuses its buffer: the pass's seed must not change
    np.testing.assert_array_equal(y.grad, [1.0, -1.0])
    np.testing.assert_array_equal(autograd.pass_gradients(y)[y], [1.0, -1.0])


def test_pooled_outputs_keep_numpys_layout_and_byte_order():
    from tinygrad_rnn import memory

    rng = np.random.default_rng(0)
    f = np.asfortranarray(rng.normal(size=(64, 96)))
    big = rng.normal(size=(64, 96)).astype(">f8")
    for a, b in ((f, f), (big, big)):
        for name, fn in (("add", lambda p, q: p + q), ("mul", lambda p, q: p * q), ("matmul", lambda p, q: p @ q.T)):
            got = fn(Tensor(a, requires_grad=True), Tensor(b)).data
            want = fn(a, b)
            assert got.flags.f_contiguous == want.flags.f_contiguous, name
            assert got.dtype == want.dtype, name
            np.testing.assert_array_equal(got, want)
    memory.empty_pool()


def test_a_mode_block_restores_only_its_own_setting_when_blocks_close_out_of_order():
    """A generator suspended inside step(t) and resumed inside the caller's no_grad(): each block
    puts back its own field only, so recording stays off where the caller turned it off."""
    from tinygrad_rnn import current_step, is_grad_enabled

    def steps():
        with step(5):
            yield
        yield

    g = steps()
    next(g)  # inside step(5)
    with no_grad():
        next(g)  # the generator leaves step(5) here
        assert not is_grad_enabled()
        assert not Tensor(np.ones(2), requires_grad=True).__mul__(2.0).requires_grad
    assert is_grad_enabled() and current_step() is None


def test_modes_are_decorators_too_and_each_call_has_its_own_block():
    from tinygrad_rnn import detect_anomaly, is_anomaly_enabled

    @detect_anomaly()
    def checked() -> bool:
        return is_anomaly_enabled()

    @step(3)
    def tagged() -> Tensor:
        return Tensor(np.ones(2), requires_grad=True) * 2.0

    assert checked() and not is_anomaly_enabled()
    assert tagged().step == 3
    with no_grad() as value:
        assert value is None  # as before: only recording_attrs gives something to bind


def test_keep_values_is_a_block_and_a_decorator_and_the_step_blocks_inside_give_up_nothing():
    from tinygrad_rnn import keep_values
    from tinygrad_rnn.autograd import Released

    W = Tensor(np.full((128, 128), 0.01), requires_grad=True)
    x = Tensor(np.ones((64, 128)))

    def recorded() -> Tensor:
        with step(0):
            return ((x @ W) @ W).tanh()  # the second product: needed by no rule, given up

    def given_up(out: Tensor) -> list[str]:
        return [t.op for t in walk(out) if type(t._data) is Released]

    kept = keep_values()(recorded)
    assert given_up(recorded()) == ["matmul"]
    assert given_up(kept()) == []
    with keep_values():
        assert given_up(recorded()) == []
        with step(1):  # a step block inside keeps everything too
            assert given_up(recorded()) == []
    assert given_up(recorded()) == ["matmul"]  # and the block is over


@pytest.mark.parametrize(
    ("grad_shape", "shape"), [((1, 3), (3,)), ((1, 1, 3), (3,)), ((1, 2, 3), (2, 3)), ((4, 3), (3,))]
)
def test_unbroadcast_of_a_batch_of_one_has_the_bits_of_the_sum(grad_shape, shape):
    """A guard for a tempting shortcut: axes that broadcasting added with size 1 cannot simply be
    reshaped away, since numpy's sum of a single -0.0 is +0.0 and gradients keep the sum's bits
    (tried: with the zero's sign kept by an add, the shortcut saved nothing measurable)."""
    from tinygrad_rnn.autograd import unbroadcast

    grad = np.random.default_rng(0).normal(size=grad_shape)
    grad.flat[0] = -0.0
    extra = len(grad_shape) - len(shape)
    want = grad.sum(axis=tuple(range(extra)))
    got = unbroadcast(grad, shape)
    assert got.shape == shape and np.array_equal(np.signbit(got), np.signbit(want)) and np.array_equal(got, want)
