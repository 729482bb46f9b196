"""nn modules: gradients against finite differences and Goodfellow's closed-form BPTT, the sum over
steps of a tied parameter's gradient, teacher forcing, step tagging, the Module API and input errors.

nn works with batch-major row vectors, a(t) = b + h(t-1) W + x(t) U, o(t) = c + h(t) V, so its
U, W, V are the transposes of the column-form parameters in tests/test_bptt.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from test_bptt import closed_form_bptt

from tinygrad_rnn import DTypeError, ShapeError, Tensor, nn, step
from tinygrad_rnn import functional as F
from tinygrad_rnn.autograd import walk
from tinygrad_rnn.gradcheck import gradcheck

# --- problems: sizes, a seed, and the data drawn from it ---------------------------------------


@dataclass(frozen=True)
class Problem:
    """T input steps, batch B, sizes I (input), H (hidden), O (output); S output steps for the
    vector-to-sequence and decoder modules; xs (T, B, I); ys (max(T, S), B, O) teacher targets."""

    T: int
    B: int
    I: int
    H: int
    O: int
    S: int
    seed: int
    xs: np.ndarray
    ys: np.ndarray

    def normal(self, shapes: list[tuple[int, ...]], salt: int) -> list[np.ndarray]:
        rng = np.random.default_rng([self.seed, salt])
        return [rng.standard_normal(s) for s in shapes]


def make_problem(T=3, B=2, I=2, H=3, O=4, S=2, seed=0) -> Problem:
    rng = np.random.default_rng(seed)
    xs, ys = rng.standard_normal((T, B, I)), rng.standard_normal((max(T, S), B, O))
    return Problem(T, B, I, H, O, S, seed, xs, ys)


@st.composite
def problems(draw, min_T=1, max_T=5, min_S=1, max_S=4, min_O=1):
    sizes = st.integers(1, 4)
    return make_problem(
        T=draw(st.integers(min_T, max_T)),
        B=draw(st.integers(1, 3)),
        I=draw(sizes),
        H=draw(sizes),
        O=draw(st.integers(min_O, 4)),
        S=draw(st.integers(min_S, max_S)),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


def cost_steps(n: int) -> st.SearchStrategy[list[int]]:
    """A non-empty list of distinct steps in [0, n), in any order."""
    return st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True)


# --- every module, built and run the same way ----------------------------------------------------


@dataclass(frozen=True)
class Kind:
    build: Callable[..., nn.Module]  # (problem, **kwargs) -> module
    run: Callable[[Any, Any, Problem], list[Tensor]]  # (module, xs array or Tensor, problem) -> outputs
    timing: str | None = None  # how its steps are numbered: see out_steps and n_steps


def sized(cls: type[nn.Module], *sizes: str, **fixed: Any) -> Callable[..., nn.Module]:
    """A builder calling ``cls`` with the problem's sizes named by ``sizes``, e.g. ("I", "H")."""
    return lambda p, **kw: cls(*(getattr(p, k) for k in sizes), **fixed, **kw)


def first_vector(xs: Any) -> Any:
    """VecToSeq's input: x(0) of the sequence, taken (by the test, in step 0) as the one vector."""
    with step(0):
        return xs[0]


def vec_to_seq(feed: str) -> Kind:
    def build(p: Problem, **kwargs: Any) -> nn.VecToSeq:
        return nn.VecToSeq(p.I, p.H, p.O, steps=p.S, feed=feed, **kwargs)

    return Kind(build, lambda m, x, p: m(first_vector(x)), "vec")


def linear_steps(m: nn.Linear, xs: Any) -> list[Tensor]:
    y = m(xs if isinstance(xs, Tensor) else Tensor(xs, dtype=m.V.dtype))  # as RNN treats an array input
    return [y[t] for t in range(len(y))]


KINDS: dict[str, Kind] = {
    "rnn-tanh": Kind(sized(nn.RNN, "I", "H"), lambda m, x, p: m(x)[0], "seq"),
    "rnn-relu": Kind(sized(nn.RNN, "I", "H", nonlinearity="relu"), lambda m, x, p: m(x)[0], "seq"),
    "seq2seq": Kind(sized(nn.SeqToSeq, "I", "H", "O"), lambda m, x, p: m(x), "seq"),
    "seq2vec": Kind(sized(nn.SeqToVec, "I", "H", "O"), lambda m, x, p: [m(x)], "last"),
    "vec2seq-every": vec_to_seq("every"),
    "vec2seq-first": vec_to_seq("first"),
    "encdec-targets": Kind(sized(nn.EncoderDecoder, "I", "H", "O"), lambda m, x, p: m(x, targets=p.ys[: p.S]), "dec"),
    "encdec-steps": Kind(sized(nn.EncoderDecoder, "I", "H", "O"), lambda m, x, p: m(x, steps=p.S), "dec"),
    "ornn-teacher": Kind(
        sized(nn.OutputRecurrentRNN, "I", "H", "O"),
        lambda m, x, p: m(x, targets=p.ys[: p.T]),
        "seq",
    ),
    "ornn-closed": Kind(sized(nn.OutputRecurrentRNN, "I", "H", "O"), lambda m, x, p: m(x), "seq"),
    "linear": Kind(sized(nn.Linear, "I", "O"), lambda m, x, p: linear_steps(m, x)),
}
STEPPED = [k for k, kind in KINDS.items() if kind.timing is not None]


def out_steps(kind: str, p: Problem) -> list[int]:
    """The step each output is tagged with: decoder steps follow the encoder's."""
    spans = {"seq": range(p.T), "last": [p.T - 1], "vec": range(p.S), "dec": range(p.T, p.T + p.S)}
    return list(spans[KINDS[kind].timing])


def n_steps(kind: str, p: Problem) -> int:
    """Every tensor of the forward is tagged with a step in [0, n_steps)."""
    return {"seq": p.T, "last": p.T, "vec": p.S, "dec": p.T + p.S}[KINDS[kind].timing]


def randomize(module: nn.Module, seed: int) -> nn.Module:
    """Every parameter, biases included, uniform in [-1, 1), so no gradient is trivially zero."""
    rng = np.random.default_rng([seed, 1])
    for p in module.parameters():
        p.data[...] = rng.uniform(-1, 1, p.shape)
    return module


def build(kind: str, p: Problem, **kwargs: Any) -> nn.Module:
    return randomize(KINDS[kind].build(p, seed=p.seed, **kwargs), p.seed)


def run(kind: str, module: nn.Module, p: Problem, xs: Any = None) -> list[Tensor]:
    return KINDS[kind].run(module, p.xs if xs is None else xs, p)


def grad_or_zeros(t: Tensor) -> np.ndarray:
    return np.zeros(t.shape) if t.grad is None else t.grad


def np_cell(m: nn.RNNCell, x: np.ndarray, r: np.ndarray) -> np.ndarray:
    """h = act(b + r W + x U) in numpy; r is the recurrent input (h(t-1), or an output)."""
    a = m.b.data + r @ m.W.data + x @ m.U.data
    return np.tanh(a) if m.nonlinearity == "tanh" else np.maximum(a, 0.0)


def np_rnn(m: nn.RNN, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pre-activations a(t) and states h(t) of ``m`` in numpy, from h(0) = 0."""
    h, pre, hs = np.zeros((xs.shape[1], m.hidden_size)), [], []
    for x in xs:
        pre.append(m.b.data + h @ m.W.data + x @ m.U.data)
        h = np_cell(m, x, h)
        hs.append(h)
    return np.stack(pre), np.stack(hs)


def np_forward(kind: str, m: nn.Module, p: Problem) -> list[np.ndarray]:
    """Each module's outputs from its equations, in numpy."""
    zeros = np.zeros((p.B, p.O))

    def out(h: np.ndarray, q: nn.Module = m) -> np.ndarray:
        return q.c.data + h @ q.V.data

    if kind == "linear":
        return [out(x) for x in p.xs]
    if kind.startswith("encdec"):  # the decoder's input is the previous output (or target), its state h
        h, prev, outputs = np_rnn(m.encoder, p.xs)[1][-1], zeros, []
        for s in range(p.S):
            h = np_cell(m.decoder, prev, h)
            outputs.append(out(h, m.decoder))
            prev = p.ys[s] if kind == "encdec-targets" else outputs[-1]
        return outputs
    if kind.startswith("ornn"):  # the recurrent input is o(t-1) (or y(t-1))
        prev, outputs = zeros, []
        for t, x in enumerate(p.xs):
            outputs.append(out(np_cell(m, x, prev)))
            prev = p.ys[t] if kind == "ornn-teacher" else outputs[-1]
        return outputs
    if kind.startswith("vec2seq"):
        fed = np.zeros((p.S, *p.xs[0].shape))  # "first": x at step 0, zeros after
        fed[0 if kind == "vec2seq-first" else slice(None)] = p.xs[0]
        return [out(h) for h in np_rnn(m, fed)[1]]
    hs = np_rnn(m, p.xs)[1]
    if kind.startswith("rnn"):
        return list(hs)
    return [out(h) for h in (hs[-1:] if kind == "seq2vec" else hs)]


def untied_unroll(model: nn.RNN, xs: Any) -> tuple[list[Tensor], list[dict[str, Tensor]]]:
    """``model``'s recurrence unrolled by hand with a separate copy of U, W, b at every step.

    The copies hold the same values as the model's parameters but are separate leaves, so after
    ``backward`` copy t's ``.grad`` is step t's own contribution, dL/dW(t).
    """
    act = Tensor.tanh if model.nonlinearity == "tanh" else Tensor.relu
    T, B = xs.shape[:2]
    h = Tensor(np.zeros((B, model.hidden_size)))
    hs, copies = [], []
    for t in range(T):
        p = {k: Tensor(getattr(model, k).data.copy(), requires_grad=True, name=f"{k}({t})") for k in "UWb"}
        x = xs[t] if isinstance(xs, Tensor) else Tensor(xs[t])
        with step(t):
            h = act(p["b"] + h @ p["W"] + x @ p["U"])
        hs.append(h)
        copies.append(p)
    return hs, copies


def sum_of_copies(copies: list[dict[str, Tensor]], name: str, steps: range) -> np.ndarray:
    return sum(grad_or_zeros(copies[t][name]) for t in steps)


# --- gradients against finite differences ----------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@given(problem=problems(), input_grad=st.booleans(), data=st.data())
def test_gradients_match_finite_differences(kind, problem, input_grad, data):
    model = build(kind, problem)
    if kind == "rnn-relu":  # finite differences must not step across relu's kink
        assume(np.abs(np_rnn(model, problem.xs)[0]).min() > 5e-3)  # the stencil reaches 2 eps = 2e-4
    x = Tensor(problem.xs.copy(), requires_grad=True) if input_grad else problem.xs
    outputs = run(kind, model, problem, x)
    steps = data.draw(cost_steps(len(outputs)), label="steps")
    targets = problem.normal([o.shape for o in outputs], salt=2)

    def loss(*_: Tensor) -> Tensor:
        return F.sequence_loss(run(kind, model, problem, x), targets, steps=steps, loss=F.mse)

    inputs = ([x] if input_grad else []) + list(model.parameters())
    assert gradcheck(loss, inputs)


@pytest.mark.parametrize("kind", KINDS)
@given(problem=problems())
def test_forward_matches_the_equations(kind, problem):
    model = build(kind, problem)
    got, expected = run(kind, model, problem), np_forward(kind, model, problem)
    assert len(got) == len(expected)
    for t, (g, e) in enumerate(zip(got, expected, strict=True)):
        np.testing.assert_allclose(g.data, e, rtol=1e-12, atol=1e-14, err_msg=f"output {t}")


# --- against Goodfellow's closed-form BPTT (tests/test_bptt.py, column vectors) ---------------------


@pytest.mark.parametrize("head", ["seq2seq", "rnn+linear"])
@given(problem=problems(max_T=6, min_O=2), data=st.data())
def test_matches_goodfellow_closed_form(head, problem, data):
    T, B = problem.T, problem.B
    if head == "seq2seq":
        rnn = out = build("seq2seq", problem)
        outputs = rnn(problem.xs)
    else:
        rnn = build("rnn-tanh", problem)
        out = randomize(nn.Linear(problem.H, problem.O), problem.seed + 1)
        hs, _ = rnn(problem.xs)
        outputs = [out(h) for h in hs]
    steps = data.draw(cost_steps(T), label="steps")
    labels = np.random.default_rng([problem.seed, 3]).integers(0, problem.O, (T, B))
    F.sequence_loss(outputs, labels, steps=steps).backward(retain_grads=True)  # mean over the batch at each step

    column = {"U": rnn.U.data.T, "W": rnn.W.data.T, "b": rnn.b.data, "V": out.V.data.T, "c": out.c.data}
    per_example = [closed_form_bptt(column, problem.xs[:, i], labels[:, i], set(steps)) for i in range(B)]
    params = {"U": rnn.U, "W": rnn.W, "b": rnn.b, "V": out.V, "c": out.c}
    for k, param in params.items():
        expected = sum(g[k] for g in per_example) / B
        np.testing.assert_allclose(param.grad, expected.T, rtol=1e-10, atol=1e-12, err_msg=f"dL/d{k}")
    if head == "rnn+linear":  # dL/dh(t) for every step and example
        g_h = np.stack([grad_or_zeros(h) for h in hs])
        expected = np.stack([g["h"] for g in per_example], axis=1) / B
        np.testing.assert_allclose(g_h, expected, rtol=1e-10, atol=1e-12)


# --- a tied parameter's gradient is the sum over steps of its per-step gradients ---------------------


@pytest.mark.parametrize("kind", ["rnn-tanh", "rnn-relu"])
@given(problem=problems(max_T=6), data=st.data())
def test_tied_gradient_is_the_sum_of_the_per_step_copies(kind, problem, data):
    model = build(kind, problem)
    steps = data.draw(cost_steps(problem.T), label="steps")
    targets = problem.normal([(problem.B, problem.H)] * problem.T, salt=2)
    tied, _ = model(problem.xs)
    untied, copies = untied_unroll(model, problem.xs)
    for a, b in zip(tied, untied, strict=True):  # equal up to the fused op's order of summation
        np.testing.assert_allclose(a.data, b.data, rtol=1e-14, atol=1e-15)
    for hs in (tied, untied):
        F.sequence_loss(hs, targets, steps=steps, loss=F.mse).backward()
    for k in "UWb":
        expected = sum_of_copies(copies, k, range(problem.T))
        np.testing.assert_allclose(getattr(model, k).grad, expected, rtol=1e-12, atol=1e-14, err_msg=k)
    # a copy used after the last step in the cost does not reach the loss
    assert [c["W"].grad is None for c in copies] == [t > max(steps) for t in range(problem.T)]


# --- teacher forcing decouples the steps --------------------------------------------------------------


@pytest.mark.parametrize("teacher_forcing", [True, False])
@given(problem=problems(min_T=2))
def test_output_recurrence_dependence_on_the_first_input(teacher_forcing, problem):
    model = build("ornn-closed", problem)
    targets = problem.ys[: problem.T]

    def outputs(xs: Any) -> list[Tensor]:
        return model(xs, targets=targets) if teacher_forcing else model(xs)

    if not teacher_forcing:  # x(0)'s effect may decay below the last output's rounding (1e-18 at H = 1)
        probe = Tensor(problem.xs.copy(), requires_grad=True)
        outputs(probe)[-1].sum().backward()
        assume(np.abs(probe.grad[0]).sum() > 1e-9)
    changed = problem.xs.copy()
    changed[0] += 1.0
    before, after = outputs(problem.xs), outputs(changed)
    differs = [not np.array_equal(a.data, b.data) for a, b in zip(before, after, strict=True)]
    assert differs == [True] + [not teacher_forcing] * (problem.T - 1)

    x = Tensor(problem.xs.copy(), requires_grad=True)
    sum(o.sum() for o in outputs(x)[1:]).backward()
    step_norms = np.abs(x.grad).sum(axis=(1, 2))
    assert (step_norms[0] > 0) == (not teacher_forcing)
    if teacher_forcing:
        np.testing.assert_array_equal(x.grad[0], np.zeros((problem.B, problem.I)))
    assert (step_norms[1:] > 0).all()


@pytest.mark.parametrize(("closed", "forced"), [("ornn-closed", "ornn-teacher"), ("encdec-steps", "encdec-targets")])
@given(problem=problems())
def test_teacher_forcing_with_its_own_outputs_reproduces_the_closed_loop(closed, forced, problem):
    model = build(closed, problem)
    own = run(closed, model, problem)
    again = run(forced, model, replace(problem, ys=np.stack([o.data for o in own])))
    for a, b in zip(own, again, strict=True):
        np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize(
    ("kind", "forced"),
    [("ornn-teacher", True), ("ornn-closed", False), ("encdec-targets", True), ("encdec-steps", False)],
)
@given(problem=problems(min_T=2, min_S=2))
def test_teacher_forced_outputs_do_not_depend_on_previous_outputs(kind, forced, problem):
    outputs = run(kind, build(kind, problem), problem)
    for s, o in enumerate(outputs):
        ancestors = {id(n) for n in walk(o)}
        assert [id(prev) in ancestors for prev in outputs[:s]] == [not forced] * s


TARGET_REACH = {  # which outputs change when the teacher target y(s) changes
    "ornn-teacher": lambda s, t: t == s + 1,  # o(t) depends on y(t-1) and x(t) only
    "encdec-targets": lambda s, t: t > s,  # ... but the decoder's state carries y(s) forward
}


@pytest.mark.parametrize("kind", TARGET_REACH)
@given(problem=problems(min_T=2, min_S=2), data=st.data())
def test_changing_a_teacher_target_changes_only_later_outputs(kind, problem, data):
    model = build(kind, problem)
    before = run(kind, model, problem)
    s = data.draw(st.integers(0, len(before) - 1), label="s")
    ys = problem.ys.copy()
    ys[s] += 1.0
    after = run(kind, model, replace(problem, ys=ys))
    differs = [not np.array_equal(a.data, b.data) for a, b in zip(before, after, strict=True)]
    assert differs == [TARGET_REACH[kind](s, t) for t in range(len(before))]


# --- step tagging and shared parameters ----------------------------------------------------------------


@pytest.mark.parametrize("kind", STEPPED)
@given(problem=problems(), input_grad=st.booleans())
def test_every_tensor_of_the_forward_is_tagged_with_its_step(kind, problem, input_grad):
    x = Tensor(problem.xs.copy(), requires_grad=True) if input_grad else problem.xs
    outputs = run(kind, build(kind, problem), problem, x)
    assert [o.step for o in outputs] == list(out_steps(kind, problem))
    tagged = set()
    for o in outputs:
        made = [n.step for n in walk(o) if n.op is not None]
        assert all(s is not None and 0 <= s <= o.step for s in made), made  # and nothing from a later step
        tagged.update(made)
    assert sorted(tagged) == list(range(n_steps(kind, problem)))


def test_linear_is_tagged_with_the_enclosing_step():
    layer = nn.Linear(3, 2, seed=0)
    h = Tensor(np.ones((4, 3)), requires_grad=True)
    with step(7):
        o = layer(h)
    assert o.step == 7
    assert [(n.op, n.step) for n in walk(o) if n.op is not None] == [("affine", 7)]
    assert layer(h).step is None


def model_nonlinearity(model: nn.Module) -> str:
    return getattr(model, "nonlinearity", None) or model.encoder.nonlinearity


def param_steps(kind: str, name: str, p: Problem) -> range | list[int]:
    if name.startswith("encoder."):
        return range(p.T)
    if name.startswith("decoder."):
        return range(p.T, p.T + p.S)
    if kind == "seq2vec" and name in ("V", "c"):
        return [p.T - 1]
    return range(n_steps(kind, p))


@pytest.mark.parametrize("kind", STEPPED)
def test_parameters_are_single_nodes_used_once_per_step(kind):
    p = make_problem(T=4, B=2, I=3, H=3, O=2, S=3)
    model = build(kind, p)
    order = walk(sum(o.sum() for o in run(kind, model, p)))
    for name, param in model.named_parameters():
        assert [n for n in order if n.is_leaf and n.name == name] == [param]
        uses = sorted((n.step, n.op) for n in order if any(q is param for q in n.parents))
        # each step's h(t) = tanh(b + h(t-1) W + x(t) U) and o(t) = c + h(t) V are one fused node each
        op = "affine" if name[-1] in "Vc" else f"{model_nonlinearity(model)}(affine)"
        assert uses == [(t, op) for t in param_steps(kind, name, p)], name


# --- Module API ----------------------------------------------------------------------------------------

P234 = make_problem(T=3, B=2, I=2, H=3, O=4, S=2)
CORE = [("U", (2, 3)), ("W", (3, 3)), ("b", (3,))]
HEAD = [("V", (3, 4)), ("c", (4,))]
OUTPUT_RECURRENT = [("U", (2, 3)), ("W", (4, 3)), ("b", (3,))] + HEAD  # W maps o(t-1), of size 4
ENCODER_DECODER = [(f"encoder.{n}", s) for n, s in CORE] + [
    (f"decoder.{n}", s)
    for n, s in [("U", (4, 3)), ("W", (3, 3)), ("b", (3,))] + HEAD  # decoder input: o(s-1)
]
EXPECTED_PARAMS = {
    "rnn-tanh": CORE,
    "rnn-relu": CORE,
    "seq2seq": CORE + HEAD,
    "seq2vec": CORE + HEAD,
    "vec2seq-every": CORE + HEAD,
    "vec2seq-first": CORE + HEAD,
    "encdec-targets": ENCODER_DECODER,
    "encdec-steps": ENCODER_DECODER,
    "ornn-teacher": OUTPUT_RECURRENT,
    "ornn-closed": OUTPUT_RECURRENT,
    "linear": [("V", (2, 4)), ("c", (4,))],
}
ALL_KINDS = pytest.mark.parametrize("kind", KINDS)


@ALL_KINDS
def test_named_parameters_names_shapes_and_order(kind):
    model = KINDS[kind].build(P234, seed=0)
    named = list(model.named_parameters())
    assert [(n, p.shape) for n, p in named] == EXPECTED_PARAMS[kind]
    assert [p.name for _, p in named] == [n for n, _ in EXPECTED_PARAMS[kind]]
    assert [id(p) for p in model.parameters()] == [id(p) for _, p in named]
    assert all(p.requires_grad and p.is_leaf and p.dtype == np.float64 for _, p in named)


def loss_of(kind: str, model: nn.Module, p: Problem) -> Tensor:
    return sum((o * o).sum() for o in run(kind, model, p))


@ALL_KINDS
def test_zero_grad_resets_every_parameter(kind):
    model = build(kind, P234)
    loss_of(kind, model, P234).backward()
    assert all(np.abs(p.grad).sum() > 0 for p in model.parameters())
    model.zero_grad()
    assert [p.grad for p in model.parameters()] == [None] * len(EXPECTED_PARAMS[kind])


@ALL_KINDS
def test_state_dict_is_a_copy(kind):
    model = build(kind, P234)
    state = model.state_dict()
    assert list(state) == [n for n, _ in EXPECTED_PARAMS[kind]]
    before = {n: p.data.copy() for n, p in model.named_parameters()}
    for name, value in state.items():
        np.testing.assert_array_equal(value, before[name])
        value += 1.0
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(p.data, before[name])


@ALL_KINDS
def test_load_state_dict_round_trip_restores_outputs_exactly(kind):
    source, target = build(kind, P234), randomize(KINDS[kind].build(P234, seed=1), seed=99)
    expected = [o.data for o in run(kind, source, P234)]
    assert not np.array_equal(run(kind, target, P234)[0].data, expected[0])
    arrays = [p.data for p in target.parameters()]
    target.load_state_dict(source.state_dict())
    assert all(p.data is a for p, a in zip(target.parameters(), arrays, strict=True))  # copied in place
    for o, e in zip(run(kind, target, P234), expected, strict=True):
        np.testing.assert_array_equal(o.data, e)


def _drop(state: dict, name: str) -> dict:
    return {k: v for k, v in state.items() if k != name}


BAD_STATES = {  # (edit of a valid state, what the message says)
    "missing": (lambda s, last: _drop(s, last), r"missing parameters \['{last}'\], unexpected \[\]"),
    "unexpected": (lambda s, last: {**s, "X": np.zeros(1)}, r"missing parameters \[\], unexpected \['X'\]"),
    "renamed": (lambda s, last: {**_drop(s, last), "X": s[last]}, r"missing parameters \['{last}'\], unexpected"),
    "wrong shape": (
        lambda s, last: {**s, last: np.zeros((7,))},
        r"parameter '{last}' has shape \(\d+,\) but the state",
    ),
}


@pytest.mark.parametrize("module", ["rnn-tanh", "seq2seq", "encdec-steps", "linear"])
@pytest.mark.parametrize("bad", BAD_STATES)
def test_load_state_dict_rejects_a_bad_state_and_changes_nothing(module, bad):
    model = build(module, P234)
    before = model.state_dict()
    shifted = {k: v + 1.0 for k, v in before.items()}  # valid values would change every parameter
    last = list(shifted)[-1]
    edit, message = BAD_STATES[bad]
    with pytest.raises(ShapeError, match=message.format(last=re.escape(last))):
        model.load_state_dict(edit(shifted, last))
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(p.data, before[name])


def test_load_state_dict_message_names_the_parameter_and_both_shapes():
    model = nn.SeqToSeq(2, 3, 4, seed=0)
    state = {**model.state_dict(), "V": np.zeros((4, 3))}
    with pytest.raises(ShapeError, match=r"parameter 'V' has shape \(3, 4\) but the state holds \(4, 3\)"):
        model.load_state_dict(state)


def test_load_state_dict_with_an_uncastable_value_changes_nothing():
    model = nn.RNN(2, 3, seed=0)
    before = model.state_dict()
    state = {k: v + 1.0 for k, v in before.items()}
    state["W"] = state["W"].astype(np.complex128)
    with pytest.raises((TypeError, ValueError), match="W"):
        model.load_state_dict(state)
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(p.data, before[name])


@ALL_KINDS
def test_float32_modules_keep_float32_outputs_and_gradients(kind):
    model = build(kind, P234, dtype=np.float32)
    assert all(p.dtype == np.float32 for p in model.parameters())
    outputs = run(kind, model, P234)
    assert [o.dtype for o in outputs] == [np.float32] * len(outputs)
    loss = sum((o * o).sum() for o in outputs)
    assert loss.dtype == np.float32
    loss.backward()
    assert all(p.grad.dtype == np.float32 and np.abs(p.grad).sum() > 0 for p in model.parameters())
    reference = run(kind, build(kind, P234), P234)  # the same values in float64
    for a, b in zip(outputs, reference, strict=True):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-4, atol=1e-5)


@ALL_KINDS
def test_seed_makes_initialisation_reproducible(kind):
    def state(seed):
        return KINDS[kind].build(P234, seed=seed).state_dict()

    a, b, c, d = state(3), state(3), state(np.random.default_rng(3)), state(4)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
        np.testing.assert_array_equal(a[name], c[name])
    weights = [n for n in a if n[-1] in "UWV"]
    assert all(not np.array_equal(a[n], d[n]) for n in weights)


def glorot(fan_in: int, fan_out: int) -> float:
    return float(np.sqrt(6.0 / (fan_in + fan_out)))


I_, H_, O_ = 40, 60, 50
INIT_CASES = {  # module, parameter, the bound of its uniform distribution (0: all zeros)
    "RNN U": (lambda: nn.RNN(I_, H_, seed=0), "U", glorot(I_, H_)),
    "RNN b": (lambda: nn.RNN(I_, H_, seed=0), "b", 0.0),
    "RNN U, init=glorot": (lambda: nn.RNN(I_, H_, seed=0, init="glorot"), "U", glorot(I_ + H_, H_)),
    "RNN W, init=glorot": (lambda: nn.RNN(I_, H_, seed=0, init="glorot"), "W", glorot(I_ + H_, H_)),
    "OutputRecurrentRNN W, init=glorot": (
        lambda: nn.OutputRecurrentRNN(I_, H_, O_, seed=0, init="glorot"),
        "W",
        glorot(I_ + O_, H_),
    ),
    "EncoderDecoder decoder.W, init=glorot": (
        lambda: nn.EncoderDecoder(I_, H_, O_, seed=0, init="glorot"),
        "decoder.W",
        glorot(O_ + H_, H_),
    ),
    "SeqToSeq V": (lambda: nn.SeqToSeq(I_, H_, O_, seed=0), "V", glorot(H_, O_)),
    "SeqToSeq c": (lambda: nn.SeqToSeq(I_, H_, O_, seed=0), "c", 0.0),
    "OutputRecurrentRNN U": (lambda: nn.OutputRecurrentRNN(I_, H_, O_, seed=0), "U", glorot(I_, H_)),
    "EncoderDecoder decoder.U": (lambda: nn.EncoderDecoder(I_, H_, O_, seed=0), "decoder.U", glorot(O_, H_)),
    "EncoderDecoder decoder.V": (lambda: nn.EncoderDecoder(I_, H_, O_, seed=0), "decoder.V", glorot(H_, O_)),
    "Linear V": (lambda: nn.Linear(I_, O_, seed=0), "V", glorot(I_, O_)),
    "Linear c": (lambda: nn.Linear(I_, O_, seed=0), "c", 0.0),
}


@pytest.mark.parametrize("case", INIT_CASES)
def test_initialisation_statistics(case):
    make, name, limit = INIT_CASES[case]
    values = dict(make().named_parameters())[name].data
    if limit == 0.0:
        np.testing.assert_array_equal(values, np.zeros_like(values))
        return
    assert np.abs(values).max() <= limit
    assert np.abs(values).max() > 0.98 * limit  # thousands of draws reach the edges
    assert abs(values.mean()) < 0.05 * limit
    assert values.std() == pytest.approx(limit / np.sqrt(3), rel=0.05)  # the std of U(-l, l)


ORTHOGONAL_CASES = {  # module, its recurrent weight, whether its rows (fewer than columns) are orthonormal
    "RNN W": (lambda **kw: nn.RNN(I_, H_, **kw), "W", False),
    "OutputRecurrentRNN W (O < H)": (lambda **kw: nn.OutputRecurrentRNN(I_, H_, O_, **kw), "W", True),
    "OutputRecurrentRNN W (O > H)": (lambda **kw: nn.OutputRecurrentRNN(I_, O_, H_, **kw), "W", False),
    "EncoderDecoder decoder.W": (lambda **kw: nn.EncoderDecoder(I_, H_, O_, **kw), "decoder.W", False),
}


@pytest.mark.parametrize("case", ORTHOGONAL_CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_recurrent_weights_start_orthogonal(case, dtype):
    make, name, by_rows = ORTHOGONAL_CASES[case]
    W = dict(make(seed=0, dtype=dtype).named_parameters())[name].data
    assert W.dtype == dtype
    gram = W @ W.T if by_rows else W.T @ W
    np.testing.assert_allclose(gram, np.eye(len(gram)), atol=1e-5 if dtype == np.float32 else 1e-12)
    # the singular values are all 1, and the matrix is random: another seed gives another one
    assert not np.allclose(W, dict(make(seed=1, dtype=dtype).named_parameters())[name].data)


def test_orthogonal_is_uniform_over_signs():
    """Without the sign fix of the QR factor every diagonal entry would be biased positive."""
    rng = np.random.default_rng(0)
    diagonals = np.array([np.diag(nn.orthogonal((6, 6), rng, np.float64)) for _ in range(2000)])
    assert abs(diagonals.mean()) < 0.02
    assert (diagonals > 0).mean() == pytest.approx(0.5, abs=0.02)


def test_output_recurrent_cell_is_one_step_of_the_output_recurrent_rnn():
    p = make_problem(T=3, B=2, I=2, H=3, O=2, seed=7)
    cell, net = nn.OutputRecurrentCell(2, 3, 2, seed=7), nn.OutputRecurrentRNN(2, 3, 2, seed=7)
    for name, value in net.state_dict().items():
        np.testing.assert_array_equal(cell.state_dict()[name], value)
    o, outputs = np.zeros((2, 2)), []
    for x in p.xs:  # closed loop by hand: feed each output back
        o = cell(x, o)
        outputs.append(o)
    for mine, theirs in zip(outputs, net(p.xs), strict=True):
        np.testing.assert_allclose(mine.data, theirs.data, rtol=1e-14)

    def loss() -> Tensor:
        o = np.zeros((2, 2))
        for x in p.xs:
            o = cell(x, o)
        return (o * o).sum()

    assert gradcheck(lambda *_: loss(), list(cell.parameters()))


def test_encoder_decoder_feeds_back_its_outputs_through_feedback():
    p = make_problem(T=3, B=2, I=2, H=3, O=4, seed=8)
    model = nn.EncoderDecoder(2, 3, 4, seed=8)
    generated = model(p.xs, steps=3, feedback=F.softmax)
    _, h = model.encoder(p.xs)
    prev, expected = np.zeros((2, 4)), []
    for _ in range(3):  # the decoder's input is the softmax of its previous output
        h = model.decoder.cell(Tensor(prev), h)
        o = model.decoder.head(h)
        expected.append(o.data)
        prev = F.softmax(o).data
    for mine, theirs in zip(generated, expected, strict=True):
        np.testing.assert_allclose(mine.data, theirs, rtol=1e-13)
    raw = model(p.xs, steps=3)  # without feedback the raw output goes back in: another sequence
    assert not np.allclose(raw[2].data, generated[2].data)


@pytest.mark.parametrize("kind", ["encdec", "outrec"])
def test_a_bad_feedback_is_named_with_its_step_and_what_it_must_give(kind):
    p = make_problem(T=3, B=2, I=2, H=3, O=4, seed=8)
    model, who = (nn.EncoderDecoder(2, 3, 4, seed=8), "EncoderDecoder") if kind == "encdec" else (
        nn.OutputRecurrentRNN(2, 3, 4, seed=8), "OutputRecurrentRNN")  # fmt: skip
    run = (lambda fb: model(p.xs, steps=2, feedback=fb)) if kind == "encdec" else (lambda fb: model(p.xs, feedback=fb))
    first = 3 if kind == "encdec" else 0  # the decoder's steps come after the encoder's
    shape = rf"{who}: feedback\(o\) at step {first} gave shape \(2, 1\); .* o's shape \(2, 4\)"
    with pytest.raises(ShapeError, match=shape):
        run(lambda o: o.sum(axis=1, keepdims=True))
    with pytest.raises(DTypeError, match=rf"{who}: feedback\(o\) at step {first} gave a Tensor of dtype float32"):
        run(lambda o: Tensor(o.data.astype(np.float32)))
    with pytest.raises(DTypeError, match=rf"{who}: feedback\(o\) at step {first} gave list of dtype <U1"):
        run(lambda o: [["a"] * 4] * 2)
    one_hot = [np.eye(4, dtype=np.int64)[o.data.argmax(axis=1)] for o in run(lambda o: o)]  # greedy, by hand
    fed = run(lambda o: np.eye(4, dtype=np.int64)[o.data.argmax(axis=1)])  # data, as before: converted
    assert all(o.dtype == np.float64 for o in fed) and len(fed) == len(one_hot)


@pytest.mark.parametrize("kind", ["encdec", "outrec"])
def test_tensor_targets_follow_the_dtype_rule_and_get_the_gradient_of_what_they_were_fed_into(kind):
    rng = np.random.default_rng(3)
    xs = rng.normal(size=(3, 2, 2))
    S = 2 if kind == "encdec" else 3

    def build(dtype=np.float64):
        if kind == "encdec":
            return nn.EncoderDecoder(2, 3, 4, seed=1, dtype=dtype)
        return nn.OutputRecurrentRNN(2, 3, 4, seed=1, dtype=dtype)

    with pytest.raises(DTypeError, match="targets is a float64 Tensor but the module computes in float32"):
        build(np.float32)(xs.astype(np.float32), targets=Tensor(rng.normal(size=(S, 2, 4))))
    model = build()
    y = Tensor(rng.normal(size=(S, 2, 4)), requires_grad=True)
    aim = rng.normal(size=(S, 2, 4))

    def loss() -> Tensor:
        return F.sequence_loss(model(xs, targets=y), aim, loss=F.mse)  # y enters only as the fed-back input

    assert gradcheck(lambda *_: loss(), [y])
    total = loss()
    total.backward()
    assert np.abs(y.grad).max() > 1e-3  # y(0) .. y(S-2) are fed in; the last one feeds nothing
    np.testing.assert_array_equal(y.grad[-1], 0.0)
    reads = 4 if kind == "encdec" else 1  # the step that reads y(0): the decoder's second, after 3 encoder steps
    assert sorted(n.step for n in walk(total) if n.name == "y") == list(range(reads, reads + S - 1))
    first = y.grad.copy()
    listed = F.sequence_loss(model(xs, targets=[y[s] for s in range(S)]), aim, loss=F.mse)  # a list keeps it too
    y.grad = None
    listed.backward()
    np.testing.assert_allclose(y.grad, first, rtol=1e-12)


def test_cell_and_linear_take_arrays_and_backpropagate():
    cell, head = nn.RNNCell(3, 4, seed=0), nn.Linear(4, 2, seed=1)
    x, h = np.linspace(-1, 1, 6).reshape(2, 3), np.full((2, 4), 0.1)
    loss = head(cell(x, h)).sum()
    loss.backward()
    h1 = np.tanh(cell.b.data + h @ cell.W.data + x @ cell.U.data)
    np.testing.assert_allclose(loss.item(), (h1 @ head.V.data + head.c.data).sum(), rtol=1e-14)
    d = (1 - h1**2) * head.V.data.sum(axis=1)  # dL/da for L = sum(h1 V + c)
    np.testing.assert_allclose(cell.W.grad, h.T @ d, rtol=1e-12)
    np.testing.assert_allclose(cell.U.grad, x.T @ d, rtol=1e-12)
    assert head([[0.5, 0.5, 0.5, 0.5]]).shape == (1, 2)  # a nested list is an input too


def test_rnn_uses_the_given_initial_state():
    p = make_problem(T=2, B=2, I=2, H=3, seed=5)
    model = build("rnn-tanh", p)
    h0 = np.full((2, 3), 0.5)
    outputs, h_T = model(p.xs, h0=h0)
    np.testing.assert_allclose(outputs[0].data, np_cell(model, p.xs[0], h0), rtol=1e-14)
    np.testing.assert_allclose(outputs[1].data, np_cell(model, p.xs[1], outputs[0].data), rtol=1e-14)
    assert h_T is outputs[-1]


# --- bad input -------------------------------------------------------------------------------------------

SIZES = [0, -1, 2.5, True, None, "3"]
CONSTRUCTORS = {
    "RNN input_size": lambda n: nn.RNN(n, 3),
    "RNN hidden_size": lambda n: nn.RNN(2, n),
    "SeqToSeq output_size": lambda n: nn.SeqToSeq(2, 3, n),
    "SeqToVec hidden_size": lambda n: nn.SeqToVec(2, n, 4),
    "VecToSeq steps": lambda n: nn.VecToSeq(2, 3, 4, steps=n),
    "OutputRecurrentRNN output_size": lambda n: nn.OutputRecurrentRNN(2, 3, n),
    "EncoderDecoder hidden_size": lambda n: nn.EncoderDecoder(2, n, 4),
    "Linear in_features": lambda n: nn.Linear(n, 2),
    "Linear out_features": lambda n: nn.Linear(2, n),
}


@pytest.mark.parametrize("size", SIZES, ids=repr)
@pytest.mark.parametrize("ctor", CONSTRUCTORS)
def test_invalid_sizes_raise_value_error(ctor, size):
    argument = ctor.split()[1]
    with pytest.raises(ValueError, match=rf"{argument} must be a positive integer, got {re.escape(repr(size))}"):
        CONSTRUCTORS[ctor](size)


def test_numpy_integer_sizes_are_accepted():
    model = nn.SeqToSeq(np.int64(2), np.int32(3), np.int16(4))
    assert [p.shape for p in model.parameters()] == [s for _, s in CORE + HEAD]


@pytest.mark.parametrize("sizes", [(0, 3, 4), (2, 3, 0)])
def test_encoder_decoder_size_errors_name_encoder_decoder(sizes):
    with pytest.raises(ValueError, match=r"^EncoderDecoder"):
        nn.EncoderDecoder(*sizes)


X = np.ones((3, 2, 2))  # T=3, B=2, I=2
ERRORS = {  # (call, exception, message)
    "2-d input": (
        lambda: nn.RNN(2, 3)(np.ones((3, 2))),
        ShapeError,
        r"expected input of shape \(time, batch, 2\), got \(3, 2\); add a time axis",
    ),
    "feature size": (
        lambda: nn.SeqToSeq(2, 3, 4)(np.ones((3, 1, 5))),
        ShapeError,
        r"expected input of shape \(time, batch, 2\), got \(3, 1, 5\); the feature size differs",
    ),
    "4-d input": (lambda: nn.RNN(2, 3)(np.ones((3, 1, 1, 2))), ShapeError, r"got \(3, 1, 1, 2\)"),
    "no steps": (lambda: nn.RNN(2, 3)(np.ones((0, 1, 2))), ShapeError, r"shape \(0, 1, 2\): 0 time steps"),
    "string input": (lambda: nn.RNN(2, 3)(np.full((1, 1, 2), "a")), DTypeError, r"must be numeric"),
    "list of steps of mixed shapes": (
        lambda: nn.RNN(2, 3)([np.ones((1, 2)), np.ones((2, 2))]),
        ShapeError,
        r"got shapes \[\(1, 2\), \(2, 2\)\]",
    ),
    "nonlinearity sigmoid": (lambda: nn.RNN(2, 3, nonlinearity="sigmoid"), ValueError, r"\['relu', 'tanh'\]"),
    "nonlinearity Tanh": (lambda: nn.SeqToSeq(2, 3, 4, nonlinearity="Tanh"), ValueError, r"got 'Tanh'"),
    "init xavier": (
        lambda: nn.RNN(2, 3, init="xavier"),
        ValueError,
        r"init must be one of \['glorot', 'orthogonal'\], got 'xavier'",
    ),
    "init on EncoderDecoder": (lambda: nn.EncoderDecoder(2, 3, 4, init="he"), ValueError, r"got 'he'"),
    "integer dtype": (lambda: nn.RNN(2, 3, dtype=np.int64), DTypeError, r"floating-point type"),
    "h0 shape": (
        lambda: nn.RNN(2, 3)(X, h0=np.zeros((2, 4))),
        ShapeError,
        r"h0 has shape \(2, 4\), expected \(batch, hidden\) = \(2, 3\)",
    ),
    "h0 without batch": (lambda: nn.SeqToVec(2, 3, 4)(X, h0=np.zeros(3)), ShapeError, r"h0 has shape \(3,\)"),
    "ornn targets shape": (
        lambda: nn.OutputRecurrentRNN(2, 3, 4)(X, targets=np.zeros((3, 2, 3))),
        ShapeError,
        r"targets must have shape \(time, batch, output\) = \(S, 2, 4\), got \(3, 2, 3\)",
    ),
    "ornn targets length": (
        lambda: nn.OutputRecurrentRNN(2, 3, 4)(X, targets=np.zeros((2, 2, 4))),
        ShapeError,
        r"3 input steps but 2 target steps",
    ),
    "ornn h0 shape": (
        lambda: nn.OutputRecurrentRNN(2, 3, 4)(X, h0=np.zeros((2, 3))),
        ShapeError,
        r"OutputRecurrentRNN: o0 has shape \(2, 3\), expected \(batch, output\) = \(2, 4\)",
    ),
    "encdec targets shape": (
        lambda: nn.EncoderDecoder(2, 3, 4)(X, targets=np.zeros((2, 1, 4))),
        ShapeError,
        r"= \(S, 2, 4\), got \(2, 1, 4\)",
    ),
    "encdec both": (
        lambda: nn.EncoderDecoder(2, 3, 4)(X, targets=np.zeros((2, 2, 4)), steps=2),
        ValueError,
        r"exactly one of targets= \(teacher forcing\) or steps= \(generation\)",
    ),
    "encdec neither": (lambda: nn.EncoderDecoder(2, 3, 4)(X), ValueError, r"exactly one of targets="),
    "encdec zero steps": (lambda: nn.EncoderDecoder(2, 3, 4)(X, steps=0), ValueError, r"steps must be a positive"),
    "vec2seq input": (
        lambda: nn.VecToSeq(2, 3, 4, steps=2)(X),
        ShapeError,
        r"shape \(batch, 2\), got \(3, 2, 2\)",
    ),
    "vec2seq feed": (lambda: nn.VecToSeq(2, 3, 4, steps=2, feed="last"), ValueError, r"'every' or 'first', got 'last'"),
    "linear features": (
        lambda: nn.Linear(3, 2)(Tensor(np.ones((4, 2)))),
        ShapeError,
        r"input has shape \(4, 2\), expected \(\.\.\., 3\)",
    ),
}


@pytest.mark.parametrize("case", ERRORS)
def test_bad_input_errors(case):
    call, exc, message = ERRORS[case]
    with pytest.raises(exc, match=message):
        call()


def test_every_network_takes_an_initial_state():
    """h0 everywhere (issue 13): given, it is the state before the first step."""
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(3, 2, 2))
    enc = nn.EncoderDecoder(2, 3, 4, seed=0)
    h0 = rng.normal(size=(2, 3))
    with_h0 = enc(xs, steps=2, h0=h0)
    _, state = enc.encoder(xs, h0)
    np.testing.assert_array_equal(with_h0[0].data, enc.decoder(state, steps=2, first_step=3)[0].data)
    assert not np.array_equal(with_h0[0].data, enc(xs, steps=2)[0].data)
    ornn = nn.OutputRecurrentRNN(2, 3, 4, seed=0)
    o0 = rng.normal(size=(2, 4))
    first = ornn(xs, h0=o0)[0]
    np.testing.assert_array_equal(first.data, ornn.cell(xs[0], o0).data)
    lstm = nn.SeqToVec(2, 3, 4, cell="lstm", seed=0)
    pair = (rng.normal(size=(2, 3)), rng.normal(size=(2, 3)))
    assert not np.array_equal(lstm(xs, h0=pair).data, lstm(xs).data)


def test_one_dtype_rule_for_inputs_states_and_arrays():
    """A module computes in its own dtype (issue 13): data is converted, a Tensor of another
    floating dtype refused with the fix, so no step silently runs in float64."""
    model = nn.SeqToVec(2, 3, 4, dtype=np.float32, seed=0)
    xs64 = np.random.default_rng(0).normal(size=(3, 2, 2))  # float64 data
    out = model(xs64, h0=np.zeros((2, 3)))
    assert out.dtype == np.float32
    assert all(h.dtype == np.float32 for h in nn.RNN.forward(model.rnn, xs64)[0])
    assert model(Tensor(np.ones((3, 2, 2), dtype=np.int64))).dtype == np.float32  # integer data converts
    for bad, what in (
        (lambda: model(Tensor(xs64)), "x is a float64 Tensor but the module computes in float32"),
        (lambda: model(Tensor(xs64, requires_grad=True)), "x is a float64 Tensor"),
        (lambda: model(xs64, h0=Tensor(np.zeros((2, 3)))), "h0 is a float64 Tensor"),
        (lambda: model.head(Tensor(np.zeros((2, 3)))), "input is a float64 Tensor"),
        (lambda: nn.LSTMCell(2, 3, dtype=np.float32)(np.ones((1, 2)), (np.zeros((1, 3)), Tensor(np.zeros((1, 3))))),
         "c is a float64 Tensor"),
    ):
        with pytest.raises(DTypeError, match=what) as info:
            bad()
        assert "astype(np.float32)" in str(info.value) and "dtype=np.float64" in str(info.value)


@pytest.mark.parametrize("kind", ["encdec", "ornn"])
def test_class_labels_as_teacher_forcing_targets_are_fed_back_one_hot(kind):
    """classes=True (issue 13): integer labels are the targets, fed back one-hot; generation feeds
    back the one-hot of the best class, the same as teacher forcing with those choices."""
    rng = np.random.default_rng(0)
    xs, labels = rng.normal(size=(4, 2, 3)), rng.integers(0, 5, size=(4, 2))
    if kind == "encdec":
        model = nn.EncoderDecoder(3, 6, 5, classes=True, seed=0)
        forced, closed = model(xs, targets=labels), model(xs, steps=4)
        as_values = nn.EncoderDecoder(3, 6, 5, seed=0)(xs, targets=np.eye(5)[labels])
    else:
        model = nn.OutputRecurrentRNN(3, 6, 5, classes=True, seed=0)
        forced, closed = model(xs, targets=labels), model(xs)
        as_values = nn.OutputRecurrentRNN(3, 6, 5, seed=0)(xs, targets=np.eye(5)[labels])
    for a, b in zip(forced, as_values, strict=True):  # labels fed back = their one-hot rows fed back
        np.testing.assert_array_equal(a.data, b.data)
    chosen = np.stack([o.data.argmax(axis=-1) for o in closed])
    again = model(xs, targets=chosen)  # teacher forcing feeds y(s-1) at step s: what the closed loop chose
    for a, b in zip(closed, again, strict=True):
        np.testing.assert_array_equal(a.data, b.data)
    with pytest.raises(ValueError, match=r"target label 5 is out of range for 5 classes \(0 to 4\)"):
        model(xs, targets=np.full((4, 2), 5))
    plain = nn.EncoderDecoder(3, 6, 5, seed=0) if kind == "encdec" else nn.OutputRecurrentRNN(3, 6, 5, seed=0)
    with pytest.raises(ShapeError, match=r"look like class labels; build the network with classes=True"):
        plain(xs, targets=labels)
