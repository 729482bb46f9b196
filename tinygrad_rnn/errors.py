"""Every exception tinygrad_rnn and viz raise on purpose, in one place.

Each one is also a subclass of the matching built-in (``ValueError``, ``TypeError``), so code
that already catches those keeps working. Messages say what is wrong, with the op, the shapes
or the time step involved, and what to do about it.
"""

from __future__ import annotations

import signal


class TinygradRNNError(Exception):
    """Base class of every error this library raises on purpose."""


class ShapeError(TinygradRNNError, ValueError):
    """Shapes that do not fit an op: broadcasting, matmul, reshape, axis, index, stack."""


class IndexOutOfRangeError(ShapeError, IndexError):
    """An index past the end of an axis. An ``IndexError`` too, so that Python's iteration
    protocols (and ``except IndexError``) work as they do for lists and numpy arrays."""


class ConfigError(TinygradRNNError, ValueError):
    """An argument whose value is not allowed: a size, an option's name, a list of time steps, a
    kind of network that an algorithm does not handle."""


class DTypeError(TinygradRNNError, TypeError):
    """Data of a type an op cannot use, e.g. integer data with ``requires_grad=True``."""


class BackwardError(TinygradRNNError, RuntimeError):
    """``backward()`` called in a way that has no meaning, e.g. on a non-scalar."""


class WriteError(TinygradRNNError, OSError):
    """A file could not be written (a full disk, a quota, permissions); the message names the
    file, and ``errno`` is the system's error number."""


class GradcheckError(TinygradRNNError, AssertionError):
    """Analytic gradients disagree with finite differences. ``node``: the output of the first
    op (in backward order) whose own rule is wrong, if one was found; ``loss``: the value that
    was checked, to draw with ``viz.draw(err.loss, "backward", mark=err.node)``."""

    def __init__(self, message: str, *, node: object = None, loss: object = None) -> None:
        super().__init__(message)
        self.node = node
        self.loss = loss


class AnomalyError(TinygradRNNError, FloatingPointError):
    """A NaN or an infinity appeared in a pass run under ``detect_anomaly()``."""


class OptimizerError(TinygradRNNError, ValueError):
    """An optimizer or a clipping function built or used with arguments that have no meaning."""


class DataError(TinygradRNNError, ValueError):
    """A data file that is missing, malformed or truncated, a failed download, or a bad task argument."""


class CheckpointError(TinygradRNNError, ValueError):
    """A checkpoint that cannot be read or does not fit the model it is loaded into."""


class VizError(TinygradRNNError, ValueError):
    """A diagram that cannot be drawn as asked (too large, unknown view or option, no gradients
    yet, unwritable file); the message names the function and the fix."""


class TrainingInterrupted(TinygradRNNError):
    """Training stopped by Ctrl-C or SIGTERM after saving a checkpoint; resuming continues it.
    ``signum`` is the signal (the command exits with 128 + signum: 130, 143)."""

    def __init__(self, message: str, signum: int = signal.SIGINT) -> None:
        super().__init__(message)
        self.signum = int(signum)
