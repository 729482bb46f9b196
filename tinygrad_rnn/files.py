"""Files that readers see whole or not at all: write to a temporary file beside the target,
then rename it over the target (``os.replace`` is atomic), so a crash, a full disk or a failed
check mid-write leaves the previous file in place. Checkpoints, metrics and downloads all go
through ``atomic_file``.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

from .errors import WriteError

_TEMP_SUFFIX = ".tmp"
_RANDOM_PART = re.compile(r"[a-z0-9_]{8}")  # what tempfile.mkstemp puts between prefix and suffix


def _umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_error(path: Path, e: OSError, note: str = "") -> WriteError:
    err = WriteError(f"cannot write {path}: {e.strerror or e}{note}")
    err.errno = e.errno
    return err


@contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[IO[bytes]]:
    """A binary file to write that appears as ``path`` only if the ``with`` block ends normally.

    The bytes go to a hidden ``.NAME.XXXXXXXX.tmp`` beside ``path``; at the end of the block
    they are flushed to disk and the file is renamed to ``path``. If the block raises (a failed
    hash check, Ctrl-C), the temporary file is deleted and ``path`` is left as it was. An
    ``OSError`` of the file system (writing, flushing, renaming) becomes a ``WriteError`` naming
    ``path``; any other error of the block (a network read that fails, say) passes through as it
    is. The file gets the permissions a plain ``open`` would give it (0666 less the umask).
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=_TEMP_SUFFIX)
    except OSError as e:
        raise _write_error(path, e) from None
    kept = lambda: f"; the previous {path.name} is kept" if path.exists() else ""  # noqa: E731
    raw = os.fdopen(fd, "wb")
    in_block = False
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes it 0600
        in_block = True
        try:
            yield _Checked(raw, path, kept)  # type: ignore[misc]
        except BaseException:
            _close_quietly(raw)  # closing flushes: on a full disk that fails too, but the block's error is the one
            raise
        in_block = False
        raw.flush()
        os.fsync(raw.fileno())
        raw.close()
        os.replace(tmp, path)
    except OSError as e:
        _close_quietly(raw)
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, WriteError) or in_block:
            raise  # ours, said already; or the block's own (not a write to this file)
        raise _write_error(path, e, kept()) from None
    except BaseException:
        _close_quietly(raw)
        Path(tmp).unlink(missing_ok=True)
        raise


def _close_quietly(f: IO[bytes]) -> None:
    try:
        f.close()
    except OSError:
        pass


class _Checked:
    """The temporary file as ``atomic_file`` hands it out: a failed write or flush (a full disk)
    is a ``WriteError`` naming the target; everything else is the file's own."""

    def __init__(self, raw: IO[bytes], path: Path, kept: Any) -> None:
        self._raw, self._path, self._kept = raw, path, kept

    def write(self, data: Any) -> int:
        try:
            return self._raw.write(data)
        except OSError as e:
            raise _write_error(self._path, e, self._kept()) from None

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        try:
            self._raw.flush()
        except OSError as e:
            raise _write_error(self._path, e, self._kept()) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


def atomic_write(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part."""
    with atomic_file(path) as f:
        f.write(data)


def to_json(obj: Any, **options: Any) -> str:
    """``json.dumps`` that also takes numpy numbers and arrays (as Python numbers and lists)."""

    def plain(x: Any) -> Any:
        if isinstance(x, np.generic):
            return x.item()
        if isinstance(x, np.ndarray):
            return x.tolist()
        raise TypeError(f"{type(x).__name__} is not JSON serializable")

    return json.dumps(obj, default=plain, **options)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write(path, (to_json(obj, indent=2) + "\n").encode())


def remove_stale_temp_files(directory: str | os.PathLike, names: Iterable[str]) -> list[Path]:
    """Delete what a killed ``atomic_file`` writing one of ``names`` left in ``directory``:
    ``.NAME.XXXXXXXX.tmp``, the eight characters ``tempfile`` draws. A user's own hidden
    ``.tmp`` files do not match and are kept. Returns what was removed."""
    removed = []
    for name in names:
        for tmp in Path(directory).glob(f".{name}.*{_TEMP_SUFFIX}"):
            if tmp.is_file() and _RANDOM_PART.fullmatch(tmp.name[len(name) + 2 : -len(_TEMP_SUFFIX)]):
                tmp.unlink(missing_ok=True)
                removed.append(tmp)
    return removed
