"""The full MNIST (or a drop-in such as Fashion-MNIST) from its IDX files, plain or gzipped."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import DataError
from ._read import read_bytes

_IDX_TYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions (count, rows, columns)
_IDX_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension (count)


def _parse_idx(path: Path) -> tuple[np.ndarray, int]:
    """The array in an IDX file and the file's magic number, after checking header against size."""
    data, gzipped = read_bytes(path)
    if len(data) < 4:
        raise DataError(
            f"{path}: {len(data)} bytes is too short for an IDX file, which starts with a 4-byte magic number"
        )
    magic = int.from_bytes(data[:4], "big")
    code, ndim = data[2], data[3]
    if data[:2] != b"\x00\x00" or code not in _IDX_TYPES or ndim == 0:
        codes = ", ".join(f"0x{c:02X}" for c in _IDX_TYPES)
        raise DataError(
            f"{path}: not an IDX file: magic number 0x{magic:08X} should be 0x0000TTNN, two zero bytes, "
            f"a type code TT in ({codes}) and NN >= 1 dimensions"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(
            f"{path}: truncated: the header of {ndim} dimensions needs {header} bytes, the file has {len(data)}"
        )
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = _IDX_TYPES[code]
    expected, got = math.prod(dims) * dtype.itemsize, len(data) - header
    if got != expected:
        problem = "truncated" if got < expected else f"{got - expected:,} unexpected bytes at the end"
        raise DataError(
            f"{path}: {problem}: the header declares shape {dims} of {dtype.name}, so expected {expected:,} "
            f"data bytes after the {header}-byte header, got {got:,}{' (after gunzip)' if gzipped else ''}"
        )
    array = np.frombuffer(data, dtype=dtype, count=math.prod(dims), offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("=")), magic


def read_idx(file: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (the format of MNIST), plain or gzipped.

    A file is gunzipped when it starts with the gzip magic bytes, whatever its name. The
    header is a magic number ``0x0000TTNN`` (type code TT, NN dimensions) and NN big-endian
    32-bit sizes; the data that follows must be exactly as long as those sizes say.

    Returns
    -------
    np.ndarray
        Shape and dtype from the header (``uint8`` for MNIST), native byte order.

    Raises
    ------
    DataError
        Bad magic number, truncated or overlong data, corrupt gzip. The message names the file.
    """
    return _parse_idx(Path(file))[0]


_MNIST_PREFIX = {"train": "train", "test": "t10k"}


def _find_idx(directory: Path, name: str) -> Path:
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise DataError(
        f"mnist: no {name} or {name}.gz in {directory}; download the MNIST files there (see MNIST_FILES and download())"
    )


def mnist(path: str | os.PathLike[str], kind: Literal["train", "test"] = "train") -> tuple[np.ndarray, np.ndarray]:
    """The full MNIST (or a drop-in such as Fashion-MNIST) from its IDX files in a directory.

    Looks in ``path`` for ``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte`` (or the
    ``t10k-`` files for ``kind="test"``), each plain or with ``.gz``.

    Parameters
    ----------
    path : path-like
        The directory holding the files.
    kind : {"train", "test"}
        60,000 training or 10,000 test digits.

    Returns
    -------
    images : np.ndarray
        float32, shape (N, 28, 28), pixel / 255 in [0, 1].
    labels : np.ndarray
        int64, shape (N,).

    Raises
    ------
    DataError
        Missing files, a wrong magic number (images must be 0x00000803, labels 0x00000801),
        truncated data, or different numbers of images and labels. The message names the file.
    """
    if kind not in _MNIST_PREFIX:
        raise DataError(f"mnist: kind must be 'train' or 'test', got {kind!r}")
    directory = Path(path)
    if not directory.is_dir():
        raise DataError(f"mnist: {directory} is not a directory; pass the folder that holds the MNIST IDX files")
    prefix = _MNIST_PREFIX[kind]
    image_path = _find_idx(directory, f"{prefix}-images-idx3-ubyte")
    label_path = _find_idx(directory, f"{prefix}-labels-idx1-ubyte")
    images, magic = _parse_idx(image_path)
    if magic != _IDX_IMAGES_MAGIC:
        raise DataError(
            f"{image_path}: magic number 0x{magic:08X}, expected 0x{_IDX_IMAGES_MAGIC:08X} "
            "(unsigned bytes, 3 dimensions) for an image file"
        )
    labels, magic = _parse_idx(label_path)
    if magic != _IDX_LABELS_MAGIC:
        raise DataError(
            f"{label_path}: magic number 0x{magic:08X}, expected 0x{_IDX_LABELS_MAGIC:08X} "
            "(unsigned bytes, 1 dimension) for a label file"
        )
    if len(images) != len(labels):
        raise DataError(
            f"mnist: {image_path} holds {len(images):,} images but {label_path} holds {len(labels):,} labels; "
            "the two files must come from the same set"
        )
    bad = np.flatnonzero(labels > 9)
    if bad.size:  # found now, not at the first batch that reaches the label
        raise DataError(
            f"{label_path}: label {int(labels[bad[0]])} at index {int(bad[0]):,} ({bad.size:,} such), expected a "
            "digit 0-9; is this an MNIST label file?"
        )
    return images.astype(np.float32) / np.float32(255), labels.astype(np.int64)
