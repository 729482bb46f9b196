"""tinygrad_rnn: a small reverse-mode autodiff engine over numpy that makes
backpropagation through time visible and checkable.

``import tinygrad_rnn as tr`` gives the engine (``tr.Tensor``, ``tr.Function``, ``tr.step``,
``tr.no_grad``, the errors) and, imported on first use, ``tr.nn``, ``tr.functional``,
``tr.optim``, ``tr.data``, ``tr.bptt``, ``tr.analysis``, ``tr.gradcheck``, ``tr.interop``
(whose functions need the ``torch`` extra) and ``tr.testing`` (which needs the ``test``
extra's hypothesis). The ``tinygrad-rnn`` command and the programs built on the library live
apart, in ``tinygrad_rnn.app``.
"""

import importlib

from .errors import (
    AnomalyError,
    BackwardError,
    CheckpointError,
    ConfigError,
    DataError,
    DTypeError,
    GradcheckError,
    IndexOutOfRangeError,
    OptimizerError,
    ShapeError,
    TinygradRNNError,
    TrainingInterrupted,
    VizError,
    WriteError,
)
from .function import Context, Function
from .modes import current_step, detect_anomaly, is_anomaly_enabled, is_grad_enabled, keep_values, no_grad, step
from .tensor import Tensor

__version__ = "0.1.0"


_SUBMODULES = (
    "nn", "functional", "optim", "data", "bptt", "analysis", "gradcheck", "testing", "interop", "checkpoint",
    "files", "autograd", "ops",
)  # fmt: skip
_EXTRAS = {"hypothesis": "test", "torch": "torch"}  # an optional dependency -> the extra that installs it


def __getattr__(name: str):
    """``tr.nn`` and the other submodules, imported when first asked for."""
    if name not in _SUBMODULES:
        raise AttributeError(f"module 'tinygrad_rnn' has no attribute {name!r}")
    try:
        module = importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError as e:
        missing = (e.name or "").partition(".")[0]
        if missing not in _EXTRAS:
            raise
        raise ImportError(
            f"tinygrad_rnn.{name} needs {missing}, which is not installed; install it with "
            f"pip install 'tinygrad-rnn[{_EXTRAS[missing]}]' (or pip install {missing})"
        ) from None
    globals()[name] = module
    return module


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SUBMODULES))


def zero_grad(tensors) -> None:
    """Reset ``.grad`` of every tensor in ``tensors`` (e.g. a model's parameters)."""
    for t in tensors:
        t.grad = None


__all__ = [
    "AnomalyError",
    "BackwardError",
    "CheckpointError",
    "ConfigError",
    "Context",
    "DTypeError",
    "DataError",
    "Function",
    "GradcheckError",
    "IndexOutOfRangeError",
    "OptimizerError",
    "ShapeError",
    "Tensor",
    "TinygradRNNError",
    "TrainingInterrupted",
    "VizError",
    "WriteError",
    "detect_anomaly",
    "is_anomaly_enabled",
    "current_step",
    "is_grad_enabled",
    "keep_values",
    "no_grad",
    "step",
    "zero_grad",
]
