"""Row-MNIST training written by hand in numpy: the floor for ``examples/row_mnist.py``'s epoch.

The same loop as ``tinygrad_rnn.app.training.train_epoch``, with the engine replaced by
``numpy_bptt.loss_and_grads`` and ``optim.Adam`` by the ``Adam`` below: for each mini-batch of
the epoch's shuffled order, the images read row by row as a time-major (T, B, I) view, the loss
and its gradients by hand-written BPTT, then one Adam step, in place on the parameter arrays.
"""

from __future__ import annotations

import math

import numpy as np
import numpy_bptt

Params = dict[str, np.ndarray]


class Adam:
    """Adam (Kingma & Ba, 2015) with bias correction, in numpy, the same arithmetic as
    ``tinygrad_rnn.optim.Adam`` so that both runs take the same steps::

        m <- b1 m + (1 - b1) g,    v <- b2 v + (1 - b2) g^2,
        p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    """

    def __init__(
        self, params: Params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8
    ) -> None:
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.m = {k: np.zeros_like(p) for k, p in params.items()}
        self.v = {k: np.zeros_like(p) for k, p in params.items()}
        self.t = 0

    def step(self, grads: Params) -> None:
        """Update every parameter in place from its gradient."""
        b1, b2 = self.betas
        self.t += 1
        step_size = self.lr / (1.0 - b1**self.t)
        root = math.sqrt(1.0 - b2**self.t)
        for k, p in self.params.items():
            g, m, v = grads[k], self.m[k], self.v[k]
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            v += (1.0 - b2) * (g * g)
            p -= step_size * m / (np.sqrt(v) / root + self.eps)


def train_epoch(
    params: Params, adam: Adam, images: np.ndarray, labels: np.ndarray, order: list[np.ndarray]
) -> tuple[float, int]:
    """One pass over the mini-batches in ``order``; returns (sum of batch loss x batch size, examples seen)."""
    loss_sum, seen = 0.0, 0
    for idx in order:
        xs = images[idx].transpose(1, 0, 2)  # (B, rows, cols) -> (T, B, I): the rows are the time steps
        loss, grads = numpy_bptt.loss_and_grads(params, xs, labels[idx])
        adam.step(grads)
        loss_sum += loss * len(idx)
        seen += len(idx)
    return loss_sum, seen
