"""The row-MNIST training step, and the engine's two ways of running it.

Row MNIST reads a 28x28 digit one row per time step (T = 28 steps of I = 28 pixels) and
classifies it from the last hidden state. One training step, B = 128, H = 150, 10 classes::

    a(t) = b + h(t-1) W + x(t) U,    h(t) = tanh(a(t)),    h(0) = 0
    o = h(T) V + c,    L = mean cross-entropy of softmax(o),    p -= lr * dL/dp

Every implementation timed by ``run_all.py`` (this engine's, ``numpy_bptt.py``'s and the peers'
in ``peers.py``) is an ``Implementation``: built from the same seeded parameters and batch,
holding its own copy of the parameters, with ``step()`` (one SGD step, timed) and
``loss_and_grads()`` (dL/dp at the current parameters, as numpy arrays named U, W, b, V, c).
``check`` compares the latter with numpy BPTT before anything is timed, so two columns cannot
silently time different work. The engine runs two ways:

- **by hand**: parameters are ``Tensor``s and the loop over t is written with Tensor operators
  (``(b + h @ W + x @ U).tanh()``, cross-entropy from exp / sum / log);
- **through nn.RNN**: ``nn.SeqToVec`` (the fused per-step node), ``F.cross_entropy`` and
  ``optim.SGD``, as a user of the library writes it.

Run as a script, this file prints the step table alone: it is ``run_all.py --only step`` (which
starts one process per BLAS thread setting), with any further arguments passed on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy_bptt

import tinygrad_rnn.functional as F
from tinygrad_rnn import Tensor, nn, optim, step

B, T, I, H, N_CLASSES = 128, 28, 28, 150, 10
LR = 0.01
# Agreement required before timing: (rtol, atol) for np.allclose.
TOLERANCES = {np.dtype(np.float64): (1e-5, 1e-8), np.dtype(np.float32): (1e-4, 1e-6)}

Params = dict[str, np.ndarray]
Grads = tuple[float, dict[str, np.ndarray]]


@dataclass
class Implementation:
    """One way to run the training step, on its own copy of the parameters.

    ``step()`` does one SGD step (forward, backward, update) and is what gets timed;
    ``loss_and_grads()`` gives the loss and dL/dp at the current parameters without updating
    them. ``forward()``, for the engine only, records the forward pass and returns the loss tensor
    (to count the graph's nodes and measure its memory). ``errors`` is filled by ``check``.
    """

    name: str
    step: Callable[[], object]
    loss_and_grads: Callable[[], Grads]
    forward: Callable[[], Tensor] | None = None
    errors: dict[str, float] = field(default_factory=dict)


Builder = Callable[[Params, np.ndarray, np.ndarray, float], Implementation]


# --- the problem ---------------------------------------------------------------------------


def make_problem(
    B: int, T: int, I: int, H: int, n_classes: int = N_CLASSES, dtype: type = np.float64, seed: int = 0
) -> tuple[Params, np.ndarray, np.ndarray]:
    """Seeded parameters and one batch: ``(params, xs, labels)``.

    Weights are Gaussian with variance 1 / fan-in, biases small; inputs are pixel-like values
    in [0, 1), time-major (T, B, I) so that ``xs[t]`` is a contiguous batch of rows. Random
    data is enough: the work per step does not depend on the values.
    """
    rng = np.random.default_rng(seed)
    params = {
        "U": rng.standard_normal((I, H)) / np.sqrt(I),
        "W": rng.standard_normal((H, H)) / np.sqrt(H),
        "b": 0.1 * rng.standard_normal(H),
        "V": rng.standard_normal((H, n_classes)) / np.sqrt(H),
        "c": 0.1 * rng.standard_normal(n_classes),
    }
    params = {k: v.astype(dtype) for k, v in params.items()}
    xs = rng.random((T, B, I)).astype(dtype)
    labels = rng.integers(0, n_classes, size=B)
    return params, xs, labels


def copy_params(params: Params) -> Params:
    return {k: params[k].copy() for k in numpy_bptt.PARAM_NAMES}


# --- the floor: numpy BPTT -----------------------------------------------------------------


def numpy_impl(params: Params, xs: np.ndarray, labels: np.ndarray, lr: float) -> Implementation:
    """``numpy_bptt.py``'s hand-written step, on a copy of the parameters."""
    own = copy_params(params)
    return Implementation(
        "numpy BPTT (hand-written)",
        lambda: numpy_bptt.train_step(own, xs, labels, lr),
        lambda: numpy_bptt.loss_and_grads(own, xs, labels),
    )


# --- the engine, by hand -------------------------------------------------------------------


def engine_params(params: Params) -> dict[str, Tensor]:
    """The parameters as named leaf tensors that require grad (copies: the arrays stay untouched)."""
    return {k: Tensor(v.copy(), requires_grad=True, name=k) for k, v in params.items()}


def cross_entropy(logits: Tensor, labels: np.ndarray) -> Tensor:
    """Mean over the batch of -log softmax(logits)[label], from engine ops.

    log softmax(o) = o - m - log sum exp(o - m) for any m; m = the row max, taken as a constant,
    keeps exp from overflowing without changing the value or the gradient.
    """
    shifted = logits - Tensor(logits.data.max(axis=1, keepdims=True))
    logp = shifted - shifted.exp().sum(axis=1, keepdims=True).log()
    return -logp[np.arange(len(labels)), labels].mean()


def engine_loss(params: dict[str, Tensor], xs: np.ndarray, labels: np.ndarray) -> Tensor:
    """The forward pass, recorded: the loop over t reuses U, W, b at every step."""
    U, W, b, V, c = (params[k] for k in numpy_bptt.PARAM_NAMES)
    h = Tensor(np.zeros((xs.shape[1], W.shape[0]), dtype=W.dtype))
    for t in range(len(xs)):
        with step(t):
            h = (b + h @ W + Tensor(xs[t]) @ U).tanh()
    return cross_entropy(h @ V + c, labels)


def engine_train_step(params: dict[str, Tensor], xs: np.ndarray, labels: np.ndarray, lr: float) -> float:
    """One SGD step with the engine: forward, ``backward()``, p -= lr * p.grad, reset the grads."""
    loss = engine_loss(params, xs, labels)
    loss.backward()
    for p in params.values():
        p.data -= lr * p.grad
        p.grad = None
    return loss.item()


def _engine_grads(loss: Tensor, params: dict[str, Tensor]) -> Grads:
    """Backward from ``loss``; the gradients taken out of ``.grad`` (which is reset)."""
    for p in params.values():
        p.grad = None
    loss.backward()
    grads = {k: params[k].grad for k in numpy_bptt.PARAM_NAMES}
    for p in params.values():
        p.grad = None
    return loss.item(), grads


def engine_by_hand(params: Params, xs: np.ndarray, labels: np.ndarray, lr: float) -> Implementation:
    tensors = engine_params(params)

    def forward() -> Tensor:
        return engine_loss(tensors, xs, labels)

    return Implementation(
        "engine, by hand (Tensor ops)",
        lambda: engine_train_step(tensors, xs, labels, lr),
        lambda: _engine_grads(forward(), tensors),
        forward=forward,
    )


# --- the engine, through nn.RNN ------------------------------------------------------------


def engine_model(params: Params) -> nn.SeqToVec:
    """An ``nn.SeqToVec`` holding (copies of) ``params``."""
    (I, H), K = params["U"].shape, params["V"].shape[1]
    model = nn.SeqToVec(I, H, K, dtype=params["U"].dtype)
    model.load_state_dict(params)
    return model


def engine_nn(params: Params, xs: np.ndarray, labels: np.ndarray, lr: float) -> Implementation:
    model = engine_model(params)
    opt = optim.SGD(model.parameters(), lr=lr)

    def forward() -> Tensor:
        return F.cross_entropy(model(xs), labels)

    def train_step() -> float:
        loss = forward()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    named = dict(model.named_parameters())
    return Implementation(
        "engine, nn.RNN (SeqToVec + F.cross_entropy + optim.SGD)",
        train_step,
        lambda: _engine_grads(forward(), named),
        forward=forward,
    )


ENGINE: dict[str, Builder] = {"engine_hand": engine_by_hand, "engine_nn": engine_nn}
BUILDERS: dict[str, Builder] = {"numpy": numpy_impl, **ENGINE}


# --- the check -----------------------------------------------------------------------------


def check(impl: Implementation, params: Params, xs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Assert that ``impl`` and numpy BPTT agree on the loss and every gradient at ``params``.

    Compares with ``np.allclose`` at the dtype's tolerance in ``TOLERANCES``. Raises
    AssertionError naming the first quantity that differs; returns (and keeps in
    ``impl.errors``), per name ("loss", "U", "W", "b", "V", "c"), the largest difference
    relative to the largest magnitude, for the record.
    """
    dtype = params["U"].dtype
    rtol, atol = TOLERANCES[np.dtype(dtype)]
    loss, grads = impl.loss_and_grads()
    ref_loss, ref_grads = numpy_bptt.loss_and_grads(params, xs, labels)
    pairs = {"loss": (np.asarray(loss, dtype=dtype), np.asarray(ref_loss, dtype=dtype))}
    pairs.update({k: (grads.get(k), ref_grads[k]) for k in numpy_bptt.PARAM_NAMES})
    errors = {}
    for name, (got, want) in pairs.items():
        if got is None or got.shape != want.shape or got.dtype != want.dtype:
            what = "no gradient" if got is None else f"shape {got.shape}, dtype {got.dtype}"
            raise AssertionError(
                f"{name}: {impl.name} gave {what}; numpy BPTT gave shape {want.shape}, dtype {want.dtype}"
            )
        if not np.allclose(got, want, rtol=rtol, atol=atol):
            worst = np.unravel_index(np.argmax(np.abs(got - want)), want.shape)
            raise AssertionError(
                f"{name}: {impl.name} and numpy BPTT disagree (rtol={rtol}, atol={atol}); at {worst} "
                f"{got[worst]!r} vs numpy {want[worst]!r}. The benchmark would time different work."
            )
        errors[name] = float(np.abs(got - want).max() / max(np.abs(want).max(), np.finfo(dtype).tiny))
    impl.errors = errors
    return errors


def build_checked(
    builders: dict[str, Builder], params: Params, xs: np.ndarray, labels: np.ndarray, keys: Sequence[str] | None = None
) -> dict[str, Implementation]:
    """The implementations ``builders`` make (those named by ``keys``, default all) on one
    problem, each ``check``ed against numpy BPTT before it is returned."""
    impls = {}
    for key in builders if keys is None else keys:
        impls[key] = builders[key](params, xs, labels, LR)
        check(impls[key], params, xs, labels)
    return impls


def check_gradients(
    B: int,
    T: int,
    I: int,
    H: int,
    n_classes: int = N_CLASSES,
    dtype: type = np.float64,
    seed: int = 0,
    build: Builder = engine_by_hand,
) -> dict[str, float]:
    """``check`` the implementation ``build`` makes on ``make_problem(B, T, I, H, ...)``."""
    params, xs, labels = make_problem(B, T, I, H, n_classes, dtype, seed)
    return check(build(params, xs, labels, LR), params, xs, labels)


if __name__ == "__main__":
    import sys

    import run_all

    run_all.main(["--only", "step", *sys.argv[1:]])
