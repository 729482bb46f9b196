"""Training throughput: ``examples/row_mnist.py``'s epoch against the same loop in numpy.

The engine side is what the example runs: the row-MNIST application's data, model and loss
(``app.row_mnist``: mnist5k, 4,000 training digits, ``nn.SeqToVec``, 150 tanh units, seed 42),
``optim.Adam`` (lr 1e-3), and per epoch the shared loop's ``training.epoch_batches`` (batches
of 150, shuffled from the seed and the epoch) and ``training.train_epoch``, the two pieces
``training.fit`` runs every epoch. The numpy
side (``numpy_training.py``) starts from the same initial parameters (the model's
``state_dict``) and walks the same batches. Epochs alternate, engine then numpy, in one process;
the table gives median epoch times. Before timing, one epoch of each on a copy is compared: the
same losses and the same parameters after it, so the two columns train the same model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy_training
from harness import median_ms, table, time_once

from tinygrad_rnn import nn, optim
from tinygrad_rnn.app.row_mnist import TrainConfig, load_split, loss, make_model
from tinygrad_rnn.app.training import Progress, epoch_batches, train_epoch

# (rtol, atol) on the epoch's mean loss and on the parameters after one epoch of Adam. In float32,
# rounding differences of 1e-7 in a gradient move an Adam step by up to ~lr where g ~ sqrt(v) ~ 0,
# so atol is a fifth of one step (lr = 1e-3); float64 shows the loops are the same to 1e-13.
AGREEMENT = {np.dtype(np.float64): (1e-9, 1e-12), np.dtype(np.float32): (1e-3, 2e-4)}


@dataclass
class Runs:
    """Both trainers on the same data, initial parameters and batches."""

    config: TrainConfig
    images: np.ndarray
    labels: np.ndarray
    model: nn.SeqToVec
    optimizer: optim.Adam
    params: dict[str, np.ndarray]
    adam: numpy_training.Adam

    def engine_epoch(self, epoch: int) -> float:
        """One epoch as examples/row_mnist.py runs it; returns the mean training loss."""
        progress = Progress(epoch=epoch)
        order = epoch_batches(len(self.images), self.config.batch, self.config.seed, epoch)
        train_epoch(self.model, self.optimizer, loss, (self.images, self.labels), order, progress)
        return progress.loss_sum / progress.seen

    def numpy_epoch(self, epoch: int) -> float:
        order = epoch_batches(len(self.images), self.config.batch, self.config.seed, epoch)
        loss_sum, seen = numpy_training.train_epoch(self.params, self.adam, self.images, self.labels, order)
        return loss_sum / seen


def setup(dtype: str, train_size: int | None = None) -> Runs:
    """Data, model and optimizers as in examples/row_mnist.py (default settings)."""
    config = TrainConfig(dtype=dtype)
    images, labels, _, _ = load_split(config)
    if train_size is not None:
        images, labels = images[:train_size], labels[:train_size]
    model = make_model(config, input_size=images.shape[2])
    params = model.state_dict()
    return Runs(
        config,
        images,
        labels,
        model,
        optim.Adam(model.parameters(), lr=config.lr),
        params,
        numpy_training.Adam(params, lr=config.lr),
    )


def check_same_training(dtype: str, train_size: int | None = None) -> float:
    """Run one epoch of each trainer and assert the same mean loss and parameters after it;
    returns the largest parameter difference relative to the largest parameter."""
    runs = setup(dtype, train_size)
    rtol, atol = AGREEMENT[np.dtype(dtype)]
    engine_loss, numpy_loss = runs.engine_epoch(1), runs.numpy_epoch(1)
    if not np.isclose(engine_loss, numpy_loss, rtol=rtol, atol=atol):
        raise AssertionError(f"epoch 1 mean loss: engine {engine_loss!r} vs numpy {numpy_loss!r} ({dtype})")
    worst = 0.0
    for name, p in runs.model.named_parameters():
        want = runs.params[name]
        if not np.allclose(p.data, want, rtol=rtol, atol=atol):
            raise AssertionError(
                f"{name} after one epoch: engine and numpy training differ by {np.abs(p.data - want).max()}"
            )
        worst = max(worst, float(np.abs(p.data - want).max() / np.abs(want).max()))
    return worst


def report(dtypes: Sequence[str], epochs: int, train_size: int | None = None) -> str:
    """The throughput table: median epoch time of each, interleaved, and the ratio."""
    rows = []
    for dtype in dtypes:
        worst = check_same_training(dtype, train_size)
        runs = setup(dtype, train_size)
        times: dict[str, list[float]] = {"engine": [], "numpy": []}
        for epoch in range(1, epochs + 1):
            times["engine"].append(time_once(runs.engine_epoch, epoch)[1])
            times["numpy"].append(time_once(runs.numpy_epoch, epoch)[1])
        e_ms, n_ms = median_ms(times["engine"]), median_ms(times["numpy"])
        n = len(runs.images)
        rows.append(
            [
                dtype,
                f"{e_ms / 1e3:.3f}",
                f"{n_ms / 1e3:.3f}",
                f"**{e_ms / n_ms:.2f}**",
                f"{n / e_ms * 1e3:,.0f}",
                f"{n / n_ms * 1e3:,.0f}",
                f"{worst:.1e}",
            ]
        )
    headers = [
        "dtype",
        "engine s/epoch (examples/row_mnist.py loop)",
        "numpy s/epoch",
        "ratio",
        "engine samples/s",
        "numpy samples/s",
        "params differ after 1 epoch (rel.)",
    ]
    runs_note = f"{train_size:,} training digits" if train_size else "4,000 training digits (mnist5k)"
    return (
        f"#### Training throughput: row-MNIST epoch, {runs_note}, batch 150, Adam lr 1e-3, "
        f"{epochs} interleaved epochs (medians)\n\n" + table(headers, rows)
    )
