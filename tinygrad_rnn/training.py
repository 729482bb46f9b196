"""Training the row-sequence classifier: each image is read as a sequence of its rows.

Geron's setup (Hands-On Machine Learning, ch. 14): a 28x28 digit is 28 time steps of 28
pixels, an RNN of 150 tanh units reads them, and a dense layer on the last state h(28) gives 10
logits (``nn.SeqToVec``), trained with Adam (lr 1e-3) on batches of 150 with cross-entropy.

``train`` adds what a long run needs: a progress line, ``metrics.json`` after every epoch,
an atomic checkpoint after every epoch and on Ctrl-C, and ``resume=True``, which continues so
that the losses equal those of an uninterrupted run (each epoch's shuffle is derived from the
seed and the epoch number, so nothing random needs saving).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from . import data as datasets
from . import functional as F
from .autograd import no_grad
from .checkpoint import load_checkpoint, read_meta, save_checkpoint
from .errors import CheckpointError, ConfigError, TinygradRNNError, TrainingInterrupted
from .files import atomic_write_json, remove_stale_temp_files
from .memory import tune_allocator
from .nn import SeqToVec
from .optim import Adam, clip_grad_norm

CHECKPOINT = "checkpoint.npz"
METRICS = "metrics.json"


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


@dataclass
class Progress:
    """Where a run is: the next epoch and batch, and the running loss of the current epoch."""

    epoch: int = 1
    batch: int = 0
    loss_sum: float = 0.0
    seen: int = 0
    epochs: list[dict[str, Any]] = field(default_factory=list)


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


def logits(model: SeqToVec, images: np.ndarray):
    """Class scores for a batch of images (B, rows, cols): the rows are the time steps."""
    return model(images.transpose(1, 0, 2))


def batches(n: int, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """This epoch's shuffled mini-batches of indices, the same for the same (seed, epoch)."""
    order = np.random.default_rng([seed, epoch]).permutation(n)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


class _InterruptBetweenBatches:
    """Ctrl-C (SIGINT) or SIGTERM (what SLURM, docker and Kubernetes send) during a batch takes
    effect when the batch is done, so a checkpoint never holds parameters that a batch has
    updated together with a batch counter that says it has not.

    A second signal before then interrupts at once. Only the main thread receives signals, and
    a handler the program installed itself is left alone. ``signum`` says which signal came.
    """

    __slots__ = ("pending", "signum", "_previous")
    _DEFAULTS = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}

    def __init__(self) -> None:
        self.pending = False
        self.signum = signal.SIGINT
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _InterruptBetweenBatches:
        if threading.current_thread() is threading.main_thread():
            for sig, default in self._DEFAULTS.items():
                if signal.getsignal(sig) is default:
                    self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.signum = signum
        if self.pending:
            raise KeyboardInterrupt(signum)
        self.pending = True

    def check(self) -> None:
        if self.pending:
            self.pending = False
            raise KeyboardInterrupt(self.signum)

    def __exit__(self, *exc: object) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous = {}


def train_epoch(
    model: SeqToVec,
    optimizer: Any,
    images: np.ndarray,
    labels: np.ndarray,
    order: list[np.ndarray],
    progress: Progress,
    clip: float | None = None,
    on_batch: Callable[[Progress], None] | None = None,
) -> None:
    """One pass over ``order`` from ``progress.batch`` on: forward, cross-entropy on the last
    step, BPTT, (clip,) optimizer step. Updates ``progress`` after every batch; a Ctrl-C
    (KeyboardInterrupt) arrives between batches, never between an update and its count."""
    with _InterruptBetweenBatches() as interrupts:
        for i in range(progress.batch, len(order)):
            idx = order[i]
            loss = F.cross_entropy(logits(model, images[idx]), labels[idx])
            optimizer.zero_grad()
            loss.backward()
            if clip is not None:
                clip_grad_norm(optimizer.params, clip)
            optimizer.step()
            progress.loss_sum += loss.item() * len(idx)
            progress.seen += len(idx)
            progress.batch = i + 1
            if on_batch is not None:
                on_batch(progress)
            interrupts.check()


@no_grad()
def evaluate(model: SeqToVec, images: np.ndarray, labels: np.ndarray, batch_size: int = 1000) -> float:
    """Accuracy on (images, labels), without recording a graph."""
    correct = 0
    for i in range(0, len(images), batch_size):
        scores = logits(model, images[i : i + batch_size]).data
        correct += int((scores.argmax(axis=1) == labels[i : i + batch_size]).sum())
    return correct / len(images)


class ProgressBar:
    """One line per epoch on a terminal, redrawn in place; on a pipe, only the finished line."""

    def __init__(self, total: int, epochs: int, stream: TextIO | None = None) -> None:
        self.total, self.epochs = total, epochs
        self.stream = sys.stderr if stream is None else stream
        self.live = self.stream.isatty()
        self.started = time.perf_counter()
        self.seen_at_start = 0

    def start(self, progress: Progress) -> None:
        self.started, self.seen_at_start = time.perf_counter(), progress.seen

    def rate(self, progress: Progress) -> float:
        return (progress.seen - self.seen_at_start) / max(time.perf_counter() - self.started, 1e-9)

    def line(self, progress: Progress) -> str:
        width = 30
        filled = int(width * progress.seen / self.total)
        loss = progress.loss_sum / max(progress.seen, 1)
        return (
            f"epoch {progress.epoch}/{self.epochs} [{'#' * filled}{'.' * (width - filled)}] "
            f"{progress.seen}/{self.total}  loss {loss:.4f}  {self.rate(progress):.0f} samples/s"
        )

    def update(self, progress: Progress) -> None:
        if self.live:
            self.stream.write("\r" + self.line(progress))
            self.stream.flush()

    def finish(self, progress: Progress, accuracy: float) -> None:
        self.stream.write(("\r" if self.live else "") + self.line(progress) + f"  test accuracy {accuracy:.4f}\n")
        self.stream.flush()


def train(config: TrainConfig, out: str | Path, resume: bool = False, stream: TextIO | None = None) -> list[dict]:
    """Train per ``config``, writing ``metrics.json`` and ``checkpoint.npz`` in ``out``.

    Returns the per-epoch metrics: ``{"epoch", "train_loss", "test_accuracy", "seconds",
    "samples_per_second"}``. Ctrl-C saves a checkpoint and raises ``TrainingInterrupted``.
    """
    config.check()
    tune_allocator()
    out = Path(out)
    x_tr, y_tr, x_te, y_te = load_split(config)  # first: data that cannot load leaves no directory behind
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise TinygradRNNError(f"cannot create output directory {out}: {e.strerror}") from None
    probe = out / f".write-test-{os.getpid()}"
    try:  # before any training, not at the first checkpoint
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise TinygradRNNError(f"cannot write in output directory {out}: {e.strerror}; choose another --out") from None
    model = make_model(config, input_size=x_tr.shape[2])
    optimizer = Adam(model.parameters(), lr=config.lr)
    progress = Progress()
    remove_stale_temp_files(out)
    if resume and not (out / CHECKPOINT).exists():
        print(f"no checkpoint in {out} yet: starting from scratch", file=stream or sys.stderr)
        resume = False
    if resume:
        meta = read_meta(out / CHECKPOINT)
        saved = {k: v for k, v in meta.get("config", {}).items() if k != "epochs"}
        if saved != {k: v for k, v in asdict(config).items() if k != "epochs"}:
            raise CheckpointError(
                f"{out / CHECKPOINT} was saved with settings {saved}; resume with the same settings "
                "(only --epochs may change)"
            )
        load_checkpoint(out / CHECKPOINT, model, optimizer)
        progress = Progress(**meta["progress"])

    def save() -> None:
        save_checkpoint(out / CHECKPOINT, model, optimizer, {"config": asdict(config), "progress": asdict(progress)})

    bar = ProgressBar(len(x_tr), config.epochs, stream)
    while progress.epoch <= config.epochs:
        order = batches(len(x_tr), config.batch, config.seed, progress.epoch)
        bar.start(progress)
        started = time.perf_counter()
        try:
            train_epoch(model, optimizer, x_tr, y_tr, order, progress, config.clip, bar.update)
        except KeyboardInterrupt as e:
            save()
            signum = e.args[0] if e.args and isinstance(e.args[0], int) else signal.SIGINT
            what = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
            raise TrainingInterrupted(
                f"{what} in epoch {progress.epoch} after {progress.seen} samples; checkpoint saved to "
                f"{out / CHECKPOINT}; continue with --resume",
                signum,
            ) from None
        seconds = time.perf_counter() - started
        accuracy = evaluate(model, x_te, y_te)
        bar.finish(progress, accuracy)
        progress.epochs.append(
            {
                "epoch": progress.epoch,
                "train_loss": progress.loss_sum / progress.seen,
                "test_accuracy": accuracy,
                "seconds": round(seconds, 3),
                "samples_per_second": round(bar.rate(progress), 1),
            }
        )
        progress.epoch, progress.batch, progress.loss_sum, progress.seen = progress.epoch + 1, 0, 0.0, 0
        save()  # the checkpoint first: metrics.json never claims an epoch the checkpoint does not hold
        atomic_write_json(out / METRICS, {"config": asdict(config), "epochs": progress.epochs})
    return progress.epochs
