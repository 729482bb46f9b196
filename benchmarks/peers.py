"""The same row-MNIST training step in the libraries our users compare us with.

Each builder takes the seeded ``(params, xs, labels, lr)`` of ``row_mnist_step.make_problem``
and returns a ``row_mnist_step.Implementation`` on its own copy of the parameters. The code in
each is what a user of that library would write for this model: the loop over t with that
library's ops (h(0) = zeros, as in the engine's by-hand loop), its own softmax cross-entropy,
and a plain SGD update. A peer whose package is not installed is listed with a note instead
(``pip install torch autograd mygrad jax`` adds them; none is a dependency of this project).

PyTorch's ``nn.RNN`` has two biases (b_ih and b_hh, summed): b_ih gets b and b_hh zeros, so the
first step's gradients equal numpy's (db = dL/db_ih = dL/db_hh); later SGD steps move both, which
changes the values but not the work timed.
"""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import numpy_bptt
from row_mnist_step import Builder, Grads, Implementation, Params, copy_params

NAMES = numpy_bptt.PARAM_NAMES


# --- PyTorch -------------------------------------------------------------------------------


def torch_loop(params: Params, xs: np.ndarray, labels: np.ndarray, lr: float) -> Implementation:
    """PyTorch eager mode, the loop over t in Python with ``torch.tanh`` and ``@``."""
    import torch
    import torch.nn.functional as TF

    tp = [torch.tensor(params[k], requires_grad=True) for k in NAMES]
    x, y = torch.from_numpy(xs), torch.from_numpy(labels)

    def loss_fn() -> torch.Tensor:
        U, W, b, V, c = tp
        h = torch.zeros((xs.shape[1], W.shape[0]), dtype=W.dtype)
        for t in range(len(xs)):
            h = torch.tanh(b + h @ W + x[t] @ U)
        return TF.cross_entropy(h @ V + c, y)

    def train_step() -> float:
        loss = loss_fn()
        loss.backward()
        with torch.no_grad():
            for p in tp:
                p -= lr * p.grad
                p.grad = None
        return loss.item()

    def grads() -> Grads:
        loss = loss_fn()
        gs = torch.autograd.grad(loss, tp)
        return loss.item(), {k: g.numpy() for k, g in zip(NAMES, gs, strict=True)}

    return Implementation("PyTorch, eager Python loop", train_step, grads)


def torch_nn(params: Params, xs: np.ndarray, labels: np.ndarray, lr: float) -> Implementation:
    """PyTorch ``nn.RNN`` (its fused C++ loop) + ``nn.Linear`` + ``F.cross_entropy`` + ``optim.SGD``."""
    import torch
    import torch.nn.functional as TF

    (I, H), K = params["U"].shape, params["V"].shape[1]
    dtype = torch.from_numpy(params["U"]).dtype
    rnn = torch.nn.RNN(I, H, nonlinearity="tanh", dtype=dtype)
    out = torch.nn.Linear(H, K, dtype=dtype)
    with torch.no_grad():
        for p, value in (
            (rnn.weight_ih_l0, params["U"].T),
            (rnn.weight_hh_l0, params["W"].T),
            (rnn.bias_ih_l0, params["b"]),
            (rnn.bias_hh_l0, np.zeros_like(params["b"])),
            (out.weight, params["V"].T),
            (out.bias, params["c"]),
        ):
            p.copy_(torch.from_numpy(np.ascontiguousarray(value)))
    weights = [rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, out.weight, out.bias]
    opt = torch.optim.SGD([*rnn.parameters(), *out.parameters()], lr=lr)
    x, y = torch.from_numpy(xs), torch.from_numpy(labels)

    def loss_fn() -> torch.Tensor:
        _, h_T = rnn(x)
        return TF.cross_entropy(out(h_T[0]), y)

    def train_step() -> float:
        loss = loss_fn()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    def grads() -> Grads:
        loss = loss_fn()
        gU, gW, gb, gV, gc = (g.numpy() for g in torch.autograd.grad(loss, weights))
        return loss.item(), {"U": gU.T, "W": gW.T, "b": gb, "V": gV.T, "c": gc}

    return Implementation("PyTorch, nn.RNN", train_step, grads)


# --- HIPS autograd and MyGrad: numpy-level tracing -----------------------------------------


def hips_autograd(params: Params, xs: np.ndarray, labels: np.ndarray, lr: float) -> Implementation:
    """HIPS autograd: the loss as a function of a dict of arrays, ``value_and_grad`` of it."""
    import autograd.numpy as anp
    from autograd import value_and_grad

    own = copy_params(params)
    rows = np.arange(len(labels))

    def loss(p: Params) -> float:
        h = np.zeros((xs.shape[1], p["W"].shape[0]), dtype=xs.dtype)
        for t in range(len(xs)):
            h = anp.tanh(p["b"] + anp.dot(h, p["W"]) + anp.dot(xs[t], p["U"]))
        o = anp.dot(h, p["V"]) + p["c"]
        shifted = o - anp.max(o, axis=1, keepdims=True)
        logp = shifted - anp.log(anp.sum(anp.exp(shifted), axis=1, keepdims=True))
        return -anp.mean(logp[rows, labels])

    vg = value_and_grad(loss)

    def train_step() -> float:
        value, g = vg(own)
        for k in NAMES:
            own[k] -= lr * g[k]
        return float(value)

    def grads() -> Grads:
        value, g = vg(own)
        return float(value), {k: np.asarray(g[k]) for k in NAMES}

    return Implementation("HIPS autograd", train_step, grads)


def mygrad_impl(params: Params, xs: np.ndarray, labels: np.ndarray, lr: float) -> Implementation:
    """MyGrad: ``mg.Tensor`` parameters, the loop with ``mg.tanh`` and ``@``, its softmax_crossentropy."""
    import mygrad as mg
    from mygrad.nnet.losses import softmax_crossentropy

    tp = [mg.Tensor(params[k].copy()) for k in NAMES]

    def loss_fn() -> mg.Tensor:
        U, W, b, V, c = tp
        h = mg.Tensor(np.zeros((xs.shape[1], W.shape[0]), dtype=xs.dtype), constant=True)
        for t in range(len(xs)):
            h = mg.tanh(b + h @ W + xs[t] @ U)
        return softmax_crossentropy(h @ V + c, labels)

    def train_step() -> float:
        loss = loss_fn()
        loss.backward()
        for p in tp:
            p.data -= lr * p.grad
            p.null_grad()
        return loss.item()

    def grads() -> Grads:
        loss = loss_fn()
        loss.backward()
        out = {k: p.grad.copy() for k, p in zip(NAMES, tp, strict=True)}
        for p in tp:
            p.null_grad()
        return loss.item(), out

    return Implementation("MyGrad", train_step, grads)


# --- JAX -----------------------------------------------------------------------------------


def jax_jit(params: Params, xs: np.ndarray, labels: np.ndarray, lr: float) -> Implementation:
    """JAX: the loop as ``lax.scan``, the whole step (value_and_grad + SGD) under ``jax.jit``."""
    import jax

    if xs.dtype == np.float64:
        jax.config.update("jax_enable_x64", True)  # otherwise JAX silently computes in float32
    import jax.numpy as jnp

    def loss(p: dict, xs: jax.Array, labels: jax.Array) -> jax.Array:
        def cell(h: jax.Array, x: jax.Array) -> tuple[jax.Array, None]:
            return jnp.tanh(p["b"] + h @ p["W"] + x @ p["U"]), None

        h, _ = jax.lax.scan(cell, jnp.zeros((xs.shape[1], p["W"].shape[0]), xs.dtype), xs)
        logp = jax.nn.log_softmax(h @ p["V"] + p["c"])
        return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=1))

    value_and_grad = jax.jit(jax.value_and_grad(loss))

    @jax.jit
    def sgd(p: dict, xs: jax.Array, labels: jax.Array) -> tuple[jax.Array, dict]:
        value, g = jax.value_and_grad(loss)(p, xs, labels)
        return value, jax.tree.map(lambda w, dw: w - lr * dw, p, g)

    state = {"p": {k: jnp.asarray(params[k]) for k in NAMES}}
    x, y = jnp.asarray(xs), jnp.asarray(labels)

    def train_step() -> float:
        value, state["p"] = sgd(state["p"], x, y)
        return float(value.block_until_ready())

    def grads() -> Grads:
        value, g = value_and_grad(state["p"], x, y)
        return float(value), {k: np.asarray(g[k]) for k in NAMES}

    return Implementation("JAX, jit (lax.scan)", train_step, grads)


# --- the registry --------------------------------------------------------------------------

# key: (row label, module that must be importable, builder)
PEERS: dict[str, tuple[str, str, Builder]] = {
    "torch_loop": ("PyTorch, eager Python loop", "torch", torch_loop),
    "torch_nn": ("PyTorch, nn.RNN", "torch", torch_nn),
    "autograd": ("HIPS autograd", "autograd", hips_autograd),
    "mygrad": ("MyGrad", "mygrad", mygrad_impl),
    "jax": ("JAX, jit (lax.scan)", "jax", jax_jit),
}


def available(keys: list[str] | None = None) -> tuple[dict[str, Builder], list[str]]:
    """The peers whose package imports here, and a note for each that does not."""
    found: dict[str, Builder] = {}
    notes = []
    for key, (label, module, build) in PEERS.items():
        if keys is not None and key not in keys:
            continue
        if importlib.util.find_spec(module) is None:
            notes.append(f"{label}: skipped, `{module}` is not installed in {_venv()}")
        else:
            found[key] = build
    return found, notes


def _venv() -> str:
    return sys.prefix


def versions() -> str:
    """The installed peers' versions, for the report."""
    out = []
    for module in dict.fromkeys(module for _, module, _ in PEERS.values()):
        if importlib.util.find_spec(module) is not None:
            out.append(f"{module} {_version_of(module)}")
    return ", ".join(out) or "no peers installed"


def _version_of(module: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(module)
    except PackageNotFoundError:
        return "?"
