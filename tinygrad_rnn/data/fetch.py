"""A checked download: a file appears under its name only once its SHA-256 is right."""

from __future__ import annotations

import hashlib
import math
import os
import string
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import IO

from ..errors import DataError, WriteError
from ..files import atomic_file

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


def _fetch(url: str, out: IO[bytes], name: str, *, progress: bool, timeout: float) -> str:
    """Stream ``url`` into the open file ``out``; return the SHA-256 hex digest of the bytes."""
    digest = hashlib.sha256()
    done, total = 0, None
    shown = -math.inf  # when the bar was last drawn
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress and time.monotonic() - shown > 0.1:
                    _show_progress(name, done, total)
                    shown = time.monotonic()
    except urllib.error.HTTPError as exc:
        exc.close()
        raise DataError(f"download: {url} answered HTTP {exc.code} {exc.reason}; check the address") from None
    except urllib.error.URLError as exc:
        raise DataError(f"download: cannot reach {url}: {exc.reason}; check the address and the network") from exc
    except WriteError:
        raise  # a full disk: the file could not be written (not a failed download)
    except OSError as exc:  # timeouts, dropped connections
        raise DataError(f"download: fetching {url} into {name} failed: {exc}") from exc
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

    The bytes go to a hidden temporary file next to ``dest`` (``files.atomic_file``); when the
    download is complete and its hash is the expected one, the file is renamed to ``dest`` in
    one atomic step. On any failure the temporary file is removed and ``dest`` is left as it
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
    WriteError
        The file cannot be written where ``dest`` is (permissions, a full disk).
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
    with atomic_file(dest) as out:  # dest appears only if the block ends without an error
        actual = _fetch(url, out, dest.name, progress=progress, timeout=timeout)
        if actual != expected:
            raise DataError(
                f"download: SHA-256 mismatch for {url}: expected {expected}, got {actual}. The file was not "
                f"saved to {dest}; the download may be corrupt or the mirror serves a different file."
            )
    return dest
