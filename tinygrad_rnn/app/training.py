"""A training loop for any model and loss: mini-batches, progress, metrics, checkpoints, resume.

It belongs to the application layer because it takes over the process while it runs: it
installs handlers for SIGINT and SIGTERM (put back when it returns), which a library must not
do behind its user's back. The command, the demo and the examples share it.

``fit`` runs epochs of shuffled mini-batches over arrays that share their first axis::

    def loss_fn(model, images, labels):                 # one batch -> a scalar Tensor
        return F.cross_entropy(model(images.transpose(1, 0, 2)), labels)

    history = fit(model, Adam(model.parameters()), loss_fn, (images, labels),
                  epochs=10, batch_size=150, seed=42, out="runs/mine")

Each epoch's order is drawn from ``(seed, epoch)``, so nothing random needs saving. With
``out``, every epoch ends with an atomic ``checkpoint.npz`` (model, optimizer, position) and
then ``metrics.json``; Ctrl-C or SIGTERM takes effect at the end of the current batch, saves a
checkpoint and raises ``TrainingInterrupted``; ``resume=True`` continues so that the losses equal
those of an uninterrupted run. ``train_epoch`` and ``epoch_batches`` are the pieces ``fit`` is
made of, for loops of one's own.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ..checkpoint import load_checkpoint, read_meta, save_checkpoint
from ..errors import CheckpointError, ConfigError, TinygradRNNError, TrainingInterrupted
from ..files import atomic_write_json, remove_stale_temp_files, to_json
from ..modes import no_grad
from ..optim import clip_grad_norm
from ..tensor import Tensor

CHECKPOINT = "checkpoint.npz"
METRICS = "metrics.json"

LossFn = Callable[..., Tensor]


@dataclass
class Progress:
    """Where a run is: the next epoch and batch, and the running loss of the current epoch."""

    epoch: int = 1
    batch: int = 0
    loss_sum: float = 0.0
    seen: int = 0
    epochs: list[dict[str, Any]] = field(default_factory=list)


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """This epoch's shuffled mini-batches of indices into ``n`` examples, the same for the same
    (seed, epoch)."""
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
            self.pending = False  # delivered now
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
        if self.pending and exc[0] is None:  # it came after the last batch's check: not lost
            self.pending = False
            raise KeyboardInterrupt(self.signum)


def train_epoch(
    model: Any,
    optimizer: Any,
    loss_fn: LossFn,
    data: Sequence[np.ndarray],
    order: list[np.ndarray],
    progress: Progress,
    clip: float | None = None,
    on_batch: Callable[[Progress], None] | None = None,
) -> None:
    """One pass over the batches ``order`` from ``progress.batch`` on: ``loss_fn(model, *arrays
    at the batch's indices)``, backward, (clip the gradient norm,) optimizer step. Updates
    ``progress`` after every batch; a Ctrl-C or SIGTERM (as KeyboardInterrupt) arrives between
    batches, never between an update and its count."""
    with _InterruptBetweenBatches() as interrupts:
        for i in range(progress.batch, len(order)):
            idx = order[i]
            loss = loss_fn(model, *(array[idx] for array in data))
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

    def finish(self, progress: Progress, metrics: dict[str, float]) -> None:
        shown = "".join(f"  {name.replace('_', ' ')} {value:.4f}" for name, value in metrics.items())
        self.stream.write(("\r" if self.live else "") + self.line(progress) + shown + "\n")
        self.stream.flush()


def _check_arguments(data: Sequence[np.ndarray], epochs: int, batch_size: int, seed: int) -> int:
    """The number of examples, after checking what ``fit`` was given."""
    for name, value, low in (("epochs", epochs, 1), ("batch_size", batch_size, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ConfigError(f"fit: {name} must be an integer of at least {low}, got {value!r}")
    if isinstance(data, np.ndarray) or not isinstance(data, (list, tuple)) or not data:
        raise ConfigError(
            "fit: data must be a tuple of arrays that share their first axis, e.g. (images, labels); "
            f"got {type(data).__name__}"
        )
    lengths = [len(array) for array in data]
    if len(set(lengths)) != 1 or lengths[0] == 0:
        raise ConfigError(f"fit: the arrays in data must hold the same number (at least 1) of examples, got {lengths}")
    return lengths[0]


def _prepare(out: Path) -> None:
    """Create ``out`` and check that files can be written there, before any training."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise TinygradRNNError(f"cannot create output directory {out}: {e.strerror}") from None
    probe = out / f".write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise TinygradRNNError(f"cannot write in output directory {out}: {e.strerror}; choose another one") from None
    remove_stale_temp_files(out, (CHECKPOINT, METRICS))


def fit(
    model: Any,
    optimizer: Any,
    loss_fn: LossFn,
    data: Sequence[np.ndarray],
    *,
    epochs: int,
    batch_size: int,
    seed: int = 0,
    evaluate: Callable[[Any], dict[str, float]] | None = None,
    clip: float | None = None,
    out: str | os.PathLike | None = None,
    resume: bool = False,
    config: dict[str, Any] | None = None,
    stream: TextIO | None = None,
) -> list[dict[str, Any]]:
    """Train ``model`` for ``epochs`` passes over ``data``; returns one record per epoch.

    Parameters
    ----------
    loss_fn : callable
        ``loss_fn(model, *batch)`` -> a scalar Tensor, where ``batch`` holds each array of
        ``data`` at the batch's indices.
    data : tuple of np.ndarray
        Arrays that share their first axis (the examples), e.g. ``(images, labels)``.
    evaluate : callable, optional
        ``evaluate(model)`` -> a dict of numbers such as ``{"test_accuracy": 0.93}``, run
        without recording a graph at the end of every epoch and added to its record.
    clip : float, optional
        Clip the gradient's global norm to this value before every step.
    out : path-like, optional
        A directory for ``checkpoint.npz`` and ``metrics.json``, created and checked for
        writability before any training. Without it nothing is written, and Ctrl-C raises
        ``KeyboardInterrupt`` at the end of the batch.
    resume : bool
        Continue from ``out``'s checkpoint (start from scratch, saying so, if there is none yet).
    config : dict, optional
        JSON-able description of the run, saved with the checkpoint and in ``metrics.json``;
        a resume refuses a checkpoint saved with a different one (only ``epochs`` may differ).
    stream : text file, optional
        Where the progress line goes (default stderr).

    Returns
    -------
    list of dict
        ``{"epoch", "train_loss", **evaluate(model), "seconds", "samples_per_second"}`` for
        every epoch done so far (those of earlier runs too, when resuming).

    Raises
    ------
    TrainingInterrupted
        Ctrl-C or SIGTERM with ``out``: the checkpoint was saved; ``resume=True`` continues.
    CheckpointError
        ``resume`` with a checkpoint that is corrupt or was saved with other settings.
    """
    n = _check_arguments(data, epochs, batch_size, seed)
    loop = {"batch_size": int(batch_size), "seed": int(seed), "clip": None if clip is None else float(clip)}
    run = json.loads(to_json({"config": config or {}, "loop": loop}))  # as a checkpoint will hold it
    out = None if out is None else Path(out)
    progress = Progress()
    if out is not None:
        _prepare(out)
        if resume and not (out / CHECKPOINT).exists():
            print(f"no checkpoint in {out} yet: starting from scratch", file=stream or sys.stderr)
        elif resume:
            progress = _resume(out / CHECKPOINT, model, optimizer, run)

    def save() -> None:
        save_checkpoint(out / CHECKPOINT, model, optimizer, {**run, "progress": asdict(progress)})

    bar = ProgressBar(n, epochs, stream)
    while progress.epoch <= epochs:
        order = epoch_batches(n, batch_size, seed, progress.epoch)
        bar.start(progress)
        started = time.perf_counter()
        try:
            train_epoch(model, optimizer, loss_fn, data, order, progress, clip, bar.update)
        except KeyboardInterrupt as e:
            if out is None:
                raise
            save()
            signum = e.args[0] if e.args and isinstance(e.args[0], int) else signal.SIGINT
            what = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
            raise TrainingInterrupted(
                f"{what} in epoch {progress.epoch} after {progress.seen} samples; checkpoint saved to "
                f"{out / CHECKPOINT}; continue with --resume (resume=True)",
                signum,
            ) from None
        seconds = time.perf_counter() - started
        with no_grad():
            metrics = {k: float(v) for k, v in evaluate(model).items()} if evaluate is not None else {}
        bar.finish(progress, metrics)
        progress.epochs.append(
            {
                "epoch": progress.epoch,
                "train_loss": progress.loss_sum / progress.seen,
                **metrics,
                "seconds": round(seconds, 3),
                "samples_per_second": round(bar.rate(progress), 1),
            }
        )
        progress.epoch, progress.batch, progress.loss_sum, progress.seen = progress.epoch + 1, 0, 0.0, 0
        if out is not None:
            save()  # the checkpoint first: metrics.json never claims an epoch the checkpoint does not hold
            atomic_write_json(out / METRICS, {"config": run["config"], "epochs": progress.epochs})
    return progress.epochs


def _resume(path: Path, model: Any, optimizer: Any, run: dict[str, Any]) -> Progress:
    """Load the checkpoint at ``path`` into model and optimizer after checking it was saved by a
    run with the same settings; returns where that run was."""
    meta = read_meta(path)

    def settings(record: dict[str, Any]) -> dict[str, Any]:
        config = {k: v for k, v in (record.get("config") or {}).items() if k != "epochs"}
        return {"config": config, "loop": record.get("loop")}

    if settings(meta) != settings(run):
        raise CheckpointError(
            f"{path} was saved with settings {settings(meta)}; resume with the same settings (only the number of "
            "epochs may change)"
        )
    load_checkpoint(path, model, optimizer)
    return Progress(**meta["progress"])
