"""Optimizers and gradient clipping: updates checked against their equations, worked by hand in numpy."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from tinygrad_rnn import Tensor, TinygradRNNError
from tinygrad_rnn.errors import ShapeError
from tinygrad_rnn.optim import SGD, Adagrad, Adam, Momentum, Optimizer, OptimizerError, clip_grad_norm, clip_grad_value

RNG = np.random.default_rng(0)
P0 = RNG.standard_normal((3, 4))
GRADS = [RNG.standard_normal((3, 4)) for _ in range(5)]

# One configuration of each optimizer (and of each SGD variant) for the tests that apply to all.
CONFIGS = {
    "sgd": (SGD, {"lr": 0.1}),
    "sgd-momentum": (SGD, {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01}),
    "sgd-nesterov": (SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    "adam": (Adam, {"lr": 0.01, "weight_decay": 0.01}),
    "adagrad": (Adagrad, {"lr": 0.1}),
}
ALL = pytest.mark.parametrize("config", list(CONFIGS))


def make(config: str, params):
    cls, kwargs = CONFIGS[config]
    return cls(params, **kwargs)


def param(data=P0, dtype=np.float64, name="W") -> Tensor:
    return Tensor(np.array(data, dtype=dtype), requires_grad=True, name=name)


def run(opt: Optimizer, grads) -> None:
    for g in grads:
        for p in opt.params:
            p.grad = np.array(g, dtype=p.dtype)
        opt.step()


# --- each rule against its equations ------------------------------------------------------------


def test_sgd_plain_matches_equations():
    p = param()
    run(SGD([p], lr=0.1), GRADS[:3])
    np.testing.assert_allclose(p.data, P0 - 0.1 * (GRADS[0] + GRADS[1] + GRADS[2]), rtol=1e-12)


def test_sgd_momentum_two_steps_closed_form():
    # v1 = g1 = 0.5, p1 = 1 - 0.1*0.5 = 0.95; v2 = 0.9*0.5 - 1 = -0.55, p2 = 0.95 + 0.055 = 1.005
    p = param([1.0])
    run(SGD([p], lr=0.1, momentum=0.9), [[0.5], [-1.0]])
    np.testing.assert_allclose(p.data, [1.005], rtol=1e-12)
    # in general: p2 = p0 - lr*g1 - lr*(mu*g1 + g2)
    p = param()
    run(SGD([p], lr=0.1, momentum=0.9), GRADS[:2])
    np.testing.assert_allclose(p.data, P0 - 0.1 * GRADS[0] - 0.1 * (0.9 * GRADS[0] + GRADS[1]), rtol=1e-12)


def test_momentum_is_sgd_with_momentum_0_9():
    p, q = param(), param()
    run(Momentum([p], lr=0.1), GRADS[:3])
    run(SGD([q], lr=0.1, momentum=0.9), GRADS[:3])
    np.testing.assert_array_equal(p.data, q.data)
    assert Momentum([param()], lr=0.1, momentum=0.5, nesterov=True).hyperparams["momentum"] == 0.5


def test_sgd_momentum_can_be_switched_on_and_off_between_steps():
    p = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    opt, g = SGD([p], lr=0.1), np.array([0.5, 1.0])
    p.grad = g.copy()
    opt.step()  # plain: p -= lr g, the velocity stays 0
    np.testing.assert_allclose(p.data, [0.95, -2.1])
    opt.momentum = 0.9  # a schedule switches momentum on: v = 0.9 * 0 + g
    opt.step()
    np.testing.assert_allclose(p.data, [0.90, -2.2])
    opt.step()  # v = 0.9 g + g
    np.testing.assert_allclose(p.data, [0.90 - 0.095, -2.2 - 0.19])
    saved = opt.state_dict()
    assert saved["hyperparams"]["momentum"] == 0.9
    opt.momentum = 0.0
    opt.step()
    np.testing.assert_allclose(p.data, [0.90 - 0.095 - 0.05, -2.2 - 0.19 - 0.1])
    fresh = SGD([p], lr=0.1)
    fresh.load_state_dict(saved)  # a checkpoint taken with momentum on loads into a plain SGD
    np.testing.assert_allclose(fresh.state["velocity"][0], 1.9 * g)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_and_weight_decay_match_equations(nesterov):
    lr, mu, wd = 0.05, 0.8, 0.1
    p = param()
    run(SGD([p], lr=lr, momentum=mu, nesterov=nesterov, weight_decay=wd), GRADS[:3])
    ref, v = P0.copy(), np.zeros_like(P0)
    for g in GRADS[:3]:
        g = g + wd * ref
        v = mu * v + g
        ref = ref - lr * (g + mu * v if nesterov else v)
    np.testing.assert_allclose(p.data, ref, rtol=1e-12)


@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_adam_matches_equations(wd):
    lr, b1, b2, eps = 0.01, 0.8, 0.9, 1e-6
    p = param()
    opt = Adam([p], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)
    run(opt, GRADS[:3])
    ref, m, v = P0.copy(), np.zeros_like(P0), np.zeros_like(P0)
    for t, g in enumerate(GRADS[:3], start=1):
        g = g + wd * ref
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        ref = ref - lr * m_hat / (np.sqrt(v_hat) + eps)
    np.testing.assert_allclose(p.data, ref, rtol=1e-12)
    assert opt.state["step"] == [3]


def test_adam_first_step_moves_each_weight_by_lr():
    # t = 1: m_hat = g and v_hat = g^2, so the step is lr * g / (|g| + eps) = lr * sign(g)
    p = param([1.0, 1.0, 1.0])
    run(Adam([p], lr=0.01), [[3.0, -0.002, 40.0]])
    np.testing.assert_allclose(p.data, [0.99, 1.01, 0.99], rtol=1e-6)


def test_adagrad_matches_equations():
    lr, eps = 0.1, 1e-8
    p = param()
    run(Adagrad([p], lr=lr, eps=eps), GRADS[:3])
    ref, mem = P0.copy(), np.zeros_like(P0)
    for g in GRADS[:3]:
        mem += g * g
        ref -= lr * g / np.sqrt(mem + eps)
    np.testing.assert_allclose(p.data, ref, rtol=1e-12)
    # the first step is lr * g / sqrt(g^2 + eps), about lr * sign(g)
    q = param([0.0, 0.0])
    run(Adagrad([q], lr=0.1), [[2.0, -0.5]])
    np.testing.assert_allclose(q.data, [-0.1, 0.1], rtol=1e-7)


def test_adam_minimises_a_quadratic():
    target = np.array([1.0, -2.0, 3.0])
    x = Tensor(np.zeros(3), requires_grad=True, name="x")
    opt = Adam([x], lr=0.1)
    for _ in range(300):
        opt.zero_grad()
        loss = ((x - target) ** 2).sum()
        loss.backward()
        opt.step()
    np.testing.assert_allclose(x.data, target, atol=1e-3)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("SGD", {"lr": 0.1}),
        ("SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01}),
        ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
        ("Adam", {"lr": 0.01, "betas": (0.8, 0.9)}),
        ("Adam", {"lr": 0.01, "weight_decay": 0.1}),
        ("Adagrad", {"lr": 0.1, "eps": 1e-10}),
    ],
)
def test_matches_torch_optim(name, kwargs):
    torch = pytest.importorskip("torch")
    ours = Tensor(P0.copy(), requires_grad=True)
    theirs = torch.tensor(P0.copy(), dtype=torch.float64, requires_grad=True)
    opt = {"SGD": SGD, "Adam": Adam, "Adagrad": Adagrad}[name]([ours], **kwargs)
    topt = getattr(torch.optim, name)([theirs], **kwargs)
    for g in GRADS[:3]:
        ours.grad = g.copy()
        opt.step()
        theirs.grad = torch.tensor(g.copy())
        topt.step()
    # Adagrad: ours has sqrt(mem + eps), PyTorch sqrt(mem) + eps; here they differ by about 3e-10.
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-7, atol=1e-9)


# --- behaviour shared by all optimizers ---------------------------------------------------------


@ALL
def test_float32_parameters_and_state_stay_float32(config):
    cls, kwargs = CONFIGS[config]
    # numpy float64 hyperparameters must not upcast the update either
    kwargs = {k: np.float64(v) if isinstance(v, float) else v for k, v in kwargs.items()}
    p = param(dtype=np.float32)
    opt = cls([p], **kwargs)
    assert type(opt.lr) is float  # a Python float is a "weak" scalar: float32 * lr stays float32
    run(opt, GRADS[:3])
    assert p.data.dtype == np.float32
    assert not np.array_equal(p.data, P0.astype(np.float32))
    for key, values in opt.state.items():
        if key != "step":
            assert values[0].dtype == np.float32, key


@ALL
def test_step_updates_data_in_place(config):
    p = param()
    arr = p.data
    opt = make(config, [p])
    state_arrays = {key: values[0] for key, values in opt.state.items() if key != "step"}
    run(opt, GRADS[:2])
    assert p.data is arr
    assert not np.array_equal(arr, P0)
    for key, a in state_arrays.items():
        assert opt.state[key][0] is a, key


@ALL
def test_parameters_without_grad_are_untouched(config):
    a, b = param(name="a"), param(name="b")
    opt = make(config, [a, b])
    a.grad = GRADS[0].copy()
    b.grad = None
    opt.step()
    assert not np.array_equal(a.data, P0)
    np.testing.assert_array_equal(b.data, P0)
    for key, values in opt.state.items():
        if key == "step":
            assert values == [1, 0]
        else:
            np.testing.assert_array_equal(values[1], 0.0)


@ALL
def test_step_does_not_change_the_gradient(config):
    p = param()
    g = GRADS[0].copy()
    p.grad = g
    make(config, [p]).step()
    assert p.grad is g
    np.testing.assert_array_equal(g, GRADS[0])


def test_zero_grad_sets_every_grad_to_none():
    a, b = param(name="a"), param(name="b")
    opt = SGD([a, b], lr=0.1)
    a.grad, b.grad = GRADS[0].copy(), GRADS[1].copy()
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_generator_of_parameters_is_accepted():
    ps = [param(name="U"), param(name="W")]
    opt = Adam(p for p in ps)
    assert opt.params == ps
    run(opt, GRADS[:1])
    assert all(not np.array_equal(p.data, P0) for p in ps)


def test_hyperparameters_can_be_changed_between_steps():
    p = param([1.0])
    opt = SGD([p], lr=0.1)
    run(opt, [[1.0]])
    opt.lr = 0.01
    run(opt, [[1.0]])
    np.testing.assert_allclose(p.data, [0.89], rtol=1e-12)
    assert repr(opt) == "SGD(lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0; 1 parameter)"


# --- checkpoints --------------------------------------------------------------------------------


@ALL
def test_state_dict_round_trip_resumes_exactly(config):
    a = param()
    run(make(config, [a]), GRADS)  # 5 steps straight through

    b = param()
    opt_b = make(config, [b])
    run(opt_b, GRADS[:2])
    saved = pickle.loads(pickle.dumps(opt_b.state_dict()))
    c = param(b.data.copy())  # the checkpointed weights, in a new array
    run(opt_b, GRADS[2:3])  # later steps must not leak into the saved snapshot

    opt_c = make(config, [c])
    opt_c.load_state_dict(saved)
    run(opt_c, GRADS[2:])  # 3 more
    np.testing.assert_array_equal(c.data, a.data)


def test_state_dict_is_plain_data_keyed_by_position():
    a, b = param(name="U"), param(np.ones(2), name="b")
    opt = Adam([a, b], lr=0.01, betas=(0.8, 0.9))
    a.grad = GRADS[0].copy()
    opt.step()
    sd = opt.state_dict()
    assert sd["optimizer"] == "Adam"
    assert sd["hyperparams"] == {"lr": 0.01, "betas": (0.8, 0.9), "eps": 1e-8, "weight_decay": 0.0}
    assert sd["state"]["step"] == [1, 0]
    assert [m.shape for m in sd["state"]["m"]] == [(3, 4), (2,)]
    assert sd["state"]["m"][0] is not opt.state["m"][0]


def test_load_state_dict_restores_hyperparameters_and_casts_to_parameter_dtype():
    src = SGD([param()], lr=0.5, momentum=0.9)
    run(src, GRADS[:1])
    p = param(dtype=np.float32)
    dst = SGD([p], lr=0.1, momentum=0.1)
    dst.load_state_dict(src.state_dict())
    assert dst.lr == 0.5 and dst.momentum == 0.9
    assert dst.state["velocity"][0].dtype == np.float32
    np.testing.assert_allclose(dst.state["velocity"][0], GRADS[0], rtol=1e-6)


# --- clipping -----------------------------------------------------------------------------------


def test_clip_grad_norm_returns_the_norm_before_clipping_and_limits_it():
    a, b, c = param(name="a"), param(np.zeros(2), name="b"), param(name="c")
    a.grad = np.full((3, 4), 3.0)  # sum of squares 108
    b.grad = np.array([4.0, 6.0])  # 52
    c.grad = None
    norm = clip_grad_norm([a, b, c], max_norm=2.0)
    assert norm == pytest.approx(math.sqrt(160.0), rel=1e-12)
    after = math.sqrt(np.sum(a.grad**2) + np.sum(b.grad**2))
    assert after == pytest.approx(2.0, rel=1e-6)
    np.testing.assert_allclose(b.grad / np.array([4.0, 6.0]), 2.0 / (math.sqrt(160.0) + 1e-6))  # direction kept
    assert c.grad is None


def test_clip_grad_norm_below_the_limit_changes_nothing():
    p = param()
    g = GRADS[0].copy()
    p.grad = g
    norm = clip_grad_norm(iter([p]), max_norm=100.0)
    assert norm == pytest.approx(np.linalg.norm(GRADS[0]), rel=1e-12)
    assert p.grad is g
    np.testing.assert_array_equal(g, GRADS[0])
    assert clip_grad_norm([param()], max_norm=1.0) == 0.0  # no gradients at all


def test_clip_grad_norm_float32_in_place_and_no_overflow():
    p = param(np.zeros(3), dtype=np.float32)
    g = np.array([3e20, 4e20, 0.0], dtype=np.float32)  # squares overflow float32
    p.grad = g
    norm = clip_grad_norm(p, max_norm=1.0)
    assert norm == pytest.approx(5e20, rel=1e-6)
    assert p.grad is g and g.dtype == np.float32
    np.testing.assert_allclose(g, [0.6, 0.8, 0.0], rtol=1e-6)


@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_clip_grad_norm_non_finite_leaves_grads_untouched(bad):
    a, b = param(np.zeros(2)), param(np.zeros(2))
    a.grad = np.array([bad, 1.0])
    b.grad = np.array([100.0, 100.0])
    norm = clip_grad_norm([a, b], max_norm=1.0)
    assert not math.isfinite(norm)
    np.testing.assert_array_equal(b.grad, [100.0, 100.0])


def test_clip_grad_value_clips_in_place():
    a, b = param(np.zeros(4), dtype=np.float32), param(np.zeros(1))
    g = np.array([-7.0, -5.0, 2.5, 12.0], dtype=np.float32)
    a.grad = g
    b.grad = None
    clip_grad_value([a, b], 5)
    assert a.grad is g and g.dtype == np.float32
    np.testing.assert_array_equal(g, [-5.0, -5.0, 2.5, 5.0])
    assert b.grad is None


# --- errors -------------------------------------------------------------------------------------


def test_optimizer_error_is_a_library_error_and_a_value_error():
    assert issubclass(OptimizerError, TinygradRNNError)
    assert issubclass(OptimizerError, ValueError)


@pytest.mark.parametrize("params", [[], iter([]), ()])
def test_no_parameters(params):
    with pytest.raises(OptimizerError, match=r"optimizer got no parameters; pass model.parameters\(\)"):
        SGD(params, lr=0.1)


def test_bad_parameters_are_named():
    frozen = Tensor(np.zeros(2), name="c")
    with pytest.raises(OptimizerError, match=r"parameter 1 \('c', shape \(2,\)\) does not require grad"):
        Adam([param(), frozen])
    with pytest.raises(OptimizerError, match=r"parameter 1 is a ndarray, not a Tensor"):
        Adam([param(), np.zeros(2)])
    with pytest.raises(OptimizerError, match=r"got a single Tensor; wrap it in a list"):
        Adam(param())
    with pytest.raises(OptimizerError, match=r"expected an iterable of parameter Tensors, got float"):
        Adam(1.0)
    p = param()
    with pytest.raises(OptimizerError, match=r"parameter 1 \('W'.*is the same Tensor as parameter 0"):
        Adam([p, p])
    ro = param()
    ro.data.flags.writeable = False
    with pytest.raises(OptimizerError, match=r"parameter 0 \('W'.*read-only"):
        Adam([ro])


@pytest.mark.parametrize(
    ("cls", "kwargs", "message"),
    [
        (SGD, {"lr": 0.0}, r"SGD: lr must be a finite number > 0, got 0.0"),
        (SGD, {"lr": -1e-3}, r"lr must be a finite number > 0"),
        (SGD, {"lr": float("nan")}, r"lr must be a finite number > 0"),
        (SGD, {"lr": "0.1"}, r"lr must be a finite number > 0, got '0.1'"),
        (SGD, {"lr": 0.1, "momentum": -0.5}, r"momentum must be a finite number >= 0"),
        (SGD, {"lr": 0.1, "weight_decay": -1}, r"weight_decay must be a finite number >= 0"),
        (SGD, {"lr": 0.1, "nesterov": True}, r"nesterov=True needs momentum > 0"),
        (Adam, {"lr": -1.0}, r"Adam: lr must be"),
        (Adam, {"betas": (1.0, 0.999)}, r"betas\[0\] must be a number in \[0, 1\), got 1.0"),
        (Adam, {"betas": (0.9, -0.1)}, r"betas\[1\] must be a number in \[0, 1\)"),
        (Adam, {"betas": 0.9}, r"betas must be a pair"),
        (Adam, {"eps": 0.0}, r"eps must be a finite number > 0"),
        (Adam, {"weight_decay": -0.1}, r"weight_decay must be"),
        (Adagrad, {"lr": 0.0}, r"Adagrad: lr must be"),
        (Adagrad, {"eps": -1e-8}, r"Adagrad: eps must be"),
    ],
)
def test_bad_hyperparameters(cls, kwargs, message):
    with pytest.raises(OptimizerError, match=message):
        cls([param()], **kwargs)


def test_gradient_of_the_wrong_shape():
    a, b = param(name="a"), param(name="b")
    opt = SGD([a, b], lr=0.1)
    a.grad = GRADS[0].copy()
    b.grad = np.zeros(3)
    with pytest.raises(ShapeError, match=r"parameter 1 \('b', shape \(3, 4\)\) has a .grad of shape \(3,\)"):
        opt.step()
    np.testing.assert_array_equal(a.data, P0)  # checked before anything moved


def test_load_state_dict_errors_leave_the_optimizer_unchanged():
    p = param()
    opt = Adam([p], lr=0.01)
    run(opt, GRADS[:1])
    good = opt.state_dict()
    before = opt.state_dict()

    def broken(**changes):
        sd = {**good, "state": dict(good["state"]), "hyperparams": dict(good["hyperparams"])}
        for path, value in changes.items():
            where, key = path.split("__")
            sd[where][key] = value
        return sd

    cases = [
        ([1, 2], r"expected a dict with keys 'optimizer', 'hyperparams' and 'state'"),
        ({"state": {}}, r"expected a dict with keys .* got dict with keys \['state'\]"),
        (SGD([param()], lr=0.1, momentum=0.9).state_dict(), r"saved from a SGD optimizer; load it into a SGD"),
        (broken(hyperparams__lr=-1.0), r"Adam: lr must be a finite number > 0"),
        (
            {**good, "hyperparams": {"lr": 0.1}},
            r"hyperparams must have the keys \['betas', 'eps', 'lr', 'weight_decay'\]",
        ),
        ({**good, "state": {"m": good["state"]["m"]}}, r"state must have the keys \['m', 'step', 'v'\]"),
        (broken(state__m=[]), r"state 'm' must be a list with one entry per parameter \(1\), got 0 entries"),
        (
            broken(hyperparams__lr=0.5, state__v=[np.zeros((4, 3))]),  # valid lr, but nothing may change
            r"state 'v' of parameter 0 \('W', shape \(3, 4\)\) has shape \(4, 3\)",
        ),
        (broken(state__step=[-1]), r"state 'step' of parameter 0 .* must be a step count"),
        (broken(state__step=[1.5]), r"must be a step count"),
    ]
    for sd, message in cases:
        with pytest.raises(OptimizerError, match=message):
            opt.load_state_dict(sd)
    after = opt.state_dict()
    assert opt.lr == 0.01
    assert after["hyperparams"] == before["hyperparams"] and after["state"]["step"] == before["state"]["step"]
    np.testing.assert_array_equal(after["state"]["m"][0], before["state"]["m"][0])


def test_load_state_dict_from_a_different_number_of_parameters():
    saved = SGD([param(), param()], lr=0.1, momentum=0.9).state_dict()
    with pytest.raises(OptimizerError, match=r"one entry per parameter \(1\), got 2 entries; build the optimizer"):
        SGD([param()], lr=0.1, momentum=0.9).load_state_dict(saved)


@pytest.mark.parametrize("clip", [clip_grad_norm, clip_grad_value])
def test_clipping_errors(clip):
    p = param()
    p.grad = GRADS[0].copy()
    arg = "max_norm" if clip is clip_grad_norm else "clip_value"
    for bad in (0.0, -1.0, float("nan"), None):
        with pytest.raises(OptimizerError, match=rf"{clip.__name__}: {arg} must be a finite number > 0"):
            clip([p], bad)
    with pytest.raises(OptimizerError, match=rf"{clip.__name__}: parameter 1 is a ndarray, not a Tensor"):
        clip([p, np.zeros(2)], 1.0)
    with pytest.raises(OptimizerError, match=r"expected a Tensor or an iterable of Tensors, got int"):
        clip(3, 1.0)
    np.testing.assert_array_equal(p.grad, GRADS[0])
