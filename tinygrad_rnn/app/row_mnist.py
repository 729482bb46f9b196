"""The row-sequence classifier: each digit image read as a sequence of its rows.

Geron's setup (Hands-On Machine Learning, ch. 14): a 28x28 digit is 28 time steps of 28
pixels, an RNN of 150 tanh units reads them, and a dense layer on the last state h(28) gives 10
logits (``nn.SeqToVec``), trained with Adam (lr 1e-3) on batches of 150 with cross-entropy.
``train`` runs it with the shared loop, ``app.training.fit`` (progress, metrics.json,
checkpoints, resume, signals).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from .. import data as datasets
from .. import functional as F
from ..errors import ConfigError
from ..nn import SeqToVec
from ..optim import Adam
from ..tensor import Tensor
from .training import fit


@dataclass
class TrainConfig:
    """Everything that defines a run (saved in the checkpoint; a resume must match it)."""

    data: str = "mnist5k"
    hidden: int = 150
    epochs: int = 10
    batch: int = 150
    lr: float = 1e-3
    seed: int = 42
    dtype: str = "float32"
    clip: float | None = None
    n_test: int = 1000

    def check(self) -> None:
        for key in ("hidden", "epochs", "batch", "n_test"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be at least 1, got {getattr(self, key)}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {self.seed!r}")
        if not self.lr > 0:
            raise ConfigError(f"lr must be positive, got {self.lr}")
        if self.clip is not None and not self.clip > 0:
            raise ConfigError(f"clip must be positive, got {self.clip}")
        if self.dtype not in ("float32", "float64"):
            raise ConfigError(f"dtype must be float32 or float64, got {self.dtype!r}")


def load_split(config: TrainConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train images, train labels, test images, test labels) for ``config.data``: "mnist5k"
    (split n_test / rest with the seed) or a directory holding the four MNIST IDX files."""
    if config.data == "mnist5k":
        images, labels = datasets.mnist5k()
        x_tr, x_te, y_tr, y_te = datasets.train_test_split(images, labels, n_test=config.n_test, seed=config.seed)
    else:
        x_tr, y_tr = datasets.mnist(config.data, "train")
        x_te, y_te = datasets.mnist(config.data, "test")
    dtype = np.dtype(config.dtype)
    return x_tr.astype(dtype, copy=False), y_tr, x_te.astype(dtype, copy=False), y_te


def make_model(config: TrainConfig, input_size: int = 28, n_classes: int = 10) -> SeqToVec:
    return SeqToVec(input_size, config.hidden, n_classes, dtype=config.dtype, seed=config.seed)


def logits(model: SeqToVec, images: np.ndarray) -> Tensor:
    """Class scores for a batch of images (B, rows, cols): the rows are the time steps."""
    return model(images.transpose(1, 0, 2))


def loss(model: SeqToVec, images: np.ndarray, labels: np.ndarray) -> Tensor:
    """Cross-entropy of the scores on the last step: the loss ``fit`` minimises."""
    return F.cross_entropy(logits(model, images), labels)


def accuracy(model: SeqToVec, images: np.ndarray, labels: np.ndarray, batch_size: int = 1000) -> float:
    """The fraction of ``images`` classified as their ``labels`` (call it under ``no_grad``)."""
    correct = 0
    for i in range(0, len(images), batch_size):
        scores = logits(model, images[i : i + batch_size]).data
        correct += int((scores.argmax(axis=1) == labels[i : i + batch_size]).sum())
    return correct / len(images)


def train(
    config: TrainConfig, out: str | Path | None, resume: bool = False, stream: TextIO | None = None
) -> list[dict]:
    """Train per ``config`` with ``app.training.fit``, writing ``metrics.json`` and
    ``checkpoint.npz`` in ``out`` (nothing is written if ``out`` is None).

    Returns the per-epoch metrics: ``{"epoch", "train_loss", "test_accuracy", "seconds",
    "samples_per_second"}``. Ctrl-C or SIGTERM saves a checkpoint and raises
    ``TrainingInterrupted``.
    """
    config.check()
    x_tr, y_tr, x_te, y_te = load_split(config)  # first: data that cannot load leaves no directory behind
    model = make_model(config, input_size=x_tr.shape[2])
    return fit(
        model,
        Adam(model.parameters(), lr=config.lr),
        loss,
        (x_tr, y_tr),
        epochs=config.epochs,
        batch_size=config.batch,
        seed=config.seed,
        evaluate=lambda m: {"test_accuracy": accuracy(m, x_te, y_te)},
        clip=config.clip,
        out=out,
        resume=resume,
        config=asdict(config),
        stream=stream,
    )
