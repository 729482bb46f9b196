"""tinygrad_rnn: a small reverse-mode autodiff engine over numpy that makes
backpropagation through time visible and checkable."""

from .anomaly import detect_anomaly
from .autograd import is_grad_enabled, no_grad
from .errors import (
    AnomalyError,
    BackwardError,
    ConfigError,
    DTypeError,
    GradcheckError,
    IndexOutOfRangeError,
    ShapeError,
    TinygradRNNError,
)
from .function import Context, Function
from .steps import current_step, step
from .tensor import Tensor

__version__ = "0.1.0"


def zero_grad(tensors) -> None:
    """Reset ``.grad`` of every tensor in ``tensors`` (e.g. a model's parameters)."""
    for t in tensors:
        t.grad = None


__all__ = [
    "AnomalyError",
    "Context",
    "Function",
    "detect_anomaly",
    "BackwardError",
    "ConfigError",
    "IndexOutOfRangeError",
    "DTypeError",
    "GradcheckError",
    "ShapeError",
    "Tensor",
    "TinygradRNNError",
    "current_step",
    "is_grad_enabled",
    "no_grad",
    "step",
    "zero_grad",
]
