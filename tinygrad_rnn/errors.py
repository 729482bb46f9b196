"""The exceptions tinygrad_rnn raises for user errors.

Each one is also a subclass of the matching built-in (``ValueError``, ``TypeError``), so code
that already catches those keeps working. Messages say what is wrong, with the op, the shapes
or the time step involved, and what to do about it.
"""

from __future__ import annotations


class TinygradRNNError(Exception):
    """Base class of every error this library raises on purpose."""


class ShapeError(TinygradRNNError, ValueError):
    """Shapes that do not fit an op: broadcasting, matmul, reshape, axis, index, stack."""


class IndexOutOfRangeError(ShapeError, IndexError):
    """An index past the end of an axis. An ``IndexError`` too, so that Python's iteration
    protocols (and ``except IndexError``) work as they do for lists and numpy arrays."""


class ConfigError(TinygradRNNError, ValueError):
    """An argument whose value is not allowed: a size, an option's name, a step count."""


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
