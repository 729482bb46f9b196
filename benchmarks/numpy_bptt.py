"""Backpropagation through time written out by hand in numpy: the floor the engine is timed against.

The model is the row-MNIST classifier of ``row_mnist_step.py`` (batch-major row vectors,
parameter names from Goodfellow et al.)::

    a(t) = b + h(t-1) W + x(t) U,    h(t) = tanh(a(t)),    h(0) = 0
    o = h(T) V + c,                  L = mean over the batch of -log softmax(o)[label]

and the backward pass is the textbook one: with dL/do = (softmax(o) - onehot(label)) / B,
walk t = T..1 with dL/da(t) = dL/dh(t) * (1 - h(t)^2) and dL/dh(t-1) = dL/da(t) W^T, adding
each step's share into dU, dW and db.

It is written the way a careful person would write it for speed, because a slow floor would
flatter the engine. Of the variants timed on the development machine (float32 and float64,
one BLAS thread), the fastest, kept here, is the plainest one: two small matmuls per step
forward, per-step accumulation of dU and dW backward, a few elementwise ops done in place,
and no matmul against h(0) = 0. Precomputing x(t) U for all steps in one big matmul, or
summing dU and dW in one matmul over the stacked steps afterwards, or fusing [h, x] @ [W; U]
into one matmul per step were all 2-18% slower, and plain out-of-place elementwise ops about
3% slower: the per-step arrays stay in cache.
"""

from __future__ import annotations

import numpy as np

PARAM_NAMES = ("U", "W", "b", "V", "c")


def loss_and_grads(params: dict[str, np.ndarray], xs: np.ndarray, labels: np.ndarray) -> tuple[float, dict]:
    """Forward and backward through time for one batch.

    Parameters
    ----------
    params : dict
        ``U`` (I, H), ``W`` (H, H), ``b`` (H,), ``V`` (H, K), ``c`` (K,), all of one float dtype.
    xs : np.ndarray
        Inputs, time-major, shape (T, B, I), so that ``xs[t]`` is one contiguous (B, I) batch.
    labels : np.ndarray
        Integer classes, shape (B,).

    Returns
    -------
    loss : float
        The mean cross-entropy over the batch.
    grads : dict
        dL/dp for every parameter p, same names, shapes and dtype as ``params``.
    """
    U, W, b, V, c = (params[k] for k in PARAM_NAMES)
    T, B = xs.shape[:2]

    # Forward, keeping every h(t) for the backward pass: hs[t] is h(t + 1).
    a = xs[0] @ U
    a += b
    hs = [np.tanh(a, out=a)]
    for t in range(1, T):
        a = xs[t] @ U
        a += b
        a += hs[-1] @ W
        hs.append(np.tanh(a, out=a))

    # Softmax cross-entropy on the last step, shifted by the row max so exp cannot overflow.
    o = hs[-1] @ V + c
    o -= o.max(axis=1, keepdims=True)
    e = np.exp(o)
    s = e.sum(axis=1, keepdims=True)
    rows = np.arange(B)
    loss = float((np.log(s[:, 0]) - o[rows, labels]).mean())
    p = e / s
    p[rows, labels] -= 1
    do = p / B

    dV = hs[-1].T @ do
    dc = do.sum(axis=0)
    dU = np.zeros_like(U)
    dW = np.zeros_like(W)
    db = np.zeros_like(b)
    dh = do @ V.T
    for t in range(T - 1, -1, -1):
        h = hs[t]
        da = h * h  # da = dh * (1 - h^2), built in place
        np.subtract(1, da, out=da)
        da *= dh
        dU += xs[t].T @ da
        db += da.sum(axis=0)
        if t > 0:  # h(0) = 0 is a constant: it adds nothing to dW and needs no gradient
            dW += hs[t - 1].T @ da
            dh = da @ W.T
    return loss, {"U": dU, "W": dW, "b": db, "V": dV, "c": dc}


def train_step(params: dict[str, np.ndarray], xs: np.ndarray, labels: np.ndarray, lr: float) -> float:
    """One SGD step, p -= lr * dL/dp, in place on ``params``; returns the loss before the step."""
    loss, grads = loss_and_grads(params, xs, labels)
    for k in PARAM_NAMES:
        params[k] -= lr * grads[k]
    return loss
